//===- AttentionForwardGpuTest.cpp - Flash attention forward numerics -----===//
//
// attention::forward against a float64 CPU reference over a matrix of dtypes,
// head dims, causal and not, key mask and not, GQA/MQA, q_len != k_len and
// odd lengths; fresh random inputs; outputs poisoned before each run.
//
//===----------------------------------------------------------------------===//

#include "common/AttentionTesting.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Jit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

using namespace tessera;

namespace {

using attention_testing::randomValues;
using attention_testing::rng;

struct Shape {
  int64_t batch, heads, kvHeads, qLen, kLen, dim;
};

/// Float64 reference: out and natural lse; fully masked rows give 0 and -inf.
void reference(const std::vector<float> &q, const std::vector<float> &k,
               const std::vector<float> &v, const std::vector<uint8_t> *mask, const Shape &s,
               bool causal, double scale, std::vector<double> &out, std::vector<double> &lse) {
  out.assign(s.batch * s.heads * s.qLen * s.dim, 0.0);
  lse.assign(s.batch * s.heads * s.qLen, -INFINITY);
  int64_t group = s.heads / s.kvHeads;
  std::vector<double> scores(s.kLen);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      int64_t hk = h / group;
      const float *Q = &q[((b * s.heads + h) * s.qLen) * s.dim];
      const float *K = &k[((b * s.kvHeads + hk) * s.kLen) * s.dim];
      const float *V = &v[((b * s.kvHeads + hk) * s.kLen) * s.dim];
      for (int64_t i = 0; i < s.qLen; ++i) {
        double m = -INFINITY;
        for (int64_t j = 0; j < s.kLen; ++j) {
          bool visible =
              (!mask || (*mask)[b * s.kLen + j]) && (!causal || j <= i + (s.kLen - s.qLen));
          double dot = 0;
          for (int64_t d = 0; d < s.dim; ++d)
            dot += double(Q[i * s.dim + d]) * K[j * s.dim + d];
          scores[j] = visible ? dot * scale : -INFINITY;
          m = std::max(m, scores[j]);
        }
        if (m == -INFINITY)
          continue;
        double sum = 0;
        for (int64_t j = 0; j < s.kLen; ++j)
          sum += scores[j] = std::exp(scores[j] - m);
        double *O = &out[((b * s.heads + h) * s.qLen + i) * s.dim];
        for (int64_t j = 0; j < s.kLen; ++j)
          for (int64_t d = 0; d < s.dim; ++d)
            O[d] += scores[j] / sum * V[j * s.dim + d];
        lse[(b * s.heads + h) * s.qLen + i] = m + std::log(sum);
      }
    }
}

/// Relative RMS error bounds: f32 in the accurate mode is f32 arithmetic;
/// TF32 keeps 10 mantissa bits like f16 (plus f32 inputs rounded once).
double bound(DType dtype, bool tf32 = false) {
  return dtype == DType::F32 && !tf32 ? 1e-5 : dtype != DType::BF16 ? 2e-3 : 1e-2;
}

/// Forward on fresh random inputs (outputs poisoned first) against the
/// float64 reference.
/// `configFlags` (for forwardWithConfig, on the heuristic's blocks): extra
/// constants such as WGMMA and V_TRANSPOSED; empty: attention::forward.
/// `compactKeys`: Options::compactKeyMask, with half the keys kept and, in
/// batches of two or more, the first batch row's keys all masked (its rows
/// keep fewer keys than the others: the compacted mask path).
void checkForward(DType dtype, attention::Fp32Precision precision, const Shape &s, bool causal,
                  bool useMask, const std::map<std::string, int64_t> &configFlags = {},
                  bool compactKeys = false) {
  auto q = randomValues(s.batch * s.heads * s.qLen * s.dim, dtype);
  auto k = randomValues(s.batch * s.kvHeads * s.kLen * s.dim, dtype);
  auto v = randomValues(s.batch * s.kvHeads * s.kLen * s.dim, dtype);
  std::vector<uint8_t> mask(s.batch * s.kLen);
  std::bernoulli_distribution keep(compactKeys ? 0.5 : 0.7);
  for (auto &m : mask)
    m = keep(rng());
  if (useMask && s.kLen > 3 && (!compactKeys || s.batch > 1)) // one batch row with every key masked
    std::fill(mask.begin(), mask.begin() + s.kLen, 0);

  auto [dq, dk, dv, out, lse] = attention_testing::forwardTensors(s, dtype, q, k, v);
  DeviceTensor dmask = DeviceTensor::fromHost(mask.data(), {s.batch, s.kLen}, DType::I1);
  attention::Options options;
  options.causal = causal;
  options.keyMask = useMask ? &dmask : nullptr;
  options.fp32Precision = precision;
  options.compactKeyMask = compactKeys;
  if (configFlags.empty()) {
    attention::forward(dq, dk, dv, out, lse, options);
  } else {
    kernels::KernelConfig config =
        attention::forwardConfig(dtype, s.dim, causal, useMask, currentDevice().arch(), precision);
    for (auto &[name, value] : configFlags)
      if (name == "num_warps")
        config.numWarps = unsigned(value);
      else
        config.constants[name] = value;
    attention::forwardWithConfig(dq, dk, dv, out, lse, options, config);
  }

  std::vector<double> refOut, refLse;
  reference(q, k, v, useMask ? &mask : nullptr, s, causal, 1.0 / std::sqrt(double(s.dim)), refOut,
            refLse);
  std::vector<float> o = out.toFloat(), l = lse.toFloat();
  double num = 0, den = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    ASSERT_FALSE(std::isnan(o[i])) << "out[" << i << "] is NaN (unwritten?)";
    num += (o[i] - refOut[i]) * (o[i] - refOut[i]);
    den += refOut[i] * refOut[i];
  }
  // TF32 rounds q and k to 10 bits: scores, and so lse, carry ~1e-3 errors.
  bool tf32 = dtype == DType::F32 && precision == attention::Fp32Precision::tf32;
  EXPECT_LE(std::sqrt(num / std::max(den, 1e-300)), bound(dtype, tf32));
  for (size_t i = 0; i < l.size(); ++i) {
    ASSERT_FALSE(std::isnan(l[i])) << "lse[" << i << "] is NaN";
    if (std::isinf(refLse[i]))
      EXPECT_TRUE(std::isinf(l[i]) && l[i] < 0) << "lse[" << i << "] should be -inf, is " << l[i];
    else
      EXPECT_NEAR(l[i], refLse[i],
                  tf32 ? 3e-3 + 3e-4 * std::abs(refLse[i]) : 1e-3 + 1e-4 * std::abs(refLse[i]))
          << "lse[" << i << "]";
  }
}

using Param = std::tuple<DType, Shape, bool /*causal*/, bool /*mask*/>;

/// f32 here is the accurate mode; AttentionForwardTf32 covers TF32.
class AttentionForward : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionForward, MatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [dtype, s, causal, useMask] = GetParam();
  checkForward(dtype, attention::Fp32Precision::ieee, s, causal, useMask);
}

using Tf32Param = std::tuple<Shape, bool /*causal*/, bool /*mask*/>;

class AttentionForwardTf32 : public ::testing::TestWithParam<Tf32Param> {};

TEST_P(AttentionForwardTf32, MatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [s, causal, useMask] = GetParam();
  checkForward(DType::F32, attention::Fp32Precision::tf32, s, causal, useMask);
}

/// TF32 on wgmma, on the heuristic's blocks: Q·Kᵀ alone (WGMMA; at d 512
/// with K split between the two warpgroups), and both products with V read
/// transposed (V_TRANSPOSED; P·V from registers, two warpgroups along the
/// head dim at d 512), each with K and V rounded to tf32 in shared memory
/// or before the kernel (TF32_ROUNDED_KV). K and Vᵀ rounded before the kernel
/// come by TMA in the heuristic where the blocks have two stages (d <= 128;
/// the single-stage d 512 keeps cp.async), and by cp.async with TMA = 0
/// (VTransposedRoundedCpAsync); tiles rounded in shared memory keep cp.async
/// whatever TMA says. On GPUs without wgmma these run mma.sync,
/// V_TRANSPOSED and TF32_ROUNDED_KV included.
enum class Tf32Inputs {
  AsGiven,
  VTransposed,
  VTransposedRounded,
  VTransposedRoundedCpAsync,
  Rounded
};
using Tf32WgmmaParam = std::tuple<Shape, bool /*causal*/, bool /*mask*/, Tf32Inputs>;

class AttentionForwardTf32Wgmma : public ::testing::TestWithParam<Tf32WgmmaParam> {};

TEST_P(AttentionForwardTf32Wgmma, MatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [s, causal, useMask, inputs] = GetParam();
  bool cpAsync = inputs == Tf32Inputs::VTransposedRoundedCpAsync;
  bool vTransposed =
      inputs == Tf32Inputs::VTransposed || inputs == Tf32Inputs::VTransposedRounded || cpAsync;
  bool rounded =
      inputs == Tf32Inputs::VTransposedRounded || inputs == Tf32Inputs::Rounded || cpAsync;
  std::map<std::string, int64_t> constants = {
      {"WGMMA", 1}, {"V_TRANSPOSED", vTransposed}, {"TF32_ROUNDED_KV", rounded}};
  if (cpAsync)
    constants["TMA"] = 0;
  checkForward(DType::F32, attention::Fp32Precision::tf32, s, causal, useMask, constants);
}

/// Options::compactKeyMask: the masked keys dropped before the kernel.
using CompactParam = std::tuple<DType, attention::Fp32Precision, Shape>;

class AttentionForwardCompactedKeys : public ::testing::TestWithParam<CompactParam> {};

TEST_P(AttentionForwardCompactedKeys, MatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [dtype, precision, s] = GetParam();
  checkForward(dtype, precision, s, /*causal=*/false, /*useMask=*/true, {}, /*compactKeys=*/true);
}

const char *tf32InputsName(Tf32Inputs inputs) {
  switch (inputs) {
  case Tf32Inputs::AsGiven:
    return "";
  case Tf32Inputs::VTransposed:
    return "_vt";
  case Tf32Inputs::VTransposedRounded:
    return "_vt_rounded";
  case Tf32Inputs::VTransposedRoundedCpAsync:
    return "_vt_rounded_cp_async";
  case Tf32Inputs::Rounded:
    return "_rounded";
  }
  return "";
}

std::string shapeName(const Shape &s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.heads) + "_" + std::to_string(s.kvHeads) +
         "kv_q" + std::to_string(s.qLen) + "_k" + std::to_string(s.kLen) + "_d" +
         std::to_string(s.dim);
}

/// dtype_shape[_causal][_mask]
std::string paramName(const ::testing::TestParamInfo<Param> &info) {
  return std::string(name(std::get<0>(info.param))) + "_" + shapeName(std::get<1>(info.param)) +
         (std::get<2>(info.param) ? "_causal" : "") + (std::get<3>(info.param) ? "_mask" : "");
}

// (k 1100: past 1024 keys, where the sm_90a d 128 heuristic runs two consumer
// warpgroups beside a producer; k 256, 512 and 2048: whole key blocks, where
// the launch leaves out the masked blocks' loop unless causal or masked,
// EVEN_N.)
INSTANTIATE_TEST_SUITE_P(
    Matrix, AttentionForward,
    ::testing::Combine(
        ::testing::Values(DType::F32, DType::F16, DType::BF16),
        ::testing::Values(Shape{2, 2, 2, 1, 1, 64}, Shape{1, 4, 2, 17, 130, 32},
                          Shape{2, 4, 1, 300, 200, 96}, Shape{1, 2, 2, 129, 129, 128},
                          Shape{1, 2, 1, 70, 1100, 128}, Shape{2, 2, 2, 77, 256, 64},
                          Shape{1, 2, 2, 65, 512, 128}, Shape{1, 2, 1, 100, 2048, 128},
                          Shape{1, 2, 1, 65, 257, 192}, Shape{1, 1, 1, 100, 77, 256}),
        ::testing::Bool(), ::testing::Bool()),
    paramName);

/// Head dims the tensor cores do not take as a tile, run as the next power
/// of two with the missing columns read as zeros, or (16-bit: 80, 96, 160)
/// as two pieces of it (BLOCK_D_TAIL); 59 and 111 (rows not whole 16-byte
/// vectors) with K and V on padded copies and Q read in place, 111 past
/// 1024 keys on the producer-warpgroup kernel.
const Shape kAnyHeadDimShapes[] = {Shape{1, 4, 2, 67, 131, 40},  Shape{2, 2, 1, 129, 65, 59},
                                   Shape{1, 4, 2, 100, 257, 80}, Shape{1, 2, 2, 77, 1100, 96},
                                   Shape{1, 2, 2, 33, 190, 111}, Shape{1, 2, 1, 70, 1100, 111},
                                   Shape{1, 2, 1, 65, 129, 160}, Shape{1, 2, 2, 97, 70, 224},
                                   Shape{1, 2, 1, 40, 33, 8},    Shape{1, 2, 2, 50, 60, 300}};

INSTANTIATE_TEST_SUITE_P(AnyHeadDim, AttentionForward,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::ValuesIn(kAnyHeadDimShapes),
                                            ::testing::Bool(), ::testing::Bool()),
                         paramName);

INSTANTIATE_TEST_SUITE_P(AnyHeadDim, AttentionForwardTf32,
                         ::testing::Combine(::testing::ValuesIn(kAnyHeadDimShapes),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<Tf32Param> &info) {
                           return "tf32_" + shapeName(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_causal" : "") +
                                  (std::get<2>(info.param) ? "_mask" : "");
                         });

INSTANTIATE_TEST_SUITE_P(
    Matrix, AttentionForwardTf32,
    ::testing::Combine(::testing::Values(Shape{2, 2, 2, 1, 1, 64}, Shape{1, 4, 2, 17, 130, 32},
                                         Shape{2, 4, 1, 300, 200, 96},
                                         Shape{1, 2, 2, 129, 129, 128},
                                         Shape{1, 2, 1, 65, 257, 192}, Shape{1, 1, 1, 100, 77, 256},
                                         Shape{1, 1, 1, 33, 40, 512},
                                         Shape{2, 4, 2, 200, 300, 512}),
                       ::testing::Bool(), ::testing::Bool()),
    [](const ::testing::TestParamInfo<Tf32Param> &info) {
      return "tf32_" + shapeName(std::get<0>(info.param)) +
             (std::get<1>(info.param) ? "_causal" : "") + (std::get<2>(info.param) ? "_mask" : "");
    });

INSTANTIATE_TEST_SUITE_P(
    Matrix, AttentionForwardTf32Wgmma,
    ::testing::Combine(::testing::Values(Shape{1, 4, 2, 17, 130, 32}, Shape{2, 4, 1, 300, 200, 96},
                                         Shape{1, 2, 2, 129, 129, 128},
                                         Shape{2, 4, 2, 200, 300, 512}),
                       ::testing::Bool(), ::testing::Bool(),
                       ::testing::Values(Tf32Inputs::AsGiven, Tf32Inputs::VTransposed,
                                         Tf32Inputs::VTransposedRounded,
                                         Tf32Inputs::VTransposedRoundedCpAsync,
                                         Tf32Inputs::Rounded)),
    [](const ::testing::TestParamInfo<Tf32WgmmaParam> &info) {
      return "wgmma_" + shapeName(std::get<0>(info.param)) +
             (std::get<1>(info.param) ? "_causal" : "") + (std::get<2>(info.param) ? "_mask" : "") +
             tf32InputsName(std::get<3>(info.param));
    });

INSTANTIATE_TEST_SUITE_P(
    Matrix, AttentionForwardCompactedKeys,
    ::testing::Values(
        CompactParam{DType::BF16, attention::Fp32Precision::ieee, {1, 2, 2, 300, 1000, 64}},
        CompactParam{DType::F16, attention::Fp32Precision::ieee, {2, 4, 1, 129, 777, 128}},
        CompactParam{DType::F32, attention::Fp32Precision::ieee, {3, 2, 2, 65, 300, 96}},
        CompactParam{DType::F32, attention::Fp32Precision::tf32, {2, 4, 2, 200, 700, 512}},
        CompactParam{DType::F32, attention::Fp32Precision::tf32, {1, 2, 1, 100, 2000, 256}}),
    [](const ::testing::TestParamInfo<CompactParam> &info) {
      DType dtype = std::get<0>(info.param);
      bool tf32 = dtype == DType::F32 && std::get<1>(info.param) == attention::Fp32Precision::tf32;
      return std::string(name(dtype)) + (tf32 ? "_tf32_" : "_") +
             shapeName(std::get<2>(info.param));
    });

/// K and V blocks copied by TMA (TMA = 1, sm_90a; cp.async elsewhere):
/// rank-4 tensor maps of k and v at (batch, kv head), so that key rows
/// past k_len (odd lengths) and columns past the head dim (40, 80: rows of
/// whole 16-byte vectors run as 64 and 128) land as zeros, not as the next
/// head's; grouped heads; causal and key-masked blocks (the second loop, a
/// ring of barriers of its own); head dims 59 and 111 (rows TMA cannot
/// describe: the launch takes the kernel that copies by cp.async); issued by
/// the kernel's warps and by a producer warpgroup (WARP_SPECIALIZE = 1), and
/// with O stored by TMA (TMA_STORE = 1: rows past q_len left alone); with
/// the next block's scores issued before the softmax (PIPELINE_QK = 1) on
/// the heuristic's blocks and on 128 x 64 over two warpgroups with a
/// producer warpgroup; and those two warpgroups issuing in turns
/// (PING_PONG = 1: a turn that does not balance hangs the kernel); at head
/// dim 128 (and 80, 111, which run as 128), the heuristic past 1024 keys
/// until 30b1ff7: 128 x 128 on two consumer warpgroups, a producer, the next
/// scores first, with O stored by TMA beside the producer;
/// at head dims up to 128, 64 x 64 on one consumer warpgroup beside a
/// producer, two programs per SM (CTAS_PER_SM = 2), with and without the
/// next scores first; and 128 x 64 on two warpgroups without a producer,
/// two programs per SM (their registers bounded to 128), O by TMA; and
/// FlashAttention-3's order (PIPELINE_QK = 2: P_{j-1}·V_{j-1} issued
/// beside S_j, block 0's softmax before the loops) on 128 x 128 beside a
/// producer (128 x 64 at d 256, its last V block in the ring's memory),
/// alone and with the two warpgroups in turns (each turn holding both
/// products); the same order on one warpgroup without a producer, 128 x 64
/// (spill-free at d 64 and 128: a candidate for short keys); 256 keys are
/// whole 128-key blocks, where the launch leaves the masked loop out
/// (EVEN_N) unless causal or masked.
class AttentionForwardTma : public ::testing::TestWithParam<Param> {};

TEST_P(AttentionForwardTma, MatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  auto [dtype, s, causal, useMask] = GetParam();
  const char *modes[] = {
      "copies by the kernel's warps",
      "copies from a producer warpgroup",
      "O stored by TMA",
      "next scores before the softmax",
      "next scores before the softmax, 128 x 64 on 8 warps, producer",
      "consumer warpgroups in turns, 128 x 64 on 8 warps, producer",
      "128 x 128 on 8 warps, producer, next scores first, O by TMA (d 128)",
      "64 x 64 on 4 warps, producer, two programs per SM (d <= 128)",
      "64 x 64 on 4 warps, producer, two per SM, next scores first",
      "128 x 64 on 8 warps, two per SM, O by TMA (d <= 128)",
      "128 x 128 (d 256: x 64) on 8 warps, producer, P·V a block behind, O by TMA",
      "128 x 128 (d 256: x 64) on 8 warps, producer, P·V a block behind, in turns",
      "128 x 64 on 4 warps, no producer, P·V a block behind, O by TMA (d <= 128)"};
  for (int64_t mode : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
    SCOPED_TRACE(modes[mode]);
    if (mode == 12) {
      if (s.dim > 128)
        continue;
      checkForward(dtype, attention::Fp32Precision::ieee, s, causal, useMask,
                   {{"TMA", 1},
                    {"TMA_STORE", 1},
                    {"WARP_SPECIALIZE", 0},
                    {"PIPELINE_QK", 2},
                    {"PING_PONG", 0},
                    {"BLOCK_M", 128},
                    {"BLOCK_N", 64},
                    {"num_warps", 4}});
      continue;
    }
    if (mode >= 10 && (s.dim <= 64 || (s.dim > 128 && s.dim != 256)))
      continue;
    if ((mode == 6 && (s.dim <= 64 || s.dim > 128)) || (mode >= 7 && mode < 10 && s.dim > 128))
      continue;
    if (mode >= 10) {
      checkForward(dtype, attention::Fp32Precision::ieee, s, causal, useMask,
                   {{"TMA", 1},
                    {"TMA_STORE", mode == 10},
                    {"WARP_SPECIALIZE", 1},
                    {"PIPELINE_QK", 2},
                    {"PING_PONG", mode == 11},
                    {"BLOCK_M", 128},
                    {"BLOCK_N", s.dim > 128 ? 64 : 128},
                    {"num_warps", 8}});
      continue;
    }
    if (mode == 9) {
      checkForward(dtype, attention::Fp32Precision::ieee, s, causal, useMask,
                   {{"TMA", 1},
                    {"TMA_STORE", 1},
                    {"WARP_SPECIALIZE", 0},
                    {"PIPELINE_QK", 0},
                    {"BLOCK_M", 128},
                    {"BLOCK_N", 64},
                    {"num_warps", 8},
                    {"CTAS_PER_SM", 2}});
      continue;
    }
    std::map<std::string, int64_t> flags{
        {"TMA", 1},
        {"WARP_SPECIALIZE", mode == 1 || mode >= 4},
        {"TMA_STORE", mode == 2 || mode == 6},
        {"PIPELINE_QK", mode == 3 || mode == 4 || mode == 6 || mode == 8},
        {"PING_PONG", mode == 5}};
    if (mode >= 7)
      flags.insert({{"BLOCK_M", 64}, {"BLOCK_N", 64}, {"num_warps", 4}, {"CTAS_PER_SM", 2}});
    else if (mode == 3 && s.dim <= 64)
      // The heuristic's 128 x 128 at d <= 64 with the next scores issued
      // early needs more than 255 registers: ptxas spilled over 900 bytes
      // and serialized its wgmmas (C7511). 128 x 64 fits.
      flags.insert({"BLOCK_N", 64});
    else if (mode >= 4)
      flags.insert({{"BLOCK_M", 128}, {"BLOCK_N", mode == 6 ? 128 : 64}, {"num_warps", 8}});
    checkForward(dtype, attention::Fp32Precision::ieee, s, causal, useMask, flags);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, AttentionForwardTma,
    ::testing::Combine(::testing::Values(DType::F16, DType::BF16),
                       ::testing::Values(Shape{2, 2, 2, 1, 1, 64}, Shape{2, 4, 1, 300, 200, 64},
                                         Shape{1, 2, 2, 129, 129, 128},
                                         Shape{1, 4, 2, 200, 333, 128},
                                         Shape{1, 2, 2, 100, 256, 128},
                                         Shape{1, 1, 1, 100, 77, 256}, Shape{1, 4, 2, 67, 131, 40},
                                         Shape{1, 4, 2, 100, 257, 80}, Shape{2, 2, 1, 129, 65, 59},
                                         Shape{1, 2, 2, 33, 190, 111}),
                       ::testing::Bool(), ::testing::Bool()),
    paramName);

/// PERSISTENT: one program per SM walking the tiles, on whole key blocks
/// (EVEN_N): the heuristic's schedules (d 128: a producer warpgroup issuing
/// every tile's key blocks into one ring; d 64 without one), more tiles than
/// SMs; with causal masking or keys past a whole block the launch runs one
/// program per tile instead, as it does for d 256's heuristic (FlashAttention-
/// 3's order, whose last V block would not fit beside the ring in a tile loop:
/// persistentForward).
TEST(AttentionForwardPersistent, MatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  for (DType dtype : {DType::BF16, DType::F16})
    for (Shape s : {Shape{2, 8, 2, 2000, 512, 128}, Shape{4, 4, 4, 1500, 256, 64},
                    Shape{1, 4, 2, 1100, 512, 256}, Shape{2, 8, 2, 2000, 500, 128}})
      for (bool causal : {false, true}) {
        SCOPED_TRACE(shapeName(s) + (causal ? " causal" : ""));
        checkForward(dtype, attention::Fp32Precision::ieee, s, causal, /*useMask=*/false,
                     {{"PERSISTENT", 1}});
      }
}

/// A persistent launch runs as many programs as fit an SM (JitKernel::
/// blocksPerSm, the driver's occupancy calculator): two of the d 64
/// forward's 128 x 128 blocks on one warpgroup on sm_90a (81 KiB of shared
/// memory, 255 registers a thread), where the grid used to be one per SM.
TEST(AttentionForwardPersistent, ProgramsPerSmFromOccupancy) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  const std::string arch = currentDevice().arch();
  kernels::KernelConfig config = attention::forwardConfig(DType::BF16, 64, false, false, arch,
                                                          attention::Fp32Precision::ieee, 4096);
  config.alignedTensors = ~uint64_t(0);
  const JitKernel &kernel =
      Jit::get().kernel("attention_forward[" + config.key() + "]", [&](mlir::MLIRContext &ctx) {
        return kernels::lookup("attention_forward").build(ctx, config);
      });
  EXPECT_GE(kernel.blocksPerSm, 1);
  if (arch == "sm_90a")
    EXPECT_EQ(kernel.blocksPerSm, 2);
}

/// The same with more tiles than SMs of one key block each (every program
/// takes two tiles or one; its ring's second trip starts on the phases the
/// first left); and, on the producer warpgroup's schedule (d 128), tiles
/// that differ in their key blocks (causal: the first query blocks see no
/// key; a partial last block; a key mask), two key loops per tile on one
/// ring counted across loops and tiles: small enough for compute-sanitizer
/// (scripts/device-sanitize.sh).
TEST(AttentionForwardPersistent, ManyShortTiles) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  for (Shape s : {Shape{1, 2, 1, 128 * 70, 128, 128}, Shape{1, 2, 2, 128 * 70, 128, 64}}) {
    SCOPED_TRACE(shapeName(s));
    checkForward(DType::BF16, attention::Fp32Precision::ieee, s, /*causal=*/false,
                 /*useMask=*/false, {{"PERSISTENT", 1}});
  }
  Shape s{1, 2, 1, 128 * 70 - 5, 300, 128};
  for (auto [causal, mask] : {std::pair{true, false}, std::pair{false, false},
                              std::pair{false, true}, std::pair{true, true}}) {
    SCOPED_TRACE(shapeName(s) + (causal ? " causal" : "") + (mask ? " key mask" : ""));
    checkForward(DType::BF16, attention::Fp32Precision::ieee, s, causal, mask,
                 {{"PERSISTENT", 1},
                  {"TMA", 1},
                  {"WARP_SPECIALIZE", 1},
                  {"BLOCK_N", 128},
                  {"PIPELINE_QK", 1},
                  {"num_warps", 8}});
  }
}

/// K split between warp groups in the 16-bit mma.sync lowering (the shipped
/// 16-bit configurations never have it: on sm_90a they run wgmma): 64 x 16
/// blocks on 8 warps give Q·Kᵀ one n8 block per warp, so the warps split K.
TEST(AttentionForwardSplitK, SixteenBitMmaSyncMatchesFloat64Reference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  for (DType dtype : {DType::BF16, DType::F16})
    for (bool causal : {false, true}) {
      SCOPED_TRACE(std::string(name(dtype)) + (causal ? " causal" : ""));
      checkForward(dtype, attention::Fp32Precision::ieee, {2, 4, 2, 150, 333, 256}, causal,
                   /*useMask=*/true, {{"BLOCK_M", 64}, {"BLOCK_N", 16}, {"WGMMA", 0}});
    }
}

/// forward() into an O view no 16-byte vector fits (base one element off,
/// rows d + 1 apart) in a poisoned buffer: written in place where the
/// kernel does so without spilling (d 111 on sm_90a; d 128's producer
/// kernel), through a padded copy where it would spill (d 59's d 64
/// kernel); either way only the view's elements change.
TEST(AttentionForwardStrided, IntoAnOutputView) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  attention_testing::expectForwardIntoView({1, 2, 1, 70, 1100, 111}, DType::BF16, true, 1e-2);
  attention_testing::expectForwardIntoView({2, 2, 1, 129, 65, 59}, DType::BF16, false, 1e-2);
  attention_testing::expectForwardIntoView({1, 2, 1, 129, 2048, 128}, DType::BF16, false, 1e-2);
  // f32 runs as TF32 by default (Options::fp32Precision).
  attention_testing::expectForwardIntoView({1, 2, 2, 33, 190, 111}, DType::F32, true, 2e-3);
}

TEST(AttentionForwardLong, OddLengthsAgainstReference) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  Shape s{1, 1, 1, 1000, 4099, 64};
  auto q = randomValues(s.qLen * s.dim, DType::BF16), k = randomValues(s.kLen * s.dim, DType::BF16),
       v = randomValues(s.kLen * s.dim, DType::BF16);
  DeviceTensor dq = DeviceTensor::fromFloat(q, {1, 1, s.qLen, s.dim}, DType::BF16);
  DeviceTensor dk = DeviceTensor::fromFloat(k, {1, 1, s.kLen, s.dim}, DType::BF16);
  DeviceTensor dv = DeviceTensor::fromFloat(v, {1, 1, s.kLen, s.dim}, DType::BF16);
  attention::Options options;
  options.causal = true;
  attention::ForwardResult r = attention::forward(dq, dk, dv, options);
  std::vector<double> refOut, refLse;
  reference(q, k, v, nullptr, s, true, 1.0 / 8.0, refOut, refLse);
  std::vector<float> o = r.out.toFloat();
  double num = 0, den = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    num += (o[i] - refOut[i]) * (o[i] - refOut[i]);
    den += refOut[i] * refOut[i];
  }
  EXPECT_LE(std::sqrt(num / den), 1e-2);
}

TEST(AttentionForwardErrors, BadInputNamesTheArgument) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  DeviceTensor q = DeviceTensor::empty({1, 4, 8, 64}, DType::F16);
  DeviceTensor k = DeviceTensor::empty({1, 3, 8, 64}, DType::F16);
  try {
    attention::forward(q, k, k);
    FAIL() << "3 kv heads for 4 q heads accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("k: its 3 heads must divide q's 4"), std::string::npos)
        << e.what();
  }
}

} // namespace
