//===- ScheduleInterpretTest.cpp - Schedules checked on the CPU -----------===//
//
// The interpreter running a chip's schedule (setInterpretedSchedule): each
// kernel goes through the compiler's tile, layout and schedule stages for
// sm_90a (or sm_80), and the interpreter runs their shared buffers, cp.async
// groups, TMA copies of every rank and mbarrier phases, against float64
// references on fresh random inputs, outputs poisoned first, a producer
// warpgroup as a second thread taking turns with the consumers. A copy into
// the wrong slot or at the wrong coordinates, a wait for too few groups or
// for the wrong phase (which would hang the GPU) fails here, without a GPU.
// The same configurations run on the device in tests/gpu.
//
//===----------------------------------------------------------------------===//

#include "attention/Internal.h"
#include "common/ArgReduce.h"
#include "common/Atomics.h"
#include "common/AttentionTesting.h"
#include "common/BlockAdds.h"
#include "common/ElementwiseOps.h"
#include "common/LibraryKernels.h"
#include "common/Masks.h"
#include "common/Scans.h"
#include "common/Testing.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace tessera;

namespace {

/// The interpreter running `arch`'s schedule for one scope.
struct ScheduleScope {
  explicit ScheduleScope(const std::string &arch) { setInterpretedSchedule(arch); }
  ~ScheduleScope() { setInterpreted(false); }
  ScheduleScope(const ScheduleScope &) = delete;
  ScheduleScope &operator=(const ScheduleScope &) = delete;
};

/// c = a·b on `config` against float64; a and b as views with rows `pad`
/// elements longer than their columns (0: contiguous, which TMA copies).
double matmulError(int64_t m, int64_t k, int64_t n, const kernels::KernelConfig &config,
                   int64_t pad = 0) {
  DType dtype = DType::BF16;
  std::vector<float> a = test::randomValues(m * k, dtype), b = test::randomValues(k * n, dtype);
  auto padded = [&](const std::vector<float> &x, int64_t rows, int64_t cols) {
    std::vector<float> storage(rows * (cols + pad), 0.f);
    for (int64_t i = 0; i < rows; ++i)
      std::copy_n(x.begin() + i * cols, cols, storage.begin() + i * (cols + pad));
    return DeviceTensor::fromFloat(storage, {rows * (cols + pad)}, dtype)
        .view({rows, cols}, {cols + pad, 1}, 0);
  };
  DeviceTensor da = padded(a, m, k), db = padded(b, k, n);
  DeviceTensor c = DeviceTensor::empty({m, n}, dtype);
  c.fillBytes(0xff);
  kernels::matmulWithConfig(da, db, c, config);
  std::vector<double> want(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j)
        want[i * n + j] += double(a[i * k + p]) * b[p * n + j];
  return testkit::maxRelativeError(c.toFloat(), want, std::sqrt(double(k)));
}

/// matmul's TMA pipelines on sm_90a: two and four stages (each buffer
/// refilled several times: the phases alternate), partial blocks in every
/// dimension, the last k-step partial; C stored by TMA; clusters (a CTA
/// runs its multicast copies' whole tiles here); persistent programs (the
/// phases count on across tiles); the cp.async fallback for tensors TMA
/// cannot describe (odd row strides).
TEST(ScheduleInterpret, MatmulPipelines) {
  ScheduleScope scope("sm_90a");
  struct Variant {
    const char *name;
    int64_t size, stages, pad;
    std::map<std::string, int64_t> constants;
  };
  const Variant variants[] = {{"small blocks, TMA, 2 stages", 2048, 2, 0, {}},
                              {"large blocks, TMA, 4 stages", 4096, 4, 0, {}},
                              {"TMA stores", 4096, 4, 0, {{"TMA_STORE", 1}}},
                              {"clusters", 4096, 4, 0, {{"CLUSTER_M", 2}}},
                              {"persistent", 4096, 4, 0, {{"PERSISTENT", 1}}},
                              {"cp.async, 3 stages", 2048, 3, 1, {}}};
  for (const Variant &v : variants) {
    kernels::KernelConfig config = kernels::matmulConfig(DType::BF16, v.size, v.size, v.size);
    config.constants["NUM_STAGES"] = v.stages;
    for (const auto &[name, value] : v.constants)
      config.constants[name] = value;
    EXPECT_LE(matmulError(300, 328, 264, config, v.pad), 1e-2) << v.name;
  }
}

/// matmul with C stored through its staging tile (TMA_STORE) where C's rows
/// are no whole 16-byte vectors (n odd: a vocabulary of 50257, say): with
/// TESSERA_SHIFTED_STORES=1 (the ctest entry ScheduleInterpret.ShiftedStores)
/// out of the staging tile, else from registers; A contiguous (TMA), B's
/// rows of n elements by cp.async.
TEST(ScheduleInterpret, MatmulCOfOddWidth) {
  ScheduleScope scope("sm_90a");
  kernels::KernelConfig config = kernels::matmulConfig(DType::BF16, 300, 261, 328);
  config.constants["TMA_STORE"] = 1;
  EXPECT_LE(matmulError(300, 328, 261, config), 1e-2);
}

/// batched_matmul's TMA copies: rank-3 tensor maps at batch coordinate i
/// (B's i mod its batch of 1), rows past each matrix's own as zeros.
TEST(ScheduleInterpret, BatchedMatmulRank3TensorMaps) {
  ScheduleScope scope("sm_90a");
  for (bool sharedB : {false, true})
    EXPECT_LE(test::batchedMatmulError(DType::BF16, 3, 72, 200, 136, sharedB, false,
                                       [](kernels::KernelConfig &c) { c.constants["TMA"] = 1; }),
              1e-2)
        << (sharedB ? "one b" : "a b per matrix");
}

/// The attention forward against float64 on `constants` over the
/// heuristic's blocks of the head dim.
void expectForward(const attention::AttentionShape &s, bool causal, bool useMask,
                   const std::map<std::string, int64_t> &constants, unsigned warps = 0) {
  DType dtype = DType::BF16;
  auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, dtype);
  auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, dtype);
  auto v = test::randomValues(k.size(), dtype);
  std::vector<uint8_t> mask(s.batch * s.kLen);
  for (size_t i = 0; i < mask.size(); ++i)
    mask[i] = (i * 7 + 3) % 10 < 7;
  auto [dq, dk, dv, out, lse] = attention_testing::forwardTensors(s, dtype, q, k, v);
  DeviceTensor dmask = DeviceTensor::fromHost(mask.data(), {s.batch, s.kLen}, DType::I1);
  attention::Options options;
  options.causal = causal;
  options.keyMask = useMask ? &dmask : nullptr;
  kernels::KernelConfig config =
      attention::forwardConfig(dtype, s.dim, causal, useMask, currentDevice().arch());
  for (const auto &[name, value] : constants)
    config.constants[name] = value;
  if (warps)
    config.numWarps = warps;
  attention::forwardWithConfig(dq, dk, dv, out, lse, options, config);
  attention::PlainAttentionResult ref = attention::plain_attention_cpu(
      s, q, k, v, useMask ? &mask : nullptr, causal, 1.0 / std::sqrt(double(s.dim)));
  EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out), 1e-2);
}

const attention::AttentionShape kShapes[] = {
    {1, 4, 2, 148, 200, 64},  // GQA; several key blocks, the last partial;
                              // rows of L and D by TMA (q_len a multiple of 4)
    {2, 2, 1, 129, 77, 128},  // MQA, k_len < q_len
    {1, 2, 2, 70, 100, 40},   // run as 64: columns past 40 as zeros
    {1, 1, 1, 40, 100, 256}}; // 128 x 32 blocks on 8 warps

/// K and V by rank-4 tensor maps (TMA = 1), issued by a producer warpgroup
/// (WARP_SPECIALIZE: both key loops' copies in sequence, the second ring,
/// which shares the first's memory, refilled only once the first is
/// released), with O stored by TMA (TMA_STORE; with and without the
/// producer), and the default cp.async pipeline; causal or under a key mask
/// (a second loop, its own ring).
TEST(ScheduleInterpret, AttentionForward) {
  ScheduleScope scope("sm_90a");
  const char *modes[] = {"cp.async", "TMA", "TMA from a producer warpgroup", "TMA, O stored by TMA",
                         "TMA from a producer warpgroup, O stored by TMA"};
  for (const attention::AttentionShape &s : kShapes)
    for (int64_t mode : {4, 3, 2, 1, 0})
      for (bool causal : {false, true}) {
        SCOPED_TRACE(attention_testing::shapeName(s) + " " + modes[mode] +
                     (causal ? " causal" : " masked"));
        expectForward(s, causal, !causal,
                      {{"TMA", mode >= 1},
                       {"WARP_SPECIALIZE", mode == 2 || mode == 4},
                       {"TMA_STORE", mode >= 3}});
      }
}

/// forward() itself on sm_90a at head dims whose rows are not whole 16-byte
/// vectors: K, V and O on padded copies, Q read in place with fewer columns
/// than they have. f32 (TF32 on wgmma: K and V rounded, Vᵀ written in key
/// blocks of the padded head dim first), bf16 59 (TMA), bf16 111 past 1024
/// keys (a producer warpgroup).
TEST(ScheduleInterpret, AttentionForwardPartialVectorHeadDims) {
  ScheduleScope scope("sm_90a");
  struct Case {
    attention::AttentionShape shape;
    DType dtype;
  };
  for (const Case &c :
       {Case{{1, 2, 2, 33, 190, 111}, DType::F32}, Case{{1, 2, 1, 20, 190, 59}, DType::F32},
        Case{{2, 2, 1, 65, 129, 59}, DType::BF16}, Case{{1, 1, 1, 20, 1100, 111}, DType::BF16}}) {
    const attention::AttentionShape &s = c.shape;
    SCOPED_TRACE(attention_testing::shapeName(s) + " " + std::string(name(c.dtype)));
    auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, c.dtype);
    auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, c.dtype);
    auto v = test::randomValues(k.size(), c.dtype);
    auto [dq, dk, dv, out, lse] = attention_testing::forwardTensors(s, c.dtype, q, k, v);
    attention::Options options;
    options.causal = true;
    attention::forward(dq, dk, dv, out, lse, options);
    attention::PlainAttentionResult ref =
        attention::plain_attention_cpu(s, q, k, v, nullptr, true, 1.0 / std::sqrt(double(s.dim)));
    EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out),
              c.dtype == DType::F32 ? 2e-3 : 1e-2);
  }
  // The kernel on a Q of 111 columns beside K and V padded to 112 (a caller
  // of forwardWithConfig may pad them alone): TF32 finds Vᵀ's key blocks
  // by V's head dim, not Q's.
  attention::AttentionShape s{1, 2, 2, 33, 190, 111};
  int64_t padded = 112;
  auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, DType::F32);
  auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, DType::F32);
  auto v = test::randomValues(k.size(), DType::F32);
  auto pad = [&](const std::vector<float> &x) {
    std::vector<float> rows(x.size() / s.dim * padded, 0.f);
    for (size_t r = 0; r < x.size() / s.dim; ++r)
      std::copy_n(x.begin() + r * s.dim, s.dim, rows.begin() + r * padded);
    return DeviceTensor::fromFloat(rows, {s.batch, s.kvHeads, s.kLen, padded}, DType::F32);
  };
  DeviceTensor dq = DeviceTensor::fromFloat(q, {s.batch, s.heads, s.qLen, s.dim}, DType::F32);
  DeviceTensor dk = pad(k), dv = pad(v);
  DeviceTensor out = DeviceTensor::empty({s.batch, s.heads, s.qLen, s.dim}, DType::F32);
  DeviceTensor lse = DeviceTensor::empty({s.batch, s.heads, s.qLen}, DType::F32);
  out.fillBytes(0xff);
  lse.fillBytes(0xff);
  attention::Options options;
  options.causal = true;
  options.scale = float(1.0 / std::sqrt(double(s.dim)));
  attention::forwardWithConfig(dq, dk, dv, out, lse, options,
                               attention::forwardConfig(DType::F32, s.dim, true, false,
                                                        currentDevice().arch(),
                                                        attention::Fp32Precision::tf32, s.kLen));
  attention::PlainAttentionResult ref =
      attention::plain_attention_cpu(s, q, k, v, nullptr, true, 1.0 / std::sqrt(double(s.dim)));
  EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out), 2e-3)
      << "Q of 111 columns, K and V of 112";
}

/// The TF32 forward with K and Vᵀ by TMA (TMA = 1): f32 tiles that
/// attention_prepare_kv rounded already, which tile-use-tma copies by TMA
/// (keptAsCopied), at d 64 and 128 (two stages), causal or under a key mask.
TEST(ScheduleInterpret, AttentionForwardTf32ByTma) {
  ScheduleScope scope("sm_90a");
  for (int64_t dim : {64, 128})
    for (bool causal : {false, true}) {
      attention::AttentionShape s{1, 2, 1, 70, 150, dim};
      SCOPED_TRACE("d " + std::to_string(dim) + (causal ? " causal" : " masked"));
      auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, DType::F32);
      auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, DType::F32);
      auto v = test::randomValues(k.size(), DType::F32);
      std::vector<uint8_t> mask(s.batch * s.kLen);
      for (size_t i = 0; i < mask.size(); ++i)
        mask[i] = (i * 7 + 3) % 10 < 7;
      auto [dq, dk, dv, out, lse] = attention_testing::forwardTensors(s, DType::F32, q, k, v);
      DeviceTensor dmask = DeviceTensor::fromHost(mask.data(), {s.batch, s.kLen}, DType::I1);
      attention::Options options;
      options.causal = causal;
      options.keyMask = causal ? nullptr : &dmask;
      kernels::KernelConfig config = attention::forwardConfig(
          DType::F32, s.dim, causal, !causal, "sm_90a", attention::Fp32Precision::tf32, s.kLen);
      ASSERT_EQ(config.get("NUM_STAGES"), 2);
      config.constants["TMA"] = 1;
      attention::forwardWithConfig(dq, dk, dv, out, lse, options, config);
      attention::PlainAttentionResult ref = attention::plain_attention_cpu(
          s, q, k, v, causal ? nullptr : &mask, causal, 1.0 / std::sqrt(double(s.dim)));
      EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out), 2e-3);
    }
}

/// forwardWithConfig on K and V no tensor map describes (a base one element
/// off, rows d + 1 apart): the heuristic's TMA configurations run their
/// cp.async form in the blocks and order specializeOnCopies gives them
/// (d 64: 128 x 64 instead of 128 x 128; d 128 causal on short keys: the
/// scores before P·V instead of FlashAttention-3's order).
TEST(ScheduleInterpret, AttentionForwardOnMisalignedKeys) {
  ScheduleScope scope("sm_90a");
  for (int64_t dim : {64, 128}) {
    attention::AttentionShape s{1, 2, 1, 40, 150, dim};
    SCOPED_TRACE("d " + std::to_string(dim));
    auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, DType::BF16);
    auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, DType::BF16);
    auto v = test::randomValues(k.size(), DType::BF16);
    // Q, O and lse as forward() takes them (O and lse poisoned); K and V
    // misaligned.
    auto [dq, alignedK, alignedV, out, lse] =
        attention_testing::forwardTensors(s, DType::BF16, q, k, v);
    std::vector<int64_t> kvShape{s.batch, s.kvHeads, s.kLen, s.dim};
    DeviceTensor dk = attention_testing::misalignedTensor(k, kvShape, DType::BF16);
    DeviceTensor dv = attention_testing::misalignedTensor(v, kvShape, DType::BF16);
    attention::Options options;
    options.causal = true;
    kernels::KernelConfig config = attention::forwardConfig(
        DType::BF16, s.dim, true, false, "sm_90a", attention::Fp32Precision::tf32, s.kLen);
    ASSERT_EQ(config.get("TMA"), 1);
    attention::forwardWithConfig(dq, dk, dv, out, lse, options, config);
    attention::PlainAttentionResult ref =
        attention::plain_attention_cpu(s, q, k, v, nullptr, true, 1.0 / std::sqrt(double(s.dim)));
    EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out), 1e-2);
  }
}

/// Larger blocks than the heuristic's, which TMA leaves spill-free and the
/// device runs beside them (scripts/device-variants.sh): two consumer
/// warpgroups of 64 rows each, with and without a producer warpgroup.
/// forward() on sm_90a into an O view no 16-byte vector fits, written in
/// place (the interpreter reports no spills): at head dims 111 (a producer
/// warpgroup past 1024 keys), 59 and 128, the rest of its buffer untouched.
TEST(ScheduleInterpret, AttentionForwardIntoAnOutputView) {
  ScheduleScope scope("sm_90a");
  attention_testing::expectForwardIntoView({1, 1, 1, 20, 1100, 111}, DType::BF16, true, 1e-2);
  attention_testing::expectForwardIntoView({1, 2, 1, 65, 129, 59}, DType::BF16, false, 1e-2);
  attention_testing::expectForwardIntoView({1, 2, 2, 33, 70, 128}, DType::F16, true, 1e-2);
}

/// forward() and backward() at head dim 111 in bf16 (rows of 222 bytes, no
/// tensor map fits them), whose kernels stage their stores (TMA_STORE):
/// O, dK and dV written in place, with TESSERA_SHIFTED_STORES=1 (the ctest
/// entry ScheduleInterpret.ShiftedStores) through the staging tile
/// (tile.store_from_staging), else from registers. The short causal forward
/// on one warpgroup, the producer's past 1024 keys, causal under a key
/// mask; an O view whose rows are d + 1 apart (the element path there);
/// the backward causal under a key mask, GQA.
TEST(ScheduleInterpret, AttentionStoresOfMisalignedRows) {
  ScheduleScope scope("sm_90a");
  for (const attention::AttentionShape &s :
       {attention::AttentionShape{2, 2, 1, 65, 129, 111}, {1, 1, 1, 20, 1100, 111}}) {
    SCOPED_TRACE(attention_testing::shapeName(s));
    auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, DType::BF16);
    auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, DType::BF16);
    auto v = test::randomValues(k.size(), DType::BF16);
    auto [dq, dk, dv, out, lse] = attention_testing::forwardTensors(s, DType::BF16, q, k, v);
    attention::Options options;
    options.causal = true;
    attention::forward(dq, dk, dv, out, lse, options);
    attention::PlainAttentionResult ref =
        attention::plain_attention_cpu(s, q, k, v, nullptr, true, 1.0 / std::sqrt(double(s.dim)));
    EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out), 1e-2);
  }
  attention_testing::expectForwardIntoView({1, 2, 1, 65, 129, 111}, DType::BF16, true, 1e-2);
  attention_testing::BackwardCase c{{1, 4, 2, 70, 150, 111},
                                    DType::BF16,
                                    /*causal=*/true,
                                    /*mask=*/true,
                                    /*strided=*/false};
  attention_testing::expectGradients(attention_testing::runBackward(c),
                                     attention_testing::relativeRmsError, 2e-2);
}

TEST(ScheduleInterpret, AttentionForwardLargerBlocks) {
  ScheduleScope scope("sm_90a");
  for (int64_t producer : {0, 1})
    for (bool causal : {false, true}) {
      SCOPED_TRACE(std::string(producer ? "producer warpgroup" : "TMA") +
                   (causal ? " causal" : " masked"));
      expectForward({1, 2, 1, 200, 300, 128}, causal, !causal,
                    {{"BLOCK_M", 128}, {"BLOCK_N", 128}, {"TMA", 1}, {"WARP_SPECIALIZE", producer}},
                    8);
      expectForward({1, 2, 2, 150, 140, 256}, causal, !causal,
                    {{"BLOCK_M", 128}, {"BLOCK_N", 64}, {"TMA", 1}, {"WARP_SPECIALIZE", producer}},
                    8);
    }
}

/// PIPELINE_QK: Q·K_{j+1}ᵀ issued before the softmax of S_j, which arrives
/// loop-carried (from the loop before on the masked loop's first block),
/// on the blocks it is meant for (two warpgroups of 64 rows) and on one
/// warpgroup; TMA, a producer warpgroup or cp.async; the last block's
/// extra product reads keys past k_len as zeros and is dropped.
///
/// PIPELINE_QK = 2, FlashAttention-3's order: block 0's softmax before the
/// loops, S_j issued with P_{j-1}·V_{j-1} in iteration j, the last block's
/// P·V after the loops; also with a single key block (the loops run no
/// trip), with keys the causal diagonal hides from every row of a program
/// (q_len > k_len: block 0 wholly masked) and at d 256.
TEST(ScheduleInterpret, AttentionForwardPipelinedScores) {
  ScheduleScope scope("sm_90a");
  const char *modes[] = {"cp.async", "TMA", "TMA from a producer warpgroup"};
  for (int64_t pipelined : {1, 2})
    for (int64_t mode : {0, 1, 2})
      for (bool causal : {false, true})
        for (bool useMask : {false, true}) {
          SCOPED_TRACE(std::string(modes[mode]) + (causal ? " causal" : "") +
                       (useMask ? " masked" : "") + " PIPELINE_QK " + std::to_string(pipelined));
          std::map<std::string, int64_t> constants{
              {"TMA", mode >= 1}, {"WARP_SPECIALIZE", mode == 2}, {"PIPELINE_QK", pipelined}};
          constants["BLOCK_M"] = 128;
          constants["BLOCK_N"] = 64;
          expectForward({1, 2, 1, 200, 300, 128}, causal, useMask, constants, 8);
          expectForward({1, 4, 2, 150, 200, 64}, causal, useMask, {{"PIPELINE_QK", pipelined}});
          if (pipelined == 2) {
            expectForward({1, 2, 1, 130, 40, 128}, causal, useMask, constants, 8);
            expectForward({1, 2, 1, 300, 100, 128}, causal, useMask, constants, 8);
            // d 256: the last V block takes the ring's memory (it fits no
            // other way).
            if (mode == 2)
              expectForward({1, 1, 1, 130, 200, 256}, causal, useMask, constants, 8);
          }
        }
}

/// Keys a whole number of blocks, neither causal nor masked: the launch sets
/// EVEN_N and the kernel has no loop over masked blocks (one scf.for fewer
/// than with EVEN_N = 0; causal keeps it); the heuristic's schedules at d 64
/// (TMA), d 128 (a producer warpgroup, the next scores first) and d 256,
/// and on cp.async, against float64.
TEST(ScheduleInterpret, AttentionForwardEvenKeys) {
  attention::Options options;
  kernels::KernelConfig config = attention::forwardConfig(DType::BF16, 128, false, false, "sm_90a");
  auto evenFor = [&](int64_t kLen) {
    kernels::KernelConfig c = config;
    attention::detail::specializeOnKeys(c, kLen, options);
    return c.get("EVEN_N");
  };
  EXPECT_EQ(evenFor(2048), 1);
  EXPECT_EQ(evenFor(2000), 0);
  options.causal = true;
  EXPECT_EQ(evenFor(2048), 0);
  auto loops = [](kernels::KernelConfig c, int64_t even, int64_t causal) {
    c.constants["EVEN_N"] = even;
    c.constants["CAUSAL"] = causal;
    mlir::MLIRContext ctx;
    mlir::OwningOpRef<mlir::ModuleOp> module = kernels::lookup("attention_forward").build(ctx, c);
    int64_t n = 0;
    module->walk([&](mlir::scf::ForOp) { ++n; });
    return n;
  };
  EXPECT_EQ(loops(config, 1, 0) + 1, loops(config, 0, 0));
  EXPECT_EQ(loops(config, 1, 1), loops(config, 0, 1));

  ScheduleScope scope("sm_90a");
  for (int64_t tma : {1, 0}) {
    SCOPED_TRACE(tma ? "heuristic" : "cp.async");
    std::map<std::string, int64_t> constants;
    if (!tma)
      constants = {{"TMA", 0}, {"WARP_SPECIALIZE", 0}, {"PIPELINE_QK", 0}};
    expectForward({1, 4, 2, 150, 256, 64}, false, false, constants);
    expectForward({1, 2, 1, 100, 256, 128}, false, false, constants);
    expectForward({1, 1, 1, 40, 128, 256}, false, false, constants);
  }
}

/// out = Σ over key blocks k of a[rows, k:k+64] · b[k:k+64, :], the blocks
/// taken by two loops, [0, split) then [split, K) in steps of 64, as the
/// attention forward's key loops split at the diagonal (TMA copies, two
/// stages, no producer): the second loop continues the first's ring.
void splitLoopsBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  kb.setTensorMemoryAccelerator(true);
  kb.setNumStages(2);
  kb.setWarpgroupMma(true);
  dsl::TensorArg a = kb.tensor("a", c.dtype, 2), b = kb.tensor("b", c.dtype, 2);
  dsl::TensorArg out = kb.tensor("out", DType::F32, 2);
  dsl::Scalar split = kb.scalarI32("split");
  dsl::Scalar row = dsl::program_id(0) * dsl::Scalar(64);
  auto step = [&](dsl::Scalar k, const std::vector<dsl::Tile> &carried) {
    return std::vector<dsl::Tile>{dsl::dot(
        dsl::load(a, {row, k}, {64, 64}), dsl::load(b, {k, dsl::Scalar(0)}, {64, 64}), carried[0])};
  };
  std::vector<dsl::Tile> acc = {dsl::zeros({64, 64}, DType::F32)};
  acc = dsl::for_range(dsl::Scalar(0), split, dsl::Scalar(64), acc, step);
  acc = dsl::for_range(split, a.size(1), dsl::Scalar(64), acc, step);
  dsl::store(out, {row, dsl::Scalar(0)}, acc[0]);
}

/// The second of two key loops continues the first's TMA ring (tile-use-tma,
/// shared-rings): where the first ends on a whole block (split 128, or 0:
/// the first runs no trip) the first's copies bring the second's first
/// tiles; where it does not (split 96: the loops' blocks overlap), the
/// second's own first copies run, into the slots its count gives them.
TEST(ScheduleInterpret, KeyLoopsShareARing) {
  ScheduleScope scope("sm_90a");
  kernels::Kernel kernel =
      kernels::Kernel("split_key_loops", splitLoopsBody)
          .dtypes({DType::BF16})
          .grid([](const kernels::Args &args, const kernels::KernelConfig &) {
            return kernels::Grid{kernels::cdiv(args.tensor("a").shape()[0], 64)};
          });
  const int64_t m = 128, k = 328, n = 64;
  std::vector<float> a = test::randomValues(m * k, DType::BF16);
  std::vector<float> b = test::randomValues(k * n, DType::BF16);
  DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, DType::BF16);
  DeviceTensor db = DeviceTensor::fromFloat(b, {k, n}, DType::BF16);
  for (int64_t split : {128, 0, 96, 328}) {
    SCOPED_TRACE("split " + std::to_string(split));
    DeviceTensor out = DeviceTensor::empty({m, n}, DType::F32);
    out.fillBytes(0xff);
    kernel.launch(kernel.config(DType::BF16, {}, 4), {da, db, out, int(split)});
    // The blocks each loop takes, zeros past k.
    std::vector<int64_t> starts;
    for (int64_t s = 0; s < split; s += 64)
      starts.push_back(s);
    for (int64_t s = split; s < k; s += 64)
      starts.push_back(s);
    std::vector<double> want(m * n, 0.0);
    for (int64_t s : starts)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t p = s; p < std::min(s + 64, k); ++p)
          for (int64_t j = 0; j < n; ++j)
            want[i * n + j] += double(a[i * k + p]) * b[p * n + j];
    EXPECT_LT(testkit::maxRelativeError(out.toFloat(), want, std::sqrt(double(k))), 1e-4);
  }
}

/// PERSISTENT: as many programs as the SMs hold (132 here), each walking
/// tiles pid, pid + 132, ...; with the producer warpgroup issuing every
/// tile's key blocks into the one ring, its phases counted across tiles.
/// On whole key blocks (EVEN_N: one key loop per tile), more tiles than
/// programs, at d 64 and 128, with and without the producer. With the
/// producer also where tiles differ in their key blocks (causal, a partial
/// last block, a key mask: two key loops per tile, zero to several trips
/// each, one ring counted across loops and tiles), more tiles than programs
/// again, with and without the next scores first; without the producer
/// there, one program per tile.
TEST(ScheduleInterpret, AttentionForwardPersistent) {
  ScheduleScope scope("sm_90a");
  for (int64_t producer : {1, 0}) {
    SCOPED_TRACE(producer ? "producer warpgroup" : "TMA");
    std::map<std::string, int64_t> constants{
        {"PERSISTENT", 1}, {"WARP_SPECIALIZE", producer}, {"TMA", 1}};
    expectForward({1, 3, 1, 128 * 50 - 7, 256, 128}, false, false, constants);
    expectForward({2, 2, 2, 128 * 40, 128, 64}, false, false, constants);
    // One key block per tile: the ring's second slot never filled.
    expectForward({1, 2, 1, 128 * 70, 128, 128}, false, false, constants);
    expectForward({1, 2, 1, 300, 200, 128}, false, false, constants);
    expectForward({1, 2, 1, 300, 256, 128}, true, false, constants);
  }
  for (int64_t pipelined : {0, 1, 2}) {
    SCOPED_TRACE("producer, PIPELINE_QK " + std::to_string(pipelined));
    std::map<std::string, int64_t> constants{{"PERSISTENT", 1}, {"WARP_SPECIALIZE", 1},
                                             {"TMA", 1},        {"BLOCK_M", 128},
                                             {"BLOCK_N", 128},  {"PIPELINE_QK", pipelined}};
    // Causal, bottom-right: the first query blocks see no key, later ones
    // one or two blocks, the last partly masked.
    expectForward({1, 3, 1, 128 * 50 - 7, 300, 128}, true, false, constants, 8);
    // A partial last key block: two unmasked blocks and a masked one.
    expectForward({1, 3, 1, 128 * 50 - 7, 300, 128}, false, false, constants, 8);
    // A key mask: every block masked.
    expectForward({2, 2, 1, 128 * 35, 200, 64}, false, true, constants, 8);
  }
}

/// FlashAttention-3's order (the d 256 heuristic) asked to be persistent
/// runs one program per tile: in a tile loop its last V block would take
/// shared memory of its own, 264 KiB (the GPU test failed to launch it).
/// At d 128 the tile loop stays (231 KiB).
TEST(ScheduleInterpret, AttentionForwardPersistentLeavesTheOrderPastD128) {
  std::map<std::string, int64_t> c{{"PERSISTENT", 1},  {"TMA", 1},       {"WARP_SPECIALIZE", 1},
                                   {"PIPELINE_QK", 2}, {"BLOCK_D", 256}, {"EVEN_N", 1}};
  EXPECT_FALSE(attention::detail::persistentForward(c));
  c["BLOCK_D"] = 128;
  EXPECT_TRUE(attention::detail::persistentForward(c));
  c["BLOCK_D"] = 256;
  c["PIPELINE_QK"] = 1;
  EXPECT_TRUE(attention::detail::persistentForward(c));
  // The heuristic at d 256 with PERSISTENT: one scf.for per key loop, no tile loop.
  kernels::KernelConfig heuristic =
      attention::forwardConfig(DType::BF16, 256, false, false, "sm_90a");
  ASSERT_EQ(heuristic.get("PIPELINE_QK"), 2);
  heuristic.constants["PERSISTENT"] = 1;
  heuristic.constants["EVEN_N"] = 1;
  auto loops = [](const kernels::KernelConfig &config) {
    mlir::MLIRContext ctx;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        kernels::lookup("attention_forward").build(ctx, config);
    int64_t n = 0;
    module->walk([&](mlir::scf::ForOp) { ++n; });
    return n;
  };
  kernels::KernelConfig perTile = heuristic;
  perTile.constants["PERSISTENT"] = 0;
  EXPECT_EQ(loops(heuristic), loops(perTile));
  ScheduleScope scope("sm_90a");
  expectForward({1, 2, 1, 300, 256, 256}, false, false, heuristic.constants, 8);
}

/// The same persistent kernel on sm_80, which has no TMA: each key loop's
/// cp.async pipeline drained at its end, the two loops' tiles sharing one
/// sub-region of the tile loop's shared memory (tile-allocate-shared-memory),
/// refilled after the barrier before each loop's first copies.
TEST(ScheduleInterpret, AttentionForwardPersistentCpAsync) {
  ScheduleScope scope("sm_80");
  std::map<std::string, int64_t> constants{
      {"PERSISTENT", 1}, {"WARP_SPECIALIZE", 1}, {"TMA", 1}, {"BLOCK_M", 64}, {"BLOCK_N", 64}};
  expectForward({1, 3, 1, 64 * 50 - 7, 300, 64}, true, false, constants, 4);
  expectForward({1, 3, 1, 64 * 50 - 7, 300, 64}, false, true, constants, 4);
}

/// 64 x 64 blocks on one consumer warpgroup beside a producer warpgroup, two
/// programs per SM (CTAS_PER_SM = 2: registers only, the schedule is the
/// producer's), with and without the next scores first, at head dims 64 and
/// 128, causal, masked or both.
TEST(ScheduleInterpret, AttentionForwardTwoProgramsPerSm) {
  ScheduleScope scope("sm_90a");
  for (int64_t pipelined : {0, 1, 2})
    for (bool causal : {false, true}) {
      SCOPED_TRACE("PIPELINE_QK " + std::to_string(pipelined) + (causal ? " causal" : ""));
      std::map<std::string, int64_t> constants{{"BLOCK_M", 64},    {"BLOCK_N", 64},
                                               {"TMA", 1},         {"WARP_SPECIALIZE", 1},
                                               {"CTAS_PER_SM", 2}, {"PIPELINE_QK", pipelined}};
      expectForward({1, 4, 2, 150, 200, 64}, causal, /*useMask=*/true, constants, 4);
      expectForward({2, 2, 1, 129, 77, 128}, causal, /*useMask=*/!causal, constants, 4);
    }
}

/// Short keys on two warpgroups without a producer (the heuristic up to 1024
/// unmasked keys at d 128: 128 x 64 on 8 warps, K and V by TMA, O by TMA
/// stores), and bounded to two programs per SM (CTAS_PER_SM without a
/// producer), causal or not, under a key mask or not.
TEST(ScheduleInterpret, AttentionForwardTwoWarpgroupsShortKeys) {
  ScheduleScope scope("sm_90a");
  kernels::KernelConfig heuristic = attention::forwardConfig(
      DType::BF16, 128, false, false, "sm_90a", attention::Fp32Precision::tf32, 77);
  ASSERT_EQ(heuristic.numWarps, 8u);
  ASSERT_EQ(heuristic.get("TMA_STORE"), 1);
  for (int64_t ctas : {1, 2})
    for (bool causal : {false, true})
      for (bool masked : {false, true}) {
        SCOPED_TRACE(std::to_string(ctas) + " per SM" + (causal ? " causal" : "") +
                     (masked ? " masked" : ""));
        std::map<std::string, int64_t> constants{
            {"BLOCK_M", 128},       {"BLOCK_N", 64},    {"TMA", 1},           {"TMA_STORE", 1},
            {"WARP_SPECIALIZE", 0}, {"PIPELINE_QK", 0}, {"CTAS_PER_SM", ctas}};
        expectForward({2, 2, 1, 129, 77, 128}, causal, masked, constants, 8);
      }
}

/// PING_PONG: the two consumer warpgroups' turns (tile.turn_*) in both key
/// loops, with and without PIPELINE_QK. The interpreter runs the consumers
/// as one thread, so the turns order nothing here: this checks that the
/// schedule with them computes the same attention; the GPU test checks that
/// the turns balance (a missing one hangs).
TEST(ScheduleInterpret, AttentionForwardPingPong) {
  ScheduleScope scope("sm_90a");
  for (int64_t pipelined : {0, 1, 2})
    for (bool causal : {false, true}) {
      SCOPED_TRACE("PIPELINE_QK " + std::to_string(pipelined) + (causal ? " causal" : ""));
      expectForward({1, 2, 1, 200, 300, 128}, causal, /*useMask=*/!causal,
                    {{"BLOCK_M", 128},
                     {"BLOCK_N", 64},
                     {"TMA", 1},
                     {"WARP_SPECIALIZE", 1},
                     {"PING_PONG", 1},
                     {"PIPELINE_QK", pipelined}},
                    8);
    }
  // Persistent: the compiler leaves the turns out there (they hung across
  // tiles on the GPU, which the interpreter cannot see; lit
  // tile-warp-specialize @ping_pong_persistent), and the kernel computes
  // the persistent forward.
  expectForward({1, 3, 1, 128 * 50 - 7, 300, 128}, /*causal=*/true, /*useMask=*/false,
                {{"BLOCK_M", 128},
                 {"BLOCK_N", 128},
                 {"TMA", 1},
                 {"WARP_SPECIALIZE", 1},
                 {"PING_PONG", 1},
                 {"PIPELINE_QK", 1},
                 {"PERSISTENT", 1}},
                8);
}

/// The backward's dQ and dK/dV kernels with TMA (the dK/dV program's query
/// loop once per head of a KV group: phases counting on across heads) and
/// on cp.async, with atomic dQ too, dK, dV and dQ stored by TMA (where the
/// storage is row-major); on (batch, heads, seq, dim) views of
/// (batch, seq, heads, dim) storage too (rank-4 maps whose strides are not
/// in the dimensions' order).
TEST(ScheduleInterpret, AttentionBackward) {
  ScheduleScope scope("sm_90a");
  for (const attention::AttentionShape &s : kShapes)
    for (bool tma : {true, false})
      for (bool atomicDq : {false, true})
        for (bool strided : {false, true}) {
          SCOPED_TRACE(attention_testing::shapeName(s) + (tma ? " TMA" : " cp.async") +
                       (atomicDq ? " atomic dQ" : "") + (strided ? " (b, s, h, d) storage" : ""));
          attention_testing::BackwardCase c{s, DType::BF16, /*causal=*/true, /*mask=*/true,
                                            strided};
          c.tma = tma;
          c.tmaStore = tma && !strided;
          c.atomicDq = atomicDq;
          attention_testing::expectGradients(attention_testing::runBackward(c),
                                             attention_testing::relativeRmsError, 2e-2);
        }
  // Both programs' copies from a producer warpgroup (the dK/dV program's
  // heads and query blocks in one loop: the phases count on across heads),
  // one CTA per SM with the gradients by TMA stores, or two (the device's
  // AttentionBackwardTma mode 4); and the dK/dV program alone with atomic dQ
  // (its TMA adds waited for before the consumers' own barrier), each
  // program from a query block of its own.
  for (const attention::AttentionShape &s : kShapes)
    for (int64_t ctas : {1, 2, 0}) {
      SCOPED_TRACE(attention_testing::shapeName(s) + " producer, " +
                   (ctas ? "CTAs per SM " + std::to_string(ctas) : std::string("atomic dQ")));
      attention_testing::BackwardCase c{s, DType::BF16, /*causal=*/true, /*mask=*/true, false};
      c.tma = true;
      c.producer = true;
      c.ctasPerSm = std::max<int64_t>(ctas, 1);
      c.atomicDq = ctas == 0;
      c.tmaStore = ctas == 1; // the gradients by TMA stores beside the producer
      attention_testing::expectGradients(attention_testing::runBackward(c),
                                         attention_testing::relativeRmsError, 2e-2);
    }
  // Blocks on 8 warps up to d 128: 128 x 64 (the device's
  // AttentionBackwardTma mode 3), and 64 x 128 beside a producer warpgroup,
  // its consumers in turns or not (modes 7 and 6), or with atomic dQ
  // (FlashAttention-3's layout, `64x128w8tw`; modes 6 and 8): dQᵀ's product
  // after dK's, or before it (DQ_FIRST) with its TMA add after.
  for (int mode : {0, 1, 2, 3, 4})
    for (const attention::AttentionShape &s : kShapes) {
      if (s.dim > 128)
        continue;
      bool producer = mode > 0;
      SCOPED_TRACE(attention_testing::shapeName(s) +
                   (producer ? " producer, 64 x 128 on 8 warps" : " 128 x 64 on 8 warps") +
                   (mode == 2 ? ", in turns" : "") + (mode >= 3 ? ", atomic dQ" : "") +
                   (mode == 4 ? ", dQ first" : ""));
      attention_testing::BackwardCase c{s, DType::BF16, /*causal=*/true, /*mask=*/true, false};
      c.tma = true;
      c.producer = producer;
      c.pingPong = mode == 2;
      c.atomicDq = mode >= 3;
      c.dqFirst = mode == 4;
      c.blockM = producer ? 64 : 128;
      c.blockN = producer ? 128 : 64;
      c.warps = 8;
      attention_testing::expectGradients(attention_testing::runBackward(c),
                                         attention_testing::relativeRmsError, 2e-2);
    }
}

/// backward() on sm_90 copies Q, K, V and dO whose 16-bit rows are 16-byte
/// but not 32-byte runs (d 40: 80 bytes; 72: 144) to rows of whole 32-byte
/// sectors (backwardRowBytes: 48 and 80 columns; 72 in two pieces, 64 + 32)
/// and writes the gradients of the given width in place; causal, key mask,
/// GQA, odd lengths. The forward pads its K and V so at d 88 over 2048 keys
/// and at d 40 over 4096.
TEST(ScheduleInterpret, AttentionBackwardOnSectorRows) {
  ScheduleScope scope("sm_90a");
  ASSERT_EQ(attention::detail::backwardRowBytes(DType::BF16), 32);
  EXPECT_EQ(attention::detail::backwardRowBytes(DType::F32), 16);
  EXPECT_EQ(attention::detail::vectorHeadDim(DType::BF16, 40, 32), 48);
  for (const attention::AttentionShape &s : {attention::AttentionShape{1, 4, 2, 67, 131, 40},
                                             attention::AttentionShape{1, 2, 1, 50, 90, 72}}) {
    SCOPED_TRACE(attention_testing::shapeName(s));
    attention_testing::BackwardCase c{s, DType::BF16, /*causal=*/true, /*mask=*/true, false};
    attention_testing::expectGradients(attention_testing::runBackward(c),
                                       attention_testing::relativeRmsError, 2e-2);
  }
  // forward() pads K and V so only for long key loops without causal masks
  // (d 88 over 2048 keys runs on 96 columns; d 40 from 4096 keys).
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::BF16, 88, false, 2048), 32);
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::BF16, 88, true, 2048), 16);
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::BF16, 88, false, 1024), 16);
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::BF16, 40, false, 4096), 32);
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::BF16, 40, false, 2048), 16);
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::BF16, 56, false, 4096), 16);
  EXPECT_EQ(attention::detail::forwardRowBytes(DType::F32, 88, false, 4096), 16);
  for (const attention::AttentionShape &s : {attention::AttentionShape{1, 2, 1, 33, 2048, 88},
                                             attention::AttentionShape{1, 2, 1, 17, 4096, 40}}) {
    SCOPED_TRACE("forward " + attention_testing::shapeName(s));
    auto q = test::randomValues(s.batch * s.heads * s.qLen * s.dim, DType::BF16);
    auto k = test::randomValues(s.batch * s.kvHeads * s.kLen * s.dim, DType::BF16);
    auto v = test::randomValues(k.size(), DType::BF16);
    auto [dq, dk, dv, out, lse] = attention_testing::forwardTensors(s, DType::BF16, q, k, v);
    attention::forward(dq, dk, dv, out, lse, attention::Options{});
    attention::PlainAttentionResult ref =
        attention::plain_attention_cpu(s, q, k, v, nullptr, false, 1.0 / std::sqrt(double(s.dim)));
    EXPECT_LE(attention_testing::relativeRmsError(out.toFloat(), ref.out), 1e-2);
  }
}

/// Head dims between powers of two as two column pieces (BLOCK_D_TAIL):
/// 80 and 96 as 64 + 32 columns, 160 as 128 + 32, 192 as 128 + 64; the
/// forward on cp.async, TMA and a producer warpgroup, causal or under a key
/// mask, and the backward's two programs and atomic dQ. A piece copied to
/// the wrong columns, or a tail left out of S, O or a gradient, fails the
/// float64 comparison.
TEST(ScheduleInterpret, AttentionHeadDimPieces) {
  // On 1024 keys (one consumer warpgroup at d 80 and 96).
  auto tail = [](DType dtype, int64_t dim) {
    return attention::forwardConfig(dtype, dim, false, false, "sm_90a",
                                    attention::Fp32Precision::tf32, 1024)
        .get("BLOCK_D_TAIL");
  };
  EXPECT_EQ(tail(DType::BF16, 80), 32);
  EXPECT_EQ(tail(DType::BF16, 96), 32);
  EXPECT_EQ(tail(DType::BF16, 160), 32);
  EXPECT_EQ(tail(DType::F16, 176), 64);
  EXPECT_EQ(tail(DType::BF16, 192), 64);
  for (int64_t whole : {32, 40, 59, 64, 111, 128, 224, 256})
    EXPECT_EQ(tail(DType::BF16, whole), 0) << whole;
  EXPECT_EQ(tail(DType::F32, 80), 0); // f32 keeps one piece
  EXPECT_EQ(attention::backwardConfig(DType::BF16, 160, true, false, "sm_90a").get("BLOCK_D_TAIL"),
            32);
  EXPECT_EQ(attention::backwardConfig(DType::BF16, 192, true, false, "sm_90a").get("BLOCK_D_TAIL"),
            0); // two pieces ran slower than one
  // The producer's 128 x 128 blocks past 1024 keys keep d 80 in one piece.
  EXPECT_EQ(attention::forwardConfig(DType::BF16, 80, false, false, "sm_90a",
                                     attention::Fp32Precision::tf32, 4096)
                .get("BLOCK_D_TAIL"),
            0);
  EXPECT_THROW(attention::detail::headDimPieces(64, 16), Error);
  EXPECT_THROW(attention::detail::headDimPieces(128, 64), Error);

  ScheduleScope scope("sm_90a");
  const char *modes[] = {"cp.async", "TMA", "TMA from a producer warpgroup"};
  const attention::AttentionShape shapes[] = {{1, 2, 1, 70, 150, 80},
                                              {1, 2, 2, 65, 100, 96},
                                              {1, 1, 1, 40, 90, 160},
                                              {1, 1, 1, 33, 70, 192}};
  for (const attention::AttentionShape &s : shapes)
    for (int64_t mode : {0, 1, 2})
      for (bool causal : {false, true}) {
        SCOPED_TRACE(attention_testing::shapeName(s) + " " + modes[mode] +
                     (causal ? " causal" : " masked"));
        // d 80 and 96 on the producer's 128 x 128 blocks keep one piece
        // (forwardConfig): BLOCK_D_TAIL asks for two.
        expectForward(
            s, causal, !causal,
            {{"TMA", mode >= 1},
             {"WARP_SPECIALIZE", mode == 2},
             {"BLOCK_D_TAIL", attention::detail::headDimTail(s.dim, s.dim <= 128 ? 128 : 256)}});
      }
  for (const attention::AttentionShape &s : {shapes[0], shapes[2]})
    for (bool tma : {true, false})
      for (bool atomicDq : {false, true}) {
        SCOPED_TRACE(attention_testing::shapeName(s) + (tma ? " TMA" : " cp.async") +
                     (atomicDq ? " atomic dQ" : ""));
        attention_testing::BackwardCase c{s, DType::BF16, /*causal=*/true, /*mask=*/true, false};
        c.tma = tma;
        c.atomicDq = atomicDq;
        attention_testing::expectGradients(attention_testing::runBackward(c),
                                           attention_testing::relativeRmsError, 2e-2);
      }
}

/// sm_80's schedule: cp.async pipelines of mma.sync kernels.
TEST(ScheduleInterpret, Sm80Pipelines) {
  ScheduleScope scope("sm_80");
  for (int64_t stages : {2, 3})
    EXPECT_LE(matmulError(200, 300, 136,
                          [&] {
                            kernels::KernelConfig c =
                                kernels::matmulConfig(DType::BF16, 200, 136, 300);
                            c.constants["NUM_STAGES"] = stages;
                            return c;
                          }()),
              1e-2)
        << stages << " stages";
  expectForward(kShapes[0], true, false, {});
}

/// The foundation kernels and the users' kernels of the GPU tests on the
/// schedule the compiler makes for them (reductions, scans and layout
/// conversions through shared memory, masks, atomics, branches).
TEST(ScheduleInterpret, FoundationAndUserKernels) {
  ScheduleScope scope("sm_90a");
  for (DType dtype : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(name(dtype));
    EXPECT_LE(test::cumsumError(dtype, 17, 333), test::cumsumTolerance(dtype, 333));
    test::RmsNormBackwardErrors e = test::rmsNormBackwardErrors(dtype, 33, 333);
    EXPECT_LE(e.dx, 1e-2);
    EXPECT_LE(e.dweight, 1e-2);
    EXPECT_EQ(test::checkArgReduce(64, dtype), "");
    EXPECT_EQ(test::checkScans(32, dtype), "");
    EXPECT_EQ(test::checkMasks(1000, dtype), "");
  }
  EXPECT_EQ(test::checkBranches(1000), "");
  EXPECT_EQ(test::checkAtomics(7, 128, 100), "");
  EXPECT_EQ(test::checkElementwiseOps(1000, 0.5f), "");
  // f32 blocks added inside a TMA pipeline: by TMA bulk adds where the
  // output's rows are 16-byte vectors (n 136), element-wise where not.
  EXPECT_EQ(test::checkBlockAdds(130, 136, 320, 3), "");
  EXPECT_EQ(test::checkBlockAdds(130, 133, 320, 3), "");
}

/// A producer warpgroup (WARP_SPECIALIZE) runs beside its consumers: the
/// interpreter runs both, handing over at each mbarrier wait that cannot
/// complete yet, over one tile per program and persistent programs (the
/// producer loading the next tile's blocks while the consumers store).
TEST(ScheduleInterpret, MatmulProducerWarpgroup) {
  ScheduleScope scope("sm_90a");
  for (int64_t persistent : {0, 1}) {
    kernels::KernelConfig config = kernels::matmulConfig(DType::BF16, 4096, 4096, 4096);
    config.constants["WARP_SPECIALIZE"] = 1;
    config.constants["PERSISTENT"] = persistent;
    EXPECT_LE(matmulError(300, 328, 264, config), 1e-2) << (persistent ? "persistent" : "");
  }
}

} // namespace
