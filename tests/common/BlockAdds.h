//===- BlockAdds.h - A user's kernel adding f32 blocks, checked -*- C++ -*-===//
//
// A split-K matmul that adds every k-step's partial product into an f32
// output (out += A·B, `SPLITS` programs per block, each over its share of
// the k-steps): the atomic_add of a block inside a pipelined loop. With TMA
// on sm_90a and rows of whole 16-byte vectors the adds go out as TMA bulk
// adds from shared memory (tile-use-tma); with odd rows as element-wise
// reductions. The unit tests run it on the interpreter with the sm_90a
// schedule, the GPU tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_BLOCKADDS_H
#define TESSERA_TESTS_COMMON_BLOCKADDS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <cmath>
#include <string>
#include <vector>

namespace tessera::test {

/// Program (m-block, n-block, split s): out[m, n] += A[m, k] B[k, n] for
/// each k-step of split s's share, one add per k-step.
inline void blockAddsBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N"), bk = c.get("BLOCK_K");
  kb.setNumStages(2);
  kb.setWarpgroupMma(true);
  kb.setTensorMemoryAccelerator(true);
  TensorArg a = kb.tensor("a", c.dtype, 2), b = kb.tensor("b", c.dtype, 2);
  TensorArg out = kb.tensor("out", DType::F32, 2);
  Scalar row = program_id(0) * Scalar(bm), col = program_id(1) * Scalar(bn);
  Scalar share = cdiv(cdiv(a.size(1), Scalar(bk)), num_programs(2)) * Scalar(bk);
  Scalar begin = program_id(2) * share;
  Scalar end = min(a.size(1), begin + share);
  for_range(begin, end, Scalar(bk), {}, [&](Scalar k, const std::vector<Tile> &) {
    Tile at = load(a, {row, k}, {bm, bk});
    Tile bt = load(b, {k, col}, {bk, bn});
    atomic_add(out, {row, col}, dot(at, bt));
    return std::vector<Tile>{};
  });
}

inline kernels::Kernel blockAddsKernel(int64_t splits) {
  return kernels::Kernel("block_adds", blockAddsBody)
      .constants({{"BLOCK_M", 64}, {"BLOCK_N", 64}, {"BLOCK_K", 64}})
      .dtypes({DType::BF16})
      .grid([splits](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("a").shape()[0], c.get("BLOCK_M")),
                             kernels::cdiv(args.tensor("b").shape()[1], c.get("BLOCK_N")), splits};
      });
}

/// out (random f32) += A·B (bf16, m x k by k x n) over `splits` splits,
/// against float64; "" or the first element that is off.
inline std::string checkBlockAdds(int64_t m, int64_t n, int64_t k, int64_t splits) {
  std::vector<float> a = testkit::randomValues(size_t(m * k), DType::BF16);
  std::vector<float> b = testkit::randomValues(size_t(k * n), DType::BF16);
  std::vector<float> init = testkit::randomValues(size_t(m * n), DType::F32);
  DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, DType::BF16);
  DeviceTensor db = DeviceTensor::fromFloat(b, {k, n}, DType::BF16);
  DeviceTensor out = DeviceTensor::fromFloat(init, {m, n}, DType::F32);
  blockAddsKernel(splits)(std::vector<kernels::Arg>{da, db, out});
  std::vector<float> got = out.toFloat();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double want = init[i * n + j], scale = std::abs(want);
      for (int64_t p = 0; p < k; ++p) {
        want += double(a[i * k + p]) * b[p * n + j];
        scale += std::abs(double(a[i * k + p]) * b[p * n + j]);
      }
      // f32 sums of bf16 products in any order.
      if (!(std::abs(got[i * n + j] - want) <= 1e-5 * scale + 1e-6))
        return "out[" + std::to_string(i) + ", " + std::to_string(j) +
               "] = " + std::to_string(got[i * n + j]) + ", expected " + std::to_string(want);
    }
  return "";
}

} // namespace tessera::test

#endif // TESSERA_TESTS_COMMON_BLOCKADDS_H
