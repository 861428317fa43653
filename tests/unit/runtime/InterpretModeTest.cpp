//===- InterpretModeTest.cpp - The kernels' API on the interpreter --------===//
//
// With the interpreter selected, attention::forward and the foundation
// kernels run on the CPU through exactly the API they have on the GPU.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace tessera;

namespace {

/// Selects the interpreter for one test.
struct InterpretedScope {
  InterpretedScope() { setInterpreted(true); }
  ~InterpretedScope() { setInterpreted(false); }
};

std::vector<float> randomValues(size_t n, DType d) {
  static std::mt19937 gen(3);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = roundTo(d, dist(gen));
  return v;
}

TEST(InterpretMode, AttentionForwardThroughThePublicApi) {
  InterpretedScope scope;
  int64_t b = 1, h = 2, s = 77, d = 64;
  auto q = randomValues(b * h * s * d, DType::BF16), k = randomValues(b * h * s * d, DType::BF16),
       v = randomValues(b * h * s * d, DType::BF16);
  DeviceTensor dq = DeviceTensor::fromFloat(q, {b, h, s, d}, DType::BF16);
  DeviceTensor dk = DeviceTensor::fromFloat(k, {b, h, s, d}, DType::BF16);
  DeviceTensor dv = DeviceTensor::fromFloat(v, {b, h, s, d}, DType::BF16);
  EXPECT_TRUE(dq.onHost());
  DeviceTensor out = DeviceTensor::empty({b, h, s, d}, DType::BF16);
  DeviceTensor lse = DeviceTensor::empty({b, h, s}, DType::F32);
  out.fillBytes(0xff);
  lse.fillBytes(0xff);
  attention::Options options;
  options.causal = true;
  attention::forward(dq, dk, dv, out, lse, options);
  std::vector<float> o = out.toFloat(), l = lse.toFloat();
  // float64 reference, causal (q_len == k_len: the plain lower triangle).
  double num = 0, den = 0;
  for (int64_t hh = 0; hh < h; ++hh)
    for (int64_t i = 0; i < s; ++i) {
      std::vector<double> p(i + 1);
      double m = -INFINITY, z = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e)
          dot += double(q[(hh * s + i) * d + e]) * k[(hh * s + j) * d + e];
        p[j] = dot / 8.0;
        m = std::max(m, p[j]);
      }
      for (double &x : p)
        z += x = std::exp(x - m);
      EXPECT_NEAR(l[hh * s + i], m + std::log(z), 1e-3);
      for (int64_t e = 0; e < d; ++e) {
        double ref = 0;
        for (int64_t j = 0; j <= i; ++j)
          ref += p[j] / z * v[(hh * s + j) * d + e];
        double got = o[(hh * s + i) * d + e];
        ASSERT_FALSE(std::isnan(got));
        num += (got - ref) * (got - ref);
        den += ref * ref;
      }
    }
  EXPECT_LE(std::sqrt(num / den), 1e-2);
}

TEST(InterpretMode, FoundationKernelsAndBadInput) {
  InterpretedScope scope;
  std::vector<float> x = randomValues(1000, DType::F32), y = randomValues(1000, DType::F32);
  DeviceTensor dx = DeviceTensor::fromFloat(x, {1000}, DType::F32);
  DeviceTensor dy = DeviceTensor::fromFloat(y, {1000}, DType::F32);
  std::vector<float> sum = kernels::vector_add(dx, dy).toFloat();
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(sum[i], x[i] + y[i]);
  DeviceTensor a = DeviceTensor::fromFloat(randomValues(12, DType::F32), {3, 4}, DType::F32);
  EXPECT_THROW(kernels::matmul(a, a), Error); // 4 columns, 3 rows
}

} // namespace
