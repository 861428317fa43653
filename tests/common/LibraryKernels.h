//===- LibraryKernels.h - cumsum, rms_norm_backward, batched_matmul -*- C++ -*-===//
//
// Runs cumsum, rms_norm_backward and batched_matmul through the public API on fresh
// random inputs, outputs poisoned, and compares them with float64
// references on the host. The unit tests run them on the interpreter, the
// GPU tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_LIBRARYKERNELS_H
#define TESSERA_TESTS_COMMON_LIBRARYKERNELS_H

#include "tessera/kernels/basic.h"
#include "tessera/runtime/Testing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::test {

/// The worst relative error of cumsum(x) along rows (x of rows x cols, the
/// output poisoned) against float64; the floor sqrt(cols) is a sum's growth.
inline double cumsumError(DType dtype, int64_t rows, int64_t cols) {
  std::vector<float> x;
  DeviceTensor dx = testkit::randomTensor({rows, cols}, dtype, &x);
  DeviceTensor out = DeviceTensor::empty({rows, cols}, dtype);
  out.fillBytes(0xff);
  kernels::cumsum(dx, out);
  std::vector<double> want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c)
      want[r * cols + c] = sum += x[r * cols + c];
  }
  return testkit::maxRelativeError(out.toFloat(), want, std::sqrt(double(cols)));
}

/// The bound on cumsumError: the output's rounding for 16-bit types; for f32
/// the partial sums' rounding, which walks like sqrt(cols) roundings of a sum
/// of size sqrt(cols) (four f32 epsilons each, so that the worst of many
/// outputs stays inside; a lost carry or a wrong element costs ~1).
inline double cumsumTolerance(DType dtype, int64_t cols) {
  if (dtype != DType::F32)
    return testkit::tolerance(dtype);
  return 4 * 1.1920929e-7 * std::sqrt(double(cols));
}

/// dx and dweight of y = x · (mean(x²) + eps)^(-1/2) · w for dy, in float64.
/// The worst relative errors of both are returned: dx_ij = r·g_ij - x_ij·c_i
/// is a difference that cancels where x_ij² r² is near 1 (a row of one
/// element: dx = r·g·eps/(x² + eps)), so its error is taken relative to the
/// size of the two terms (at least 1), as a float32 evaluation can keep it;
/// dw's relative to a floor of sqrt(rows) (a sum over the rows).
struct RmsNormBackwardErrors {
  double dx, dweight;
};
inline RmsNormBackwardErrors rmsNormBackwardErrors(DType dtype, int64_t rows, int64_t cols,
                                                   float eps = 1e-5f) {
  std::vector<float> x, dy, w;
  DeviceTensor tx = testkit::randomTensor({rows, cols}, dtype, &x);
  DeviceTensor tdy = testkit::randomTensor({rows, cols}, dtype, &dy);
  DeviceTensor tw = testkit::randomTensor({cols}, dtype, &w);
  kernels::RmsNormGrads grads = kernels::rms_norm_backward(tdy, tx, tw, eps);
  std::vector<double> dx(size_t(rows * cols)), terms(dx.size()), dweight(size_t(cols), 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    const float *xi = x.data() + i * cols, *dyi = dy.data() + i * cols;
    double squares = 0, gx = 0;
    for (int64_t j = 0; j < cols; ++j) {
      squares += double(xi[j]) * xi[j];
      gx += double(dyi[j]) * w[j] * xi[j];
    }
    double r = 1 / std::sqrt(squares / double(cols) + eps);
    for (int64_t j = 0; j < cols; ++j) {
      double scaled = r * dyi[j] * w[j], correction = double(xi[j]) * r * r * r * gx / double(cols);
      dx[i * cols + j] = scaled - correction;
      terms[i * cols + j] = std::abs(scaled) + std::abs(correction);
      dweight[j] += double(dyi[j]) * xi[j] * r;
    }
  }
  std::vector<float> gotDx = grads.dx.toFloat();
  double dxError = gotDx.size() == dx.size() ? 0 : INFINITY;
  for (size_t i = 0; i < std::min(gotDx.size(), dx.size()); ++i) {
    double e = std::abs(gotDx[i] - dx[i]) / (std::abs(dx[i]) + std::max(1.0, terms[i]));
    dxError = std::isnan(e) ? INFINITY : std::max(dxError, e);
  }
  return {dxError,
          testkit::maxRelativeError(grads.dweight.toFloat(), dweight, std::sqrt(double(rows)))};
}

/// The worst relative error of batched_matmul(a, b) against float64, a of
/// (batch, m, k), b of (batch or 1, k, n), c poisoned before the run; with
/// `transposedB`, b is a (batch, n, k) tensor seen through swapped strides;
/// `adjust` changes the heuristic's configuration.
inline double batchedMatmulError(DType dtype, int64_t batch, int64_t m, int64_t k, int64_t n,
                                 bool sharedB, bool transposedB = false,
                                 const std::function<void(kernels::KernelConfig &)> &adjust = {}) {
  int64_t bBatch = sharedB ? 1 : batch;
  std::vector<float> a, b;
  DeviceTensor ta = testkit::randomTensor({batch, m, k}, dtype, &a);
  DeviceTensor tb = transposedB ? testkit::randomTensor({bBatch, n, k}, dtype, &b)
                                : testkit::randomTensor({bBatch, k, n}, dtype, &b);
  // Element (i, p, j) of the b the product reads.
  auto bAt = [&](int64_t i, int64_t p, int64_t j) {
    return transposedB ? b[(i * n + j) * k + p] : b[(i * k + p) * n + j];
  };
  if (transposedB)
    tb = tb.view({bBatch, k, n}, {n * k, 1, k}, 0);
  DeviceTensor c = DeviceTensor::empty({batch, m, n}, dtype);
  c.fillBytes(0xff);
  if (!adjust) {
    kernels::batched_matmul(ta, tb, c);
  } else {
    kernels::KernelConfig config = kernels::batchedMatmulConfig(dtype, batch, m, n, k);
    adjust(config);
    kernels::batchedMatmulWithConfig(ta, tb, c, config);
  }
  std::vector<double> want(size_t(batch * m * n), 0.0);
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t p = 0; p < k; ++p) {
        double av = a[(i * m + r) * k + p];
        for (int64_t j = 0; j < n; ++j)
          want[(i * m + r) * n + j] += av * bAt(sharedB ? 0 : i, p, j);
      }
  // A sum of k products: its error grows with sqrt(k).
  return testkit::maxRelativeError(c.toFloat(), want, std::sqrt(double(k)));
}

} // namespace tessera::test

#endif
