//===- Layout.cpp - Distributed layouts of tiles --------------------------===//

#include "tessera/Dialect/Tile/IR/Layout.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera::tile;

BlockedLayoutAttr tessera::tile::getDefaultBlockedLayout(MLIRContext *ctx, ArrayRef<int64_t> shape,
                                                         unsigned numWarps, unsigned maxVector) {
  unsigned rank = shape.size();
  SmallVector<unsigned> order, sizePerThread(rank, 1), threadsPerWarp(rank, 1),
      warpsPerCTA(rank, 1);
  for (unsigned d = 0; d < rank; ++d)
    order.push_back(rank - 1 - d);
  // Contiguous vectors along the fastest dimension make 8- and 16-byte accesses.
  sizePerThread[rank - 1] = std::max<int64_t>(1, std::min<int64_t>(maxVector, shape[rank - 1]));

  auto fill = [&](SmallVector<unsigned> &per, unsigned total, auto capacity) {
    unsigned remaining = total;
    for (unsigned d : order) {
      unsigned take = std::min<int64_t>(remaining, capacity(d));
      take = llvm::bit_floor(std::max(1u, take));
      per[d] = take;
      remaining /= take;
    }
    // More threads than elements: the rest hold copies along the slowest dimension.
    per[order.back()] *= remaining;
  };
  fill(threadsPerWarp, kWarpSize,
       [&](unsigned d) { return std::max<int64_t>(1, shape[d] / sizePerThread[d]); });
  fill(warpsPerCTA, numWarps, [&](unsigned d) {
    return std::max<int64_t>(1, shape[d] / (int64_t(sizePerThread[d]) * threadsPerWarp[d]));
  });
  return BlockedLayoutAttr::get(ctx, sizePerThread, threadsPerWarp, warpsPerCTA, order);
}

BlockedLayoutAttr tessera::tile::getBlockedRoot(Attribute layout) {
  if (auto blocked = dyn_cast_or_null<BlockedLayoutAttr>(layout))
    return blocked;
  if (auto slice = dyn_cast_or_null<SliceLayoutAttr>(layout))
    return slice.getParent();
  return {};
}

SmallVector<int64_t> tessera::tile::getElemsPerThreadPerDim(BlockedLayoutAttr layout,
                                                            ArrayRef<int64_t> shape) {
  SmallVector<int64_t> elems;
  for (unsigned d = 0; d < shape.size(); ++d) {
    int64_t perCTA = layout.getShapePerCTA(d);
    int64_t reps = std::max<int64_t>(1, llvm::divideCeil(shape[d], perCTA));
    elems.push_back(int64_t(layout.getSizePerThread()[d]) * reps);
  }
  return elems;
}

bool tessera::tile::hasLayout(RankedTensorType type) {
  return isa_and_nonnull<BlockedLayoutAttr, SliceLayoutAttr>(type.getEncoding());
}

int64_t tessera::tile::getElemsPerThread(RankedTensorType type) {
  Attribute enc = type.getEncoding();
  if (auto blocked = dyn_cast<BlockedLayoutAttr>(enc)) {
    int64_t n = 1;
    for (int64_t e : getElemsPerThreadPerDim(blocked, type.getShape()))
      n *= e;
    return n;
  }
  auto slice = cast<SliceLayoutAttr>(enc);
  SmallVector<int64_t> parentShape(type.getShape());
  parentShape.insert(parentShape.begin() + slice.getDim(), 1);
  SmallVector<int64_t> perDim = getElemsPerThreadPerDim(slice.getParent(), parentShape);
  int64_t n = 1;
  for (unsigned d = 0; d < perDim.size(); ++d)
    if (d != slice.getDim())
      n *= perDim[d];
  return n;
}
