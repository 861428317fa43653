//===- BackwardKernels.cpp - Flash attention backward in the Tessera DSL --===//
//
// FlashAttention-2, Algorithm 2 (Dao, 2023). The forward kept only O and the
// log-sum-exp L of every row, so the backward recomputes the probabilities
// block by block instead of storing the q_len x k_len matrix:
//
//   D_i  = rowsum(dO_i ∘ O_i)                                  (line 4)
//   S_ij = Q_i K_jᵀ · scale                                     (line 10)
//   P_ij = exp(S_ij - L_i)                                      (line 11)
//   dV_j += P_ijᵀ dO_i                                          (line 12)
//   dP_ij = dO_i V_jᵀ                                           (line 13)
//   dS_ij = P_ij ∘ (dP_ij - D_i)                                (line 14)
//   dQ_i += dS_ij K_j · scale                                   (line 15)
//   dK_j += dS_ijᵀ Q_i · scale                                  (line 16)
//
// backward() runs dQ as a second pass (attention_backward_dq) that owns one
// query block and walks the keys, recomputing P and dS: seven products per
// block pair, the same bits on every run (the split of Triton's
// fused-attention tutorial). As in Algorithm 2, the key-block programs
// (attention_backward_dkdv) can instead add their dQ_i terms atomically into
// an f32 accumulator (DQ_ATOMIC = 1; a last pass scales and casts it): five
// products, but a third accumulator in the dK/dV program, which made it the
// slower of the two at every shape measured (backwardConfig).
//
//===----------------------------------------------------------------------===//

#include "Internal.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Launch.h"

#include <limits>

using namespace tessera;
using namespace tessera::dsl;
using kernels::KernelConfig;
using kernels::KernelDef;

namespace {

constexpr double kLog2e = 1.4426950408889634;
constexpr double kInf = std::numeric_limits<double>::infinity();

/// The compile-time parameters the two main backward kernels share.
struct BackwardConstants {
  int64_t BM, BN, BD;
  bool causal, hasMask;
  DotPrecision precision; // f32: TF32 tensor cores or full f32
  bool dqAtomic;          // dK/dV programs add dQ terms into dq_accum
  bool dqFirst;           // with dqAtomic: dQᵀ's product issued before dK's
  bool longestFirst;      // causal dQ: the last query blocks first
  bool producer;          // a producer warpgroup issues the loops' copies
  // The head dim's column pieces (BLOCK_D_TAIL, as the forward's): every
  // BN x BD or BM x BD tile is one tile per piece.
  std::vector<attention::detail::HeadDimPiece> pieces;

  explicit BackwardConstants(KernelBuilder &kb, const KernelConfig &config)
      : BM(kb.constant("BLOCK_M", config.get("BLOCK_M"))),
        BN(kb.constant("BLOCK_N", config.get("BLOCK_N"))),
        BD(kb.constant("BLOCK_D", config.get("BLOCK_D"))),
        causal(kb.constant("CAUSAL", config.get("CAUSAL"))),
        hasMask(kb.constant("HAS_MASK", config.get("HAS_MASK"))),
        precision(kb.constant("TF32", config.get("TF32")) ? DotPrecision::tf32
                                                          : DotPrecision::ieee),
        dqAtomic(kb.constant("DQ_ATOMIC", config.get("DQ_ATOMIC"))),
        dqFirst(kb.constant("DQ_FIRST", config.get("DQ_FIRST")) && dqAtomic),
        longestFirst(kb.constant("LONGEST_FIRST", config.get("LONGEST_FIRST"))) {
    kb.setWarpgroupMma(kb.constant("WGMMA", config.get("WGMMA")));
    // TMA=1 (sm_90a, 16-bit): the key loop's (dQ) or query loop's (dK/dV)
    // blocks by tensor maps of the whole tensors (rank 4).
    kb.setTensorMemoryAccelerator(kb.constant("TMA", config.get("TMA")));
    // TMA_STORE (with TMA): dK and dV (dQ) go out by TMA bulk stores.
    kb.setTensorMemoryAcceleratorStores(kb.constant("TMA_STORE", config.get("TMA_STORE")));
    // WARP_SPECIALIZE (with TMA): a producer warpgroup issues the loops'
    // copies (the dQ program's K and V, the dK/dV program's Q and dO, whose
    // loop over a K/V head's query heads and their query blocks is then one
    // loop), and the consumers need no CTA barrier per block; CTAS_PER_SM
    // of them share an SM.
    producer = kb.constant("WARP_SPECIALIZE", config.get("WARP_SPECIALIZE"));
    kb.setWarpSpecialize(producer);
    // PING_PONG (with a producer, two consumer warpgroups: 8 warps): the
    // consumers issue each block's first products (Sᵀ and dPᵀ, S and dP) in
    // turns, as the forward's do, so that one's exponentials run under the
    // other's products rather than both waiting on the same block in step.
    kb.setPingPong(kb.constant("PING_PONG", config.get("PING_PONG")));
    kb.setCtasPerSm(kb.constant("CTAS_PER_SM", config.get("CTAS_PER_SM")));
    pieces = attention::detail::headDimPieces(
        BD, kb.constant("BLOCK_D_TAIL", config.get("BLOCK_D_TAIL")));
  }

  /// The pieces of the `rows` x BD block of `t` at row `start`.
  std::vector<Tile> loadRows(const TensorArg &t, const Scalar &start, int64_t rows) const {
    std::vector<Tile> tiles;
    for (attention::detail::HeadDimPiece piece : pieces)
      tiles.push_back(load(t, {start, Scalar(piece.start)}, {rows, piece.width}));
    return tiles;
  }
  /// Σ_p a_p b_pᵀ: a product over the head dim, piece by piece.
  Tile dotOverHeadDim(const std::vector<Tile> &a, const std::vector<Tile> &b) const {
    Tile sum = dot(a[0], trans(b[0]), precision);
    for (size_t p = 1; p < a.size(); ++p)
      sum = dot(a[p], trans(b[p]), sum, precision);
    return sum;
  }
  /// Stores the pieces `tiles` · `scale` (where given) as `dtype` into the
  /// rows of `t` from `start`.
  void storeRows(const TensorArg &t, const Scalar &start, const std::vector<Tile> &tiles,
                 DType dtype, const Scalar *scale = nullptr) const {
    for (size_t p = 0; p < pieces.size(); ++p)
      store(t, {start, Scalar(pieces[p].start)}, cast(scale ? tiles[p] * *scale : tiles[p], dtype));
  }
};

/// The parameters of attention_backward_dkdv and attention_backward_dq, in
/// the order both receive them.
struct BackwardArgs {
  TensorArg q, k, v, dout, lseLog2, delta, dq, dk, dv, dqAccum, mask;
  Scalar scale;
};

BackwardArgs declareBackwardArgs(KernelBuilder &kb, DType dtype, bool hasMask, bool dqPass,
                                 bool dqAtomic = false) {
  BackwardArgs a;
  a.q = kb.tensor("q", dtype, 4);
  a.k = kb.tensor("k", dtype, 4);
  a.v = kb.tensor("v", dtype, 4);
  a.dout = kb.tensor("dout", dtype, 4);
  a.lseLog2 = kb.tensor("lse_log2", DType::F32, 3);
  a.delta = kb.tensor("delta", DType::F32, 3);
  if (dqPass) {
    a.dq = kb.tensor("dq", dtype, 4);
  } else {
    a.dk = kb.tensor("dk", dtype, 4);
    a.dv = kb.tensor("dv", dtype, 4);
    if (dqAtomic)
      a.dqAccum = kb.tensor("dq_accum", DType::F32, 4);
  }
  if (hasMask)
    a.mask = kb.tensor("key_mask", DType::I1, 2);
  a.scale = kb.scalarF32("scale");
  return a;
}

/// The tensors of one query head a dK/dV program reads (and, with atomic dQ,
/// adds into).
struct HeadViews {
  TensorArg q, dout, lse, delta, dqAccumT;
};

/// Which (query row, key) pairs of a BM x BN block are visible: not masked,
/// on or below the bottom-right aligned causal diagonal, and (where asked
/// for) inside k_len. Rows past q_len need no bound: their Q, dO and D load
/// as zeros and L·log2(e) as 0, so P = 1 and dS = 0 there, adding nothing to
/// any gradient. `keysAsRows`: the BN x BM transpose (keyMask then a (BN, 1)
/// column). Null when nothing is asked for.
Tile visible(const BackwardConstants &c, const BackwardArgs &a, const Scalar &startM,
             const Scalar &startN, const Tile &keyMask, bool keysAsRows, bool keyBounds) {
  Scalar qLen = a.q.size(2), kLen = a.k.size(2);
  Tile rows = expand_dims(arange(c.BM), keysAsRows ? 0 : 1) + startM; // query index
  Tile keys = expand_dims(arange(c.BN), keysAsRows ? 1 : 0) + startN; // key index
  Tile valid;
  auto require = [&](const Tile &t) { valid = valid.getValue() ? valid & t : t; };
  if (keyBounds)
    require(keys < kLen);
  if (c.hasMask)
    require(keyMask);
  if (c.causal)
    require(keys <= rows + (kLen - qLen));
  return valid;
}

/// P_ij = exp(S_ij - L_i) = exp2(S_ij · scale·log2(e) - L_i·log2(e)) from
/// the scores S = Q_i K_jᵀ, 0 where not `valid` (a null tile: everything is).
///                                                              (lines 10-11)
Tile recomputeP(const Tile &s, const Scalar &scaleLog2e, const Tile &lseRow, const Tile &valid) {
  Tile p = exp2(s * scaleLog2e - expand_dims(lseRow, 1));
  return valid.getValue() ? where(valid, p, zeros(p.shape(), DType::F32)) : p;
}

// D_i = rowsum(dO_i ∘ O_i) in f32, BLOCK_M rows per program   (line 4),
// and L_i·log2(e) for the exp2 of line 11, with +inf for rows that saw no
// key (L_i = -inf), so that exp2(S - L) is 0 there rather than inf: made
// once per row here, not in every program that reads the row.
void attentionBackwardPreprocessKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  const DType dtype = config.dtype;
  TensorArg out = kb.tensor("out", dtype, 4), dout = kb.tensor("dout", dtype, 4);
  TensorArg lse = kb.tensor("lse", DType::F32, 3);
  TensorArg delta = kb.tensor("delta", DType::F32, 3);
  TensorArg lseLog2 = kb.tensor("lse_log2", DType::F32, 3);

  Scalar heads = out.size(1);
  Scalar bh = program_id(1), b = bh / heads, h = bh % heads;
  Scalar startM = program_id(0) * Scalar(BM);
  Tile o = cast(load(out.at({b, h}), {startM, Scalar(0)}, {BM, BD}), DType::F32);
  Tile dO = cast(load(dout.at({b, h}), {startM, Scalar(0)}, {BM, BD}), DType::F32);
  store(delta.at({b, h}), {startM}, reduce_sum(dO * o, 1));
  Tile l = load(lse.at({b, h}), {startM}, {BM});
  l = where(l == full({BM}, -kInf, DType::F32), full({BM}, kInf, DType::F32), l);
  store(lseLog2.at({b, h}), {startM}, l * kLog2e);
}

// dK_j, dV_j for one block of BLOCK_N keys of one (batch, kv head): the
// inner loop of Algorithm 2 (lines 6-18), run over every q head that shares
// this k/v head (GQA/MQA), so that dK and dV come out summed over the group
// with no atomics. The scores are computed transposed, Sᵀ = K_j Q_iᵀ, so
// that keys are rows as in dK and dV: Pᵀ and dSᵀ then feed dV += Pᵀ dO_i and
// dK += dSᵀ Q_i straight from registers, with no transpose through shared
// memory. With DQ_ATOMIC, line 15's dQ_i += dS_ij K_j is computed transposed
// too, dQ_iᵀ = K_jᵀ dS_ijᵀ (dSᵀ the B operand, keys its k), and added
// atomically, unscaled, into dq_accum, which holds dQᵀ: (batch, heads, dim,
// q_len), so that a thread's elements along q_len are consecutive.
void attentionBackwardDkDvKernel(KernelBuilder &kb, const KernelConfig &config) {
  const BackwardConstants c(kb, config);
  const DType dtype = config.dtype;
  BackwardArgs a = declareBackwardArgs(kb, dtype, c.hasMask, /*dqPass=*/false, c.dqAtomic);
  Scalar scaleLog2e = a.scale * f32(kLog2e);

  // Program (n-block, batch·kv head).
  Scalar kvHeads = a.k.size(1), qLen = a.q.size(2), kLen = a.k.size(2);
  Scalar group = a.q.size(1) / kvHeads;
  Scalar bhk = program_id(1), b = bhk / kvHeads, hk = bhk % kvHeads;
  Scalar startN = program_id(0) * Scalar(c.BN);

  std::vector<Tile> kj = c.loadRows(a.k.at({b, hk}), startN, c.BN);
  std::vector<Tile> vj = c.loadRows(a.v.at({b, hk}), startN, c.BN);
  Tile keyMask;
  if (c.hasMask)
    keyMask = expand_dims(load(a.mask.at({b}), {startN}, {c.BN}), 1);
  // K_jᵀ, transposed once outside the loops: staged for the dQ dot once.
  std::vector<Tile> kjT;
  if (c.dqAtomic)
    for (const Tile &piece : kj)
      kjT.push_back(trans(piece));
  const size_t numPieces = c.pieces.size();

  // Causal, bottom-right aligned: query i sees key j iff j <= i + kLen - qLen,
  // so rows before startN - (kLen - qLen) see none of these keys; whole
  // query blocks above the diagonal are skipped.
  Scalar startM0 = Scalar(0);
  if (c.causal)
    startM0 = max(Scalar(0), startN + qLen - kLen) / Scalar(c.BM) * Scalar(c.BM);

  // dK's pieces, then dV's.
  std::vector<Tile> grads0;
  for (int copy = 0; copy < 2; ++copy)
    for (attention::detail::HeadDimPiece piece : c.pieces)
      grads0.push_back(zeros({c.BN, piece.width}, DType::F32));
  // The tensors of query head h.
  auto headViews = [&](const Scalar &h) {
    return HeadViews{a.q.at({b, h}), a.dout.at({b, h}), a.lseLog2.at({b, h}), a.delta.at({b, h}),
                     c.dqAtomic ? a.dqAccum.at({b, h}) : TensorArg()};
  };
  // One query block of head `v` (lines 10-16).
  auto step = [&](const HeadViews &v, Scalar startM, const std::vector<Tile> &carried,
                  bool masked) {
    std::vector<Tile> qi = c.loadRows(v.q, startM, c.BM);
    std::vector<Tile> doi = c.loadRows(v.dout, startM, c.BM);
    // L·log2(e) and D of these rows from global memory, issued
    // before the products so that their latency runs under them
    // (loaded after, the first use waited on them: 19% of the d 128
    // dK/dV kernel's stall samples on the H100).
    Tile lseI = load(v.lse, {startM}, {c.BM});
    Tile deltaI = load(v.delta, {startM}, {c.BM});
    // Sᵀ = K Qᵀ, and V dOᵀ right behind it: on sm_90a the
    // second product runs while exp2 makes Pᵀ of the first.
    Tile sT = c.dotOverHeadDim(kj, qi);
    Tile dpT = c.dotOverHeadDim(vj, doi);
    // Pᵀ = exp2(K Qᵀ·scale·log2(e) - L·log2(e))     (lines 10-11)
    Tile pT = exp2(sT * scaleLog2e - expand_dims(lseI, 0));
    // The two-kernel split needs no bounds (see below), atomic dQ the
    // keys' only: rows past q_len add zeros everywhere, dQᵀ's columns too.
    if (masked)
      pT = where(visible(c, a, startM, startN, keyMask, /*keysAsRows=*/true,
                         /*keyBounds=*/c.dqAtomic),
                 pT, zeros({c.BN, c.BM}, DType::F32));
    std::vector<Tile> next(carried.begin(), carried.end());
    // dV += Pᵀ dO                                         (line 12)
    Tile pTIn = cast(pT, dtype);
    for (size_t p = 0; p < numPieces; ++p)
      next[numPieces + p] = dot(pTIn, doi[p], carried[numPieces + p], c.precision);
    // dSᵀ = Pᵀ ∘ (V dOᵀ - D)                           (lines 13-14)
    Tile dsT = pT * (dpT - expand_dims(deltaI, 0));
    Tile dsTIn = cast(dsT, dtype);
    // dQᵀ = Kᵀ dSᵀ (line 15), added atomically (times scale in the last
    // pass). DQ_FIRST: its product issued before dK's and added after it,
    // so that dQᵀ is staged for its add while dK's product runs
    // (FlashAttention-3's order); otherwise after dK's, both waited for.
    std::vector<Tile> dqT;
    if (c.dqFirst)
      for (size_t p = 0; p < numPieces; ++p)
        dqT.push_back(dot(kjT[p], dsTIn, c.precision));
    // dK += dSᵀ Q  (times scale once, at the end)         (line 16)
    for (size_t p = 0; p < numPieces; ++p)
      next[p] = dot(dsTIn, qi[p], carried[p], c.precision);
    if (c.dqAtomic && !c.dqFirst)
      for (size_t p = 0; p < numPieces; ++p)
        dqT.push_back(dot(kjT[p], dsTIn, c.precision));
    for (size_t p = 0; p < dqT.size(); ++p)
      atomic_add(v.dqAccumT, {Scalar(c.pieces[p].start), startM}, dqT[p]);
    return next;
  };
  auto storeGrads = [&](const std::vector<Tile> &grads) {
    c.storeRows(a.dk.at({b, hk}), startN, {grads.begin(), grads.begin() + numPieces}, dtype,
                &a.scale);
    c.storeRows(a.dv.at({b, hk}), startN, {grads.begin() + numPieces, grads.end()}, dtype);
  };
  if (c.producer) {
    // One loop over (query head of the group, query block): the loop
    // tile-warp-specialize hands to a producer warpgroup (it takes loops
    // directly in the kernel's body). With atomic dQ each program starts
    // at a query block of its own, as below.
    Scalar blocks = max(cdiv(qLen - startM0, Scalar(c.BM)), Scalar(1));
    Scalar first = c.dqAtomic ? program_id(0) % blocks : Scalar(0);
    std::vector<Tile> grads =
        for_range(Scalar(0), group * blocks, Scalar(1), grads0,
                  [&](Scalar it, const std::vector<Tile> &carried) {
                    Scalar block = c.dqAtomic ? (it % blocks + first) % blocks : it % blocks;
                    Scalar startM = startM0 + block * Scalar(c.BM);
                    return step(headViews(hk * group + it / blocks), startM, carried,
                                /*masked=*/c.dqAtomic || c.causal || c.hasMask);
                  });
    storeGrads(grads);
    return;
  }
  std::vector<Tile> grads =
      for_range(Scalar(0), group, Scalar(1), grads0, [&](Scalar g, const std::vector<Tile> &outer) {
        HeadViews v = headViews(hk * group + g);
        // With atomic dQ, the programs of one head would all add into the
        // same query block at the same time if they walked the blocks in
        // the same order: each starts at a block of its own and wraps
        // around, the loop counting blocks.
        Scalar loopEnd, first, wrap;
        if (c.dqAtomic) {
          loopEnd = cdiv(qLen - startM0, Scalar(c.BM));
          // At least 1: the pipeline's first copy evaluates the index math
          // of the loop's first trip even when it makes none (q_len 0).
          wrap = max(loopEnd, Scalar(1));
          first = program_id(0) % wrap;
        }
        if (c.dqAtomic)
          return for_range(Scalar(0), loopEnd, Scalar(1), outer,
                           [&](Scalar it, const std::vector<Tile> &carried) {
                             Scalar startM = startM0 + (it + first) % wrap * Scalar(c.BM);
                             return step(v, startM, carried, /*masked=*/true);
                           });
        // The two-kernel split needs no bounds in its mask, and no mask at
        // all without causal or key masks: query rows past q_len load Q, dO
        // and D as zeros and L·log2(e) as 0, so Pᵀ = 1 and dSᵀ = 0 there,
        // adding nothing to dV = Pᵀ dO or dK = dSᵀ Q; keys past k_len only
        // reach rows of dK and dV that are never stored. (Atomic dQ needs
        // the bounds: there exp2(-L) of a padded key, inf for very negative
        // L, would reach dQ.)
        return for_range(startM0, qLen, Scalar(c.BM), outer,
                         [&](Scalar startM, const std::vector<Tile> &carried) {
                           return step(v, startM, carried, /*masked=*/c.causal || c.hasMask);
                         });
      });
  storeGrads(grads);
}

// dQ_i for one block of BLOCK_M query rows of one (batch, head): walks the
// key blocks as the forward does, recomputing P and dS (lines 10-15).
void attentionBackwardDqKernel(KernelBuilder &kb, const KernelConfig &config) {
  const BackwardConstants c(kb, config);
  const DType dtype = config.dtype;
  BackwardArgs a = declareBackwardArgs(kb, dtype, c.hasMask, /*dqPass=*/true);
  Scalar scaleLog2e = a.scale * f32(kLog2e);

  // Program (m-block, batch·head); k/v head of a grouped query head.
  Scalar heads = a.q.size(1), qLen = a.q.size(2), kLen = a.k.size(2);
  Scalar bh = program_id(1), b = bh / heads, h = bh % heads;
  Scalar hk = h / (heads / a.k.size(1));
  // Causal (LONGEST_FIRST): the last query blocks, which see the most keys,
  // get the first programs (as the forward's).
  Scalar mBlock =
      c.causal && c.longestFirst ? num_programs(0) - Scalar(1) - program_id(0) : program_id(0);
  Scalar startM = mBlock * Scalar(c.BM);
  TensorArg kh = a.k.at({b, hk}), vh = a.v.at({b, hk});

  std::vector<Tile> qi = c.loadRows(a.q.at({b, h}), startM, c.BM);
  std::vector<Tile> doi = c.loadRows(a.dout.at({b, h}), startM, c.BM);
  const size_t numPieces = c.pieces.size();
  Tile lseI = load(a.lseLog2.at({b, h}), {startM}, {c.BM});
  Tile deltaI = load(a.delta.at({b, h}), {startM}, {c.BM});

  // Causal: keys past startM + BM - 1 + (kLen - qLen) are hidden from every
  // row of this block, so those blocks are skipped.
  Scalar endN = kLen;
  if (c.causal)
    endN = max(Scalar(0), min(kLen, startM + Scalar(c.BM) + kLen - qLen));

  // One key block (lines 10-15). Blocks every row of this program sees in
  // full (all keys exist, none past the first row's diagonal, no key mask)
  // skip the visibility mask. Rows past q_len need none here: dQ is per row,
  // and those rows are never stored.
  auto step = [&](Scalar startN, const std::vector<Tile> &dQ, bool masked) {
    std::vector<Tile> kj = c.loadRows(kh, startN, c.BN);
    std::vector<Tile> vj = c.loadRows(vh, startN, c.BN);
    Tile keyMask;
    if (masked && c.hasMask)
      keyMask = expand_dims(load(a.mask.at({b}), {startN}, {c.BN}), 0);
    // S = Q Kᵀ, and dO Vᵀ right behind it: on sm_90a the second product
    // runs while exp2 makes P of the first.
    Tile s = c.dotOverHeadDim(qi, kj);
    Tile dp = c.dotOverHeadDim(doi, vj);
    // P = exp(Q Kᵀ·scale - L)                                     (lines 10-11)
    Tile p = recomputeP(s, scaleLog2e, lseI,
                        masked ? visible(c, a, startM, startN, keyMask, /*keysAsRows=*/false,
                                         /*keyBounds=*/true)
                               : Tile());
    // dS = P ∘ (dO Vᵀ - D)                                        (lines 13-14)
    Tile ds = p * (dp - expand_dims(deltaI, 1));
    // dQ += dS K  (times scale once, at the end)                      (line 15)
    Tile dsIn = cast(ds, dtype);
    std::vector<Tile> next;
    for (size_t p = 0; p < numPieces; ++p)
      next.push_back(dot(dsIn, kj[p], dQ[p], c.precision));
    return next;
  };
  Scalar unmaskedEnd = Scalar(0);
  if (!c.hasMask) {
    Scalar visibleEnd =
        c.causal ? max(Scalar(0), min(kLen, startM + kLen - qLen + Scalar(1))) : kLen;
    unmaskedEnd = min(endN, visibleEnd / Scalar(c.BN) * Scalar(c.BN));
  }
  std::vector<Tile> dQ;
  for (attention::detail::HeadDimPiece piece : c.pieces)
    dQ.push_back(zeros({c.BM, piece.width}, DType::F32));
  if (!c.hasMask)
    dQ = for_range(Scalar(0), unmaskedEnd, Scalar(c.BN), dQ,
                   [&](Scalar startN, const std::vector<Tile> &carried) {
                     return step(startN, carried, /*masked=*/false);
                   });
  dQ = for_range(unmaskedEnd, endN, Scalar(c.BN), dQ,
                 [&](Scalar startN, const std::vector<Tile> &carried) {
                   return step(startN, carried, /*masked=*/true);
                 });
  c.storeRows(a.dq.at({b, h}), startM, dQ, dtype, &a.scale);
}

// dQ = (dq_accum)ᵀ · scale in the inputs' dtype, BLOCK_M rows per program:
// the end of the atomic dQ accumulation (dq_accum holds dQᵀ).
void attentionBackwardDqConvertKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  TensorArg dqAccum = kb.tensor("dq_accum", DType::F32, 4);
  TensorArg dq = kb.tensor("dq", config.dtype, 4);
  Scalar scale = kb.scalarF32("scale");
  Scalar heads = dq.size(1);
  Scalar bh = program_id(1), b = bh / heads, h = bh % heads;
  Scalar startM = program_id(0) * Scalar(BM);
  Tile accT = load(dqAccum.at({b, h}), {Scalar(0), startM}, {BD, BM});
  store(dq.at({b, h}), {startM, Scalar(0)}, cast(trans(accT) * scale, config.dtype));
}

} // namespace

void attention::detail::registerAttentionBackwardKernels(std::map<std::string, KernelDef> &r) {
  using kernels::detail::defineKernel;
  const std::vector<DType> dtypes{DType::F32, DType::F16, DType::BF16};
  r["attention_backward_preprocess"] = defineKernel(
      "attention_backward_preprocess",
      "flash attention backward, delta = rowsum(dout * out) (FlashAttention-2 Alg. 2, line 4)",
      {{"BLOCK_M", 64}, {"BLOCK_D", 64}}, dtypes, attentionBackwardPreprocessKernel);
  r["attention_backward_dq_convert"] =
      defineKernel("attention_backward_dq_convert",
                   "flash attention backward, dq = dq_accum * scale in the inputs' dtype",
                   {{"BLOCK_M", 64}, {"BLOCK_D", 64}}, dtypes, attentionBackwardDqConvertKernel);
  const std::map<std::string, int64_t> blocks{
      {"BLOCK_M", 64},    {"BLOCK_N", 64},     {"BLOCK_D", 64},      {"CAUSAL", 0},
      {"HAS_MASK", 0},    {"TF32", 0},         {"DQ_ATOMIC", 0},     {"WGMMA", 1},
      {"TMA", 0},         {"TMA_STORE", 0},    {"LONGEST_FIRST", 1}, {"WARP_SPECIALIZE", 0},
      {"CTAS_PER_SM", 1}, {"BLOCK_D_TAIL", 0}, {"PING_PONG", 0},     {"DQ_FIRST", 0}};
  r["attention_backward_dkdv"] =
      defineKernel("attention_backward_dkdv",
                   "flash attention backward, dk and dv per key block (FlashAttention-2 Alg. 2)",
                   blocks, dtypes, attentionBackwardDkDvKernel);
  r["attention_backward_dq"] =
      defineKernel("attention_backward_dq",
                   "flash attention backward, dq per query block (FlashAttention-2 Alg. 2)", blocks,
                   dtypes, attentionBackwardDqKernel);
}
