//===- GemmBiasGelu.cpp - A matmul with a fused bias + GELU epilogue -------===//
//
//   out_ij = gelu(Σ_k a_ik b_kj + bias_j),
//   gelu(z) = z/2 · (1 + tanh(√(2/π) · (z + 0.044715 z³)))   (Hendrycks & Gimpel, 2016)
//
// Each program owns a BLOCK_M x BLOCK_N block of out and walks K in BLOCK_K
// steps (the loop Tessera pipelines and runs on wgmma on sm_90a), in groups
// of GROUP_M block rows for L2 reuse. The epilogue adds the bias and applies
// GELU to the f32 accumulator in registers before the one store: unfused,
// the same work is a matmul plus two more passes over out.
//
//===----------------------------------------------------------------------===//

#include "GemmBiasGelu.h"

#include "tessera/dsl.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Testing.h"

#include <array>
#include <cmath>
#include <memory>

using namespace tessera;
using namespace tessera::dsl;
using kernels::Args;
using kernels::cdiv;
using kernels::Grid;
using kernels::Kernel;
using kernels::KernelConfig;

namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;

void body(KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N"), bk = c.get("BLOCK_K");
  int64_t groupM = c.get("GROUP_M");
  kb.setNumStages(c.get("NUM_STAGES"));
  kb.setWarpgroupMma(c.get("WGMMA") != 0);
  // On sm_90a, copies by TMA (and from a producer warpgroup), as matmul's.
  kb.setTensorMemoryAccelerator(c.get("TMA") != 0);
  kb.setWarpSpecialize(c.get("WARP_SPECIALIZE") != 0);
  TensorArg a = kb.tensor("a", c.dtype, 2), b = kb.tensor("b", c.dtype, 2);
  TensorArg bias = kb.tensor("bias", c.dtype, 1), out = kb.tensor("out", c.dtype, 2);
  // Program order: GROUP_M block rows at a time, column by column within.
  Scalar blocksM = cdiv(a.size(0), Scalar(bm)), blocksN = cdiv(b.size(1), Scalar(bn));
  Scalar pid = program_id(0), perGroup = Scalar(groupM) * blocksN;
  Scalar firstM = pid / perGroup * Scalar(groupM);
  Scalar groupSize = min(blocksM - firstM, Scalar(groupM));
  Scalar inGroup = pid % perGroup;
  Scalar row = (firstM + inGroup % groupSize) * Scalar(bm);
  Scalar col = inGroup / groupSize * Scalar(bn);
  Tile acc = for_range(Scalar(0), a.size(1), Scalar(bk), {zeros({bm, bn}, DType::F32)},
                       [&](Scalar k, const std::vector<Tile> &carried) {
                         Tile at = load(a, {row, k}, {bm, bk});
                         Tile bt = load(b, {k, col}, {bk, bn});
                         return std::vector<Tile>{dot(at, bt, carried[0])};
                       })[0];
  Tile z = acc + expand_dims(cast(load(bias, {col}, {bn}), DType::F32), 0);
  Tile g = z * 0.5 * (tanh((z + z * z * z * 0.044715) * kSqrt2OverPi) + 1.0);
  store(out, {row, col}, cast(g, c.dtype));
}

KernelConfig heuristic(const Args &args) {
  const DeviceTensor &a = args.tensor("a"), &b = args.tensor("b");
  // Tessera's own matmul's blocks for the shape: the epilogue adds registers
  // for a few temporaries only. (Those of its constants this kernel has:
  // matmul may grow others.)
  KernelConfig m = kernels::matmulConfig(a.dtype(), a.shape()[0], b.shape()[1], a.shape()[1]);
  const kernels::Kernel &k = gemm_bias_gelu::kernel();
  std::map<std::string, int64_t> constants;
  for (const auto &[name, value] : m.constants)
    if (k.def().defaults.count(name))
      constants[name] = value;
  return k.config(a.dtype(), constants, m.numWarps);
}

/// Inputs for tessera-tune (--sizes M,N,K) and a float64 check of 16 rows.
kernels::Problem problem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 3)
    throw tessera::Error("gemm_bias_gelu: --sizes M,N,K");
  int64_t m = sizes[0], n = sizes[1], k = sizes[2];
  auto a = std::make_shared<std::vector<float>>(), b = std::make_shared<std::vector<float>>(),
       bias = std::make_shared<std::vector<float>>();
  DeviceTensor da = testkit::randomTensor({m, k}, dtype, a.get());
  DeviceTensor db = testkit::randomTensor({k, n}, dtype, b.get());
  DeviceTensor dbias = testkit::randomTensor({n}, dtype, bias.get());
  DeviceTensor out = DeviceTensor::empty({m, n}, dtype);
  out.fillBytes(0xff);
  return {{da, db, dbias, out},
          [=] {
            for (int64_t i = 0; i < m; i += std::max<int64_t>(1, m / 16)) {
              std::vector<double> want(n, 0.0);
              for (int64_t p = 0; p < k; ++p)
                for (int64_t j = 0; j < n; ++j)
                  want[j] += double((*a)[i * k + p]) * (*b)[p * n + j];
              for (int64_t j = 0; j < n; ++j)
                want[j] = gemm_bias_gelu::gelu(want[j] + (*bias)[j]);
              // Sums of k products: errors grow with sqrt(k).
              double e = testkit::maxRelativeError(out.view({n}, {1}, i * n).toFloat(), want,
                                                   std::sqrt(double(k)));
              if (!(e <= testkit::tolerance(dtype)))
                return "row " + std::to_string(i) + ": relative error " + std::to_string(e);
            }
            return std::string();
          },
          2.0 * double(m) * double(n) * double(k)};
}

} // namespace

double gemm_bias_gelu::gelu(double z) {
  return 0.5 * z * (1 + std::tanh(kSqrt2OverPi * (z + 0.044715 * z * z * z)));
}

const Kernel &gemm_bias_gelu::kernel() {
  static const Kernel &k = kernels::registerKernel([] {
    kernels::Tuning tuning;
    for (auto [bm, bn, bk, warps, stages] :
         std::vector<std::array<int64_t, 5>>{{128, 128, 64, 4, 2},
                                             {128, 256, 64, 8, 4},
                                             {128, 128, 64, 8, 2},
                                             {128, 256, 64, 8, 2},
                                             {256, 128, 64, 8, 2},
                                             {128, 64, 64, 4, 2},
                                             {64, 128, 64, 4, 2},
                                             {128, 128, 32, 4, 2},
                                             {64, 64, 32, 4, 2}})
      // Each with cp.async and with TMA copies (sm_90a; elsewhere, and on
      // tensors TMA cannot describe, the kernel keeps cp.async).
      for (int64_t tma : {0, 1})
        tuning.configs.push_back({DType::BF16,
                                  unsigned(warps),
                                  {{"BLOCK_M", bm},
                                   {"BLOCK_N", bn},
                                   {"BLOCK_K", bk},
                                   {"GROUP_M", 8},
                                   {"NUM_STAGES", stages},
                                   {"WGMMA", 1},
                                   {"TMA", tma}}});
    return Kernel("gemm_bias_gelu", body)
        .summary("out = gelu(a·b + bias), the bias and GELU fused into the matmul")
        .constants({{"BLOCK_M", 64},
                    {"BLOCK_N", 64},
                    {"BLOCK_K", 32},
                    {"GROUP_M", 8},
                    {"NUM_STAGES", 2},
                    {"WGMMA", 1},
                    {"TMA", 0},
                    {"WARP_SPECIALIZE", 0},
                    // matmul's persistent variant (its heuristic never picks it).
                    {"PERSISTENT", 0}})
        .grid([](const Args &args, const KernelConfig &c) {
          return Grid{cdiv(args.tensor("a").shape()[0], c.get("BLOCK_M")) *
                      cdiv(args.tensor("b").shape()[1], c.get("BLOCK_N"))};
        })
        .heuristic(heuristic)
        .autotune(tuning)
        .problem(problem);
  }());
  return k;
}

static const bool registered = (gemm_bias_gelu::kernel(), true);

DeviceTensor gemm_bias_gelu::run(const DeviceTensor &a, const DeviceTensor &b,
                                 const DeviceTensor &bias, Stream &stream) {
  if (a.rank() != 2 || b.rank() != 2)
    throw tessera::Error("a, b: expected matrices (M x K) and (K x N)");
  DeviceTensor out = DeviceTensor::empty({a.shape()[0], b.shape()[1]}, a.dtype());
  run(a, b, bias, out, stream);
  return out;
}

void gemm_bias_gelu::run(const DeviceTensor &a, const DeviceTensor &b, const DeviceTensor &bias,
                         DeviceTensor &out, Stream &stream) {
  if (a.rank() != 2 || b.rank() != 2 || a.shape()[1] != b.shape()[0])
    throw tessera::Error("a, b: expected matrices (M x K) and (K x N)");
  if (a.shape()[0] < 1 || b.shape()[1] < 1 || a.shape()[1] < 1)
    throw tessera::Error("a, b: expected non-empty matrices");
  if (bias.rank() != 1 || bias.shape()[0] != b.shape()[1])
    throw tessera::Error("bias: expected " + std::to_string(b.shape()[1]) + " elements");
  if (out.shape() != std::vector<int64_t>{a.shape()[0], b.shape()[1]})
    throw tessera::Error("out: expected " + std::to_string(a.shape()[0]) + " x " +
                         std::to_string(b.shape()[1]));
  // The tuning database's winner for the shape, else the heuristic. The
  // Kernel checks the dtypes (b, bias and out must be a's).
  kernel()({a, b, bias, out}, stream);
}
