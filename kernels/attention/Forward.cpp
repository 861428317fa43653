//===- Forward.cpp - Flash attention forward in the Tessera DSL -----------===//
//
// FlashAttention-2, Algorithm 1 (Dao, 2023). Each program owns BLOCK_M query
// rows of one (batch, head) and streams the keys and values in BLOCK_N blocks,
// keeping a running row max m_i, row sum l_i and unnormalised output acc, so
// the BLOCK_M x k_len score matrix is never stored:
//
//   S_j   = Q_i K_jᵀ                                       (line 8)
//   m_new = max(m_i, rowmax(S_j)·scale·log2(e))            (line 9; exp2 below)
//   P_j   = exp2(S_j·scale·log2(e) - m_new)                (one FMA per score)
//   l_i   = exp2(m_i - m_new)·l_i + rowsum(P_j)
//   acc   = diag(exp2(m_i - m_new))·acc + P_j V_j          (line 10)
//   O_i   = diag(l_i)⁻¹·acc;  L_i = (m_i + log2 l_i)·ln 2   (lines 12-13)
//
// With V_TRANSPOSED the kernel reads V as Vᵀ in key blocks, (batch, kv heads,
// k_len / BLOCK_N, dim, BLOCK_N), written by attention_prepare_kv before it:
// tf32 wgmma reads both operands of P·V k-major, which for V is along the
// keys, and each block's Vᵀ tile is one contiguous run (a plain (dim, k_len)
// Vᵀ scatters a 16-key tile over 512 rows a k_len apart: at the README
// example's 65662 keys that doubled the kernel's time). With TF32_ROUNDED_KV that
// pass also rounds K and V to tf32 once, so that the kernel does not round
// each copied tile in shared memory before wgmma reads it.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"

#include "../lib/Launch.h"
#include "Internal.h"
#include "tessera/dsl.h"
#include "tessera/runtime/Error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

using namespace tessera;
using namespace tessera::dsl;
using kernels::KernelConfig;
using kernels::KernelDef;

namespace {

constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;
constexpr double kInf = std::numeric_limits<double>::infinity();

void attentionForwardKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  const int64_t BN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  const bool causal = kb.constant("CAUSAL", config.get("CAUSAL"));
  const bool hasMask = kb.constant("HAS_MASK", config.get("HAS_MASK"));
  const DotPrecision precision =
      kb.constant("TF32", config.get("TF32")) ? DotPrecision::tf32 : DotPrecision::ieee;
  const bool vTransposed = kb.constant("V_TRANSPOSED", config.get("V_TRANSPOSED"));
  const bool roundedKV = kb.constant("TF32_ROUNDED_KV", config.get("TF32_ROUNDED_KV"));
  const bool skipUnitRescale = kb.constant("SKIP_UNIT_RESCALE", config.get("SKIP_UNIT_RESCALE"));
  const DType dtype = config.dtype;
  kb.setNumStages(kb.constant("NUM_STAGES", config.get("NUM_STAGES")));
  kb.setWarpgroupMma(kb.constant("WGMMA", config.get("WGMMA")));

  TensorArg q = kb.tensor("q", dtype, 4), k = kb.tensor("k", dtype, 4);
  TensorArg v = kb.tensor("v", dtype, 4);
  if (roundedKV) {
    k.assumeRoundedToTf32();
    v.assumeRoundedToTf32();
  }
  TensorArg out = kb.tensor("out", dtype, 4);
  TensorArg lse = kb.tensor("lse", DType::F32, 3);
  TensorArg mask;
  if (hasMask)
    mask = kb.tensor("key_mask", DType::I1, 2);
  Scalar scaleLog2e = kb.scalarF32("scale") * f32(kLog2e);

  // Program (m-block, batch·head); k/v head of a grouped query head.
  Scalar heads = q.size(1), qLen = q.size(2), kLen = k.size(2);
  Scalar bh = program_id(1), b = bh / heads, h = bh % heads;
  Scalar hk = h / (heads / k.size(1));
  Scalar startM = program_id(0) * Scalar(BM);
  TensorArg qh = q.at({b, h}), kh = k.at({b, hk}), vh = v.at({b, hk}), oh = out.at({b, h});

  Tile qi = load(qh, {startM, Scalar(0)}, {BM, BD});
  Tile cols = expand_dims(arange(BN), 0); // (1, BN) key offset in block
  // Causal: row i sees the keys before i + kLen - qLen + 1, which is at most
  // kLen for every row that exists (rows past q_len are never stored), so
  // one comparison per score covers the diagonal and the end of the keys.
  Tile rowEnd;
  if (causal)
    rowEnd = expand_dims(arange(BM), 1) + (startM + kLen - qLen + Scalar(1)); // (BM, 1)

  // Causal, bottom-right aligned: keys past startM + BM - 1 + (kLen - qLen)
  // are masked for every row here, so those blocks are skipped entirely.
  Scalar endN = kLen;
  if (causal)
    endN = max(Scalar(0), min(kLen, startM + Scalar(BM) + kLen - qLen));

  // One step of lines 8-10 over the key block at startN. Only blocks that
  // hold masked scores (past the diagonal or the end of the keys, or under a
  // key mask) pay for the mask.
  auto step = [&](Scalar startN, const std::vector<Tile> &carried, bool masked) {
    Tile mI = carried[0], lI = carried[1], acc = carried[2];
    Tile kj = load(kh, {startN, Scalar(0)}, {BN, BD});
    // V_j, or (V_TRANSPOSED) V_jᵀ, read back as V_j by trans below: rows
    // j·d to j·d + BD - 1 of the blocked Vᵀ seen as (k_len / BLOCK_N · d,
    // BLOCK_N). Where d < BD the rows past d are the next block's (or
    // padding): they only reach output columns past d, which are never
    // stored. (A rank-5 view, bounding them, costs spills at d 512.)
    Tile vj = vTransposed ? load(vh, {startN / Scalar(BN) * q.size(3), Scalar(0)}, {BD, BN})
                          : load(vh, {startN, Scalar(0)}, {BN, BD});
    // S = Q Kᵀ, unscaled: the scale·log2(e) factor goes into the row max
    // (scale > 0, checkInputs) and into one FMA per score below.   (line 8)
    Tile s = dot(qi, trans(kj), precision);
    if (masked) {
      Tile keys = cols + startN;
      Tile valid = causal ? keys < rowEnd : keys < kLen;
      if (hasMask)
        valid = valid & expand_dims(load(mask.at({b}), {startN}, {BN}), 0);
      s = where(valid, s, full({BM, BN}, -kInf, DType::F32));
    }
    // m_new = max(m_i, rowmax(S)·scale·log2(e)); rows with nothing visible
    // yet keep -inf, and exponentiate against 0 so that no inf - inf
    // appears. In unmasked blocks every row sees a finite score.
    Tile mNew = maximum(mI, reduce_max(s, 1) * scaleLog2e);
    Tile mSafe = masked ? where(mNew == full({BM}, -kInf, DType::F32), zeros({BM}, DType::F32), mNew)
                        : mNew;
    // P = exp2(S·scale·log2(e) - m_new);  alpha = exp2(m_i - m_new)  (line 9)
    Tile p = exp2(s * scaleLog2e - expand_dims(mSafe, 1));
    Tile alpha = exp2(mI - mSafe);
    // l_i = alpha·l_i + rowsum(P);  acc = alpha·acc + P V             (line 10)
    lI = lI * alpha + reduce_sum(p, 1);
    // alpha is exactly 1 in rows whose max held. With SKIP_UNIT_RESCALE,
    // rescale_rows lets warps whose 16 rows all held skip the multiply: most
    // of them, once the maxima settle, where key blocks are small.
    Tile scaled = skipUnitRescale ? rescale_rows(acc, alpha) : acc * expand_dims(alpha, 1);
    acc = dot(cast(p, dtype), vTransposed ? trans(vj) : vj, scaled, precision);
    return std::vector<Tile>{mNew, lI, acc};
  };

  // Blocks before unmaskedEnd are visible to every row of this program: all
  // keys exist, and (causal) the first row's diagonal lies beyond them.
  Scalar unmaskedEnd = Scalar(0);
  if (!hasMask) {
    Scalar visible = causal ? max(Scalar(0), min(kLen, startM + kLen - qLen + Scalar(1))) : kLen;
    unmaskedEnd = min(endN, visible / Scalar(BN) * Scalar(BN));
  }
  Tile mI = full({BM}, -kInf, DType::F32), lI = zeros({BM}, DType::F32);
  Tile acc = zeros({BM, BD}, DType::F32);
  std::vector<Tile> state = {mI, lI, acc};
  if (!hasMask)
    state = for_range(Scalar(0), unmaskedEnd, Scalar(BN), state,
                      [&](Scalar startN, const std::vector<Tile> &carried) {
                        return step(startN, carried, /*masked=*/false);
                      });
  state = for_range(unmaskedEnd, endN, Scalar(BN), state,
                    [&](Scalar startN, const std::vector<Tile> &carried) {
                      return step(startN, carried, /*masked=*/true);
                    });
  mI = state[0];
  lI = state[1];
  acc = state[2];

  // O = acc / l_i (0 for fully masked rows);  L = (m_i + log2 l_i)·ln 2  (lines 12-13)
  Tile empty = lI == zeros({BM}, DType::F32);
  Tile lSafe = where(empty, full({BM}, 1.0, DType::F32), lI);
  // One approximate reciprocal per row, not an IEEE division per element:
  // that is a subroutine call, and ptxas serializes every wgmma of a kernel
  // with calls in it (dsl::reciprocal).
  store(oh, {startM, Scalar(0)}, cast(acc * expand_dims(reciprocal(lSafe), 1), dtype));
  Tile lseRow = where(empty, full({BM}, -kInf, DType::F32), (mI + log2(lSafe)) * kLn2);
  store(lse.at({b, h}), {startM}, lseRow);
}

/// K and V as a forward kernel with V_TRANSPOSED or TF32_ROUNDED_KV reads
/// them, one BLOCK_N x BLOCK_D tile of each per program: Vᵀ in key blocks of
/// the forward's BLOCK_N, vo[b, h, n / BLOCK_N, d, n % BLOCK_N] = v[b, h, n, d]
/// (TRANSPOSE_V; keys past the end are zeros), or vo = v, and with ROUND_TF32
/// both rounded to the nearest tf32, ko = round(k).
void prepareKVKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  const bool transposeV = kb.constant("TRANSPOSE_V", config.get("TRANSPOSE_V"));
  const bool round = kb.constant("ROUND_TF32", config.get("ROUND_TF32"));
  TensorArg v = kb.tensor("v", config.dtype, 4), vo = kb.tensor("vo", config.dtype, transposeV ? 5 : 4);
  TensorArg k, ko;
  if (round) {
    k = kb.tensor("k", config.dtype, 4);
    ko = kb.tensor("ko", config.dtype, 4);
  }
  Scalar bh = program_id(1), b = bh / v.size(1), h = bh % v.size(1);
  Scalar startN = program_id(0) * Scalar(BN), startD = program_id(2) * Scalar(BD);
  Tile block = load(v.at({b, h}), {startN, startD}, {BN, BD});
  if (round)
    block = round_to_tf32(block);
  if (transposeV)
    store(vo.at({b, h, program_id(0)}), {startD, Scalar(0)}, trans(block));
  else
    store(vo.at({b, h}), {startN, startD}, block);
  if (round)
    store(ko.at({b, h}), {startN, startD},
          round_to_tf32(load(k.at({b, h}), {startN, startD}, {BN, BD})));
}

/// The kept keys of k and v, compacted: kc[b, h, j] = k[b, h, rows[b, j]]
/// and vc likewise, one BLOCK_N x BLOCK_D tile of each per program. A row
/// index of -1 (past a batch row's kept keys) gathers zeros, so the keys the
/// kernel then masks hold finite values: P·V multiplies them by 0.
void gatherKeysKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  TensorArg k = kb.tensor("k", config.dtype, 4), v = kb.tensor("v", config.dtype, 4);
  TensorArg rows = kb.tensor("rows", DType::I32, 2);
  TensorArg kc = kb.tensor("kc", config.dtype, 4), vc = kb.tensor("vc", config.dtype, 4);
  Scalar bh = program_id(1), b = bh / k.size(1), h = bh % k.size(1);
  Scalar startN = program_id(0) * Scalar(BN), startD = program_id(2) * Scalar(BD);
  Tile kept = load(rows.at({b}), {startN}, {BN});
  store(kc.at({b, h}), {startN, startD}, gather_rows(k.at({b, h}), kept, startD, BD));
  store(vc.at({b, h}), {startN, startD}, gather_rows(v.at({b, h}), kept, startD, BD));
}

void requireAttentionInput(const DeviceTensor &t, const char *name) {
  kernels::detail::requireRank(t, 4, name);
  kernels::detail::requireDType(t, {DType::F32, DType::F16, DType::BF16}, name);
}

} // namespace

void attention::detail::registerAttentionKernels(std::map<std::string, KernelDef> &r) {
  r["attention_forward"] = {"attention_forward",
                            "flash attention forward (FlashAttention-2 Alg. 1): out and lse",
                            {{"BLOCK_M", 64},
                             {"BLOCK_N", 64},
                             {"BLOCK_D", 64},
                             {"CAUSAL", 0},
                             {"HAS_MASK", 0},
                             {"TF32", 0},
                             {"NUM_STAGES", 2},
                             {"V_TRANSPOSED", 0},
                             {"TF32_ROUNDED_KV", 0},
                             {"WGMMA", 1},
                             {"SKIP_UNIT_RESCALE", 0}},
                            {DType::F32, DType::F16, DType::BF16},
                            [](mlir::MLIRContext &ctx, const KernelConfig &c) {
                              KernelBuilder kb(ctx, "attention_forward", c.numWarps);
                              attentionForwardKernel(kb, c);
                              return kb.finish();
                            }};
  r["attention_prepare_kv"] = {
      "attention_prepare_kv",
      "Vᵀ and tf32-rounded K and V, for forward kernels with V_TRANSPOSED or TF32_ROUNDED_KV",
      {{"BLOCK_N", 64}, {"BLOCK_D", 64}, {"TRANSPOSE_V", 1}, {"ROUND_TF32", 0}},
      {DType::F32, DType::F16, DType::BF16},
      [](mlir::MLIRContext &ctx, const KernelConfig &c) {
        KernelBuilder kb(ctx, "attention_prepare_kv", c.numWarps);
        prepareKVKernel(kb, c);
        return kb.finish();
      }};
  r["attention_gather_keys"] = {
      "attention_gather_keys",
      "the kept keys of k and v by index, for forward() with compactKeyMask",
      {{"BLOCK_N", 32}, {"BLOCK_D", 128}},
      {DType::F32, DType::F16, DType::BF16},
      [](mlir::MLIRContext &ctx, const KernelConfig &c) {
        KernelBuilder kb(ctx, "attention_gather_keys", c.numWarps);
        gatherKeysKernel(kb, c);
        return kb.finish();
      }};
}

int64_t attention::detail::nextPowerOf2(int64_t v) {
  int64_t p = 1;
  while (p < v)
    p <<= 1;
  return p;
}

KernelConfig attention::forwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                     std::string_view arch, Fp32Precision precision) {
  if (detail::usesTf32(dtype, precision)) {
    if (arch == "sm_90a") {
      // wgmma, with K and V rounded to tf32 and V transposed by
      // attention_prepare_kv before the kernel (TF32_ROUNDED_KV,
      // V_TRANSPOSED): on the H200, d 64 in 128 x 128 blocks 1.20x and
      // d 128 in 128 x 64 blocks 1.41x faster than mma.sync; d 256 in
      // 128 x 32 blocks on 8 warps, one stage (192 KiB), 1.96x (6.56 against
      // 12.84 ms on mma.sync's 64 x 16, once wgmma was no longer serialized);
      // d 512 in 64 x 16 blocks on 8 warps, one stage (200 KiB: Q alone
      // takes 128), K split between the warpgroups for Q·Kᵀ and the head dim
      // for P·V (docs/PERFORMANCE.md).
      KernelConfig c = detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                               {{64, 128, 128, 8}, {128, 128, 64, 8},
                                                {256, 128, 32, 8, 1}, {512, 64, 16, 8, 1}},
                                               /*tf32=*/true);
      c.constants["WGMMA"] = 1;
      c.constants["V_TRANSPOSED"] = 1;
      c.constants["TF32_ROUNDED_KV"] = 1;
      // 16-key blocks: most warps' rows keep their max from block to block.
      c.constants["SKIP_UNIT_RESCALE"] = c.get("BLOCK_N") <= 16;
      return c;
    }
    // TF32 on mma.sync: f32 tiles take twice the shared memory of 16-bit
    // ones. The largest spill-free blocks that fit sm_80's shared memory,
    // with and without key masks (tests/unit/compiler).
    return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                   {{64, 64, 64, 4}, {128, 64, 32, 4}, {256, 64, 16, 4},
                                    {512, 16, 16, 4}},
                                   /*tf32=*/true);
  }
  if (dtype == DType::F32) {
    // f32 runs its dots on CUDA cores, keeping the BLOCK_M x BLOCK_D
    // accumulator and the BLOCK_M x BLOCK_N scores in registers: the largest
    // blocks for which ptxas reports no spills on sm_80 and sm_90a.
    return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                   {{64, 64, 64, 8}, {128, 64, 32, 8}, {256, 32, 16, 8},
                                    {512, 16, 16, 16}});
  }
  if (arch == "sm_90a") {
    // Warpgroup MMA: 64-row slabs per 4 warps, whole key blocks per wgmma.
    // d 64 is the autotuner's H100 winner at the benchmark shapes
    // (docs/PERFORMANCE.md, after the unmasked main loop); d 32 follows d 64;
    // d 128 runs 128 x 64 blocks on one warpgroup since wgmma is no longer
    // serialized (H200: 1.046 against 1.369 ms on 128 x 128 over 8 warps,
    // causal 0.630 against 0.781; docs/PERFORMANCE.md, session 10); d 256
    // takes the largest spill-free blocks. All spill-free with and without
    // key masks (tests/unit/compiler) but for 16-bit d 32 and 64 unmasked and
    // d 128 causal without a key mask (28 bytes), measured fastest.
    if (causal)
      return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                     {{64, 64, 64, 4}, {128, 128, 64, 4}, {256, 128, 32, 8},
                                      {512, 16, 16, 16}});
    return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                   {{64, 128, 128, 4}, {128, 128, 64, 4}, {256, 128, 32, 8},
                                    {512, 16, 16, 16}});
  }
  // mma.sync (sm_80 and others). These are the autotuner's winners on an
  // H100 before wgmma (docs/PERFORMANCE.md): causal kernels skip blocks above
  // the diagonal and favour 128-row blocks on 8 warps; full ones two 4-warp
  // programs per SM. All are spill-free on sm_80, with and without key masks
  // (tests/unit/compiler).
  if (causal)
    return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                   {{32, 64, 32, 4}, {64, 64, 64, 4}, {128, 128, 64, 8},
                                    {256, 128, 16, 8}, {512, 16, 16, 16}});
  return detail::attentionConfig("attention_forward", dtype, headDim, causal, hasMask,
                                 {{32, 64, 32, 4}, {64, 128, 32, 4}, {128, 64, 32, 4},
                                  {256, 128, 16, 8}, {512, 16, 16, 16}});
}

KernelConfig attention::detail::attentionConfig(const std::string &kernel, DType dtype,
                                                int64_t headDim, bool causal, bool hasMask,
                                                std::initializer_list<BlockRule> rules, bool tf32) {
  int64_t blockD = nextPowerOf2(headDim);
  const BlockRule *rule = rules.begin();
  while (rule + 1 != rules.end() && rule->maxBlockD < blockD)
    ++rule;
  const kernels::KernelDef &def = kernels::lookup(kernel);
  std::map<std::string, int64_t> constants{{"BLOCK_M", rule->blockM}, {"BLOCK_N", rule->blockN},
                                           {"BLOCK_D", blockD},        {"CAUSAL", causal},
                                           {"HAS_MASK", hasMask},      {"TF32", tf32}};
  if (def.defaults.count("NUM_STAGES"))
    constants["NUM_STAGES"] = rule->stages;
  return kernels::makeConfig(def, dtype, rule->warps, constants);
}

attention::ForwardResult attention::forward(const DeviceTensor &q, const DeviceTensor &k,
                                            const DeviceTensor &v, const Options &options,
                                            Stream &stream) {
  requireAttentionInput(q, "q");
  const auto &s = q.shape();
  ForwardResult r{DeviceTensor::empty({s[0], s[1], s[2], v.shape().size() == 4 ? v.shape()[3] : 0},
                                      q.dtype()),
                  DeviceTensor::empty({s[0], s[1], s[2]}, DType::F32)};
  forward(q, k, v, r.out, r.lse, options, stream);
  return r;
}

void attention::detail::checkInputs(const DeviceTensor &q, const DeviceTensor &k,
                                    const DeviceTensor &v, const Options &options) {
  requireAttentionInput(q, "q");
  requireAttentionInput(k, "k");
  requireAttentionInput(v, "v");
  const auto &qs = q.shape(), &ks = k.shape(), &vs = v.shape();
  auto fail = [](const std::string &m) { throw tessera::Error(m); };
  // The kernels take the row max of unscaled scores: a positive scale keeps
  // it the max of the scaled ones.
  if (options.scale && !(*options.scale > 0 && std::isfinite(*options.scale)))
    fail("scale: expected a positive finite number, got " + std::to_string(*options.scale));
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    fail("k, v: expected dtype " + std::string(name(q.dtype())) + " like q");
  if (ks[0] != qs[0] || vs[0] != qs[0])
    fail("k, v: expected batch " + std::to_string(qs[0]) + " like q");
  if (ks != vs)
    fail("v: expected the shape of k");
  if (ks[3] != qs[3])
    fail("k: expected head dim " + std::to_string(qs[3]) + " like q, got " + std::to_string(ks[3]));
  if (ks[1] < 1 || qs[1] % ks[1] != 0)
    fail("k: its " + std::to_string(ks[1]) + " heads must divide q's " + std::to_string(qs[1]));
  int64_t d = qs[3];
  if (d != 32 && d != 64 && d != 96 && d != 128 && d != 192 && d != 256 && d != 512)
    fail("q: head dim must be 32, 64, 96, 128, 192, 256 or 512, got " + std::to_string(d));
  if (const DeviceTensor *mask = options.keyMask) {
    if (mask->dtype() != DType::I1 || mask->shape() != std::vector<int64_t>{qs[0], ks[2]})
      fail("key_mask: expected an i1 tensor of shape (" + std::to_string(qs[0]) + ", " +
           std::to_string(ks[2]) + ")");
  }
}

void attention::detail::checkOutput(const DeviceTensor &t, const std::vector<int64_t> &shape,
                                    DType dtype, const char *argName, const char *shapeName) {
  if (t.shape() == shape && t.dtype() == dtype)
    return;
  std::string got;
  for (int64_t s : t.shape())
    got += (got.empty() ? "" : ", ") + std::to_string(s);
  throw tessera::Error(std::string(argName) + ": expected dtype " + std::string(name(dtype)) +
                       " and shape " + shapeName + ", got " + std::string(name(t.dtype())) +
                       " (" + got + ")");
}

void attention::forward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                        DeviceTensor &out, DeviceTensor &lse, const Options &options,
                        Stream &stream) {
  detail::checkInputs(q, k, v, options);
  const auto &qs = q.shape();
  int64_t d = qs[3];
  detail::checkOutput(out, qs, q.dtype(), "out", "(batch, heads, q_len, dim) like q");
  detail::checkOutput(lse, {qs[0], qs[1], qs[2]}, DType::F32, "lse", "(batch, heads, q_len)");
  // The chosen kernel on inputs already checked: k, v and mask as given, or
  // the compacted ones, which are valid by construction.
  auto run = [&](const DeviceTensor &keys, const DeviceTensor &values, const Options &o) {
    KernelConfig config = chooseForwardConfig(q.dtype(), d, o.causal, o.keyMask != nullptr, qs[2],
                                              keys.shape()[2], o.fp32Precision);
    const JitKernel &kernel = kernels::detail::jitKernel("attention_forward", config);
    detail::launchForward(kernel, q, keys, values, out, lse, o, stream);
  };
  if (options.keyMask && options.compactKeyMask && !options.causal) {
    if (std::optional<detail::CompactedKeys> kept =
            detail::compactKeys(k, v, *options.keyMask, stream)) {
      Options compacted = options;
      compacted.keyMask = kept->mask ? &*kept->mask : nullptr;
      run(kept->k, kept->v, compacted);
      return;
    }
  }
  run(k, v, options);
}

void attention::forwardWithConfig(const DeviceTensor &q, const DeviceTensor &k,
                                  const DeviceTensor &v, DeviceTensor &out, DeviceTensor &lse,
                                  const Options &options, const KernelConfig &config,
                                  Stream &stream) {
  const JitKernel &kernel = kernels::detail::jitKernel("attention_forward", config);
  detail::launchForward(kernel, q, k, v, out, lse, options, stream);
}

void attention::detail::launchForward(const JitKernel &kernel, const DeviceTensor &q,
                                      const DeviceTensor &k, const DeviceTensor &v,
                                      DeviceTensor &out, DeviceTensor &lse, const Options &options,
                                      Stream &stream) {
  const auto &qs = q.shape();
  const DeviceTensor *mask = options.keyMask;
  float scale = options.scale.value_or(float(1.0 / std::sqrt(double(qs[3]))));
  // V_TRANSPOSED kernels read Vᵀ, TF32_ROUNDED_KV ones K and V rounded to
  // tf32, written here first (stream-ordered).
  // The forward reads the blocked Vᵀ as (batch, heads, blocks · dim,
  // BLOCK_N) rows (vRows), the prepare kernel writes it by block (vo).
  std::optional<DeviceTensor> kr, vo, vRows;
  auto flag = [&](const char *name) {
    auto it = kernel.compiled.constants.find(name);
    return it != kernel.compiled.constants.end() && it->second != 0;
  };
  bool transposeV = flag("V_TRANSPOSED"), roundKV = flag("TF32_ROUNDED_KV");
  if (roundKV && (k.dtype() != DType::F32 || v.dtype() != DType::F32))
    throw tessera::Error("attention_forward: TF32_ROUNDED_KV needs f32 k and v");
  if (transposeV || roundKV) {
    const auto &vs = v.shape();
    // Vᵀ's key blocks are the forward's: one prepare program per block.
    int64_t blockN = kernel.compiled.constants.at("BLOCK_N");
    int64_t blocks = std::max<int64_t>((vs[2] + blockN - 1) / blockN, 1);
    if (transposeV) {
      vRows = DeviceTensor::empty({vs[0], vs[1], blocks * vs[3], blockN}, v.dtype());
      vo = vRows->view({vs[0], vs[1], blocks, vs[3], blockN},
                       {vs[1] * blocks * vs[3] * blockN, blocks * vs[3] * blockN, vs[3] * blockN,
                        blockN, 1});
    } else {
      vo = vRows = DeviceTensor::empty(vs, v.dtype());
    }
    KernelConfig pc = kernels::makeConfig(
        kernels::lookup("attention_prepare_kv"), v.dtype(), 4,
        {{"BLOCK_N", blockN}, {"TRANSPOSE_V", transposeV}, {"ROUND_TF32", roundKV}});
    int64_t bn = pc.get("BLOCK_N"), bd = pc.get("BLOCK_D");
    if (vs[0] * vs[1] > 65535)
      throw tessera::Error("v: batch·heads = " + std::to_string(vs[0] * vs[1]) +
                           " exceeds 65535 programs along grid y");
    KernelArgs pargs;
    kernels::detail::addTensor(pargs, v, "v");
    kernels::detail::addTensor(pargs, *vo, "vo");
    if (roundKV) {
      // k has v's shape (checkInputs): one grid covers both.
      kr = DeviceTensor::empty(vs, k.dtype());
      kernels::detail::addTensor(pargs, k, "k");
      kernels::detail::addTensor(pargs, *kr, "ko");
    }
    launch(kernels::detail::jitKernel("attention_prepare_kv", pc),
           unsigned(std::max<int64_t>((vs[2] + bn - 1) / bn, 1)), unsigned(vs[0] * vs[1]),
           unsigned((vs[3] + bd - 1) / bd), pargs, stream);
  }
  KernelArgs args;
  kernels::detail::addTensor(args, q, "q");
  kernels::detail::addTensor(args, kr ? *kr : k, "k");
  kernels::detail::addTensor(args, vRows ? *vRows : v, "v");
  kernels::detail::addTensor(args, out, "out");
  kernels::detail::addTensor(args, lse, "lse");
  if (mask)
    kernels::detail::addTensor(args, *mask, "key_mask");
  args.add(scale);
  // The grid follows the kernel's own BLOCK_M, so tuned and heuristic
  // configurations launch alike.
  auto it = kernel.compiled.constants.find("BLOCK_M");
  if (it == kernel.compiled.constants.end() || it->second <= 0)
    throw tessera::Error("attention_forward: kernel has no BLOCK_M constant");
  int64_t blockM = it->second;
  int64_t mBlocks = (qs[2] + blockM - 1) / blockM;
  if (qs[0] * qs[1] > 65535)
    throw tessera::Error("q: batch·heads = " + std::to_string(qs[0] * qs[1]) +
                         " exceeds 65535 programs along grid y");
  launch(kernel, unsigned(std::max<int64_t>(mBlocks, 1)), unsigned(qs[0] * qs[1]), 1, args, stream);
}

std::optional<attention::detail::CompactedKeys>
attention::detail::compactKeys(const DeviceTensor &k, const DeviceTensor &v,
                               const DeviceTensor &mask, Stream &stream) {
  if (!mask.isContiguous())
    return std::nullopt;
  const auto &ks = k.shape();
  int64_t batch = ks[0], kLen = ks[2];
  // Waits for the stream: the mask may come from work queued on it.
  std::vector<uint8_t> keep(size_t(batch * kLen));
  mask.copyToHost(keep.data(), stream);
  std::vector<int64_t> counts(batch, 0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < kLen; ++j)
      counts[b] += keep[b * kLen + j] != 0;
  int64_t kept = *std::max_element(counts.begin(), counts.end());
  // Not worth a gather when few keys go; nothing to attend to when none stay
  // (the masked kernel writes those rows' zeros and -inf).
  if (kept == 0 || kLen - kept < kLen / 8)
    return std::nullopt;
  std::vector<int32_t> rows(size_t(batch * kept), -1);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0, n = 0; j < kLen; ++j)
      if (keep[b * kLen + j])
        rows[b * kept + n++] = int32_t(j);
  CompactedKeys c{DeviceTensor::empty({batch, ks[1], kept, ks[3]}, k.dtype()),
                  DeviceTensor::empty({batch, ks[1], kept, ks[3]}, v.dtype()), std::nullopt};
  DeviceTensor rowsTensor = DeviceTensor::empty({batch, kept}, DType::I32);
  rowsTensor.copyFromHost(rows.data(), stream);
  if (std::any_of(counts.begin(), counts.end(), [&](int64_t n) { return n != kept; })) {
    // Batch rows keep different numbers of keys: the shorter ones mask their tails.
    std::vector<uint8_t> valid(size_t(batch * kept));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = 0; j < kept; ++j)
        valid[b * kept + j] = j < counts[b];
    c.mask = DeviceTensor::empty({batch, kept}, DType::I1);
    c.mask->copyFromHost(valid.data(), stream);
  }
  KernelConfig config =
      kernels::makeConfig(kernels::lookup("attention_gather_keys"), k.dtype(), 4, {});
  int64_t bn = config.get("BLOCK_N"), bd = config.get("BLOCK_D");
  if (batch * ks[1] > 65535)
    throw tessera::Error("k: batch·heads = " + std::to_string(batch * ks[1]) +
                         " exceeds 65535 programs along grid y");
  KernelArgs args;
  kernels::detail::addTensor(args, k, "k");
  kernels::detail::addTensor(args, v, "v");
  kernels::detail::addTensor(args, rowsTensor, "rows");
  kernels::detail::addTensor(args, c.k, "kc");
  kernels::detail::addTensor(args, c.v, "vc");
  launch(kernels::detail::jitKernel("attention_gather_keys", config),
         unsigned((kept + bn - 1) / bn), unsigned(batch * ks[1]), unsigned((ks[3] + bd - 1) / bd),
         args, stream);
  return c;
}
