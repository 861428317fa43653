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

MmaLayoutAttr tessera::tile::getDefaultMmaLayout(MLIRContext *ctx, int64_t m, int64_t n,
                                                 unsigned numWarps) {
  unsigned alongM = std::min<int64_t>(numWarps, std::max<int64_t>(1, m / 16));
  alongM = llvm::bit_floor(alongM);
  return MmaLayoutAttr::get(ctx, {alongM, numWarps / alongM});
}

MmaLayoutAttr tessera::tile::getDotMmaLayout(MLIRContext *ctx, int64_t m, int64_t n, int64_t k,
                                             unsigned numWarps, bool warpgroupColumns) {
  MmaLayoutAttr mma = getDefaultMmaLayout(ctx, m, n, numWarps);
  unsigned alongM = mma.getWarpsPerCTA()[0], alongN = mma.getWarpsPerCTA()[1];
  // One n8 block per warp: each warp would read its rows of A in full for
  // 8 columns. Splitting K instead reads A and B once in all, and leaves
  // each row's columns in one warp. Each group keeps two k-steps at least.
  if (alongN > 1 && n == 8 * int64_t(alongN) && k / 16 >= 2 * int64_t(alongN))
    return MmaLayoutAttr::get(ctx, {alongM, 1});
  // Warpgroups side by side along N: one contiguous share of the columns
  // each, one wgmma's N.
  if (warpgroupColumns && alongN > 1 && alongM % 4 == 0 && n % (8 * int64_t(alongN)) == 0 &&
      n / alongN <= 256)
    return MmaLayoutAttr::get(ctx, {alongM, alongN}, unsigned(n / alongN));
  return mma;
}

namespace {

/// Repetitions of a block of `perBlock` elements needed to cover `size`.
int64_t reps(int64_t size, int64_t perBlock) {
  return std::max<int64_t>(1, llvm::divideCeil(size, perBlock));
}

SmallVector<DimDistribution> blockedDistribution(BlockedLayoutAttr layout,
                                                 ArrayRef<int64_t> shape) {
  ArrayRef<unsigned> spt = layout.getSizePerThread(), tpw = layout.getThreadsPerWarp(),
                     wpc = layout.getWarpsPerCTA();
  SmallVector<DimDistribution> dims(shape.size());
  unsigned laneShift = 0, warpShift = 0;
  // Lanes and warps are numbered along `order`, fastest dimension first.
  for (unsigned d : layout.getOrder()) {
    DimDistribution &dist = dims[d];
    dist.laneShift = laneShift;
    dist.laneMask = tpw[d] - 1;
    dist.laneStride = spt[d];
    dist.warpShift = warpShift;
    dist.warpMask = wpc[d] - 1;
    dist.warpStride = int64_t(spt[d]) * tpw[d];
    laneShift += llvm::Log2_32(tpw[d]);
    warpShift += llvm::Log2_32(wpc[d]);
    int64_t perCTA = layout.getShapePerCTA(d);
    for (int64_t i = 0, n = spt[d] * reps(shape[d], perCTA); i < n; ++i)
      dist.offsets.push_back((i / spt[d]) * perCTA + i % spt[d]);
  }
  return dims;
}

/// Rows of an m16 block: lane / 4 and lane / 4 + 8, warps along dim 0.
DimDistribution mmaRows(MmaLayoutAttr mma, int64_t size) {
  unsigned warpsM = mma.getWarpsPerCTA()[0];
  DimDistribution dist{
      /*laneShift=*/2, /*laneMask=*/7,          /*laneStride=*/1,
      /*warpShift=*/0, /*warpMask=*/warpsM - 1, /*warpStride=*/16, {}};
  for (int64_t i = 0, n = 2 * reps(size, 16 * warpsM); i < n; ++i)
    dist.offsets.push_back((i % 2) * 8 + (i / 2) * 16 * warpsM);
  return dist;
}

/// Columns of the n8 blocks for the accumulator (2 per lane) or B (1 per
/// lane): each warp column's block of `columnBlock` columns, repeated every
/// columnBlock · warpsN.
DimDistribution mmaCols(MmaLayoutAttr mma, int64_t size, bool accumulator) {
  unsigned warpsM = mma.getWarpsPerCTA()[0], warpsN = mma.getWarpsPerCTA()[1];
  int64_t block = mma.getColumnBlock();
  DimDistribution dist;
  dist.warpShift = llvm::Log2_32(warpsM);
  dist.warpMask = warpsN - 1;
  dist.warpStride = block;
  // The n8 blocks a thread holds, in column order.
  SmallVector<int64_t> starts;
  for (int64_t r = 0, n = reps(size, block * warpsN); r < n; ++r)
    for (int64_t c = 0; c < block; c += 8)
      starts.push_back(r * block * warpsN + c);
  if (accumulator) {
    dist.laneMask = 3;
    dist.laneStride = 2;
    for (int64_t start : starts)
      dist.offsets.append({start, start + 1});
  } else {
    dist.laneShift = 2;
    dist.laneMask = 7;
    dist.laneStride = 1;
    dist.offsets.append(starts);
  }
  return dist;
}

/// The K dimension of an operand: kWidth consecutive elements at
/// kWidth·(lane % 4), and again 4·kWidth further, per k-block of 8·kWidth.
DimDistribution operandK(unsigned kWidth, int64_t size) {
  DimDistribution dist;
  dist.laneMask = 3;
  dist.laneStride = kWidth;
  for (int64_t j = 0, n = 2 * kWidth * reps(size, 8 * kWidth); j < n; ++j)
    dist.offsets.push_back(j % kWidth + ((j / kWidth) % 2) * 4 * kWidth +
                           (j / (2 * kWidth)) * 8 * kWidth);
  return dist;
}

} // namespace

static SmallVector<DimDistribution> computeDistribution(Attribute layout, ArrayRef<int64_t> shape) {
  if (auto blocked = dyn_cast<BlockedLayoutAttr>(layout))
    return blockedDistribution(blocked, shape);
  if (auto mma = dyn_cast<MmaLayoutAttr>(layout))
    return {mmaRows(mma, shape[0]), mmaCols(mma, shape[1], /*accumulator=*/true)};
  if (auto op = dyn_cast<DotOperandLayoutAttr>(layout)) {
    if (op.getOpIdx() == 0)
      return {mmaRows(op.getParent(), shape[0]), operandK(op.getKWidth(), shape[1])};
    return {operandK(op.getKWidth(), shape[0]),
            mmaCols(op.getParent(), shape[1], /*accumulator=*/false)};
  }
  auto slice = cast<SliceLayoutAttr>(layout);
  SmallVector<int64_t> parentShape(shape);
  parentShape.insert(parentShape.begin() + slice.getDim(), 1);
  SmallVector<DimDistribution> dims = computeDistribution(slice.getParent(), parentShape);
  dims.erase(dims.begin() + slice.getDim());
  return dims;
}

SmallVector<DimDistribution> tessera::tile::getDistribution(Attribute layout,
                                                            ArrayRef<int64_t> shape) {
  SmallVector<DimDistribution> dims = computeDistribution(layout, shape);
  // Bits that select nothing are no part of the function: normalise them so
  // that equal functions compare equal.
  for (DimDistribution &d : dims) {
    if (d.laneMask == 0 || d.laneStride == 0)
      d.laneShift = d.laneMask = d.laneStride = 0;
    if (d.warpMask == 0 || d.warpStride == 0)
      d.warpShift = d.warpMask = d.warpStride = 0;
  }
  return dims;
}

bool tessera::tile::isSameDistribution(RankedTensorType a, RankedTensorType b) {
  if (a.getShape() != b.getShape() || !hasLayout(a) || !hasLayout(b))
    return false;
  SmallVector<DimDistribution> da = getDistribution(a.getEncoding(), a.getShape()),
                               db = getDistribution(b.getEncoding(), b.getShape());
  for (auto [x, y, size] : llvm::zip(da, db, a.getShape())) {
    if (x == y)
      continue;
    // Distributions that differ only in bits that cannot reach the tile
    // (a size-1 dimension) still agree.
    if (size != 1 || x.count() != y.count())
      return false;
  }
  return true;
}

bool tessera::tile::hasLayout(RankedTensorType type) {
  return isa_and_nonnull<BlockedLayoutAttr, SliceLayoutAttr, MmaLayoutAttr, DotOperandLayoutAttr>(
      type.getEncoding());
}

unsigned tessera::tile::getLayoutRank(Attribute layout) {
  if (auto blocked = dyn_cast<BlockedLayoutAttr>(layout))
    return blocked.getRank();
  if (auto slice = dyn_cast<SliceLayoutAttr>(layout))
    return getLayoutRank(slice.getParent()) - 1;
  return 2;
}

int64_t tessera::tile::getElemsPerThread(RankedTensorType type) {
  int64_t n = 1;
  for (const DimDistribution &d : getDistribution(type.getEncoding(), type.getShape()))
    n *= d.count();
  return n;
}
