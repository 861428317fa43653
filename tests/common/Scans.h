//===- Scans.h - Scans and reductions with a user combine, checked -*- C++ -*-===//
//
// One kernel of scans (cumsum along rows and, reversed, along columns;
// cumprod and a first-nonzero scan on i32; cumsum of a 1-D block) and
// reductions with a user's combine function (a product along rows,
// (1 + a)(1 + b) - 1 along columns), and its check against float64 (floats) or exact (i32)
// references on the host. The unit tests run it on the interpreter, the GPU
// tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_SCANS_H
#define TESSERA_TESTS_COMMON_SCANS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::test {

/// Program p owns rows p·BM .. of x (m x BN floats) and k (m x BN i32), and
/// elements p·BM·BN .. of v (floats):
///   row_cumsum = cumsum(x, 1)           col_rcumsum = cumsum(x, 0, reverse)
///   row_prod   = reduce(1 + x/64, 1, *)  col_xor = reduce(k, 0, ^) per block
///   k_cumprod  = cumprod(k, 1)           k_first = first nonzero of k up to j
///   v_cumsum   = cumsum of the 1-D block of v
///   row_argmax, running_argmax: (x, index) reduced and scanned together
inline void scansBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t bm = c.get("BM"), bn = c.get("BN");
  TensorArg x = kb.tensor("x", c.dtype, 2), k = kb.tensor("k", DType::I32, 2),
            v = kb.tensor("v", c.dtype, 1), rowCumsum = kb.tensor("row_cumsum", c.dtype, 2),
            colRcumsum = kb.tensor("col_rcumsum", c.dtype, 2),
            rowProd = kb.tensor("row_prod", c.dtype, 1),
            colComb = kb.tensor("col_comb", DType::I32, 2),
            kCumprod = kb.tensor("k_cumprod", DType::I32, 2),
            kFirst = kb.tensor("k_first", DType::I32, 2),
            vCumsum = kb.tensor("v_cumsum", c.dtype, 1),
            rowArgmax = kb.tensor("row_argmax", DType::I32, 1),
            runningArgmax = kb.tensor("running_argmax", DType::I32, 2);
  Scalar p = program_id(0), row = p * Scalar(bm), zero(0);
  Tile t = load(x, {row, zero}, {bm, bn});
  store(rowCumsum, {row, zero}, cumsum(t, 1));
  store(colRcumsum, {row, zero}, cumsum(t, 0, /*reverse=*/true));
  Tile near1 = cast(t, DType::F32) * (1.0 / 64) + 1.0;
  store(rowProd, {row},
        reduce(cast(near1, c.dtype), 1, [](const Scalar &a, const Scalar &b) { return a * b; }));

  Tile ki = load(k, {row, zero}, {bm, bn});
  // (1 + a)(1 + b) - 1: associative and commutative, wrapping in i32.
  store(colComb, {p, zero},
        expand_dims(reduce(ki, 0, [](const Scalar &a, const Scalar &b) { return a + b + a * b; }),
                    0));
  store(kCumprod, {row, zero}, cumprod(ki + 1.0, 1));
  // Associative, not commutative: the earlier nonzero wins.
  store(kFirst, {row, zero}, associative_scan(ki, 1, [](const Scalar &a, const Scalar &b) {
          return where(a != Scalar(0), a, b);
        }));

  Scalar start = p * Scalar(bm * bn);
  store(vCumsum, {start}, cumsum(load(v, {start}, {bm * bn}), 0));

  // (value, index) pairs reduced and scanned together: the larger value,
  // the first index among equal ones.
  Tile index = broadcast_to(expand_dims(arange(bn), 0), {bm, bn});
  CombineN larger = [](const std::vector<Scalar> &a, const std::vector<Scalar> &b) {
    Scalar takeB = where(b[0] == a[0], b[1]<a[1], b[0]> a[0]);
    return std::vector<Scalar>{where(takeB, b[0], a[0]), where(takeB, b[1], a[1])};
  };
  store(rowArgmax, {row}, reduce({t, index}, 1, larger)[1]);
  store(runningArgmax, {row, zero}, associative_scan({t, index}, 1, larger)[1]);
}

inline kernels::Kernel scansKernel() {
  return kernels::Kernel("scans", scansBody)
      .constants({{"BM", 16}, {"BN", 256}})
      .dtypes({DType::F32, DType::BF16})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BM"))};
      });
}

/// Runs the kernel on m x 256 inputs (m a multiple of 16) and returns "" or
/// the first element out of bounds.
inline std::string checkScans(int64_t m, DType dtype) {
  const int64_t bm = 16, n = 256, programs = m / bm;
  std::vector<float> x, v;
  DeviceTensor dx = testkit::randomTensor({m, n}, dtype, &x);
  DeviceTensor dv = testkit::randomTensor({m * n}, dtype, &v);
  // Mostly zeros (the first-nonzero scan); products of k + 1 wrap.
  std::vector<int32_t> k(m * n);
  for (int32_t &e : k)
    e = rng()() % 4 == 0 ? int32_t(rng()() % 9) + 1 : 0;
  DeviceTensor dk = DeviceTensor::fromHost(k.data(), {m, n}, DType::I32);
  auto out = [](std::vector<int64_t> shape, DType t) {
    DeviceTensor d = DeviceTensor::empty(std::move(shape), t);
    d.fillBytes(0xff);
    return d;
  };
  DeviceTensor rowCumsum = out({m, n}, dtype), colRcumsum = out({m, n}, dtype),
               rowProd = out({m}, dtype), colComb = out({programs, n}, DType::I32),
               kCumprod = out({m, n}, DType::I32), kFirst = out({m, n}, DType::I32),
               vCumsum = out({m * n}, dtype), rowArgmax = out({m}, DType::I32),
               runningArgmax = out({m, n}, DType::I32);
  scansKernel()(std::vector<kernels::Arg>{dx, dk, dv, rowCumsum, colRcumsum, rowProd, colComb,
                                          kCumprod, kFirst, vCumsum, rowArgmax, runningArgmax});

  // |got - want| within the f32 accumulation over the terms' magnitudes and
  // the rounding of the result to the dtype.
  double resultUlp = dtype == DType::F32 ? 0 : std::ldexp(1.0, -8);
  auto near = [&](float got, double want, double magnitude) {
    return std::abs(double(got) - want) <= 1e-6 * magnitude + resultUlp * std::abs(want) + 1e-30;
  };
  auto at = [](const char *what, int64_t i, int64_t j, double got, double want) {
    return std::string(what) + " at (" + std::to_string(i) + ", " + std::to_string(j) +
           "): " + std::to_string(got) + ", expected " + std::to_string(want);
  };

  std::vector<float> gotRow = rowCumsum.toFloat(), gotCol = colRcumsum.toFloat(),
                     gotProd = rowProd.toFloat(), gotV = vCumsum.toFloat();
  for (int64_t i = 0; i < m; ++i) {
    double sum = 0, magnitude = 0, prod = 1;
    for (int64_t j = 0; j < n; ++j) {
      sum += x[i * n + j];
      magnitude += std::abs(x[i * n + j]) * n;
      if (!near(gotRow[i * n + j], sum, magnitude))
        return at("row cumsum", i, j, gotRow[i * n + j], sum);
      double factor = double(float(x[i * n + j]) * (1.f / 64) + 1.f);
      if (dtype != DType::F32)
        factor = roundTo(dtype, float(factor));
      prod *= factor;
    }
    if (!near(gotProd[i], prod, 1e2 * prod))
      return at("row product", i, 0, gotProd[i], prod);
  }
  for (int64_t p = 0; p < programs; ++p)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, magnitude = 0;
      for (int64_t i = p * bm + bm - 1; i >= p * bm; --i) {
        sum += x[i * n + j];
        magnitude += std::abs(x[i * n + j]) * bm;
        if (!near(gotCol[i * n + j], sum, magnitude))
          return at("reversed column cumsum", i, j, gotCol[i * n + j], sum);
      }
    }
  for (int64_t p = 0; p < programs; ++p) {
    double sum = 0, magnitude = 0;
    for (int64_t e = p * bm * n; e < (p + 1) * bm * n; ++e) {
      sum += v[e];
      magnitude += std::abs(v[e]) * 64;
      if (!near(gotV[e], sum, magnitude))
        return at("1-D cumsum", e, 0, gotV[e], sum);
    }
  }

  std::vector<int32_t> gotArgmax(m), gotRunning(m * n);
  rowArgmax.copyToHost(gotArgmax.data());
  runningArgmax.copyToHost(gotRunning.data());
  for (int64_t i = 0; i < m; ++i) {
    int32_t best = 0;
    for (int32_t j = 0; j < n; ++j) {
      if (x[i * n + j] > x[i * n + best])
        best = j;
      if (gotRunning[i * n + j] != best)
        return at("running argmax", i, j, gotRunning[i * n + j], best);
    }
    if (gotArgmax[i] != best)
      return at("argmax by a combine", i, 0, gotArgmax[i], best);
  }

  std::vector<int32_t> gotComb(programs * n), gotCumprod(m * n), gotFirst(m * n);
  colComb.copyToHost(gotComb.data());
  kCumprod.copyToHost(gotCumprod.data());
  kFirst.copyToHost(gotFirst.data());
  for (int64_t p = 0; p < programs; ++p)
    for (int64_t j = 0; j < n; ++j) {
      uint32_t want = 1; // (1 + a)(1 + b)... then - 1
      for (int64_t i = p * bm; i < (p + 1) * bm; ++i)
        want *= 1u + uint32_t(k[i * n + j]);
      if (gotComb[p * n + j] != int32_t(want - 1u))
        return at("column combine", p, j, gotComb[p * n + j], int32_t(want - 1u));
    }
  for (int64_t i = 0; i < m; ++i) {
    uint32_t prod = 1;
    int32_t first = 0;
    for (int64_t j = 0; j < n; ++j) {
      prod *= uint32_t(k[i * n + j] + 1);
      if (first == 0)
        first = k[i * n + j];
      if (gotCumprod[i * n + j] != int32_t(prod))
        return at("i32 cumprod", i, j, gotCumprod[i * n + j], int32_t(prod));
      if (gotFirst[i * n + j] != first)
        return at("first-nonzero scan", i, j, gotFirst[i * n + j], first);
    }
  }
  return "";
}

} // namespace tessera::test

#endif
