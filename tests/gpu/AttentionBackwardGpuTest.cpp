//===- AttentionBackwardGpuTest.cpp - Flash attention backward numerics ---===//
//
// attention::backward against float64 gradients over the forward test's
// matrix: dtypes, head dims 32 to 512, causal and not, key mask and not,
// GQA/MQA, q_len != k_len and odd lengths (1, 17, 1000); fresh random
// inputs; gradients poisoned before each run. The seed API's sanity check
// (value_and_grad_difference) on a modest size.
//
//===----------------------------------------------------------------------===//

#include "common/AttentionTesting.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <gtest/gtest.h>

#include <array>

using namespace tessera;
using attention::AttentionShape;

namespace {

/// f32 in the accurate mode is f32 arithmetic (the backward issue's bound,
/// 1e-5 RMS-relative); TF32 keeps f16's 10 bits but rounds the f32 inputs
/// too (f16 tests draw exactly representable ones).
double bound(DType dtype, bool tf32 = false) {
  return dtype == DType::F32 ? (tf32 ? 5e-3 : 1e-5) : dtype == DType::F16 ? 3e-3 : 2e-2;
}

/// Head dims 32-512, GQA/MQA, q_len != k_len, lengths 1 to 1000.
const AttentionShape kMatrixShapes[] = {{2, 2, 2, 1, 1, 64},       {1, 4, 2, 17, 130, 32},
                                        {2, 4, 1, 300, 200, 96},   {1, 2, 2, 129, 129, 128},
                                        {1, 2, 1, 65, 257, 192},   {1, 1, 1, 100, 77, 256},
                                        {1, 2, 1, 1000, 1000, 64}, {1, 1, 1, 33, 40, 512}};

using Param = std::tuple<DType, AttentionShape, bool /*causal*/, bool /*mask*/>;

class AttentionBackward : public ::testing::TestWithParam<Param> {};

/// dtype_shape[_causal][_mask]
std::string paramName(const ::testing::TestParamInfo<Param> &info) {
  return std::string(name(std::get<0>(info.param))) + "_" +
         attention_testing::shapeName(std::get<1>(info.param)) +
         (std::get<2>(info.param) ? "_causal" : "") + (std::get<3>(info.param) ? "_mask" : "");
}

TEST_P(AttentionBackward, MatchesFloat64Gradients) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [dtype, s, causal, useMask] = GetParam();
  attention_testing::BackwardRun r =
      attention_testing::runBackward({s, dtype, causal, useMask, false});
  attention_testing::expectGradients(r, attention_testing::relativeRmsError, bound(dtype));
}

using Tf32Param = std::tuple<AttentionShape, bool /*causal*/, bool /*mask*/>;

class AttentionBackwardTf32 : public ::testing::TestWithParam<Tf32Param> {};

TEST_P(AttentionBackwardTf32, MatchesFloat64Gradients) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [s, causal, useMask] = GetParam();
  attention_testing::BackwardRun r =
      attention_testing::runBackward({s, DType::F32, causal, useMask, false, /*tf32=*/true});
  attention_testing::expectGradients(r, attention_testing::relativeRmsError,
                                     bound(DType::F32, true));
}

INSTANTIATE_TEST_SUITE_P(Matrix, AttentionBackwardTf32,
                         ::testing::Combine(::testing::ValuesIn(kMatrixShapes), ::testing::Bool(),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<Tf32Param> &info) {
                           return "tf32_" + attention_testing::shapeName(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_causal" : "") +
                                  (std::get<2>(info.param) ? "_mask" : "");
                         });

/// A head dim whose rows are not 16-byte runs on transposed views: the
/// padded copies go through the 4-D copy kernel (the flat one takes
/// contiguous tensors only).
TEST(AttentionBackwardStrided, OddHeadDimOnTransposedLayouts) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  attention_testing::BackwardRun r =
      attention_testing::runBackward({{2, 4, 2, 150, 97, 59}, DType::BF16, true, true, true});
  attention_testing::expectGradients(r, attention_testing::relativeRmsError, bound(DType::BF16));
}

TEST(AttentionBackwardStrided, TransposedLayouts) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  attention_testing::BackwardRun r =
      attention_testing::runBackward({{2, 4, 2, 150, 97, 128}, DType::BF16, true, true, true});
  attention_testing::expectGradients(r, attention_testing::relativeRmsError, bound(DType::BF16));
}

/// Tensors no 16-byte vector fits (a base one element off, rows d + 1
/// apart): forward() and backward() run on aligned copies; the kernels
/// given them as they are (withConfig) are compiled for any alignment,
/// every tile copied element by element (a loop over the tile), and with
/// tf32 rounded in shared memory after a barrier (other threads copied the
/// elements each thread rounds).
TEST(AttentionBackwardStrided, MisalignedTensors) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  for (bool withConfig : {false, true})
    for (DType dtype : {DType::BF16, DType::F32}) {
      attention_testing::BackwardCase c{{2, 4, 2, 150, 97, 64}, dtype, true, true, false};
      c.misaligned = true;
      c.withConfig = withConfig;
      c.tf32 = dtype == DType::F32;
      SCOPED_TRACE(std::string(name(dtype)) + (withConfig ? ", the kernels as given" : ""));
      attention_testing::expectGradients(attention_testing::runBackward(c),
                                         attention_testing::relativeRmsError, bound(dtype, c.tf32));
    }
  // d 128 causal on short keys: the heuristic's forward is FlashAttention-3's
  // order on K and V by TMA; given K and V no tensor map describes, its
  // launch takes the scores-then-P·V order by cp.async (specializeOnCopies).
  attention_testing::BackwardCase c{{2, 4, 2, 150, 97, 128}, DType::BF16, true, false, false};
  c.misaligned = true;
  c.withConfig = true;
  SCOPED_TRACE("bf16 d 128 causal, the kernels as given");
  attention_testing::expectGradients(attention_testing::runBackward(c),
                                     attention_testing::relativeRmsError, bound(DType::BF16));
}

INSTANTIATE_TEST_SUITE_P(Matrix, AttentionBackward,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::ValuesIn(kMatrixShapes), ::testing::Bool(),
                                            ::testing::Bool()),
                         paramName);

/// Head dims the tensor cores do not take as a tile (Stable Diffusion's 40,
/// 80, 160; odd ones), run as the next power of two with the missing
/// columns read as zeros, or (16-bit: 80, 96, 160, 192) as two pieces of it
/// (BLOCK_D_TAIL): GQA, odd lengths, causal, key mask. On sm_90 the 16-bit
/// rows of 40, 72 and 8 (80, 144, 16 bytes) run on copies of whole 32-byte
/// sectors, 72's as two pieces (64 + 32) over 80 columns.
const AttentionShape kAnyHeadDimShapes[] = {{1, 4, 2, 67, 131, 40},  {2, 2, 1, 129, 65, 59},
                                            {1, 4, 2, 100, 257, 80}, {1, 2, 2, 77, 150, 96},
                                            {1, 2, 2, 33, 190, 111}, {1, 2, 1, 65, 129, 160},
                                            {1, 1, 1, 70, 100, 192}, {1, 2, 2, 97, 70, 224},
                                            {1, 2, 1, 40, 33, 8},    {1, 2, 1, 90, 200, 72}};

INSTANTIATE_TEST_SUITE_P(AnyHeadDim, AttentionBackward,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::ValuesIn(kAnyHeadDimShapes),
                                            ::testing::Bool(), ::testing::Bool()),
                         paramName);

INSTANTIATE_TEST_SUITE_P(AnyHeadDim, AttentionBackwardTf32,
                         ::testing::Combine(::testing::ValuesIn(kAnyHeadDimShapes),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<Tf32Param> &info) {
                           return "tf32_" + attention_testing::shapeName(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_causal" : "") +
                                  (std::get<2>(info.param) ? "_mask" : "");
                         });

/// dQ by atomic adds (DQ_ATOMIC, which backward() does not pick by default
/// now) over the same matrix, 16-bit.
class AttentionBackwardAtomicDq : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionBackwardAtomicDq, MatchesFloat64Gradients) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [dtype, s, causal, useMask] = GetParam();
  attention_testing::BackwardCase c{s, dtype, causal, useMask, false};
  c.atomicDq = true;
  attention_testing::expectGradients(attention_testing::runBackward(c),
                                     attention_testing::relativeRmsError, bound(dtype));
}

INSTANTIATE_TEST_SUITE_P(Matrix, AttentionBackwardAtomicDq,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::ValuesIn(kMatrixShapes), ::testing::Bool(),
                                            ::testing::Bool()),
                         paramName);

/// The dK/dV kernel's Q and dO blocks and the dQ kernel's K and V blocks by
/// TMA (TMA = 1, sm_90a; cp.async elsewhere): rank-4 tensor maps at (batch,
/// head), the dK/dV program's query loop once per head of its group (GQA:
/// the barriers' phases count on from head to head), rows past the lengths
/// and columns past the head dim (96, 192: rows of whole 16-byte vectors run
/// as 128 and 256) as zeros; with atomic dQ too (its blocks added by TMA
/// bulk reductions from shared memory where the accumulator's tile fits
/// there), and dK, dV, dQ stored by
/// TMA (TMA_STORE = 1); and on 128 x 64 blocks over 8 warps up to d 128,
/// whose 64-key products put two warpgroups side by side along the columns
/// (columnBlock: wgmma at d 128, mma.sync at d 32 and 64, where a
/// warpgroup's share of an N-major B is less than a swizzle panel); and with
/// both programs' copies from a producer warpgroup, two CTAs per SM up to
/// d 128 (WARP_SPECIALIZE, CTAS_PER_SM = 2: 128 registers at launch, 232
/// for the consumers; the gradients by TMA stores); and atomic dQ on a
/// producer warpgroup (its TMA adds issued by a consumer thread, waited for
/// before the consumers' barrier), also on 64 x 128 blocks over two consumer
/// warpgroups that exchange dSᵀ, dQᵀ's product after dK's or before it; and
/// the dQ pass on those blocks, the consumers in turns.
class AttentionBackwardTma : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionBackwardTma, MatchesFloat64Gradients) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [dtype, s, causal, useMask] = GetParam();
  const char *modes[] = {"dQ pass",
                         "atomic dQ",
                         "dQ pass, stores by TMA",
                         "128 x 64 on 8 warps",
                         "on producer warpgroups, two CTAs per SM, stores by TMA",
                         "atomic dQ on a producer warpgroup",
                         "atomic dQ on a producer warpgroup, 64 x 128 on 8 warps",
                         "dQ pass on a producer warpgroup, 64 x 128 on 8 warps in turns",
                         "atomic dQ on a producer warpgroup, 64 x 128 on 8 warps, dQ first"};
  for (int64_t mode : {0, 1, 2, 3, 4, 5, 6, 7, 8}) {
    if ((mode == 3 || mode >= 6) && s.dim > 128)
      continue; // larger head dims' 128-row blocks do not fit shared memory
    SCOPED_TRACE(modes[mode]);
    attention_testing::BackwardCase c{s, dtype, causal, useMask, false};
    c.tma = true;
    c.tmaStore = mode == 2 || mode == 4;
    c.atomicDq = mode == 1 || mode == 5 || mode == 6 || mode == 8;
    c.dqFirst = mode == 8;
    c.producer = mode >= 4;
    // Two CTAs per SM leave a d 256 program's consumers too few registers
    // (ptxas: "Insufficient registers"): one there.
    c.ctasPerSm = mode == 4 && s.dim <= 128 ? 2 : 1;
    if (mode == 3) {
      c.blockM = 128;
      c.blockN = 64;
      c.warps = 8;
    }
    // Two consumer warpgroups exchanging dSᵀ, their dV and dK products in
    // flight through the exchange (tessera-defer-wgmma-waits).
    // Mode 7: the same blocks, dQ in its own pass, the consumers' Sᵀ and
    // dPᵀ (S and dP) products issued in turns (PING_PONG).
    // Mode 8: atomic dQ with dQᵀ's product issued before dK's and staged
    // for its TMA add while dK's runs (DQ_FIRST).
    if (mode >= 6) {
      c.blockM = 64;
      c.blockN = 128;
      c.warps = 8;
      c.pingPong = mode == 7;
    }
    attention_testing::expectGradients(attention_testing::runBackward(c),
                                       attention_testing::relativeRmsError, bound(dtype));
  }
}

INSTANTIATE_TEST_SUITE_P(Matrix, AttentionBackwardTma,
                         ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                                            ::testing::ValuesIn(kMatrixShapes), ::testing::Bool(),
                                            ::testing::Bool()),
                         paramName);

/// Deterministic means the same bits on every run; the default (atomic dQ)
/// promises only the same values to rounding, and dk, dv are summed in a
/// fixed order either way.
TEST(AttentionBackwardDeterministic, SameBitsEveryRun) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  std::vector<int64_t> shape{2, 4, 777, 64};
  DeviceTensor q = DeviceTensor::fromFloat(
      attention_testing::randomValues(2 * 4 * 777 * 64, DType::BF16), shape, DType::BF16);
  DeviceTensor k = DeviceTensor::fromFloat(
      attention_testing::randomValues(2 * 4 * 777 * 64, DType::BF16), shape, DType::BF16);
  DeviceTensor v = DeviceTensor::fromFloat(
      attention_testing::randomValues(2 * 4 * 777 * 64, DType::BF16), shape, DType::BF16);
  DeviceTensor dout = DeviceTensor::fromFloat(
      attention_testing::randomValues(2 * 4 * 777 * 64, DType::BF16), shape, DType::BF16);
  for (bool deterministic : {true, false}) {
    attention::Options options;
    options.causal = true;
    options.deterministic = deterministic;
    attention::ForwardResult f = attention::forward(q, k, v, options);
    attention::BackwardResult first = attention::backward(q, k, v, f.out, f.lse, dout, options);
    attention::BackwardResult second = attention::backward(q, k, v, f.out, f.lse, dout, options);
    std::vector<float> dq1 = first.dq.toFloat(), dq2 = second.dq.toFloat();
    EXPECT_EQ(first.dk.toFloat(), second.dk.toFloat()) << "deterministic " << deterministic;
    EXPECT_EQ(first.dv.toFloat(), second.dv.toFloat()) << "deterministic " << deterministic;
    if (deterministic) {
      EXPECT_EQ(dq1, dq2);
    } else {
      double worst = 0, scale = 0;
      for (size_t i = 0; i < dq1.size(); ++i) {
        worst = std::max(worst, double(std::abs(dq1[i] - dq2[i])));
        scale = std::max(scale, double(std::abs(dq1[i])));
      }
      EXPECT_LE(worst, 1e-2 * scale) << "atomic dq differs between runs by more than rounding";
    }
  }
}

TEST(AttentionBackwardSeed, ValueAndGradDifference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  attention::Difference d = attention::value_and_grad_difference(
      attention::plain_attention_value_and_grad, attention::flash_attention_value_and_grad, 7, 1, 2,
      256, 512, true, 64);
  EXPECT_LE(d.out, 1e-4);
  EXPECT_LE(d.dq, 1e-3);
  EXPECT_LE(d.dk, 1e-3);
  EXPECT_LE(d.dv, 1e-3);
}

/// The NVRTC fp32 reference gradients (what the backward autotuner checks
/// against) match float64 on the CPU: GQA, a key mask, odd lengths.
TEST(AttentionBackwardReference, MatchesFloat64) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  for (auto [b, h, hk, sq, sk, d] : {std::array<int64_t, 6>{2, 4, 2, 33, 70, 64},
                                     std::array<int64_t, 6>{1, 2, 1, 17, 130, 128}}) {
    auto make = [&](std::vector<int64_t> shape) {
      return DeviceTensor::fromFloat(
          attention_testing::randomValues(shape[0] * shape[1] * shape[2] * shape[3], DType::F32),
          shape, DType::F32);
    };
    DeviceTensor q = make({b, h, sq, d}), k = make({b, hk, sk, d}), v = make({b, hk, sk, d});
    DeviceTensor dout = make({b, h, sq, d});
    std::vector<uint8_t> maskHost(b * sk);
    for (size_t i = 0; i < maskHost.size(); ++i)
      maskHost[i] = i % 3 != 1;
    DeviceTensor mask = DeviceTensor::fromHost(maskHost.data(), {b, sk}, DType::I1);
    attention::ValueAndGrad gpu =
        attention::plain_attention_value_and_grad_gpu(q, k, v, mask, dout);
    attention::ValueAndGrad cpu = attention::plain_attention_value_and_grad(q, k, v, mask, dout);
    auto asDouble = [](const DeviceTensor &t) {
      std::vector<float> f = t.toFloat();
      return std::vector<double>(f.begin(), f.end());
    };
    EXPECT_LE(attention_testing::relativeRmsError(gpu.out.toFloat(), asDouble(cpu.out)), 1e-5);
    EXPECT_LE(attention_testing::relativeRmsError(gpu.dq.toFloat(), asDouble(cpu.dq)), 1e-5)
        << "dq";
    EXPECT_LE(attention_testing::relativeRmsError(gpu.dk.toFloat(), asDouble(cpu.dk)), 1e-5)
        << "dk";
    EXPECT_LE(attention_testing::relativeRmsError(gpu.dv.toFloat(), asDouble(cpu.dv)), 1e-5)
        << "dv";
  }
}

TEST(AttentionBackwardErrors, BadInputNamesTheArgument) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  DeviceTensor q = DeviceTensor::empty({1, 4, 8, 64}, DType::F16);
  DeviceTensor lse = DeviceTensor::empty({1, 4, 8}, DType::F32);
  try {
    attention::backward(q, q, q, q, lse, lse);
    FAIL() << "a rank-3 dout accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("dout: expected dtype f16"), std::string::npos)
        << e.what();
  }
}

} // namespace
