//===- InterpretModeTest.cpp - The kernels' API on the interpreter --------===//
//
// With the interpreter selected, attention::forward and the foundation
// kernels run on the CPU through exactly the API they have on the GPU.
//
//===----------------------------------------------------------------------===//

#include "attention/Internal.h"
#include "common/LibraryKernels.h"
#include "common/Testing.h"
#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>

using namespace tessera;

namespace {

using test::InterpretedScope;

using test::randomValues;

/// Head dims 64, 40 (run as 64, the missing columns read as zeros) and 59
/// (rows not whole 16-byte vectors: on copies padded to 64).
TEST(InterpretMode, AttentionForwardThroughThePublicApi) {
  InterpretedScope scope;
  for (int64_t d : {64, 40, 59}) {
    int64_t b = 1, h = 2, s = 77;
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
          p[j] = dot / std::sqrt(double(d));
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
    EXPECT_LE(std::sqrt(num / den), 1e-2) << "d " << d;
  }
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

/// matmul's persistent programs on the interpreter: 400 tiles of 16 x 16
/// for at most 132 programs, each looping over its tiles in the grouped
/// order, with a partial last block in every dimension, against float64;
/// and its clusters' order (CLUSTER_M = 2), which must reach every tile too.
TEST(InterpretMode, PersistentAndClusteredMatmulCoverEveryTile) {
  InterpretedScope scope;
  const int64_t m = 310, k = 40, n = 318;
  std::vector<float> a = randomValues(m * k, DType::F32), b = randomValues(k * n, DType::F32);
  DeviceTensor db = DeviceTensor::fromFloat(b, {k, n}, DType::F32);
  // Also in clusters of two programs over adjacent block rows (CLUSTER_M):
  // 20 block rows, and 19 with the last cluster's second row past the end.
  for (auto [persistent, cluster, rows] :
       {std::array<int64_t, 3>{0, 1, m}, {1, 1, m}, {0, 2, m}, {0, 2, m - 16}}) {
    DeviceTensor c = DeviceTensor::empty({rows, n}, DType::F32);
    c.fillBytes(0xff);
    kernels::KernelConfig config = kernels::matmulConfig(DType::F32, m, n, k);
    config.constants["BLOCK_M"] = 16;
    config.constants["BLOCK_N"] = 16;
    config.constants["BLOCK_K"] = 16;
    config.constants["PERSISTENT"] = persistent;
    config.constants["CLUSTER_M"] = cluster;
    DeviceTensor da = DeviceTensor::fromFloat(std::vector<float>(a.begin(), a.begin() + rows * k),
                                              {rows, k}, DType::F32);
    kernels::matmulWithConfig(da, db, c, config);
    std::vector<float> got = c.toFloat();
    int64_t wrong = 0; // NaN (a tile never stored: the poison) counts
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = 0;
        for (int64_t p = 0; p < k; ++p)
          want += double(a[i * k + p]) * b[p * n + j];
        wrong += !(std::abs(got[i * n + j] - want) <= 1e-4 * (std::abs(want) + 1.0));
      }
    EXPECT_EQ(wrong, 0) << "PERSISTENT=" << persistent << " CLUSTER_M=" << cluster << ", " << rows
                        << " rows";
  }
}

/// softmax and rms_norm through the public API, on the interpreter, against
/// float64, with the configurations the heuristics pick (rows spread over
/// warps, several short rows per program); bad arguments are named.
TEST(InterpretMode, SoftmaxAndRmsNormThroughThePublicApi) {
  InterpretedScope scope;
  for (int64_t cols : {7, 300, 1500}) {
    const int64_t rows = 5;
    std::vector<float> x = randomValues(rows * cols, DType::F32);
    std::vector<float> w = randomValues(cols, DType::F32);
    DeviceTensor dx = DeviceTensor::fromFloat(x, {rows, cols}, DType::F32);
    DeviceTensor dw = DeviceTensor::fromFloat(w, {cols}, DType::F32);
    std::vector<float> soft = kernels::softmax(dx).toFloat();
    std::vector<float> norm = kernels::rms_norm(dx, dw, 1e-5f).toFloat();
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, sum = 0, squares = 0;
      for (int64_t c = 0; c < cols; ++c) {
        m = std::max(m, double(x[r * cols + c]));
        squares += double(x[r * cols + c]) * x[r * cols + c];
      }
      for (int64_t c = 0; c < cols; ++c)
        sum += std::exp(x[r * cols + c] - m);
      double inv = 1.0 / std::sqrt(squares / double(cols) + 1e-5);
      for (int64_t c = 0; c < cols; ++c) {
        int64_t i = r * cols + c;
        EXPECT_NEAR(soft[i], std::exp(x[i] - m) / sum, 1e-5) << cols << " columns, " << i;
        EXPECT_NEAR(norm[i], x[i] * inv * w[c], 1e-4 * (1 + std::abs(x[i] * inv * w[c])))
            << cols << " columns, " << i;
      }
    }
  }
  DeviceTensor x = DeviceTensor::fromFloat(randomValues(12, DType::F32), {3, 4}, DType::F32);
  DeviceTensor w3 = DeviceTensor::fromFloat(randomValues(3, DType::F32), {3}, DType::F32);
  DeviceTensor out = DeviceTensor::empty({3, 4}, DType::F32);
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::rms_norm(x, w3, out); }),
                             "weight: expected a 1-D tensor of 4 elements"));
  kernels::KernelConfig narrow = kernels::softmaxConfig(DType::F32, 3, 2);
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::softmaxWithConfig(x, out, narrow); }),
                             "softmax: BLOCK_N 2 does not cover a row of 4"));
}

/// cumsum through the public API on the interpreter against float64: rows
/// several to a program, rows spread over warps, and bf16 (summed in f32).
TEST(InterpretMode, CumsumMatchesFloat64) {
  InterpretedScope scope;
  for (DType dtype : {DType::F32, DType::BF16})
    for (int64_t cols : {7, 300, 1500})
      EXPECT_LE(test::cumsumError(dtype, 5, cols), test::cumsumTolerance(dtype, cols))
          << name(dtype) << " " << cols << " columns";
  DeviceTensor x = testkit::randomTensor({3, 4}, DType::F32);
  DeviceTensor out = DeviceTensor::empty({3, 5}, DType::F32);
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::cumsum(x, out); }),
                             "out: expected a tensor of x's dtype and shape"));
}

/// rms_norm_backward on the interpreter against float64: short rows several
/// to a program, rows spread over warps, more rows than programs (each
/// program walks several blocks and sums its share of dw), rows of one
/// element (dx = r·g·eps/(x² + eps): the two terms cancel), and bf16.
TEST(InterpretMode, RmsNormBackwardMatchesFloat64) {
  InterpretedScope scope;
  struct Case {
    DType dtype;
    int64_t rows, cols;
  };
  for (Case c : {Case{DType::F32, 5, 7}, Case{DType::F32, 3, 1500}, Case{DType::F32, 700, 24},
                 Case{DType::F32, 3000, 1}, Case{DType::BF16, 9, 300}}) {
    test::RmsNormBackwardErrors e = test::rmsNormBackwardErrors(c.dtype, c.rows, c.cols);
    double bound = c.dtype == DType::F32 ? 1e-5 : testkit::tolerance(c.dtype);
    EXPECT_LE(e.dx, bound) << name(c.dtype) << " " << c.rows << " x " << c.cols;
    EXPECT_LE(e.dweight, bound) << name(c.dtype) << " " << c.rows << " x " << c.cols;
  }
  DeviceTensor x = testkit::randomTensor({3, 4}, DType::F32);
  DeviceTensor dy = testkit::randomTensor({3, 5}, DType::F32);
  DeviceTensor w = testkit::randomTensor({4}, DType::F32);
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::rms_norm_backward(dy, x, w); }),
                             "dy: expected a tensor of x's dtype and shape"));
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::rms_norm_backward(x, x, dy); }),
                             "weight: expected a 1-D tensor of 4 elements"));
}

/// batched_matmul on the interpreter against float64: a batch of products
/// with partial blocks in every dimension, one b shared by the batch, a b
/// seen transposed through its strides; mismatched batches are named.
TEST(InterpretMode, BatchedMatmulMatchesFloat64) {
  InterpretedScope scope;
  EXPECT_LE(test::batchedMatmulError(DType::F32, 3, 37, 20, 45, /*sharedB=*/false), 1e-5);
  EXPECT_LE(test::batchedMatmulError(DType::F32, 4, 70, 33, 9, /*sharedB=*/true), 1e-5);
  EXPECT_LE(test::batchedMatmulError(DType::F32, 2, 16, 24, 40, false, /*transposedB=*/true), 1e-5);
  EXPECT_LE(test::batchedMatmulError(DType::BF16, 2, 65, 64, 33, false),
            testkit::tolerance(DType::BF16));
  // A batch of small products takes the large-problem blocks, copied by TMA,
  // when the batch's outputs add up to a large problem and K is 1024 or more.
  kernels::KernelConfig batchOf64 =
      kernels::batchedMatmulConfig(DType::BF16, 64, 256, 512, 1024, "sm_90a");
  EXPECT_EQ(batchOf64.get("BLOCK_N"), 256);
  EXPECT_EQ(batchOf64.get("NUM_STAGES"), 4);
  EXPECT_EQ(batchOf64.get("TMA"), 1);
  EXPECT_EQ(kernels::batchedMatmulConfig(DType::BF16, 1, 256, 512, 2048, "sm_90a").get("BLOCK_N"),
            128);
  EXPECT_EQ(kernels::batchedMatmulConfig(DType::BF16, 512, 256, 256, 256, "sm_90a").get("TMA"), 0);
  DeviceTensor a = testkit::randomTensor({3, 4, 5}, DType::F32);
  DeviceTensor b = testkit::randomTensor({2, 5, 6}, DType::F32);
  DeviceTensor b4 = testkit::randomTensor({3, 4, 6}, DType::F32);
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::batched_matmul(a, b); }),
                             "b: expected a batch of 3 (a's) or 1, got 2"));
  EXPECT_TRUE(test::contains(test::errorOf([&] { kernels::batched_matmul(a, b4); }),
                             "b: expected 5 rows (the columns of a), got 4"));
}

/// compactKeys keeps each batch row's unmasked keys, in order, at the front;
/// the shorter batch row masks its tail (the longer needs no mask), and
/// its gathered tail holds zeros. It declines when too few keys go or none stay.
TEST(InterpretMode, CompactKeysKeepsTheUnmaskedKeysInOrder) {
  InterpretedScope scope;
  const int64_t B = 2, H = 2, N = 50, D = 32;
  std::vector<float> k = randomValues(B * H * N * D, DType::F32),
                     v = randomValues(B * H * N * D, DType::F32);
  DeviceTensor dk = DeviceTensor::fromFloat(k, {B, H, N, D}, DType::F32);
  DeviceTensor dv = DeviceTensor::fromFloat(v, {B, H, N, D}, DType::F32);
  std::vector<uint8_t> mask(B * N, 0);
  std::vector<std::vector<int64_t>> keptKeys(B);
  for (int64_t j = 0; j < N; ++j) {
    if (j % 5 < 2) // batch 0 keeps 20 keys
      keptKeys[0].push_back(j), mask[j] = 1;
    if (j % 2 == 1) // batch 1 keeps 25
      keptKeys[1].push_back(j), mask[N + j] = 1;
  }
  DeviceTensor dmask = DeviceTensor::fromHost(mask.data(), {B, N}, DType::I1);
  std::optional<attention::detail::CompactedKeys> c =
      attention::detail::compactKeys(dk, dv, dmask, Stream::defaultStream());
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->k.shape(), (std::vector<int64_t>{B, H, 25, D}));
  ASSERT_TRUE(c->mask.has_value());
  std::vector<float> kc = c->k.toFloat(), vc = c->v.toFloat(), valid = c->mask->toFloat();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < 25; ++j) {
      bool kept = j < int64_t(keptKeys[b].size());
      EXPECT_EQ(valid[b * 25 + j], kept ? 1.f : 0.f) << "mask[" << b << ", " << j << "]";
      for (int64_t h = 0; h < H; ++h)
        for (int64_t e = 0; e < D; ++e) {
          size_t at = ((b * H + h) * 25 + j) * D + e;
          size_t from = kept ? ((b * H + h) * N + keptKeys[b][j]) * D + e : 0;
          ASSERT_EQ(kc[at], kept ? k[from] : 0.f) << b << " " << h << " " << j << " " << e;
          ASSERT_EQ(vc[at], kept ? v[from] : 0.f) << b << " " << h << " " << j << " " << e;
        }
    }
  std::vector<uint8_t> most(B * N, 1), none(B * N, 0);
  most[3] = most[N + 7] = 0; // 2 of 50 masked: not worth a gather
  DeviceTensor dmost = DeviceTensor::fromHost(most.data(), {B, N}, DType::I1);
  DeviceTensor dnone = DeviceTensor::fromHost(none.data(), {B, N}, DType::I1);
  EXPECT_FALSE(attention::detail::compactKeys(dk, dv, dmost, Stream::defaultStream()));
  EXPECT_FALSE(attention::detail::compactKeys(dk, dv, dnone, Stream::defaultStream()));
}

/// forward() with compactKeyMask gives the masked kernel's results, GQA and
/// rows of different kept counts included.
TEST(InterpretMode, ForwardWithCompactedKeysMatchesTheMaskedKernel) {
  InterpretedScope scope;
  const int64_t B = 2, H = 4, Hk = 2, S = 40, N = 90, D = 64;
  DeviceTensor q =
      DeviceTensor::fromFloat(randomValues(B * H * S * D, DType::F32), {B, H, S, D}, DType::F32);
  DeviceTensor k =
      DeviceTensor::fromFloat(randomValues(B * Hk * N * D, DType::F32), {B, Hk, N, D}, DType::F32);
  DeviceTensor v =
      DeviceTensor::fromFloat(randomValues(B * Hk * N * D, DType::F32), {B, Hk, N, D}, DType::F32);
  std::vector<uint8_t> mask(B * N);
  std::mt19937 gen(5);
  std::bernoulli_distribution keep(0.4);
  for (uint8_t &m : mask)
    m = keep(gen);
  DeviceTensor dmask = DeviceTensor::fromHost(mask.data(), {B, N}, DType::I1);
  attention::Options options;
  options.keyMask = &dmask;
  options.fp32Precision = attention::Fp32Precision::ieee;
  attention::ForwardResult masked = attention::forward(q, k, v, options);
  options.compactKeyMask = true;
  attention::ForwardResult compacted = attention::forward(q, k, v, options);
  std::vector<float> o1 = masked.out.toFloat(), o2 = compacted.out.toFloat();
  std::vector<float> l1 = masked.lse.toFloat(), l2 = compacted.lse.toFloat();
  for (size_t i = 0; i < o1.size(); ++i)
    ASSERT_NEAR(o2[i], o1[i], 1e-5f * (1 + std::abs(o1[i]))) << "out[" << i << "]";
  for (size_t i = 0; i < l1.size(); ++i)
    ASSERT_NEAR(l2[i], l1[i], 1e-5f * (1 + std::abs(l1[i]))) << "lse[" << i << "]";
}

} // namespace
