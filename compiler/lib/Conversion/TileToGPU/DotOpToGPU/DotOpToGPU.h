//===- DotOpToGPU.h - tile.dot's lowerings, shared between them -*- C++ -*-===//
//
// tile.dot lowers by the kind of its kernel and operands: on CUDA cores
// (FMA.cpp), on mma.sync (MmaSync.cpp) or on sm_90a's warpgroup MMA
// (Wgmma.cpp); Dot.cpp stages the operands, synchronizes, and picks one.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_CONVERSION_TILETOGPU_DOTOPTOGPU_DOTOPTOGPU_H
#define TESSERA_CONVERSION_TILETOGPU_DOTOPTOGPU_DOTOPTOGPU_H

#include "../Utility.h"

#include <functional>

namespace tessera::tilegpu {

/// The k-major-ness of a staged operand: its tile holds k along the rows'
/// contiguous dimension (A as M x K, B as N x K), the layout ldmatrix reads
/// without .trans and wgmma without its transpose flag.
inline bool isKMajor(const StagedOperand &staged) {
  return (staged.operandIndex == 0) != staged.transposed;
}

/// Whether the staged operand is copied (a tile.shared_view of a buffer an
/// async copy fills) rather than stored from registers by the dot.
inline bool isCopied(const StagedOperand &staged) {
  return bool(staged.source.getDefiningOp<tile::SharedViewOp>());
}

/// How a dot with K split between groups of warps synchronizes the exchange
/// of its partial sums (emitSplitKSum). `published`: the dot published its
/// tiles with a barrier, after which it touches no scratch itself.
/// `alsoPublish`: emitted before the exchange's second barrier, which then
/// publishes what it waited for (the next dot's copies, with
/// publishNext = at_exchange).
struct SplitKSync {
  bool published = false;
  std::function<void(OpBuilder &)> alsoPublish;
};

/// The partial sums `part` of the groups of warps that split a dot's K, added
/// up in group order (every copy of the result holds the same bits).
SmallVector<Value> emitSplitKSum(OpBuilder &b, Location loc, ArrayRef<Value> part, int64_t groups,
                                 unsigned groupWarps, const SplitKSync &sync);

/// A 16-bit dot on mma.sync: the accumulator `acc` after A·B (operands in
/// registers or read from their staged tiles).
SmallVector<Value> emitMmaSyncDot(OpBuilder &b, Location loc, tile::DotOp op, Value a, Value bv,
                                  Value acc, const StagedOperand &stagedA, const SharedTile *tileA,
                                  const StagedOperand &stagedB, const SharedTile *tileB,
                                  const SplitKSync &sync);
/// A tf32 dot on mma.sync m16n8k8.
SmallVector<Value> emitTf32Mma(OpBuilder &b, Location loc, tile::DotOp op, Value aVec, Value bVec,
                               Value accVec, const StagedOperand &stagedA, const SharedTile *tileA,
                               const StagedOperand &stagedB, const SharedTile *tileB,
                               const SplitKSync &sync);

/// Whether `op` can run as sm_90a wgmma with these staged operands (B must
/// be staged; A staged or in registers).
bool fitsWarpgroupMma(tile::DotOp op, const StagedOperand &stagedA, const StagedOperand &stagedB);
/// A tf32 dot that lowers to wgmma (on sm_90a).
bool isTf32WarpgroupMma(tile::DotOp dot);
/// A dot on wgmma: the accumulator after A·B, A from registers (`a`) unless
/// it is staged.
SmallVector<Value> emitWarpgroupMmaDot(OpBuilder &b, Location loc, tile::DotOp op, Value a,
                                       Value acc, const StagedOperand &stagedA,
                                       const SharedTile *tileA, const StagedOperand &stagedB,
                                       const SharedTile &tileB, const SplitKSync &sync);

} // namespace tessera::tilegpu

#endif
