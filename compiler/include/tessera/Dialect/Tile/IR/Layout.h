//===- Layout.h - Distributed layouts of tiles ------------------*- C++ -*-===//
//
// Queries on the layout encodings (`#tile.blocked`, `#tile.mma`,
// `#tile.dot_op` and their `#tile.slice`s) shared by layout assignment and the
// lowering to per-thread code.
//
// Every Tessera layout is separable: along each tile dimension the
// coordinates a thread holds are one base, computed from bits of its lane and
// warp ids, plus a list of constant offsets. A thread's elements are the
// row-major product of those per-dimension lists.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_DIALECT_TILE_IR_LAYOUT_H
#define TESSERA_DIALECT_TILE_IR_LAYOUT_H

#include "tessera/Dialect/Tile/IR/TileDialect.h"

namespace tessera::tile {

inline constexpr unsigned kWarpSize = 32;

/// How one tile dimension is spread over a CTA:
///   coordinate(i) = (((lane >> laneShift) & laneMask) · laneStride
///                  + ((warp >> warpShift) & warpMask) · warpStride
///                  + offsets[i]) mod size
/// for the i-th of `offsets.size()` elements a thread holds along it. Where a
/// layout covers more than the tile, threads hold copies (the mod).
struct DimDistribution {
  unsigned laneShift = 0, laneMask = 0;
  int64_t laneStride = 0;
  unsigned warpShift = 0, warpMask = 0;
  int64_t warpStride = 0;
  llvm::SmallVector<int64_t> offsets;

  int64_t count() const { return offsets.size(); }
  /// True when a thread's coordinates come in runs of `width` consecutive
  /// ones starting at multiples of `width` (vector accesses of that width).
  bool holdsRunsOf(int64_t width) const {
    if (count() % width != 0 || laneStride % width != 0 || warpStride % width != 0)
      return false;
    for (int64_t i = 0; i < count(); ++i)
      if (offsets[i] != offsets[i - i % width] + i % width || offsets[i - i % width] % width != 0)
        return false;
    return true;
  }
  bool operator==(const DimDistribution &o) const {
    return laneShift == o.laneShift && laneMask == o.laneMask && laneStride == o.laneStride &&
           warpShift == o.warpShift && warpMask == o.warpMask && warpStride == o.warpStride &&
           offsets == o.offsets;
  }
};

/// The per-dimension distribution of a tile of `shape` laid out by `layout`.
llvm::SmallVector<DimDistribution> getDistribution(mlir::Attribute layout,
                                                   llvm::ArrayRef<int64_t> shape);

/// True when two tile types place every element in the same thread at the
/// same position of its vector: converting between them moves nothing.
bool isSameDistribution(mlir::RankedTensorType a, mlir::RankedTensorType b);

/// The layout Tessera gives a tile of `shape` when nothing asks for another:
/// contiguous vectors of up to `maxVector` elements along the last dimension,
/// lanes then warps spread fastest-dimension first, as far as the shape allows.
BlockedLayoutAttr getDefaultBlockedLayout(mlir::MLIRContext *ctx, llvm::ArrayRef<int64_t> shape,
                                          unsigned numWarps, unsigned maxVector = 4);

/// The accumulator layout of an M x N tensor-core dot on `numWarps` warps:
/// warps stacked along M first (so that a row lives in one warp and row
/// reductions need only shuffles), then along N.
MmaLayoutAttr getDefaultMmaLayout(mlir::MLIRContext *ctx, int64_t m, int64_t n, unsigned numWarps);

/// The accumulator layout of an M x N x K tensor-core dot: the default's,
/// or, where that gives each warp a single n8 block of a deep product, the
/// warps along M only. The kernel's other warps then hold copies of the
/// result and split K with them: each group of warps the layout names sums
/// its share of the k-steps, and the groups add their partial sums through
/// shared memory (Q·Kᵀ at head dim 512: 64 x 16 x 512 on 8 warps).
/// `warpgroupColumns` (dots lowered to warpgroup MMA): where warpgroups
/// split N, each takes one contiguous share of the columns (columnBlock).
MmaLayoutAttr getDotMmaLayout(mlir::MLIRContext *ctx, int64_t m, int64_t n, int64_t k,
                              unsigned numWarps, bool warpgroupColumns = false);

/// Number of elements one thread holds of a tile of `type` (its encoding must
/// be a layout).
int64_t getElemsPerThread(mlir::RankedTensorType type);

/// True when `type` carries a layout encoding Tessera understands.
bool hasLayout(mlir::RankedTensorType type);

/// Rank of the tiles `layout` describes (a slice has one less than its parent).
unsigned getLayoutRank(mlir::Attribute layout);

} // namespace tessera::tile

#endif
