//===- AttentionBackwardTest.cpp - Flash attention backward on the CPU ----===//
//
// attention::backward run through the interpreter on small shapes (lengths
// not multiples of the blocks, q_len != k_len, GQA and MQA, causal, key
// mask, strided inputs, every dtype) against float64 gradients; gradients
// poisoned before each run; and the argument checks.
//
//===----------------------------------------------------------------------===//

#include "common/AttentionTesting.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <gtest/gtest.h>

#include <limits>

using namespace tessera;
using attention::AttentionShape;

namespace {

using test::InterpretedScope;

double bound(DType dtype) { return dtype == DType::F32 ? 1e-4 : dtype == DType::F16 ? 5e-3 : 2e-2; }

void runCase(const attention_testing::BackwardCase &c) {
  InterpretedScope scope;
  attention_testing::BackwardRun r = attention_testing::runBackward(c);
  attention_testing::expectGradients(r, attention_testing::relativeMaxError, bound(c.dtype));
  const AttentionShape &s = c.shape;
  if (c.mask && s.batch > 1) // the last batch row sees no key: zero dq, no NaN
    for (size_t i = (s.batch - 1) * s.heads * s.qLen * s.dim; i < r.dq.size(); ++i)
      ASSERT_EQ(r.dq[i], 0.f) << "dq of a row that sees no key";
}

using Param = std::tuple<DType, int /*shape*/, bool /*causal*/, bool /*mask*/>;

const AttentionShape kShapes[] = {
    {1, 2, 2, 33, 33, 32}, // one head per kv head; 33 = 32 + 1
    {2, 2, 1, 17, 40, 64}, // MQA, k_len > q_len
    {1, 4, 2, 20, 9, 32},  // GQA, q_len > k_len: causal rows 0-10 see nothing
    {2, 2, 2, 1, 1, 32},   // one key: dq and dk vanish analytically
};

class AttentionBackward : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionBackward, MatchesFloat64Gradients) {
  auto [dtype, shape, causal, mask] = GetParam();
  runCase({kShapes[shape], dtype, causal, mask, false});
}

INSTANTIATE_TEST_SUITE_P(Interpreter, AttentionBackward,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(0, 1, 2, 3), ::testing::Bool(),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<Param> &info) {
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  attention_testing::shapeName(kShapes[std::get<1>(info.param)]) +
                                  (std::get<2>(info.param) ? "_causal" : "") +
                                  (std::get<3>(info.param) ? "_mask" : "");
                         });

/// The deterministic backward (the dQ pass instead of atomic adds) on the
/// same shapes; by default bf16 and f16 of head dim <= 64 add dQ atomically.
class AttentionBackwardDeterministic : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionBackwardDeterministic, MatchesFloat64Gradients) {
  auto [dtype, shape, causal, mask] = GetParam();
  attention_testing::BackwardCase c{kShapes[shape], dtype, causal, mask, false};
  c.deterministic = true;
  runCase(c);
}

INSTANTIATE_TEST_SUITE_P(Interpreter, AttentionBackwardDeterministic,
                         ::testing::Combine(::testing::Values(DType::BF16),
                                            ::testing::Values(0, 1, 2, 3), ::testing::Bool(),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<Param> &info) {
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  attention_testing::shapeName(kShapes[std::get<1>(info.param)]) +
                                  (std::get<2>(info.param) ? "_causal" : "") +
                                  (std::get<3>(info.param) ? "_mask" : "");
                         });

/// Atomic dQ lost to the two-kernel split at every measured shape
/// (docs/PERFORMANCE.md): backward() never picks it, deterministic or not.
TEST(AttentionBackwardConfig, TwoKernelSplitWhereverMeasuredFaster) {
  for (DType dtype : {DType::BF16, DType::F16, DType::F32})
    for (int64_t dim : {32, 64, 128, 256})
      for (const char *arch : {"sm_80", "sm_90a"})
        for (bool deterministic : {false, true})
          EXPECT_EQ(attention::backwardConfig(dtype, dim, false, false, arch,
                                              attention::Fp32Precision::tf32, deterministic)
                        .get("DQ_ATOMIC"),
                    0)
              << name(dtype) << " d" << dim << " " << arch;
  EXPECT_EQ(attention::backwardConfig(DType::BF16, 128, false, false, "sm_90a").get("BLOCK_M"), 64);
}

/// Outputs by TMA stores from a staging tile where that was measured faster
/// and compiles spill-free (docs/PERFORMANCE.md, "Stores by TMA"): the
/// forward's d 128 kernel with K and V by TMA and no producer warpgroup
/// (short causal keys), every backward whose blocks come by TMA; not the
/// forward's 64-column kernels (they spill), a producer's, or sm_80's.
TEST(AttentionConfig, OutputsByTmaStoresWhereMeasuredFaster) {
  auto forwardStores = [](int64_t dim, bool causal, int64_t kLen, const char *arch = "sm_90a") {
    return attention::forwardConfig(DType::BF16, dim, causal, false, arch,
                                    attention::Fp32Precision::tf32, kLen)
        .get("TMA_STORE");
  };
  EXPECT_EQ(forwardStores(128, true, 1024), 1);
  EXPECT_EQ(forwardStores(128, true, 4096), 1); // beside a producer warpgroup
  EXPECT_EQ(forwardStores(128, false, 4096), 1);
  EXPECT_EQ(forwardStores(128, true, 16384), 1);
  EXPECT_EQ(forwardStores(128, false, 16384), 1); // FlashAttention-3's order: at every length
  EXPECT_EQ(forwardStores(256, false, 4096), 1);
  EXPECT_EQ(forwardStores(160, true, 4096), 1);
  EXPECT_EQ(forwardStores(128, false, 1024), 1); // two warpgroups, K and V by TMA
  EXPECT_EQ(attention::forwardConfig(DType::BF16, 128, false, false, "sm_90a",
                                     attention::Fp32Precision::tf32, 1024)
                .numWarps,
            8u);
  EXPECT_EQ(forwardStores(64, true, 1024), 0);
  EXPECT_EQ(forwardStores(128, true, 1024, "sm_80"), 0);
  for (int64_t dim : {64, 128, 256})
    EXPECT_EQ(attention::backwardConfig(DType::BF16, dim, true, false).get("TMA_STORE"), 1) << dim;
  EXPECT_EQ(attention::backwardConfig(DType::BF16, 32, true, false).get("TMA_STORE"), 0);
  EXPECT_EQ(attention::backwardConfig(DType::BF16, 128, true, false, "sm_80").get("TMA_STORE"), 0);
}

TEST(AttentionBackwardStrided, TransposedLayouts) {
  runCase({{1, 2, 1, 19, 23, 32}, DType::F32, true, true, true});
  runCase({{2, 2, 2, 9, 12, 64}, DType::BF16, false, false, true});
}

/// Tensors no 16-byte vector fits (a base one element off, rows d + 1
/// apart): through forward() and backward() (aligned copies), and through
/// the kernels as given (withConfig: their element-by-element path).
TEST(AttentionBackwardStrided, MisalignedTensors) {
  for (bool withConfig : {false, true}) {
    attention_testing::BackwardCase c{{1, 2, 1, 19, 23, 32}, DType::BF16, true, true, false};
    c.misaligned = true;
    c.withConfig = withConfig;
    SCOPED_TRACE(withConfig ? "the kernels as given" : "forward() and backward()");
    runCase(c);
  }
}

/// Head dims whose rows are not whole 16-byte vectors (59 and 111 in 16
/// bits, 59 in f32): Q, K, V and dO on padded copies, O read and the
/// gradients written in place.
TEST(AttentionBackwardStrided, HeadDimsOfPartialVectors) {
  runCase({{1, 2, 1, 19, 23, 59}, DType::BF16, true, true, false});
  runCase({{2, 2, 2, 9, 12, 111}, DType::F16, false, false, false});
  runCase({{1, 2, 1, 19, 23, 59}, DType::F32, true, false, false});
  attention_testing::BackwardCase tf32{{1, 2, 2, 33, 40, 111}, DType::F32, false, false, false};
  tf32.tf32 = true;
  InterpretedScope scope;
  attention_testing::expectGradients(attention_testing::runBackward(tf32),
                                     attention_testing::relativeMaxError, 5e-3);
}

TEST(AttentionBackwardErrors, BadInputNamesTheArgument) {
  InterpretedScope scope;
  DeviceTensor q = DeviceTensor::empty({1, 2, 8, 32}, DType::F32);
  DeviceTensor k = DeviceTensor::empty({1, 1, 5, 32}, DType::F32);
  DeviceTensor lse = DeviceTensor::empty({1, 2, 8}, DType::F32);
  DeviceTensor k16 = DeviceTensor::empty({1, 1, 5, 32}, DType::F16);
  DeviceTensor lse16 = DeviceTensor::empty({1, 2, 8}, DType::F16);
  DeviceTensor wrongQ = DeviceTensor::empty({1, 2, 7, 32}, DType::F32);
  DeviceTensor mask = DeviceTensor::empty({1, 8}, DType::I1);
  DeviceTensor d600 = DeviceTensor::empty({1, 2, 8, 600}, DType::F32);
  auto expectError = [](const std::function<void()> &f, const std::string &message) {
    try {
      f();
      ADD_FAILURE() << "accepted; expected an error containing '" << message << "'";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  expectError([&] { attention::backward(q, k, k, q, lse, wrongQ); },
              "dout: expected dtype f32 and shape (batch, heads, q_len, dim) like q, got f32 (1, "
              "2, 7, 32)");
  expectError([&] { attention::backward(q, k, k, wrongQ, lse, q); }, "out: expected");
  expectError([&] { attention::backward(q, k, k, q, lse16, q); },
              "lse: expected dtype f32 and shape (batch, heads, q_len), got f16");
  expectError([&] { attention::backward(q, k16, k16, q, lse, q); }, "k, v: expected dtype f32");
  expectError([&] { attention::backward(d600, d600, d600, d600, lse, d600); },
              "q: head dim must be 1 to 512, got 600");
  expectError([&] { attention::backward(q, q, k, q, lse, q); }, "v: expected the shape of k");
  expectError(
      [&] {
        attention::Options o;
        o.keyMask = &mask;
        attention::backward(q, k, k, q, lse, q, o);
      },
      "key_mask: expected an i1 tensor of shape (1, 5)");
  // The kernels take row maxima of unscaled scores: only a positive scale keeps them right.
  for (float bad : {0.f, -0.5f, std::numeric_limits<float>::infinity()}) {
    attention::Options o;
    o.scale = bad;
    expectError([&] { attention::backward(q, k, k, q, lse, q, o); },
                "scale: expected a positive finite number");
    expectError([&] { attention::forward(q, k, k, o); },
                "scale: expected a positive finite number");
  }
  expectError(
      [&] {
        DeviceTensor dq = q, dk = q, dv = k;
        attention::backward(q, k, k, q, lse, q, dq, dk, dv);
      },
      "dk: expected dtype f32 and shape (batch, kv_heads, k_len, dim) like k");
}

} // namespace

// TF32 forwards on sm_90a run wgmma on K and V rounded to tf32 and V
// transposed before the kernel (Configs.cpp); sm_80 has no wgmma and reads K
// and V as they are. The TF32 backward keeps to mma.sync;
// 16-bit kernels use wgmma wherever it fits.
TEST(AttentionConfig, Tf32ForwardOnWgmmaBackwardOnMmaSync) {
  for (int64_t dim : {32, 64, 128, 256, 512})
    for (bool causal : {false, true}) {
      kernels::KernelConfig fwd = attention::forwardConfig(DType::F32, dim, causal, true, "sm_90a");
      int64_t wgmma = 1;
      EXPECT_EQ(fwd.get("WGMMA"), wgmma) << "d" << dim;
      EXPECT_EQ(fwd.get("V_TRANSPOSED"), wgmma) << "d" << dim;
      EXPECT_EQ(fwd.get("TF32_ROUNDED_KV"), wgmma) << "d" << dim;
      // Skipping the rescale pays in d 512's 16-key blocks only (docs/PERFORMANCE.md).
      EXPECT_EQ(fwd.get("SKIP_UNIT_RESCALE"), dim == 512) << "d" << dim;
      EXPECT_EQ(attention::forwardConfig(DType::BF16, dim, causal, true, "sm_90a")
                    .get("SKIP_UNIT_RESCALE"),
                0);
      kernels::KernelConfig sm80 = attention::forwardConfig(DType::F32, dim, causal, true, "sm_80");
      EXPECT_EQ(sm80.get("V_TRANSPOSED"), 0) << "d" << dim;
      EXPECT_EQ(sm80.get("TF32_ROUNDED_KV"), 0) << "d" << dim;
      EXPECT_EQ(attention::backwardConfig(DType::F32, dim, causal, true, "sm_90a").get("WGMMA"), 0)
          << "d" << dim;
      EXPECT_EQ(attention::forwardConfig(DType::BF16, dim, causal, true, "sm_90a").get("WGMMA"), 1);
      EXPECT_EQ(attention::backwardConfig(DType::BF16, dim, causal, true, "sm_90a").get("WGMMA"),
                1);
    }
  // The accurate f32 mode has no tensor-core dots at all; its constant stays the default.
  EXPECT_EQ(attention::forwardConfig(DType::F32, 128, false, false, "sm_90a",
                                     attention::Fp32Precision::ieee)
                .get("WGMMA"),
            1);
}
