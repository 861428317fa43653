//===- Layout.h - Distributed layouts of tiles ------------------*- C++ -*-===//
//
// Queries on the `#tile.blocked` and `#tile.slice` encodings shared by layout
// assignment and the lowering to per-thread code.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_DIALECT_TILE_IR_LAYOUT_H
#define TESSERA_DIALECT_TILE_IR_LAYOUT_H

#include "tessera/Dialect/Tile/IR/TileDialect.h"

namespace tessera::tile {

inline constexpr unsigned kWarpSize = 32;

/// The layout Tessera gives a tile of `shape` when nothing asks for another:
/// contiguous vectors of up to `maxVector` elements along the last dimension,
/// lanes then warps spread fastest-dimension first, as far as the shape allows.
BlockedLayoutAttr getDefaultBlockedLayout(mlir::MLIRContext *ctx, llvm::ArrayRef<int64_t> shape,
                                          unsigned numWarps, unsigned maxVector = 4);

/// Blocked layout at the root of `layout` (itself, or a slice's parent).
BlockedLayoutAttr getBlockedRoot(mlir::Attribute layout);

/// Per-dimension element counts one thread holds of a tile of `shape` laid out
/// by the blocked layout `layout`: sizePerThread times the repetitions.
llvm::SmallVector<int64_t> getElemsPerThreadPerDim(BlockedLayoutAttr layout,
                                                   llvm::ArrayRef<int64_t> shape);

/// Number of elements one thread holds of a tile of `type` (its encoding must
/// be a layout).
int64_t getElemsPerThread(mlir::RankedTensorType type);

/// True when `type` carries a layout encoding Tessera understands.
bool hasLayout(mlir::RankedTensorType type);

} // namespace tessera::tile

#endif
