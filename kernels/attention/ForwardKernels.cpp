//===- ForwardKernels.cpp - Flash attention forward in the Tessera DSL ----===//
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

#include "Internal.h"
#include "tessera/dsl.h"
#include "tessera/runtime/Error.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <limits>

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
  // EVEN_N (set by the launch, as the alignment specialisation is, where k_len
  // is a whole number of key blocks, without causal or key masks): no block
  // holds a masked score, and the loop over masked blocks is left out. That
  // loop is half of the kernel's code: without it the cold compile of the
  // d 128 producer-warpgroup forward took 330 ms instead of 522 (build
  // machine), as Triton's EVEN_K specialisation drops its bounds checks.
  const bool evenKeys = kb.constant("EVEN_N", config.get("EVEN_N")) && !causal && !hasMask;
  const DType dtype = config.dtype;
  // BLOCK_D_TAIL (16-bit; Configs.cpp): the head dim as two column pieces,
  // BLOCK_D / 2 and the tail wide, each of Q, K, V and O a tile per piece:
  // S = Q_0 K_0ᵀ + Q_1 K_1ᵀ (one accumulator), O_p = P V_p. Head dim 80
  // then does the products of 96 columns, 160 those of 160, where one
  // BLOCK_D-wide tile does those of 128 and 256 (tiles are powers of two).
  const std::vector<attention::detail::HeadDimPiece> pieces =
      attention::detail::headDimPieces(BD, kb.constant("BLOCK_D_TAIL", config.get("BLOCK_D_TAIL")));
  const size_t numPieces = pieces.size();
  if (numPieces > 1 && vTransposed)
    throw tessera::Error("attention_forward: BLOCK_D_TAIL needs V_TRANSPOSED = 0");
  kb.setNumStages(kb.constant("NUM_STAGES", config.get("NUM_STAGES")));
  kb.setWarpgroupMma(kb.constant("WGMMA", config.get("WGMMA")));
  kb.setTensorMemoryAccelerator(kb.constant("TMA", config.get("TMA")));
  // With TMA: a producer warpgroup issues K's and V's copies (FlashAttention-3
  // §3.1); the kernel's own warps only compute, released from the CTA
  // barrier that opened every key block.
  kb.setWarpSpecialize(kb.constant("WARP_SPECIALIZE", config.get("WARP_SPECIALIZE")));
  // CTAS_PER_SM: that many programs share an SM (their registers fitted to
  // that share; a producer's handed to its consumers), so that one
  // program's start (Q and the first blocks' loads) and end (O normalised and
  // stored) run under another's key loop instead of idling the SM between
  // programs; it needs blocks whose shared memory fits that many times.
  kb.setCtasPerSm(kb.constant("CTAS_PER_SM", config.get("CTAS_PER_SM")));
  // PING_PONG (with a producer warpgroup, two consumer warpgroups: 8 warps):
  // the consumer warpgroups issue each key block's first product in turns
  // (FlashAttention-3 §3.1), so that one's softmax runs under the other's
  // matmul instead of both waiting on the same copies in step.
  kb.setPingPong(kb.constant("PING_PONG", config.get("PING_PONG")));
  // TMA_STORE (with TMA; not in a persistent kernel's tile loop): O goes out
  // through a shared staging tile and TMA bulk stores.
  kb.setTensorMemoryAcceleratorStores(kb.constant("TMA_STORE", config.get("TMA_STORE")));

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

  Scalar heads = q.size(1), qLen = q.size(2), kLen = k.size(2);
  // Causal (LONGEST_FIRST): the last query blocks, which see the most keys,
  // get the first programs, so that the short ones fill the grid's tail
  // (FlashAttention-2's order).
  const bool longestFirst = kb.constant("LONGEST_FIRST", config.get("LONGEST_FIRST")) && causal;
  // PERSISTENT: as many programs as the SMs hold (the launch's grid), each
  // walking the tiles pid, pid + programs, ... (a head's query blocks
  // consecutive, so that the programs running at once share its K and V in
  // L2; causal tiles in the order below). With a producer warpgroup and one
  // key loop per tile (EVEN_N), the producer issues the next tile's key
  // blocks while the consumers finish this one, its ring's phases counted
  // across tiles: the fixed cost of a program (the loads' latency before the
  // first product, the ring's set-up) is paid once per SM rather than once
  // per tile (FlashAttention-3's persistent scheduler; docs/PERFORMANCE.md). On
  // whole key blocks; and with a producer warpgroup (TMA, WARP_SPECIALIZE)
  // where tiles differ in their key blocks (causal, a key mask, a partial
  // last block): its ring, which both key loops share, then counts its
  // iterations across the loops and tiles (tile-warp-specialize). Elsewhere
  // one program per tile, as without (detail::persistentForward).
  const bool persistent = kb.constant("PERSISTENT", config.get("PERSISTENT")) &&
                          attention::detail::persistentForward(config.constants);

  // One tile: (batch·head) bh's query block mBlockOf(), its k/v head that
  // of a grouped query head.
  auto emitTile = [&](const Scalar &bh, llvm::function_ref<Scalar()> mBlockOf) {
    Scalar b = bh / heads, h = bh % heads;
    Scalar hk = h / (heads / k.size(1));
    Scalar startM = mBlockOf() * Scalar(BM);
    TensorArg qh = q.at({b, h}), kh = k.at({b, hk}), vh = v.at({b, hk}), oh = out.at({b, h});

    std::vector<Tile> qi;
    for (attention::detail::HeadDimPiece piece : pieces)
      qi.push_back(load(qh, {startM, Scalar(piece.start)}, {BM, piece.width}));
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

    // PIPELINE_QK (FlashAttention-3 §3.2, intra-warpgroup overlap of GEMMs and
    // softmax): S_{j+1} = Q K_{j+1}ᵀ is issued before the softmax of S_j, which
    // arrives loop-carried, so that the tensor cores compute the next scores
    // while the warps exponentiate these; the wgmma's wait sinks to the end of
    // the iteration (tessera-defer-wgmma-waits). One S more is held in
    // registers (64-row slabs per warpgroup keep it spill-free) and one Q·Kᵀ
    // more computed per program: the one past the last block (keys past k_len
    // load as zeros).
    // PIPELINE_QK = 2, FlashAttention-3's own order (its Algorithm 2 with
    // intra-warpgroup overlap): iteration j issues S_j = Q K_jᵀ and then
    // acc = alpha_{j-1}·acc + P_{j-1} V_{j-1}, the previous block's
    // probabilities arriving loop-carried in the inputs' dtype, and only
    // then runs the softmax of S_j, under both products. The two products
    // are issued back to back, so that with PING_PONG one warpgroup's turn
    // holds both and its softmax runs under the other's; block 0's softmax
    // runs before the loops (masked: it may be past the keys or the
    // diagonal) and the last block's P·V after them.
    const int64_t pipelineQK = kb.constant("PIPELINE_QK", config.get("PIPELINE_QK"));
    if (pipelineQK < 0 || pipelineQK > 2)
      throw tessera::Error("attention_forward: PIPELINE_QK must be 0, 1 or 2, got " +
                           std::to_string(pipelineQK));
    const bool nextScoresFirst = pipelineQK == 1, deferredPV = pipelineQK == 2;
    // The pieces of the BN x BD block of `t` at row startN.
    auto loadBlock = [&](const TensorArg &t, Scalar startN) {
      std::vector<Tile> tiles;
      for (attention::detail::HeadDimPiece piece : pieces)
        tiles.push_back(load(t, {startN, Scalar(piece.start)}, {BN, piece.width}));
      return tiles;
    };
    // S = Σ_p Q_p K_pᵀ, unscaled: the scale·log2(e) factor goes into the row
    // max (scale > 0, checkInputs) and into one FMA per score below. (line 8)
    auto scoresOf = [&](const std::vector<Tile> &kj) {
      Tile s = dot(qi[0], trans(kj[0]), precision);
      for (size_t p = 1; p < numPieces; ++p)
        s = dot(qi[p], trans(kj[p]), s, precision);
      return s;
    };
    auto scores = [&](Scalar startN) { return scoresOf(loadBlock(kh, startN)); };
    // V_j, or (V_TRANSPOSED) V_jᵀ, read back as V_j by trans below: rows
    // j·d to j·d + BD - 1 of the blocked Vᵀ seen as (k_len / BLOCK_N · d,
    // BLOCK_N), d being V's head dim (as K's, which may exceed Q's: a
    // caller may pad K and V alone). Where d < BD the rows
    // past d are the next block's (or padding): they only reach output
    // columns past d, which are never stored. (A rank-5 view, bounding
    // them, costs spills at d 512.)
    auto loadValues = [&](Scalar startN) {
      return vTransposed ? std::vector<Tile>{load(vh, {startN / Scalar(BN) * k.size(3), Scalar(0)},
                                                  {BD, BN})}
                         : loadBlock(vh, startN);
    };
    // acc_p = alpha·acc_p + P V_p for each piece p of O.             (line 10)
    auto accumulate = [&](const Tile &pIn, const Tile &alpha, const std::vector<Tile> &vj,
                          const Tile *accs) {
      std::vector<Tile> out;
      for (size_t piece = 0; piece < numPieces; ++piece) {
        // alpha is exactly 1 in rows whose max held. With SKIP_UNIT_RESCALE,
        // rescale_rows lets warps whose 16 rows all held skip the multiply:
        // most of them, once the maxima settle, where key blocks are small.
        Tile scaled = skipUnitRescale ? rescale_rows(accs[piece], alpha)
                                      : accs[piece] * expand_dims(alpha, 1);
        out.push_back(dot(pIn, vTransposed ? trans(vj[piece]) : vj[piece], scaled, precision));
      }
      return out;
    };
    // Lines 9-10 but the product for the scores S of the key block at
    // startN: m_new, l_i, P in the inputs' dtype and alpha. Only blocks that
    // hold masked scores (past the diagonal or the end of the keys, or under
    // a key mask) pay for the mask.
    struct Softmax {
      Tile m, l, p, alpha;
    };
    auto softmax = [&](Tile s, Scalar startN, const Tile &mI, const Tile &lI, bool masked) {
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
      Tile mSafe = masked
                       ? where(mNew == full({BM}, -kInf, DType::F32), zeros({BM}, DType::F32), mNew)
                       : mNew;
      // P = exp2(S·scale·log2(e) - m_new);  alpha = exp2(m_i - m_new)  (line 9)
      Tile p = exp2(s * scaleLog2e - expand_dims(mSafe, 1));
      Tile alpha = exp2(mI - mSafe);
      // l_i = alpha·l_i + rowsum(P)                                     (line 10)
      return Softmax{mNew, lI * alpha + reduce_sum(p, 1), cast(p, dtype), alpha};
    };

    // One step of lines 8-10 over the key block at startN.
    // `carried`: m_i, l_i, O's pieces, and with PIPELINE_QK = 1 this block's
    // S, with PIPELINE_QK = 2 the previous block's P and alpha.
    auto step = [&](Scalar startN, const std::vector<Tile> &carried, bool masked) {
      if (deferredPV) {
        Tile s = scores(startN);
        std::vector<Tile> next{Tile(), Tile()};
        for (Tile &acc : accumulate(carried[2 + numPieces], carried[3 + numPieces],
                                    loadValues(startN - Scalar(BN)), &carried[2]))
          next.push_back(acc);
        Softmax sm = softmax(s, startN, carried[0], carried[1], masked);
        next[0] = sm.m;
        next[1] = sm.l;
        next.push_back(sm.p);
        next.push_back(sm.alpha);
        return next;
      }
      Tile sNext;
      std::vector<Tile> kj;
      if (nextScoresFirst)
        sNext = scores(startN + Scalar(BN));
      else
        kj = loadBlock(kh, startN);
      std::vector<Tile> vj = loadValues(startN);
      Tile s = nextScoresFirst ? carried[2 + numPieces] : scoresOf(kj);
      Softmax sm = softmax(s, startN, carried[0], carried[1], masked);
      std::vector<Tile> next{sm.m, sm.l};
      for (Tile &acc : accumulate(sm.p, sm.alpha, vj, &carried[2]))
        next.push_back(acc);
      if (nextScoresFirst)
        next.push_back(sNext);
      return next;
    };

    // Blocks before unmaskedEnd are visible to every row of this program: all
    // keys exist, and (causal) the first row's diagonal lies beyond them.
    Scalar unmaskedEnd = Scalar(0);
    if (!hasMask) {
      Scalar visible = causal ? max(Scalar(0), min(kLen, startM + kLen - qLen + Scalar(1))) : kLen;
      unmaskedEnd = min(endN, visible / Scalar(BN) * Scalar(BN));
    }
    Tile mI = full({BM}, -kInf, DType::F32), lI = zeros({BM}, DType::F32);
    std::vector<Tile> state = {mI, lI};
    for (attention::detail::HeadDimPiece piece : pieces)
      state.push_back(zeros({BM, piece.width}, DType::F32));
    // The loops' first block: 0, or 1 where block 0's softmax runs here.
    Scalar firstN = Scalar(0);
    if (nextScoresFirst)
      state.push_back(scores(Scalar(0)));
    if (deferredPV) {
      Softmax sm = softmax(scores(Scalar(0)), Scalar(0), mI, lI, /*masked=*/true);
      state[0] = sm.m;
      state[1] = sm.l;
      state.push_back(sm.p);
      state.push_back(sm.alpha);
      firstN = Scalar(BN);
    }
    if (!hasMask)
      state = for_range(firstN, unmaskedEnd, Scalar(BN), state,
                        [&](Scalar startN, const std::vector<Tile> &carried) {
                          return step(startN, carried, /*masked=*/false);
                        });
    if (!evenKeys)
      state = for_range(max(firstN, unmaskedEnd), endN, Scalar(BN), state,
                        [&](Scalar startN, const std::vector<Tile> &carried) {
                          return step(startN, carried, /*masked=*/true);
                        });
    if (deferredPV) {
      // The last block's P·V: block max(⌈endN / BN⌉ - 1, 0), whose P is 0
      // where it lies past the keys.
      Scalar lastN = max(cdiv(endN, Scalar(BN)) - Scalar(1), Scalar(0)) * Scalar(BN);
      std::vector<Tile> accs =
          accumulate(state[2 + numPieces], state[3 + numPieces], loadValues(lastN), &state[2]);
      std::copy(accs.begin(), accs.end(), state.begin() + 2);
    }
    mI = state[0];
    lI = state[1];

    // O = acc / l_i (0 for fully masked rows);  L = (m_i + log2 l_i)·ln 2  (lines 12-13)
    Tile empty = lI == zeros({BM}, DType::F32);
    Tile lSafe = where(empty, full({BM}, 1.0, DType::F32), lI);
    // One approximate reciprocal per row, not an IEEE division per element:
    // that is a subroutine call, and ptxas serializes every wgmma of a kernel
    // with calls in it (dsl::reciprocal).
    Tile inverse = expand_dims(reciprocal(lSafe), 1);
    for (size_t piece = 0; piece < numPieces; ++piece)
      store(oh, {startM, Scalar(pieces[piece].start)}, cast(state[2 + piece] * inverse, dtype));
    Tile lseRow = where(empty, full({BM}, -kInf, DType::F32), (mI + log2(lSafe)) * kLn2);
    store(lse.at({b, h}), {startM}, lseRow);
  };
  if (!persistent) {
    // Program (m-block, batch·head).
    emitTile(program_id(1), [&] {
      return longestFirst ? num_programs(0) - Scalar(1) - program_id(0) : program_id(0);
    });
    return;
  }
  Scalar mBlocks = (qLen + Scalar(BM - 1)) / Scalar(BM);
  Scalar bhCount = q.size(0) * heads, tiles = mBlocks * bhCount, programs = num_programs(0);
  for_range(program_id(0), tiles, programs, {}, [&](Scalar tile, const std::vector<Tile> &) {
    if (!longestFirst) {
      emitTile(tile / mBlocks, [&] { return tile % mBlocks; });
      return std::vector<Tile>{};
    }
    // Causal tiles differ in length, and each program takes every programs-th
    // tile: in a head's order, program p would always draw the same query
    // blocks. Instead the tiles go longest first within groups of
    // ceil(programs / 2) heads (a group's K and V shared in L2 by the programs
    // running it), dealt in a snake, odd rounds right to left, so that the
    // program that drew the longest tile of one round draws the shortest of
    // the next (in a simulation of the benchmark shapes the busiest program
    // took within 2% of the average, against up to 1.56x for a head's order;
    // measured, docs/PERFORMANCE.md).
    Scalar round = tile / programs, column = tile % programs;
    Scalar inRound = min(programs, tiles - round * programs);
    Scalar order = round * programs +
                   where(round % Scalar(2) == Scalar(1), inRound - Scalar(1) - column, column);
    Scalar groupHeads = (programs + Scalar(1)) / Scalar(2);
    Scalar group = order / (groupHeads * mBlocks), inGroup = order % (groupHeads * mBlocks);
    Scalar headsHere = min(groupHeads, bhCount - group * groupHeads);
    emitTile(group * groupHeads + inGroup % headsHere,
             [&] { return mBlocks - Scalar(1) - inGroup / headsHere; });
    return std::vector<Tile>{};
  });
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
  TensorArg v = kb.tensor("v", config.dtype, 4),
            vo = kb.tensor("vo", config.dtype, transposeV ? 5 : 4);
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

} // namespace

void attention::detail::registerAttentionKernels(std::map<std::string, KernelDef> &r) {
  r["attention_forward"] = {
      "attention_forward",
      "flash attention forward (FlashAttention-2 Alg. 1): out and lse",
      {{"BLOCK_M", 64},        {"BLOCK_N", 64},          {"BLOCK_D", 64},
       {"CAUSAL", 0},          {"HAS_MASK", 0},          {"TF32", 0},
       {"NUM_STAGES", 2},      {"V_TRANSPOSED", 0},      {"TF32_ROUNDED_KV", 0},
       {"WGMMA", 1},           {"SKIP_UNIT_RESCALE", 0}, {"TMA", 0},
       {"WARP_SPECIALIZE", 0}, {"TMA_STORE", 0},         {"LONGEST_FIRST", 1},
       {"PIPELINE_QK", 0},     {"PING_PONG", 0},         {"CTAS_PER_SM", 1},
       {"EVEN_N", 0},          {"PERSISTENT", 0},        {"BLOCK_D_TAIL", 0}},
      {DType::F32, DType::F16, DType::BF16},
      [](mlir::MLIRContext &ctx, const KernelConfig &c) {
        KernelBuilder kb(ctx, "attention_forward", c.numWarps);
        kb.setAlignedTensors(c.alignedTensors);
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
        kb.setAlignedTensors(c.alignedTensors);
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
        kb.setAlignedTensors(c.alignedTensors);
        gatherKeysKernel(kb, c);
        return kb.finish();
      }};
  registerHeadDimCopy(r);
}
