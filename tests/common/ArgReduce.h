//===- ArgReduce.h - argmax and argmin, checked -----------------*- C++ -*-===//
//
// One kernel taking argmax along the rows and argmin along the columns of
// each program's block, and its exact check against the host's first index
// of the extreme (ties: the first). The unit tests run it on the
// interpreter, the GPU tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_ARGREDUCE_H
#define TESSERA_TESTS_COMMON_ARGREDUCE_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <string>
#include <vector>

namespace tessera::test {

/// Program p, rows p·BM ..: row_max[r] = argmax of row r; col_min[p][c] =
/// argmin of column c within the block.
inline void argReduceBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t bm = c.get("BM"), bn = c.get("BN");
  TensorArg x = kb.tensor("x", c.dtype, 2), rowMax = kb.tensor("row_max", DType::I32, 1),
            colMin = kb.tensor("col_min", DType::I32, 2);
  Scalar p = program_id(0), row = p * Scalar(bm);
  Tile t = load(x, {row, Scalar(0)}, {bm, bn});
  store(rowMax, {row}, argmax(t, 1));
  store(colMin, {p, Scalar(0)}, expand_dims(argmin(t, 0), 0));
}

inline kernels::Kernel argReduceKernel() {
  return kernels::Kernel("arg_reduce", argReduceBody)
      .constants({{"BM", 16}, {"BN", 64}})
      .dtypes({DType::F32, DType::BF16})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BM"))};
      });
}

/// Runs the kernel on an m x 64 tensor (m a multiple of 16) and returns ""
/// or the first wrong index.
inline std::string checkArgReduce(int64_t m, DType dtype) {
  const int64_t n = 64, bm = 16, programs = m / bm;
  std::vector<float> x;
  DeviceTensor dx = testkit::randomTensor({m, n}, dtype, &x);
  DeviceTensor rowMax = DeviceTensor::empty({m}, DType::I32),
               colMin = DeviceTensor::empty({programs, n}, DType::I32);
  rowMax.fillBytes(0xff);
  colMin.fillBytes(0xff);
  argReduceKernel()(std::vector<kernels::Arg>{dx, rowMax, colMin});
  std::vector<int32_t> gotRow(m), gotCol(programs * n);
  rowMax.copyToHost(gotRow.data());
  colMin.copyToHost(gotCol.data());
  for (int64_t r = 0; r < m; ++r) {
    int32_t want = 0;
    for (int32_t c = 1; c < n; ++c)
      if (x[r * n + c] > x[r * n + want])
        want = c;
    if (gotRow[r] != want)
      return "argmax of row " + std::to_string(r) + ": " + std::to_string(gotRow[r]) +
             ", expected " + std::to_string(want);
  }
  for (int64_t p = 0; p < programs; ++p)
    for (int64_t c = 0; c < n; ++c) {
      int32_t want = 0;
      for (int32_t r = 1; r < bm; ++r)
        if (x[(p * bm + r) * n + c] < x[(p * bm + want) * n + c])
          want = r;
      if (gotCol[p * n + c] != want)
        return "argmin of column " + std::to_string(c) + " in block " + std::to_string(p) + ": " +
               std::to_string(gotCol[p * n + c]) + ", expected " + std::to_string(want);
    }
  return "";
}

} // namespace tessera::test

#endif
