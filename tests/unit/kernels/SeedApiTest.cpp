//===- SeedApiTest.cpp - flash-attention-jax's API on the interpreter -----===//
//
// flash_attention, causal_flash_attention (any leading dimensions),
// l2norm_rows and its backward, cosine_sim_flash_attention, plain_attention
// and value_and_grad_difference, on the CPU through the interpreter, against
// float64 computations.
//
//===----------------------------------------------------------------------===//

#include "common/Testing.h"
#include "tessera/kernels/seed.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace tessera;
using namespace tessera::attention;

namespace {

using test::InterpretedScope;
using test::randomValues;

double maxAbsDiff(const std::vector<float> &a, const std::vector<double> &b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::isnan(a[i]) ? INFINITY : std::max(m, std::abs(a[i] - b[i]));
  return m;
}

/// The seed's functions run f32 in TF32 (Options' default). The interpreter
/// computes {tf32} dots in f32, but on sm_90a (its arch without a GPU)
/// attention_prepare_kv rounds K and V to tf32 first, as on the device:
/// differences of a TF32 rounding of the inputs, ~1e-3.
constexpr double kTf32Inputs = 3e-3;

TEST(SeedApi, FlashAttentionMatchesPlainAttention) {
  InterpretedScope scope;
  std::vector<float> q = randomValues(2 * 2 * 13 * 32), k = randomValues(2 * 2 * 21 * 32),
                     v = randomValues(2 * 2 * 21 * 32);
  std::vector<uint8_t> mask(2 * 21, 1);
  mask[3] = mask[30] = mask[31] = 0;
  DeviceTensor tq = DeviceTensor::fromFloat(q, {2, 2, 13, 32}, DType::F32);
  DeviceTensor tk = DeviceTensor::fromFloat(k, {2, 2, 21, 32}, DType::F32);
  DeviceTensor tv = DeviceTensor::fromFloat(v, {2, 2, 21, 32}, DType::F32);
  DeviceTensor tmask = DeviceTensor::fromHost(mask.data(), {2, 21}, DType::I1);
  ForwardResult flash = flash_attention(tq, tk, tv, tmask);
  ForwardResult plain = plain_attention(tq, tk, tv, tmask);
  PlainAttentionResult ref =
      plain_attention_cpu({2, 2, 2, 13, 21, 32}, q, k, v, &mask, false, 1.0 / std::sqrt(32.0));
  EXPECT_LE(maxAbsDiff(flash.out.toFloat(), ref.out), kTf32Inputs);
  EXPECT_LE(maxAbsDiff(flash.lse.toFloat(), ref.lse), kTf32Inputs);
  EXPECT_LE(maxAbsDiff(plain.out.toFloat(), ref.out), 1e-6);
}

TEST(SeedApi, CausalFlashAttentionTakesAnyLeadingDimensions) {
  InterpretedScope scope;
  // (3, 2, 11, 32): leading (3, 2) viewed as 6 (batch·heads) rows of heads.
  std::vector<float> q = randomValues(3 * 2 * 11 * 32), k = randomValues(q.size()),
                     v = randomValues(q.size());
  DeviceTensor tq = DeviceTensor::fromFloat(q, {3, 2, 11, 32}, DType::F32);
  DeviceTensor tk = DeviceTensor::fromFloat(k, {3, 2, 11, 32}, DType::F32);
  DeviceTensor tv = DeviceTensor::fromFloat(v, {3, 2, 11, 32}, DType::F32);
  PlainAttentionResult ref =
      plain_attention_cpu({6, 1, 1, 11, 11, 32}, q, k, v, nullptr, true, 1.0 / std::sqrt(32.0));
  for (int rank : {2, 3, 4, 5}) {
    std::vector<int64_t> shape;
    if (rank == 2)
      shape = {11, 32};
    else if (rank == 3)
      shape = {6, 11, 32};
    else if (rank == 4)
      shape = {3, 2, 11, 32};
    else
      shape = {3, 1, 2, 11, 32};
    size_t n = rank == 2 ? 11 * 32 : q.size();
    auto view = [&](const DeviceTensor &t) {
      std::vector<int64_t> strides(shape.size(), 1);
      for (size_t d = shape.size(); d-- > 1;)
        strides[d - 1] = strides[d] * shape[d];
      return t.view(shape, strides);
    };
    ForwardResult r = causal_flash_attention(view(tq), view(tk), view(tv));
    EXPECT_EQ(r.out.shape(), shape);
    std::vector<int64_t> lseShape(shape.begin(), shape.end() - 1);
    EXPECT_EQ(r.lse.shape(), lseShape);
    std::vector<float> out = r.out.toFloat();
    EXPECT_LE(maxAbsDiff(out, std::vector<double>(ref.out.begin(), ref.out.begin() + n)),
              kTf32Inputs)
        << "rank " << rank;
  }
  // Leading dimensions that do not nest cannot be one view.
  DeviceTensor sliced = tq.view({2, 3, 11, 32}, {11 * 32, 2 * 11 * 32, 32, 1});
  EXPECT_THROW(causal_flash_attention(sliced, sliced, sliced), Error);
}

TEST(SeedApi, L2NormRowsAndItsGradient) {
  InterpretedScope scope;
  int64_t rows = 37, d = 96;
  std::vector<float> x = randomValues(rows * d), dy = randomValues(rows * d);
  for (int64_t e = 0; e < d; ++e)
    x[5 * d + e] = 0.f; // a zero row stays zero
  DeviceTensor tx = DeviceTensor::fromFloat(x, {rows, d}, DType::F32);
  DeviceTensor tdy = DeviceTensor::fromFloat(dy, {rows, d}, DType::F32);
  std::vector<float> y = l2norm_rows(tx).toFloat(), dx = l2norm_rows_backward(tx, tdy).toFloat();
  std::vector<double> refY(rows * d), refDx(rows * d);
  for (int64_t i = 0; i < rows; ++i) {
    double n = 0, proj = 0;
    for (int64_t e = 0; e < d; ++e)
      n += double(x[i * d + e]) * x[i * d + e];
    n = std::max(std::sqrt(n), 1e-12);
    for (int64_t e = 0; e < d; ++e)
      proj += x[i * d + e] / n * dy[i * d + e];
    for (int64_t e = 0; e < d; ++e) {
      refY[i * d + e] = x[i * d + e] / n;
      refDx[i * d + e] = (dy[i * d + e] - refY[i * d + e] * proj) / n;
    }
  }
  EXPECT_LE(maxAbsDiff(y, refY), 1e-6);
  double scale = 0;
  for (int64_t i = 0; i < rows * d; ++i)
    if (i / d != 5)
      scale = std::max(scale, std::abs(refDx[i]));
  for (int64_t i = 0; i < rows * d; ++i)
    if (i / d != 5)
      ASSERT_NEAR(dx[i], refDx[i], 1e-5 * scale) << i;
}

TEST(SeedApi, CosineSimFlashAttentionNormalisesEachRow) {
  InterpretedScope scope;
  std::vector<float> q = randomValues(1 * 2 * 9 * 64), k = randomValues(1 * 2 * 14 * 64),
                     v = randomValues(1 * 2 * 14 * 64);
  DeviceTensor tq = DeviceTensor::fromFloat(q, {1, 2, 9, 64}, DType::F32);
  DeviceTensor tk = DeviceTensor::fromFloat(k, {1, 2, 14, 64}, DType::F32);
  DeviceTensor tv = DeviceTensor::fromFloat(v, {1, 2, 14, 64}, DType::F32);
  ForwardResult r = cosine_sim_flash_attention(tq, tk, tv, {}, 10.f);
  auto normalise = [](std::vector<float> x) {
    for (size_t i = 0; i < x.size(); i += 64) {
      double n = 0;
      for (size_t e = 0; e < 64; ++e)
        n += double(x[i + e]) * x[i + e];
      for (size_t e = 0; e < 64; ++e)
        x[i + e] = float(x[i + e] / std::sqrt(n));
    }
    return x;
  };
  PlainAttentionResult ref = plain_attention_cpu({1, 2, 2, 9, 14, 64}, normalise(q), normalise(k),
                                                 v, nullptr, false, 10.0);
  EXPECT_LE(maxAbsDiff(r.out.toFloat(), ref.out), kTf32Inputs);
}

TEST(SeedApi, CosineSimGradientsGoBackThroughTheNormalisation) {
  InterpretedScope scope;
  const int64_t D = 32, Sq = 7, Sk = 10;
  std::vector<float> q = randomValues(Sq * D), k = randomValues(Sk * D), v = randomValues(Sk * D),
                     dout = randomValues(Sq * D);
  auto t = [](const std::vector<float> &x, int64_t rows) {
    return DeviceTensor::fromFloat(x, {1, 1, rows, D}, DType::F32);
  };
  ValueAndGrad g =
      cosine_sim_flash_attention_value_and_grad(t(q, Sq), t(k, Sk), t(v, Sk), {}, t(dout, Sq));
  // float64: y = x/|x| per row, attention at scale 16, dx = (dy - y (y·dy)) / |x|.
  auto normalise = [&](const std::vector<float> &x, std::vector<double> &norms) {
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); i += D) {
      double n = 0;
      for (int64_t e = 0; e < D; ++e)
        n += double(x[i + e]) * x[i + e];
      norms.push_back(std::sqrt(n));
      for (int64_t e = 0; e < D; ++e)
        y[i + e] = float(x[i + e] / norms.back());
    }
    return y;
  };
  std::vector<double> qNorm, kNorm;
  std::vector<float> qn = normalise(q, qNorm), kn = normalise(k, kNorm);
  PlainAttentionResult ref =
      plain_attention_cpu({1, 1, 1, Sq, Sk, D}, qn, kn, v, nullptr, false, 16.0, &dout);
  auto back = [&](const std::vector<float> &y, const std::vector<double> &norms,
                  const std::vector<double> &dy) {
    std::vector<double> dx(dy.size());
    for (size_t r = 0; r < norms.size(); ++r) {
      double proj = 0;
      for (int64_t e = 0; e < D; ++e)
        proj += y[r * D + e] * dy[r * D + e];
      for (int64_t e = 0; e < D; ++e)
        dx[r * D + e] = (dy[r * D + e] - y[r * D + e] * proj) / norms[r];
    }
    return dx;
  };
  EXPECT_LE(maxAbsDiff(g.out.toFloat(), ref.out), 1e-4);
  EXPECT_LE(maxAbsDiff(g.dq.toFloat(), back(qn, qNorm, ref.dq)), 1e-4);
  EXPECT_LE(maxAbsDiff(g.dk.toFloat(), back(kn, kNorm, ref.dk)), 1e-4);
  EXPECT_LE(maxAbsDiff(g.dv.toFloat(), ref.dv), 1e-4);
}

TEST(SeedApi, ValueAndGradDifferenceOfPlainAndFlash) {
  InterpretedScope scope;
  Difference d = value_and_grad_difference(
      plain_attention_value_and_grad, flash_attention_value_and_grad, 42, 1, 2, 24, 40, true, 32);
  EXPECT_LE(d.out, 1e-5);
  EXPECT_LE(d.dq, 1e-4);
  EXPECT_LE(d.dk, 1e-4);
  EXPECT_LE(d.dv, 1e-4);
  // Comparing a function with itself gives exactly zero.
  Difference same = value_and_grad_difference(
      plain_attention_value_and_grad, plain_attention_value_and_grad, 1, 1, 1, 5, 7, false, 32);
  EXPECT_EQ(same.out + same.dq + same.dk + same.dv, 0.0);
}

} // namespace
