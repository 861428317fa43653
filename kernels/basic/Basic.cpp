//===- Basic.cpp - The foundation kernels: add, softmax, matmul -----------===//
//
// Small kernels that exercise every layer: elementwise code and predicated
// block accesses (vector_add), reductions and broadcasts along rows
// (softmax, rms_norm), and tile.dot in a loop with a carried accumulator
// (matmul).
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/basic.h"

#include "tessera/dsl.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Error.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace tessera;
using namespace tessera::dsl;
using namespace tessera::kernels;
using tessera::kernels::detail::addTensor;
using tessera::kernels::detail::jitKernel;
using tessera::kernels::detail::requireDType;
using tessera::kernels::detail::requireRank;

namespace {

// out[i] = x[i] + y[i], BLOCK elements per program.
void vectorAddKernel(KernelBuilder &kb, const KernelConfig &config) {
  int64_t block = kb.constant("BLOCK", config.get("BLOCK"));
  TensorArg x = kb.tensor("x", config.dtype, 1);
  TensorArg y = kb.tensor("y", config.dtype, 1);
  TensorArg out = kb.tensor("out", config.dtype, 1);
  Scalar start = program_id(0) * Scalar(block);
  Tile a = load(x, {start}, {block});
  Tile b = load(y, {start}, {block});
  store(out, {start}, a + b);
}

// Row-wise softmax, BLOCK_M rows per program, each row in one BLOCK_N tile
// held in registers (one read and one write of every element):
//   m_i = max_j x_ij;  e_ij = exp(x_ij - m_i);  y_ij = e_ij · (sum_j e_ij)⁻¹
void softmaxKernel(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg x = kb.tensor("x", config.dtype, 2);
  TensorArg out = kb.tensor("out", config.dtype, 2);
  Scalar row = program_id(0) * Scalar(blockM);
  Tile t = cast(load(x, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
  // Columns past the row's end must not win the max nor add to the sum.
  Tile inRow = expand_dims(arange(blockN), 0) < x.size(1);
  t = where(inRow, t, full({blockM, blockN}, -std::numeric_limits<double>::infinity(), DType::F32));
  Tile m = reduce_max(t, 1);
  Tile e = exp(t - expand_dims(m, 1));
  // One approximate reciprocal per row instead of an IEEE division (a
  // subroutine call) per element.
  Tile rs = reciprocal(reduce_sum(e, 1));
  store(out, {row, Scalar(0)}, cast(e * expand_dims(rs, 1), config.dtype));
}

// RMSNorm (Zhang & Sennrich, 2019), BLOCK_M rows per program, each row in
// one BLOCK_N tile held in registers (one read of x, one write of y):
//   r_i = (mean_j x_ij² + eps)^(-1/2);  y_ij = x_ij · r_i · w_j
// Columns past the row's end load as zeros and add nothing to the sum.
void rmsNormKernel(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg x = kb.tensor("x", config.dtype, 2);
  TensorArg w = kb.tensor("weight", config.dtype, 1);
  TensorArg out = kb.tensor("out", config.dtype, 2);
  Scalar invCols = kb.scalarF32("inv_cols"), eps = kb.scalarF32("eps");
  Scalar row = program_id(0) * Scalar(blockM);
  Tile t = cast(load(x, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
  Tile r = rsqrt(reduce_sum(t * t, 1) * invCols + eps);
  Tile wt = cast(load(w, {Scalar(0)}, {blockN}), DType::F32);
  store(out, {row, Scalar(0)}, cast(t * expand_dims(r, 1) * expand_dims(wt, 0), config.dtype));
}

// C = A·B: each program owns a BLOCK_M x BLOCK_N tile of C and walks K in
// BLOCK_K steps; padding with zeros past K keeps the partial step exact.
// Programs run in groups of GROUP_M block rows, column by column within a
// group, so that programs running at once share the A and B blocks they read
// in L2 (Triton's grouped ordering); the grid is one-dimensional.
void matmulKernel(KernelBuilder &kb, const KernelConfig &config) {
  int64_t bm = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t bn = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  int64_t bk = kb.constant("BLOCK_K", config.get("BLOCK_K"));
  int64_t groupM = kb.constant("GROUP_M", config.get("GROUP_M"));
  kb.setNumStages(kb.constant("NUM_STAGES", config.get("NUM_STAGES")));
  kb.setWarpgroupMma(kb.constant("WGMMA", config.get("WGMMA")));
  TensorArg a = kb.tensor("a", config.dtype, 2);
  TensorArg b = kb.tensor("b", config.dtype, 2);
  TensorArg c = kb.tensor("c", config.dtype, 2);
  Scalar blocksM = (a.size(0) + Scalar(bm - 1)) / Scalar(bm);
  Scalar blocksN = (b.size(1) + Scalar(bn - 1)) / Scalar(bn);
  Scalar pid = program_id(0), perGroup = Scalar(groupM) * blocksN;
  Scalar firstM = pid / perGroup * Scalar(groupM);
  Scalar groupSize = min(blocksM - firstM, Scalar(groupM));
  Scalar inGroup = pid % perGroup;
  Scalar row = (firstM + inGroup % groupSize) * Scalar(bm);
  Scalar col = inGroup / groupSize * Scalar(bn);
  Tile acc = zeros({bm, bn}, DType::F32);
  acc = for_range(Scalar(0), a.size(1), Scalar(bk), {acc},
                  [&](Scalar k, const std::vector<Tile> &carried) {
                    Tile at = load(a, {row, k}, {bm, bk});
                    Tile bt = load(b, {k, col}, {bk, bn});
                    return std::vector<Tile>{dot(at, bt, carried[0])};
                  })[0];
  store(c, {row, col}, cast(acc, config.dtype));
}

template <void (*Kernel)(KernelBuilder &, const KernelConfig &)>
mlir::OwningOpRef<mlir::ModuleOp> buildWith(const char *kernelName, mlir::MLIRContext &ctx,
                                            const KernelConfig &config) {
  KernelBuilder kb(ctx, kernelName, config.numWarps);
  Kernel(kb, config);
  return kb.finish();
}

unsigned gridFor(int64_t n, int64_t block, const char *what) {
  int64_t g = (n + block - 1) / block;
  if (g > INT32_MAX)
    throw tessera::Error(std::string(what) + ": too many programs (" + std::to_string(g) + ")");
  return unsigned(std::max<int64_t>(g, 1));
}

/// Throws naming the argument unless x is a 2-D float tensor whose rows (1
/// to 16384 elements) `config`'s BLOCK_N covers and `out` has x's dtype and
/// shape: what the row kernels (softmax, rms_norm) hold in registers.
void checkRows(const char *kernel, const DeviceTensor &x, const DeviceTensor &out,
               const KernelConfig &config) {
  requireRank(x, 2, "x");
  requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  if (out.dtype() != x.dtype() || out.shape() != x.shape())
    throw tessera::Error("out: expected a tensor of x's dtype and shape");
  int64_t cols = x.shape()[1];
  if (cols < 1 || cols > 16384)
    throw tessera::Error(std::string("x: ") + kernel + " rows must have 1 to 16384 elements, got " +
                         std::to_string(cols));
  if (config.get("BLOCK_N") < cols)
    throw tessera::Error(std::string(kernel) + ": BLOCK_N " +
                         std::to_string(config.get("BLOCK_N")) + " does not cover a row of " +
                         std::to_string(cols));
}

} // namespace

void tessera::kernels::detail::registerBasicKernels(std::map<std::string, KernelDef> &r) {
  std::vector<DType> floats{DType::F32, DType::F16, DType::BF16};
  r["vector_add"] = {"vector_add",
                     "out = x + y (1-D)",
                     {{"BLOCK", 1024}},
                     floats,
                     [](mlir::MLIRContext &ctx, const KernelConfig &c) {
                       return buildWith<vectorAddKernel>("vector_add", ctx, c);
                     }};
  r["softmax"] = {"softmax",
                  "row-wise softmax of a 2-D tensor",
                  {{"BLOCK_M", 1}, {"BLOCK_N", 1024}},
                  floats,
                  [](mlir::MLIRContext &ctx, const KernelConfig &c) {
                    return buildWith<softmaxKernel>("softmax", ctx, c);
                  }};
  r["rms_norm"] = {"rms_norm",
                   "RMSNorm of each row of a 2-D tensor, times a weight per column",
                   {{"BLOCK_M", 1}, {"BLOCK_N", 1024}},
                   floats,
                   [](mlir::MLIRContext &ctx, const KernelConfig &c) {
                     return buildWith<rmsNormKernel>("rms_norm", ctx, c);
                   }};
  r["matmul"] = {"matmul",
                 "C = A·B (2-D), f32 accumulation",
                 {{"BLOCK_M", 64},
                  {"BLOCK_N", 64},
                  {"BLOCK_K", 32},
                  {"GROUP_M", 8},
                  {"NUM_STAGES", 2},
                  {"WGMMA", 1}},
                 floats,
                 [](mlir::MLIRContext &ctx, const KernelConfig &c) {
                   return buildWith<matmulKernel>("matmul", ctx, c);
                 }};
}

DeviceTensor tessera::kernels::vector_add(const DeviceTensor &x, const DeviceTensor &y,
                                          Stream &stream) {
  requireRank(x, 1, "x");
  requireRank(y, 1, "y");
  requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  if (y.dtype() != x.dtype())
    throw tessera::Error("y: expected dtype " + std::string(name(x.dtype())) + " like x, got " +
                         std::string(name(y.dtype())));
  if (y.shape() != x.shape())
    throw tessera::Error("y: expected length " + std::to_string(x.shape()[0]) + " like x, got " +
                         std::to_string(y.shape()[0]));
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  vector_add(x, y, out, stream);
  return out;
}

void tessera::kernels::vector_add(const DeviceTensor &x, const DeviceTensor &y, DeviceTensor &out,
                                  Stream &stream) {
  requireRank(x, 1, "x");
  if (out.dtype() != x.dtype() || out.shape() != x.shape())
    throw tessera::Error("out: expected a tensor of x's dtype and shape");
  KernelConfig config = makeConfig(lookup("vector_add"), x.dtype(), 4, {});
  const JitKernel &k = jitKernel("vector_add", config);
  KernelArgs args;
  addTensor(args, x, "x");
  addTensor(args, y, "y");
  addTensor(args, out, "out");
  launch(k, gridFor(x.shape()[0], config.get("BLOCK"), "vector_add"), 1, 1, args, stream);
}

DeviceTensor tessera::kernels::softmax(const DeviceTensor &x, Stream &stream) {
  requireRank(x, 2, "x");
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  softmax(x, out, stream);
  return out;
}

KernelConfig tessera::kernels::softmaxConfig(DType dtype, int64_t rows, int64_t cols) {
  (void)rows;
  int64_t blockN = int64_t(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(cols, 1))));
  // 8 to 32 elements of a row per thread: the row stays in registers, and
  // few warps share a row, so the cross-warp exchange stays small (2 warps
  // at 1024 and 4 at 4096 columns were the fastest on the H200).
  unsigned warps = unsigned(std::clamp<int64_t>(blockN / 1024, 2, 16));
  // Short rows: several per program, so that a program still moves ~2048
  // elements.
  int64_t blockM = std::max<int64_t>(1, 2048 / blockN);
  return makeConfig(lookup("softmax"), dtype, warps, {{"BLOCK_N", blockN}, {"BLOCK_M", blockM}});
}

void tessera::kernels::softmax(const DeviceTensor &x, DeviceTensor &out, Stream &stream) {
  requireRank(x, 2, "x");
  softmaxWithConfig(x, out, softmaxConfig(x.dtype(), x.shape()[0], x.shape()[1]), stream);
}

void tessera::kernels::softmaxWithConfig(const DeviceTensor &x, DeviceTensor &out,
                                         const KernelConfig &config, Stream &stream) {
  checkRows("softmax", x, out, config);
  const JitKernel &k = jitKernel("softmax", config);
  KernelArgs args;
  addTensor(args, x, "x");
  addTensor(args, out, "out");
  launch(k, gridFor(x.shape()[0], config.get("BLOCK_M"), "softmax"), 1, 1, args, stream);
}

DeviceTensor tessera::kernels::rms_norm(const DeviceTensor &x, const DeviceTensor &weight,
                                        float eps, Stream &stream) {
  requireRank(x, 2, "x");
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  rms_norm(x, weight, out, eps, stream);
  return out;
}

void tessera::kernels::rms_norm(const DeviceTensor &x, const DeviceTensor &weight,
                                DeviceTensor &out, float eps, Stream &stream) {
  requireRank(x, 2, "x");
  rmsNormWithConfig(x, weight, out, eps, rmsNormConfig(x.dtype(), x.shape()[0], x.shape()[1]),
                    stream);
}

KernelConfig tessera::kernels::rmsNormConfig(DType dtype, int64_t rows, int64_t cols) {
  // The same shape of work as softmax's: a row per program, in registers.
  KernelConfig c = softmaxConfig(dtype, rows, cols);
  return makeConfig(lookup("rms_norm"), dtype, c.numWarps,
                    {{"BLOCK_M", c.get("BLOCK_M")}, {"BLOCK_N", c.get("BLOCK_N")}});
}

void tessera::kernels::rmsNormWithConfig(const DeviceTensor &x, const DeviceTensor &weight,
                                         DeviceTensor &out, float eps, const KernelConfig &config,
                                         Stream &stream) {
  checkRows("rms_norm", x, out, config);
  int64_t cols = x.shape()[1];
  if (weight.dtype() != x.dtype() || weight.shape() != std::vector<int64_t>{cols})
    throw tessera::Error("weight: expected a 1-D tensor of " + std::to_string(cols) +
                         " elements of x's dtype");
  if (!(eps >= 0) || !std::isfinite(eps))
    throw tessera::Error("eps: expected a finite number >= 0, got " + std::to_string(eps));
  const JitKernel &k = jitKernel("rms_norm", config);
  KernelArgs args;
  addTensor(args, x, "x");
  addTensor(args, weight, "weight");
  addTensor(args, out, "out");
  args.add(float(1.0 / double(cols)));
  args.add(eps);
  launch(k, gridFor(x.shape()[0], config.get("BLOCK_M"), "rms_norm"), 1, 1, args, stream);
}

DeviceTensor tessera::kernels::matmul(const DeviceTensor &a, const DeviceTensor &b,
                                      Stream &stream) {
  requireRank(a, 2, "a");
  requireRank(b, 2, "b");
  DeviceTensor c = DeviceTensor::empty({a.shape()[0], b.shape()[1]}, a.dtype());
  matmul(a, b, c, stream);
  return c;
}

void tessera::kernels::matmul(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
                              Stream &stream) {
  requireRank(a, 2, "a");
  requireRank(b, 2, "b");
  matmulWithConfig(a, b, c, matmulConfig(a.dtype(), a.shape()[0], b.shape()[1], a.shape()[1]),
                   stream);
}

KernelConfig tessera::kernels::matmulConfig(DType dtype, int64_t m, int64_t n, int64_t k,
                                            std::string_view arch) {
  (void)m, (void)n, (void)k;
  std::string chip = arch.empty() ? detail::currentArch() : std::string(arch);
  // 16-bit on wgmma: 128 x 128 blocks, 64-deep k-steps, double-buffered, on
  // one warpgroup, the fastest of the H200 sweep (docs/PERFORMANCE.md);
  // spill-free. f32 (CUDA cores) and mma.sync keep 64 x 64 x 32 blocks.
  if (dtype != DType::F32 && chip == "sm_90a")
    return makeConfig(lookup("matmul"), dtype, 4,
                      {{"BLOCK_M", 128}, {"BLOCK_N", 128}, {"BLOCK_K", 64}});
  return makeConfig(lookup("matmul"), dtype, 4, {});
}

void tessera::kernels::matmulWithConfig(const DeviceTensor &a, const DeviceTensor &b,
                                        DeviceTensor &c, const KernelConfig &config,
                                        Stream &stream) {
  requireRank(a, 2, "a");
  requireRank(b, 2, "b");
  requireDType(a, {DType::F32, DType::F16, DType::BF16}, "a");
  if (b.dtype() != a.dtype())
    throw tessera::Error("b: expected dtype " + std::string(name(a.dtype())) + " like a, got " +
                         std::string(name(b.dtype())));
  if (a.shape()[1] != b.shape()[0])
    throw tessera::Error("b: expected " + std::to_string(a.shape()[1]) +
                         " rows (the columns of a), got " + std::to_string(b.shape()[0]));
  if (c.dtype() != a.dtype() || c.shape() != std::vector<int64_t>{a.shape()[0], b.shape()[1]})
    throw tessera::Error("c: expected a " + std::to_string(a.shape()[0]) + " x " +
                         std::to_string(b.shape()[1]) + " tensor of a's dtype");
  const JitKernel &k = jitKernel("matmul", config);
  KernelArgs args;
  addTensor(args, a, "a");
  addTensor(args, b, "b");
  addTensor(args, c, "c");
  int64_t blocks = int64_t(gridFor(a.shape()[0], config.get("BLOCK_M"), "matmul")) *
                   gridFor(b.shape()[1], config.get("BLOCK_N"), "matmul");
  if (blocks > INT32_MAX)
    throw tessera::Error("matmul: too many programs (" + std::to_string(blocks) + ")");
  launch(k, unsigned(blocks), 1, 1, args, stream);
}
