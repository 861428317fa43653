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

/// A dot on wgmma: the accumulator after A·B, A from registers (`a`) unless
/// it is staged. `typed`: with A staged and K not split, the group is issued
/// through upstream's nvvm.wgmma ops rather than one inline PTX statement.
SmallVector<Value> emitWarpgroupMmaDot(OpBuilder &b, Location loc, tile::DotOp op, Value a,
                                       Value acc, const StagedOperand &stagedA,
                                       const SharedTile *tileA, const StagedOperand &stagedB,
                                       const SharedTile &tileB, const SplitKSync &sync,
                                       bool typed = false);

} // namespace tessera::tilegpu

#endif
