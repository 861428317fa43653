//===- Configs.cpp - Attention's heuristic configurations -----------------===//
//
// The blocks, warps and kernel knobs each attention kernel runs with when the
// tuning database has nothing better (chooseForwardConfig,
// chooseBackwardConfig). Every shipped configuration compiles without spills
// unless its line says otherwise (tests/unit/compiler); the measurements
// behind the choices are in docs/PERFORMANCE.md.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Error.h"

#include <algorithm>

using namespace tessera;
using kernels::KernelConfig;

int64_t attention::detail::nextPowerOf2(int64_t v) {
  int64_t p = 1;
  while (p < v)
    p <<= 1;
  return p;
}

std::vector<attention::detail::HeadDimPiece> attention::detail::headDimPieces(int64_t blockD,
                                                                              int64_t tail) {
  if (tail == 0)
    return {{0, blockD}};
  // Tiles of 16 columns (32-byte rows) raced in shared memory on the H100
  // (racecheck: write-write hazards in attention_forward at d 40 as 32 + 16).
  if (tail < 32 || tail >= blockD / 2 || (tail & (tail - 1)) != 0)
    throw tessera::Error("BLOCK_D_TAIL: expected 0, or a power of two of at least 32 and less "
                         "than BLOCK_D / 2 (BLOCK_D = " +
                         std::to_string(blockD) + "), got " + std::to_string(tail));
  return {{0, blockD / 2}, {blockD / 2, tail}};
}

int64_t attention::detail::headDimTail(int64_t headDim, int64_t blockD) {
  // Not at 64: d 40 as 32 + 16 ran 1.18x (forward) and 1.38x (backward) the
  // time of d 64 on the H100 (tiles of 32-byte rows).
  if (blockD != 128 && blockD != 256)
    return 0;
  int64_t tail = std::max<int64_t>(32, nextPowerOf2(headDim - blockD / 2));
  return tail < blockD / 2 ? tail : 0;
}

KernelConfig attention::forwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                      std::string_view arch, Fp32Precision precision,
                                      int64_t kLen) {
  if (detail::usesTf32(dtype, precision)) {
    if (arch == "sm_90a") {
      // TF32 on wgmma, which reads both operands k-major: attention_prepare_kv
      // rounds K and V to tf32 once and writes Vᵀ in key blocks before the
      // kernel (TF32_ROUNDED_KV, V_TRANSPOSED).
      //   d <= 128: 8 warps, the largest blocks that stay spill-free;
      //   d 256:    128 x 32 in one stage (two stages exceed 227 KiB);
      //   d 512:    64 x 16 in one stage (Q alone takes 128 KiB), K split
      //             between the warpgroups for Q·Kᵀ.
      KernelConfig c = detail::attentionConfig(
          "attention_forward", dtype, headDim, causal, hasMask,
          {{64, 128, 128, 8}, {128, 128, 64, 8}, {256, 128, 32, 8, 1}, {512, 64, 16, 8, 1}},
          /*tf32=*/true);
      c.constants["WGMMA"] = 1;
      c.constants["V_TRANSPOSED"] = 1;
      c.constants["TF32_ROUNDED_KV"] = 1;
      // K and Vᵀ, rounded already, by TMA where they have two stages (d <=
      // 128): one CTA barrier a key block where cp.async took three; 1.04-
      // 1.10x (docs/PERFORMANCE.md "TF32 by TMA").
      c.constants["TMA"] = c.get("NUM_STAGES") >= 2;
      // 16-key blocks: most warps' rows keep their max from block to block,
      // so the vote that skips the rescale pays; with wider blocks it costs.
      c.constants["SKIP_UNIT_RESCALE"] = c.get("BLOCK_N") <= 16;
      return c;
    }
    // TF32 on mma.sync: f32 tiles take twice the shared memory of 16-bit
    // ones. The largest spill-free blocks that fit sm_80's shared memory,
    // with and without key masks (tests/unit/compiler).
    return detail::attentionConfig(
        "attention_forward", dtype, headDim, causal, hasMask,
        {{64, 64, 64, 4}, {128, 64, 32, 4}, {256, 64, 16, 4}, {512, 16, 16, 4}},
        /*tf32=*/true);
  }
  if (dtype == DType::F32) {
    // f32 runs its dots on CUDA cores, keeping the BLOCK_M x BLOCK_D
    // accumulator and the BLOCK_M x BLOCK_N scores in registers: the largest
    // blocks for which ptxas reports no spills on sm_80 and sm_90a.
    return detail::attentionConfig(
        "attention_forward", dtype, headDim, causal, hasMask,
        {{64, 64, 64, 8}, {128, 64, 32, 8}, {256, 32, 16, 8}, {512, 16, 16, 16}});
  }
  if (arch == "sm_90a") {
    // Warpgroup MMA: 64-row slabs per 4 warps, whole key blocks per wgmma
    // (docs/PERFORMANCE.md, "Attention schedules" and "The warp-specialized
    // schedules", H100):
    //   d <= 64:  128 x 128 on one warpgroup, K and V copied by TMA, causal
    //             or not (1.06x and 1.00x cuDNN at (4, 32, 4096, 64); cp.async
    //             0.92x, 0.90x; beside a producer warpgroup 0.69x, 0.66x);
    //   d 128:    past 1024 keys (or unknown; the shape buckets split there
    //             too), 128 x 128 on two consumer warpgroups beside a
    //             producer warpgroup that issues the TMA copies, with the
    //             next block's scores issued before the softmax (1.00x, 0.93x, 0.99x, 1.06x cuDNN
    //             where 128 x 64 on one warpgroup ran 0.95x, 0.89x, 0.98x, 0.97x); shorter, or with
    //             a key mask (the scores' mask spills 48 bytes there), 128 x 64 on one warpgroup,
    //             two programs per SM; causal unmasked with K and V by TMA (s 1024: 0.202 ms as
    //             cp.async, the producer's 0.232; spill-free where cp.async spilled 4 bytes),
    //             unmasked and not causal on two warpgroups (below), the rest by cp.async;
    //   d 256:    128 x 64 on two consumer warpgroups beside a producer
    //             (0.87x, 0.93x; without the producer 0.81x, 0.87x).
    // Head dims in two pieces (BLOCK_D_TAIL, docs/PERFORMANCE.md "Head dims
    // in two pieces", H100): 160 (128 + 32) on 128 x 128 blocks beside the
    // producer (1.204 ms at (4, 16, 4096) where 128 x 64 took 1.477); 80
    // and 96 keep one 128-column piece on the producer's 128 x 128 blocks
    // (0.876 and 0.875 ms, in two pieces 0.940 and 0.946) and take two on
    // one warpgroup (s 1024 causal: 0.178 and 0.183 ms, d 128 0.198).
    // Tensors TMA cannot describe take the cp.async kernel, without a
    // producer, where forwardWithConfig is given them (forward() copies them
    // first, detail::vectorOperand), in the order and blocks that keep it
    // spill-free (detail::specializeOnCopies).
    // Spill-free with and without key masks (tests/unit/compiler).
    KernelConfig c = detail::attentionConfig(
        "attention_forward", dtype, headDim, causal, hasMask,
        {{64, 128, 128, 4}, {128, 128, 64, 4}, {256, 128, 64, 8}, {512, 16, 16, 16}});
    int64_t blockD = c.get("BLOCK_D");
    c.constants["BLOCK_D_TAIL"] = detail::headDimTail(headDim, blockD);
    c.constants["TMA"] = blockD <= 64 || blockD == 256 || (blockD == 128 && causal && !hasMask);
    if (blockD == 256)
      c.constants["WARP_SPECIALIZE"] = 1;
    if (blockD == 256 && c.get("BLOCK_D_TAIL") == 32)
      c.constants["BLOCK_N"] = 128;
    // Up to 1024 keys without masks, one head-dim piece: 128 x 64 on two
    // warpgroups (64 rows each), K and V by TMA and O by TMA stores (below),
    // two programs per SM on whole key blocks (123 registers; 150, one per
    // SM, with the masked loop): 1.09-1.16x one warpgroup by cp.async at
    // s 256 to 1024 (0.264-0.267 against 0.291-0.295 ms at (16, 16, 1024,
    // 128), interleaved; H100, docs/PERFORMANCE.md "Stores beside the
    // producer").
    // Causal keeps one warpgroup (0.187 against 0.235).
    if (blockD == 128 && !causal && !hasMask && kLen > 0 && kLen <= 1024 &&
        c.get("BLOCK_D_TAIL") == 0) {
      c.numWarps = 8;
      c.constants["TMA"] = 1;
    }
    if (blockD == 128 && !hasMask && (kLen == 0 || kLen > 1024)) {
      c.numWarps = 8;
      c.constants["BLOCK_N"] = 128;
      c.constants["TMA"] = 1;
      c.constants["WARP_SPECIALIZE"] = 1;
      c.constants["PIPELINE_QK"] = 1;
      c.constants["BLOCK_D_TAIL"] = 0;
    }
    // Beside the producer without key masks, at d 128 (past 1024 keys) and
    // d 256: FlashAttention-3's order (PIPELINE_QK = 2: S_j and
    // P_{j-1}·V_{j-1} issued back to back, the softmax of S_j under both),
    // the two consumer warpgroups in turns (PING_PONG), O by TMA stores.
    // Against the next-scores-first order above, position-matched on the
    // H100 (docs/PERFORMANCE.md "FlashAttention-3's order by default"):
    // d 128 1.03x at (4, 16, 4096), 1.04x causal, 1.04x at (8, 16, 2048)
    // causal, 1.08x at (1, 16, 16384), level there causal; d 256 1.06x and
    // 1.07x causal.
    // At d 64 (two warpgroups of 64 rows) it ran 0.85x one warpgroup of 128
    // rows, which stays.
    if (!hasMask && c.get("WARP_SPECIALIZE") && c.numWarps == 8 && c.get("BLOCK_D_TAIL") == 0 &&
        (blockD == 128 || blockD == 256)) {
      c.constants["PIPELINE_QK"] = 2;
      c.constants["PING_PONG"] = 1;
    }
    // Causal d 128 up to 1024 keys (one warpgroup, K and V by TMA, no
    // producer): FlashAttention-3's order too, P·V a block behind. Against
    // the scores-then-P·V order, position-matched on the H100: 0.182-0.184
    // against 0.190-0.191 ms at (16, 16, 1024) causal, level at (32, 16,
    // 512) (docs/PERFORMANCE.md "The short causal forward"). Spill-free and
    // unserialized (Compiler.FlashAttention3sOrderKeepsItsWgmmasInFlight).
    if (blockD == 128 && causal && !hasMask && c.get("TMA") && !c.get("WARP_SPECIALIZE") &&
        c.numWarps == 4 && c.get("BLOCK_D_TAIL") == 0)
      c.constants["PIPELINE_QK"] = 2;
    // O by TMA stores from a shared staging tile at d 128 and 256 wherever K
    // and V come by TMA: the register stores of the wgmma layout write 16
    // bytes of each 32-byte sector, a third of the kernel's sectors excess
    // at s 1024 causal. Short causal d 128 (one warpgroup) 1.06x at s 1024,
    // 1.10x at s 512; beside a producer warpgroup 1.04-1.06x at d 128 s 2048
    // and 4096, 1.05-1.15x at d 256, the same at s 16384 causal (H100,
    // docs/PERFORMANCE.md "Stores by TMA" and "Stores beside the
    // producer"). Past 8192 keys without causal masks the producer kernel
    // keeps its register stores: 1-13% faster there in four of four
    // position-matched pairs. The 64-column kernels (128 x 128 on one
    // warpgroup) spill 60-88 bytes with it.
    // FlashAttention-3's order stores O by TMA at every length (level with
    // register stores at (1, 16, 16384), faster below).
    c.constants["TMA_STORE"] =
        (blockD == 128 || blockD == 256) && c.get("TMA") &&
        (c.get("PIPELINE_QK") == 2 || !(c.get("WARP_SPECIALIZE") && !causal && kLen > 8192));
    return c;
  }
  // mma.sync (sm_80 and others), the autotuner's winners: causal kernels
  // skip blocks above the diagonal and favour 128-row blocks on 8 warps, full
  // ones two 4-warp programs per SM. Spill-free on sm_80, with and without
  // key masks (tests/unit/compiler).
  if (causal)
    return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                   {{32, 64, 32, 4},
                                    {64, 64, 64, 4},
                                    {128, 128, 64, 8},
                                    {256, 128, 16, 8},
                                    {512, 16, 16, 16}});
  return detail::attentionConfig(
      "attention_forward", dtype, headDim, causal, hasMask,
      {{32, 64, 32, 4}, {64, 128, 32, 4}, {128, 64, 32, 4}, {256, 128, 16, 8}, {512, 16, 16, 16}});
}

KernelConfig attention::detail::attentionConfig(const std::string &kernel, DType dtype,
                                                int64_t headDim, bool causal, bool hasMask,
                                                std::initializer_list<BlockRule> rules, bool tf32) {
  // Head dims the tensor cores do not take as a tile (40, 80, 96, 160, ...)
  // run as the next power of two, at least 32: the loads read the missing
  // columns as zeros (past the tensors' last dimension; no copy of the
  // inputs), which add nothing to Q·Kᵀ and give output and gradient columns
  // that the stores, bounded by the tensors, skip. The 16-bit kernels on
  // sm_90a cut that power of two to its half and a smaller tail where the
  // head dim allows (BLOCK_D_TAIL, headDimTail: 80 and 96 as 64 + 32, 160 as
  // 128 + 32, 192 as 128 + 64), set by their callers.
  int64_t blockD = std::max<int64_t>(32, nextPowerOf2(headDim));
  const BlockRule *rule = rules.begin();
  while (rule + 1 != rules.end() && rule->maxBlockD < blockD)
    ++rule;
  const kernels::KernelDef &def = kernels::lookup(kernel);
  std::map<std::string, int64_t> constants{{"BLOCK_M", rule->blockM}, {"BLOCK_N", rule->blockN},
                                           {"BLOCK_D", blockD},       {"CAUSAL", causal},
                                           {"HAS_MASK", hasMask},     {"TF32", tf32}};
  if (def.defaults.count("NUM_STAGES"))
    constants["NUM_STAGES"] = rule->stages;
  return kernels::makeConfig(def, dtype, rule->warps, constants);
}

namespace {

/// The blocks of the two-kernel (deterministic) backward.
KernelConfig deterministicBackwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                         std::string_view arch,
                                         attention::Fp32Precision precision) {
  // The dK/dV program holds two BLOCK_N x BLOCK_D accumulators besides K_j
  // and V_j, so its blocks are smaller than the forward's: the largest that
  // neither backward kernel spills, with causal masks and key masks
  // (tests/unit/compiler). The dQ kernel runs the transposed blocks
  // (BLOCK_N query rows, BLOCK_M keys), which give its one accumulator the
  // dK/dV kernel's shape.
  //   TF32 (mma.sync m16n8k8): f32 operand tiles and four f32 accumulators
  //     leave room for small blocks only; d 512 spills with every TF32 block,
  //     so it runs the accurate f32 kernels.
  //   f32: dots on CUDA cores.
  //   sm_90a, 16-bit: 64 x 64 on one warpgroup at d 64 and 128, so every dot
  //     is a warpgroup MMA and two programs share an SM; at d 256 64 x 64 on
  //     two warpgroups; K, V (dQ) and Q, dO (dK/dV) copied by TMA at d 64,
  //     128 and 256, which leaves them spill-free. Their cp.async kernels, for
  //     tensors TMA cannot describe (given to backwardWithConfig; backward()
  //     copies them first), spill 36 to 80 bytes in dK/dV and are still the
  //     fastest measured there: at d 256 4.6-4.9x faster than the spill-free
  //     16 x 16 blocks, and ahead of 32 x 64 on 8 warps.
  //   sm_80, 16-bit: the largest spill-free blocks on 8 warps.
  if (attention::detail::usesTf32(dtype, precision) && headDim <= 256)
    return attention::detail::attentionConfig(
        "attention_backward_dkdv", dtype, headDim, causal, hasMask,
        {{32, 32, 32, 4}, {128, 16, 32, 4}, {256, 16, 16, 8}}, /*tf32=*/true);
  if (dtype == DType::F32)
    return attention::detail::attentionConfig(
        "attention_backward_dkdv", dtype, headDim, causal, hasMask,
        {{64, 32, 32, 8}, {128, 32, 16, 8}, {256, 16, 16, 8}, {512, 16, 16, 16}});
  if (arch == "sm_90a") {
    // TMA copies at d 64 to 256: 3-10% faster at d 128 and 256 and
    // spill-free there (cp.async: 76 and 36 bytes); at d 64 5% faster since
    // L and D load first (H100, ffab763: 3.878 vs 4.069 ms, causal 2.146 vs
    // 2.267; 185-197 registers instead of 222-250). d 32 keeps cp.async
    // (not measured).
    KernelConfig c = attention::detail::attentionConfig(
        "attention_backward_dkdv", dtype, headDim, causal, hasMask,
        {{64, 64, 64, 4}, {128, 64, 64, 4}, {256, 64, 64, 8}, {512, 16, 16, 16}});
    int64_t blockD = c.get("BLOCK_D");
    // Head dims in two pieces (docs/PERFORMANCE.md "Head dims in two
    // pieces", H100): 80, 96 and 160 run 0.84-0.94x the time of one piece;
    // 192 (128 + 64) 1.03x (8.644 against d 256's 8.362 ms), so it stays whole.
    int64_t tail = attention::detail::headDimTail(headDim, blockD);
    c.constants["BLOCK_D_TAIL"] = tail == 64 ? 0 : tail;
    c.constants["TMA"] = blockD == 64 || blockD == 128 || blockD == 256;
    // dK and dV (dQ) by TMA stores from a staging tile, not the wgmma
    // layout's half sectors: 1.05-1.12x at s 512 to 2048 causal, d 64 and
    // 128, about 1.05x at s 4096, the same at 16384 (H100,
    // docs/PERFORMANCE.md "Stores by TMA").
    c.constants["TMA_STORE"] = c.get("TMA");
    return c;
  }
  return attention::detail::attentionConfig(
      "attention_backward_dkdv", dtype, headDim, causal, hasMask,
      {{64, 64, 32, 8}, {128, 32, 32, 8}, {256, 16, 16, 8}, {512, 16, 16, 16}});
}

} // namespace

KernelConfig attention::backwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                       std::string_view arch, Fp32Precision precision,
                                       bool /*deterministic*/) {
  // dQ by atomic adds from the dK/dV programs (DQ_ATOMIC) does five products
  // instead of seven, but a third accumulator in the dK/dV program makes it
  // the slower of the two wherever measured: the deterministic split runs
  // whether or not determinism was asked for. DQ_ATOMIC stays a
  // configuration (tessera-bench --backward-configs, the GPU tests).
  KernelConfig config =
      deterministicBackwardConfig(dtype, headDim, causal, hasMask, arch, precision);
  config.constants["DQ_ATOMIC"] = 0;
  // TF32 keeps to mma.sync, as the forward does (forwardConfig).
  if (detail::usesTf32(dtype, precision))
    config.constants["WGMMA"] = 0;
  return config;
}
