//===- Analysis.cpp - What the schedule decides from, and what it costs ---===//
//
// Queries over layout-annotated tile IR that the schedule passes decide
// from and the lowering follows: which dot operands are staged and where,
// which dots run on wgmma, the scratch shared memory each op's lowering
// needs, how tiles are distributed over threads, and the loop arithmetic
// of pipelined buffers (iteration, fill and trip numbers).
//
//===----------------------------------------------------------------------===//

#include "tessera/Schedule/Analysis.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace tessera;
using namespace tessera::schedule;

using tile::kSharedTileAlignment;

Value tessera::schedule::constI32(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}

/// Where the scratch arrays of tiles reduced or scanned together lie:
/// `elements(i)` elements of `elems[i]` each, 16-byte aligned from offset 0.
/// The offset of each, then the end of the last.
SmallVector<int64_t> tessera::schedule::scratchOffsets(TypeRange elems,
                                                       function_ref<int64_t(unsigned)> elements) {
  SmallVector<int64_t> offsets;
  int64_t offset = 0;
  for (auto [i, elem] : llvm::enumerate(elems)) {
    offset = llvm::alignTo(offset, 16);
    offsets.push_back(offset);
    offset += elements(i) * std::max<int64_t>(1, elem.getIntOrFloatBitWidth() / 8);
  }
  offsets.push_back(offset);
  return offsets;
}

SmallVector<Type> tessera::schedule::elementTypesOf(TypeRange tiles) {
  SmallVector<Type> elems;
  for (Type t : tiles)
    elems.push_back(cast<RankedTensorType>(t).getElementType());
  return elems;
}

/// The elements of each tile's scratch array in a reduction: W words per
/// result element (shuffles across W > 1 warps), none within one warp, or
/// the whole tile (ReduceOpToGPU).
int64_t tessera::schedule::reductionScratchElements(Operation *reduce) {
  std::optional<int64_t> warps = shuffleReductionWarps(reduce);
  if (!warps)
    return cast<RankedTensorType>(reduce->getOperand(0).getType()).getNumElements();
  if (*warps == 1)
    return 0;
  return cast<RankedTensorType>(reduce->getResult(0).getType()).getNumElements() * *warps;
}

/// The element types of a scan's scratch arrays, as ScanOpToGPU lays them
/// out: each tile's data, then (with more than one segment per line) each
/// tile's segment totals; and the elements of array i.
SmallVector<Type> tessera::schedule::scanScratchTypes(tile::ScanOp op, const ScanPlan &plan) {
  SmallVector<Type> types = elementTypesOf(op.getSrcs().getTypes());
  if (plan.segments > 1)
    types.append(SmallVector<Type>(types));
  return types;
}

int64_t tessera::schedule::scanScratchElements(tile::ScanOp op, const ScanPlan &plan, unsigned i) {
  return i < op.getSrcs().size() ? plan.dataElements() : plan.totalElements();
}

TileElements::TileElements(RankedTensorType type)
    : dims(tile::getDistribution(type.getEncoding(), type.getShape())), shape(type.getShape()) {
  numElements = 1;
  for (const tile::DimDistribution &d : dims) {
    perDim.push_back(d.count());
    numElements *= d.count();
  }
}

SmallVector<int64_t> TileElements::multiIndex(int64_t element) const {
  SmallVector<int64_t> mi(rank());
  for (int d = rank() - 1; d >= 0; --d) {
    mi[d] = element % perDim[d];
    element /= perDim[d];
  }
  return mi;
}

int64_t TileElements::flatten(ArrayRef<int64_t> mi) const {
  int64_t e = 0;
  for (unsigned d = 0; d < rank(); ++d)
    e = e * perDim[d] + mi[d];
  return e;
}

bool TileElements::wraps(unsigned dim) const {
  const tile::DimDistribution &d = dims[dim];
  int64_t last = int64_t(d.laneMask) * d.laneStride + int64_t(d.warpMask) * d.warpStride +
                 *llvm::max_element(d.offsets);
  return last >= shape[dim];
}

bool TileElements::holdsMmaFragments() const {
  if (rank() != 2)
    return false;
  const tile::DimDistribution &rows = dims[0], &cols = dims[1];
  return rows.laneShift == 2 && rows.laneMask == 7 && rows.laneStride == 1 && cols.laneShift == 0 &&
         cols.laneMask == 3 && cols.laneStride == 2 && cols.holdsRunsOf(2);
}

std::pair<unsigned, unsigned> TileElements::usedIdBits() const {
  unsigned laneBits = 0, warpBits = 0;
  for (const tile::DimDistribution &d : dims) {
    if (d.laneStride != 0)
      laneBits |= d.laneMask << d.laneShift;
    if (d.warpStride != 0)
      warpBits |= d.warpMask << d.warpShift;
  }
  return {laneBits, warpBits};
}

bool TileElements::hasCopies(unsigned numWarps) const {
  auto [laneBits, warpBits] = usedIdBits();
  bool anyWraps = false;
  for (unsigned k = 0; k < rank(); ++k)
    anyWraps |= wraps(k);
  return laneBits != tile::kWarpSize - 1 || warpBits != numWarps - 1 || anyWraps;
}

bool tessera::schedule::sharedTileFits(RankedTensorType type) {
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  return type.getRank() == 2 && (bits == 16 || bits == 32) && sharedTileUnits(type) % 8 == 0;
}

int64_t tessera::schedule::sharedTileUnits(RankedTensorType type) {
  return type.getDimSize(1) * type.getElementType().getIntOrFloatBitWidth() / 16;
}

StagedOperand tessera::schedule::getStagedOperand(Value operand) {
  auto type = cast<RankedTensorType>(operand.getType());
  auto layout = dyn_cast<tile::DotOperandLayoutAttr>(type.getEncoding());
  Operation *def = operand.getDefiningOp();
  if (!layout || !def || !operand.hasOneUse())
    return {};
  OpOperand &use = *operand.getUses().begin();
  auto dot = dyn_cast<tile::DotOp>(use.getOwner());
  if (!dot || use.getOperandNumber() > 1 ||
      !isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) ||
      !def->getParentRegion()->isAncestor(dot->getParentRegion()))
    return {};
  // 16-bit operands, or f32 ones of a tf32 dot.
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  if (bits != 16 && !(bits == 32 && dot.getTf32()))
    return {};
  StagedOperand staged;
  if (auto cvt = dyn_cast<tile::ConvertLayoutOp>(def)) {
    if (tile::isSameDistribution(cvt.getSrc().getType(), type) ||
        !sharedTileFits(cvt.getSrc().getType()))
      return {};
    staged.source = cvt.getSrc();
  } else if (auto trans = dyn_cast<tile::TransOp>(def)) {
    if (!sharedTileFits(trans.getSrc().getType()))
      return {};
    staged.source = trans.getSrc();
    staged.transposed = true;
  } else {
    return {};
  }
  staged.hoisted = def->getBlock() != dot->getBlock();
  staged.dot = dot;
  staged.operandIndex = use.getOperandNumber();
  return staged;
}

int64_t StagedOperand::offset() const {
  tile::StagingAttr staging = tile::DotOp(dot).getStagingAttr();
  assert(staging && "shared memory not allocated (tile-allocate-shared-memory)");
  return staging.getOffset(operandIndex);
}

bool StagedOperand::ready() const {
  tile::StagingAttr staging = tile::DotOp(dot).getStagingAttr();
  return staging && staging.isReady(operandIndex);
}

int64_t tessera::schedule::splitKGroups(tile::DotOp dot) {
  auto mma = dyn_cast<tile::MmaLayoutAttr>(dot.getType().getEncoding());
  if (!mma)
    return 1;
  Operation *kernel = dot->getParentOp();
  while (kernel && !kernel->hasAttr(tile::kNumWarpsAttr))
    kernel = kernel->getParentOp();
  unsigned numWarps = kernel ? tile::getNumWarps(kernel) : mma.getNumWarps();
  return std::max<int64_t>(1, numWarps / mma.getNumWarps());
}

bool tessera::schedule::mustRoundCopiedToTf32(Value source) {
  auto load = source.getDefiningOp<tile::LoadOp>();
  auto view = source.getDefiningOp<tile::SharedViewOp>();
  if (!cast<RankedTensorType>(source.getType()).getElementType().isF32() ||
      (load && load.getTf32Rounded()) || (view && view.getTf32Rounded()))
    return false;
  return llvm::any_of(source.getUsers(), [](Operation *user) {
    if (user->getNumResults() != 1)
      return false;
    StagedOperand staged = getStagedOperand(user->getResult(0));
    return staged && isTf32WarpgroupMma(staged.dot);
  });
}

/// Whether `dot`'s kernel keeps to mma.sync (tile::kWarpgroupMmaAttr false).
bool tessera::schedule::keepsToMmaSync(tile::DotOp dot) {
  for (Operation *op = dot->getParentOp(); op; op = op->getParentOp())
    if (auto wgmma = op->getAttrOfType<BoolAttr>(tile::kWarpgroupMmaAttr))
      return !wgmma.getValue();
  return false;
}

bool tessera::schedule::fitsWarpgroupMma(tile::DotOp op, const StagedOperand &stagedA,
                                         const StagedOperand &stagedB) {
  RankedTensorType cType = op.getType();
  auto mma = cast<tile::MmaLayoutAttr>(cType.getEncoding());
  unsigned warpsM = mma.getWarpsPerCTA()[0], warpsN = mma.getWarpsPerCTA()[1];
  int64_t m = cType.getDimSize(0), n = cType.getDimSize(1);
  // Each warpgroup's columns: one contiguous share (columnBlock · warpsN =
  // n) or n8 blocks interleaved with the other warpgroups' (columnBlock 8).
  int64_t columnBlock = mma.getColumnBlock();
  bool contiguous = columnBlock * warpsN == n;
  if (keepsToMmaSync(op) || warpsM % 4 != 0 || m % (16 * warpsM) != 0 || n % (8 * warpsN) != 0 ||
      n / warpsN > 256 || !stagedB || (!contiguous && columnBlock != 8))
    return false;
  if (int64_t groups = splitKGroups(op); groups > 1) {
    int64_t kSteps = sharedTileUnits(op.getA().getType()) / 16;
    if (!stagedA || kSteps % groups != 0)
      return false;
    int64_t shareUnits = 16 * (kSteps / groups);
    for (const StagedOperand *staged : {&stagedA, &stagedB}) {
      int64_t units = sharedTileUnits(cast<RankedTensorType>(staged->source.getType()));
      if (isKMajor(*staged) && shareUnits % std::min<int64_t>(units, kSharedPanelCols) != 0)
        return false;
    }
  }
  bool tf32 = op.getA().getType().getElementType().isF32();
  if (tf32 && ((stagedA && !isKMajor(stagedA)) || !isKMajor(stagedB)))
    return false;
  // An MN-major B's columns are contiguous within a swizzle panel and its
  // panels LBO apart: each warpgroup's share is whole panels, or a part of
  // one that the shares tile (the FlashAttention-3 backward's dQᵀ = Kᵀ dSᵀ:
  // 32 of dSᵀ's 64 columns each). A share starting inside a panel starts its
  // descriptor there (operandOffset): the 128-byte swizzle is of the
  // address's bits, so the chunks it reads are the ones stored there, and
  // it never walks past the panel's row into the next.
  if (warpsN > 1 && !isKMajor(stagedB)) {
    int64_t panel = std::min(sharedTileUnits(cast<RankedTensorType>(stagedB.source.getType())),
                             kSharedPanelCols);
    if (!contiguous || (columnBlock % panel != 0 && panel % columnBlock != 0))
      return false;
  }
  // Each staged tile must be a swizzled canonical layout: panels of 16, 32
  // or 64 units, whole 8-row groups.
  for (const StagedOperand *staged : {&stagedA, &stagedB}) {
    if (!*staged)
      continue;
    auto type = cast<RankedTensorType>(staged->source.getType());
    if (type.getDimSize(0) % 8 != 0 || sharedTileUnits(type) % 16 != 0)
      return false;
  }
  return true;
}

bool tessera::schedule::isTf32WarpgroupMma(tile::DotOp dot) {
  return dot.getTf32() && dot.getA().getType().getElementType().isF32() &&
         isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) &&
         fitsWarpgroupMma(dot, getStagedOperand(dot.getA()), getStagedOperand(dot.getB()));
}

std::optional<int64_t> tessera::schedule::shuffleReductionWarps(RankedTensorType type,
                                                                unsigned axis) {
  unsigned width = type.getElementType().getIntOrFloatBitWidth();
  if (width != 32)
    return std::nullopt; // shuffles move 32-bit registers
  tile::DimDistribution along = tile::getDistribution(type.getEncoding(), type.getShape())[axis];
  // Each coordinate once: no copies that a sum would count twice.
  int64_t warps = int64_t(along.warpMask) + 1;
  if (!llvm::isPowerOf2_64(warps) ||
      along.count() * (along.laneMask + 1) * warps != type.getDimSize(axis))
    return std::nullopt;
  return warps;
}

std::optional<int64_t> tessera::schedule::shuffleReductionWarps(Operation *reduce) {
  unsigned axis = isa<tile::ReduceOp>(reduce) ? cast<tile::ReduceOp>(reduce).getAxis()
                                              : cast<tile::ReduceCombineOp>(reduce).getAxis();
  std::optional<int64_t> warps;
  for (Type t : reduce->getOperandTypes()) {
    warps = shuffleReductionWarps(cast<RankedTensorType>(t), axis);
    if (!warps)
      return std::nullopt; // every tile shuffles, or none does
  }
  return warps;
}

int64_t tessera::schedule::reductionSharedMemoryBytes(Operation *reduce) {
  int64_t elements = reductionScratchElements(reduce);
  return scratchOffsets(elementTypesOf(reduce->getOperandTypes()),
                        [&](unsigned) { return elements; })
      .back();
}

ScanPlan tessera::schedule::planScan(tile::ScanOp op) {
  auto type = cast<RankedTensorType>(op.getSrcs().front().getType());
  unsigned axis = op.getAxis();
  ScanPlan plan;
  plan.length = type.getDimSize(axis);
  for (unsigned d = axis + 1; d < type.getRank(); ++d)
    plan.inner *= type.getDimSize(d);
  plan.lines = type.getNumElements() / plan.length;
  // Lines to spare threads: split each into segments (powers of two
  // dividing the length), one job per thread at most. A job takes about
  // 2·length/segments + segments steps: at most sqrt(2·length) segments.
  int64_t threads =
      int64_t(tile::kWarpSize) * tile::getNumWarps(op->getParentOfType<FunctionOpInterface>());
  for (int64_t next = 2;
       plan.lines * next <= threads && plan.length % next == 0 && next * next <= 2 * plan.length;
       next *= 2)
    plan.segments = next;
  plan.segmentLength = plan.length / plan.segments;
  plan.padded = plan.inner == 1 && plan.segmentLength > 1;
  return plan;
}

int64_t tessera::schedule::scanSharedMemoryBytes(tile::ScanOp op) {
  ScanPlan plan = planScan(op);
  return scratchOffsets(scanScratchTypes(op, plan),
                        [&](unsigned i) { return scanScratchElements(op, plan, i); })
      .back();
}

int64_t tessera::schedule::tileBytes(RankedTensorType t) {
  int64_t bits = std::max<int64_t>(8, t.getElementType().getIntOrFloatBitWidth());
  return t.getNumElements() * bits / 8;
}

int64_t tessera::schedule::sharedMemoryNeeded(Operation *op) {
  if (isa<tile::ReduceOp, tile::ReduceCombineOp>(op))
    return reductionSharedMemoryBytes(op);
  if (auto scan = dyn_cast<tile::ScanOp>(op))
    return scanSharedMemoryBytes(scan);
  // Atomics whose elements other threads hold copies of hand the old values
  // out through shared memory.
  if (isa<tile::AtomicRMWOp, tile::AtomicCASOp>(op)) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    Operation *kernel = op->getParentOfType<FunctionOpInterface>();
    return TileElements(type).hasCopies(tile::getNumWarps(kernel)) ? tileBytes(type) : 0;
  }
  // A staged store's block, on its way out in shifted 16-byte vectors.
  if (auto store = dyn_cast<tile::StoreOp>(op); store && store.getStaged())
    return tileBytes(store.getValue().getType());
  if (isa<tile::ConvertLayoutOp, tile::TransOp>(op) && getStagedOperand(op->getResult(0)))
    return 0;
  if (auto cvt = dyn_cast<tile::ConvertLayoutOp>(op))
    return tile::isSameDistribution(cvt.getSrc().getType(), cvt.getType())
               ? 0
               : tileBytes(cvt.getSrc().getType());
  if (auto trans = dyn_cast<tile::TransOp>(op))
    return tileBytes(trans.getSrc().getType());
  if (auto dot = dyn_cast<tile::DotOp>(op)) {
    if (!isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()))
      return llvm::alignTo(tileBytes(dot.getA().getType()), 16) + tileBytes(dot.getB().getType());
    // Split K: every group's partial sums.
    if (int64_t groups = splitKGroups(dot); groups > 1)
      return groups * tileBytes(dot.getType());
  }
  return 0;
}

namespace {

/// Adds every buffer of `buffer` to `ranges`; false where it is not a
/// tile.shared_alloc's result (its place unknown).
bool appendBufferRanges(Value buffer, SmallVectorImpl<SharedRange> &ranges) {
  auto alloc = buffer.getDefiningOp<tile::SharedAllocOp>();
  if (!alloc)
    return false;
  int64_t bytes = alloc.getType().getBufferBytes();
  for (int64_t offset : alloc.getOffsets())
    ranges.push_back({offset, offset + bytes});
  return true;
}

} // namespace

bool tessera::schedule::overlaps(ArrayRef<SharedRange> a, ArrayRef<SharedRange> b) {
  return llvm::any_of(a, [&](SharedRange x) {
    return llvm::any_of(b, [&](SharedRange y) { return x.first < y.second && y.first < x.second; });
  });
}

FailureOr<SmallVector<SharedRange>> tessera::schedule::sharedReadsOf(tile::DotOp dot) {
  SmallVector<SharedRange> reads;
  for (Value operand : dot->getOperands().take_front(2)) {
    StagedOperand staged = getStagedOperand(operand);
    if (!staged || staged.offset() < 0)
      continue;
    if (auto view = staged.source.getDefiningOp<tile::SharedViewOp>()) {
      if (!appendBufferRanges(view.getBuffer(), reads))
        return failure();
      continue;
    }
    int64_t bytes = tileBytes(cast<RankedTensorType>(staged.source.getType()));
    reads.push_back({staged.offset(), staged.offset() + bytes});
  }
  return reads;
}

FailureOr<SmallVector<SharedRange>> tessera::schedule::sharedWritesOf(Operation *op) {
  SmallVector<SharedRange> writes;
  WalkResult walk = op->walk([&](Operation *nested) {
    if (int64_t scratch = sharedMemoryNeeded(nested))
      writes.push_back({0, scratch});
    if (auto store = dyn_cast<tile::StoreStagingOp>(nested)) {
      int64_t offset = store.getOffset();
      writes.push_back({offset, offset + tileBytes(store.getValue().getType())});
      return WalkResult::advance();
    }
    if (auto copy = dyn_cast<tile::AsyncCopyOp>(nested))
      return appendBufferRanges(copy.getBuffer(), writes) ? WalkResult::advance()
                                                          : WalkResult::interrupt();
    if (auto copy = dyn_cast<tile::TmaCopyOp>(nested))
      return appendBufferRanges(copy.getBuffer(), writes) ? WalkResult::advance()
                                                          : WalkResult::interrupt();
    // Waits and barriers order writes made elsewhere; bulk stores and
    // stores from a staging tile read shared tiles and write global memory.
    if (isa<gpu::BarrierOp, tile::AsyncWaitOp, tile::MBarrierWaitOp, tile::TmaStoreOp,
            tile::TmaStoreWaitOp, tile::StoreFromStagingOp, tile::FenceAsyncSharedOp,
            tile::TurnWaitOp, tile::TurnPassOp, tile::StoreOp, tile::AtomicAddOp, tile::AtomicRMWOp,
            tile::AtomicCASOp>(nested))
      return WalkResult::advance();
    if (nested->getNumRegions() != 0 && nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    auto effects = dyn_cast<MemoryEffectOpInterface>(nested);
    if (nested->getNumRegions() == 0 && effects && !effects.hasEffect<MemoryEffects::Write>())
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  if (walk.wasInterrupted())
    return failure();
  return writes;
}

bool tessera::schedule::nothingAfterWritesWhatItReads(tile::DotOp dot) {
  FailureOr<SmallVector<SharedRange>> reads = sharedReadsOf(dot);
  if (failed(reads))
    return false;
  for (Operation *op = dot->getNextNode(); op; op = op->getNextNode()) {
    FailureOr<SmallVector<SharedRange>> writes = sharedWritesOf(op);
    if (failed(writes) || overlaps(*reads, *writes))
      return false;
  }
  return true;
}

/// The loop directly in `kernel`'s body that holds `op`; null outside loops.
Operation *tessera::schedule::topLevelLoop(Operation *op, Operation *kernel) {
  Operation *loop = nullptr;
  for (Operation *p = op->getParentOp(); p && p != kernel; p = p->getParentOp())
    if (isa<scf::ForOp>(p))
      loop = p;
  return loop;
}

tile::DotOp tessera::schedule::precedingDot(tile::DotOp dot) {
  for (Operation *op = dot->getPrevNode(); op; op = op->getPrevNode()) {
    if (auto prev = dyn_cast<tile::DotOp>(op))
      return isa<tile::MmaLayoutAttr>(prev.getType().getEncoding()) ? prev : tile::DotOp();
    // Scalar arithmetic, constants and the stagings of dot's own operands
    // lower to no shared-memory access.
    bool free = isMemoryEffectFree(op) && op->getNumRegions() == 0;
    bool scalar = llvm::none_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
    bool feedsDot = !op->use_empty() && llvm::all_of(op->getUsers(), [&](Operation *user) {
      return user == dot.getOperation();
    });
    if (!free || !(scalar || op->getNumOperands() == 0 || feedsDot))
      return {};
  }
  return {};
}

tile::DotOp tessera::schedule::followingDot(tile::DotOp dot) {
  for (Operation *op = dot->getNextNode(); op; op = op->getNextNode())
    if (auto next = dyn_cast<tile::DotOp>(op))
      return next;
  return {};
}

/// The end of the last byte the schedule placed: scratch, buffers, barriers,
/// staged tiles.
static int64_t sharedMemoryEnd(Operation *kernel) {
  int64_t scratch = 0, end = 0;
  kernel->walk([&](Operation *op) {
    scratch = std::max(scratch, sharedMemoryNeeded(op));
    if (auto alloc = dyn_cast<tile::SharedAllocOp>(op))
      for (int64_t offset : alloc.getOffsets())
        end = std::max(end, offset + alloc.getType().getBufferBytes());
    if (auto bars = dyn_cast<tile::MBarrierAllocOp>(op))
      end = std::max<int64_t>(end, bars.getOffset() + 8 * int64_t(bars.getType().getCount()));
    auto dot = dyn_cast<tile::DotOp>(op);
    tile::StagingAttr staging = dot ? dot.getStagingAttr() : tile::StagingAttr();
    for (unsigned i : {0u, 1u})
      if (StagedOperand staged = staging ? getStagedOperand(dot->getOperand(i)) : StagedOperand())
        end = std::max(end, staging.getOffset(i) +
                                tileBytes(cast<RankedTensorType>(staged.source.getType())));
  });
  return std::max(scratch, end);
}

int64_t tessera::schedule::sharedMemoryBytes(Operation *kernel) {
  // Tiles start after the scratch space, on the swizzle's period.
  return llvm::alignTo(sharedMemoryEnd(kernel), kSharedTileAlignment);
}

int64_t tessera::schedule::sharedMemoryLaunchBytes(Operation *kernel) {
  // Nothing follows the last byte: rounding the launch up to the swizzle's
  // period (up to 1023 bytes more) could only cost programs per SM.
  return llvm::alignTo(sharedMemoryEnd(kernel), 16);
}

/// Whether `v` is the same on every trip of `trip`: defined outside it, or
/// scalar code inside it computed from such values only (not from its
/// induction variable, its iter args or anything it loads).
static bool isTripInvariant(Value v, scf::ForOp trip) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return !trip->isAncestor(cast<BlockArgument>(v).getOwner()->getParentOp());
  if (!trip->isProperAncestor(def))
    return true;
  return tessera::schedule::isScalarCode(def) &&
         llvm::all_of(def->getOperands(),
                      [&](Value operand) { return isTripInvariant(operand, trip); });
}

FailureOr<scf::ForOp> tessera::schedule::tripLoopOf(scf::ForOp loop) {
  auto trip = dyn_cast<scf::ForOp>(loop->getParentOp());
  if (!trip) {
    if (isa<FunctionOpInterface>(loop->getParentOp()))
      return scf::ForOp();
    return failure();
  }
  if (!isa<FunctionOpInterface>(trip->getParentOp()) ||
      !trip.getInductionVar().getType().isInteger(32))
    return failure();
  for (Value bound : {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()})
    if (!isTripInvariant(bound, trip))
      return failure();
  return trip;
}

bool tessera::schedule::isScalarCode(Operation *op) {
  return op->getNumRegions() == 0 && isMemoryEffectFree(op) &&
         llvm::none_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
}

bool tessera::schedule::onlyScalarsBefore(Operation *op) {
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    bool tiles = llvm::any_of(prev->getResultTypes(), llvm::IsaPred<RankedTensorType>);
    if ((tiles && !isa<arith::ConstantOp>(prev)) || isa<tile::AsyncCopyOp>(prev) ||
        prev->getNumRegions() != 0)
      return false;
  }
  return true;
}

bool tessera::schedule::producerCanTakeTiles(scf::ForOp top) {
  if (!isa<FunctionOpInterface>(top->getParentOp()) || top.getNumRegionIterArgs() != 0 ||
      !top.getInductionVar().getType().isInteger(32) || !onlyScalarsBefore(top))
    return false;
  // Each pipelined loop's copies, in order: tensor, tile and buffer offsets.
  using Copy = std::tuple<Value, Type, ArrayRef<int64_t>>;
  std::optional<SmallVector<Copy>> first;
  for (scf::ForOp loop : top.getBody()->getOps<scf::ForOp>()) {
    SmallVector<Copy> copies;
    for (tile::AsyncCopyOp copy : loop.getBody()->getOps<tile::AsyncCopyOp>()) {
      auto make = copy.getDesc().getDefiningOp<tile::MakeDescOp>();
      auto alloc = copy.getBuffer().getDefiningOp<tile::SharedAllocOp>();
      if (!make || !alloc)
        return false;
      copies.push_back({make.getPtr(), copy.getBuffer().getType(), alloc.getOffsets()});
    }
    if (copies.empty())
      continue;
    if (!first)
      first = copies;
    else if (*first != copies)
      return false;
  }
  return true;
}

bool tessera::schedule::sameRingCopies(tile::TmaCopyOp x, tile::TmaCopyOp y) {
  auto ax = x.getBuffer().getDefiningOp<tile::SharedAllocOp>();
  auto ay = y.getBuffer().getDefiningOp<tile::SharedAllocOp>();
  return ax && ay && ax.getType() == ay.getType() && ax.getOffsets() == ay.getOffsets() &&
         x.getMap() == y.getMap() && x.getDistance() == y.getDistance() &&
         x.getBarriers().getType() == y.getBarriers().getType() && x.getMulticast() == 1 &&
         y.getMulticast() == 1;
}

std::pair<SmallVector<Value>, SmallVector<Value>>
tessera::schedule::mergeRings(ArrayRef<scf::ForOp> loops) {
  SmallVector<Value> buffers, fulls;
  scf::ForOp first = loops[0];
  for (tile::TmaCopyOp copy : first.getBody()->getOps<tile::TmaCopyOp>()) {
    buffers.push_back(copy.getBuffer());
    fulls.push_back(copy.getBarriers());
  }
  for (scf::ForOp loop : loops.drop_front()) {
    SmallVector<tile::TmaCopyOp> own(loop.getBody()->getOps<tile::TmaCopyOp>());
    for (auto [i, copy] : llvm::enumerate(own)) {
      Value buffer = copy.getBuffer(), bars = copy.getBarriers();
      if (bars != fulls[i]) {
        // The first loop's barriers, initialized once, take over.
        for (Operation *user : llvm::make_early_inc_range(bars.getUsers()))
          if (isa<tile::MBarrierInitOp>(user))
            user->erase();
        bars.replaceAllUsesWith(fulls[i]);
        bars.getDefiningOp()->erase();
      }
      if (buffer != buffers[i]) {
        buffer.replaceAllUsesWith(buffers[i]);
        buffer.getDefiningOp()->erase();
      }
    }
  }
  return {buffers, fulls};
}

void tessera::schedule::retargetRing(scf::ForOp loop, Value base, int64_t stages,
                                     ArrayRef<Value> buffers, ArrayRef<Value> fulls) {
  Location loc = loop.getLoc();
  OpBuilder b = OpBuilder::atBlockBegin(loop.getBody());
  Value g =
      arith::AddIOp::create(b, loc, base, emitIteration(b, loc, loop, loop.getInductionVar()));
  Value slot = arith::RemUIOp::create(b, loc, g, constI32(b, loc, stages));
  Value parity = arith::AndIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, g, constI32(b, loc, stages)), constI32(b, loc, 1));
  for (Operation &op : *loop.getBody()) {
    if (auto view = dyn_cast<tile::SharedViewOp>(op);
        view && llvm::is_contained(buffers, view.getBuffer()))
      view.getSlotMutable().assign(slot);
    if (auto wait = dyn_cast<tile::MBarrierWaitOp>(op);
        wait && llvm::is_contained(fulls, wait.getBarriers())) {
      wait.getSlotMutable().assign(slot);
      wait.getPhaseMutable().assign(parity);
    }
    if (auto copy = dyn_cast<tile::TmaCopyOp>(op);
        copy && llvm::is_contained(buffers, copy.getBuffer())) {
      OpBuilder at(copy);
      Value ahead = arith::AddIOp::create(at, loc, g, constI32(at, loc, copy.getDistance()));
      copy.getSlotMutable().assign(
          arith::RemUIOp::create(at, loc, ahead, constI32(at, loc, stages)));
    }
  }
}

gpu::BarrierOp tessera::schedule::barrierBefore(Operation *op, bool overCopies) {
  Operation *prev = op->getPrevNode();
  while (prev && (isScalarCode(prev) || (overCopies && isa<tile::TmaCopyOp>(prev))))
    prev = prev->getPrevNode();
  return dyn_cast_or_null<gpu::BarrierOp>(prev);
}

bool tessera::schedule::collectIndexSlice(scf::ForOp loop, Value v,
                                          llvm::SetVector<Operation *> &slice) {
  Block *body = loop.getBody();
  if (v == loop.getInductionVar())
    return true;
  if (auto arg = dyn_cast<BlockArgument>(v))
    return arg.getOwner() != body &&
           !body->getParentOp()->isAncestor(arg.getOwner()->getParentOp());
  Operation *def = v.getDefiningOp();
  if (!loop->isProperAncestor(def))
    return true;
  if (slice.contains(def))
    return true;
  if (def->getBlock() != body || def->getNumRegions() != 0 || !isMemoryEffectFree(def) ||
      llvm::any_of(def->getResultTypes(), llvm::IsaPred<RankedTensorType>))
    return false;
  for (Value operand : def->getOperands())
    if (!collectIndexSlice(loop, operand, slice))
      return false;
  slice.insert(def);
  return true;
}

Value tessera::schedule::emitIteration(OpBuilder &b, Location loc, scf::ForOp loop, Value iv) {
  return arith::DivSIOp::create(b, loc, arith::SubIOp::create(b, loc, iv, loop.getLowerBound()),
                                loop.getStep());
}

Value tessera::schedule::emitTripCount(OpBuilder &b, Location loc, scf::ForOp loop) {
  Value step = loop.getStep();
  Value span = arith::SubIOp::create(b, loc, loop.getUpperBound(), loop.getLowerBound());
  Value n = arith::DivSIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, span, arith::SubIOp::create(b, loc, step, constI32(b, loc, 1))),
      step);
  return arith::MaxSIOp::create(b, loc, n, constI32(b, loc, 0));
}

Value tessera::schedule::emitFillNumber(OpBuilder &b, Location loc, scf::ForOp loop, Value j,
                                        int64_t stages, Value t) {
  Value s = constI32(b, loc, stages);
  Value fill = arith::DivUIOp::create(b, loc, j, s);
  if (!t) {
    FailureOr<scf::ForOp> trip = tripLoopOf(loop);
    if (failed(trip) || !*trip)
      return fill;
    t = emitIteration(b, loc, *trip, trip->getInductionVar());
  }
  // f(slot) = (n - slot + S - 1) / S fills a run.
  Value n = emitTripCount(b, loc, loop);
  Value slot = arith::RemUIOp::create(b, loc, j, s);
  Value perRun =
      arith::DivUIOp::create(b, loc,
                             arith::AddIOp::create(b, loc, arith::SubIOp::create(b, loc, n, slot),
                                                   constI32(b, loc, stages - 1)),
                             s);
  return arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, t, perRun), fill);
}

tile::AsyncCopyOp tessera::schedule::prefetchCopyOf(tile::SharedViewOp view) {
  for (Operation *user : view.getBuffer().getUsers())
    if (auto copy = dyn_cast<tile::AsyncCopyOp>(user);
        copy && copy->getBlock() == view->getBlock() && copy.getDistance() > 0)
      return copy;
  return {};
}

Value tessera::schedule::emitBufferOffset(OpBuilder &b, Location loc, Value buffer, Value slot) {
  ArrayRef<int64_t> offsets = buffer.getDefiningOp<tile::SharedAllocOp>().getOffsets();
  int64_t stages = offsets.size();
  if (stages == 1)
    return constI32(b, loc, offsets[0]);
  if (stages == 2)
    return arith::AddIOp::create(
        b, loc, constI32(b, loc, offsets[0]),
        arith::MulIOp::create(b, loc, slot, constI32(b, loc, offsets[1] - offsets[0])));
  Value offset = constI32(b, loc, offsets[0]);
  for (int64_t s = 1; s < stages; ++s)
    offset = arith::SelectOp::create(
        b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, slot, constI32(b, loc, s)),
        constI32(b, loc, offsets[s]), offset);
  return offset;
}

/// How many of the most recent cp.async groups `dot` may leave in flight:
/// the copies committed in its block after the last one it reads (a V tile
/// copied after the K tile the QKᵀ dot reads keeps loading during it).
/// Copies hoisted out of the dot's loop are older than all of those.
int64_t schedule::copiesAllowedInFlight(tile::DotOp dot, ArrayRef<StagedOperand> staged) {
  auto isCopy = llvm::IsaPred<tile::AsyncCopyOp>;
  // Prefetched tiles were committed by the previous iteration's copy (just
  // before the view): every copy after it then, and every copy of this
  // iteration before the dot, may still run.
  std::optional<int64_t> prefetched;
  for (const StagedOperand &operand : staged) {
    // The copy of the tile (its buffers) in the loop's body: where the load
    // was, or after the tile's last reader (one stage).
    auto view = operand ? operand.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    tile::AsyncCopyOp copy = view ? prefetchCopyOf(view) : tile::AsyncCopyOp();
    if (!copy)
      continue;
    int64_t count = 0, perIteration = 0;
    for (Operation *op = copy->getNextNode(); op; op = op->getNextNode())
      count += isCopy(op);
    for (Operation *op = &dot->getBlock()->front(); op != dot.getOperation();
         op = op->getNextNode())
      count += isCopy(op);
    for (Operation &op : *dot->getBlock())
      perIteration += isCopy(&op);
    // The tile was copied `distance` iterations ago: the iterations between
    // issued their copies after it too.
    count += (copy.getDistance() - 1) * perIteration;
    prefetched = std::min(prefetched.value_or(count), count);
  }
  if (prefetched)
    return *prefetched;
  Operation *newestNeeded = nullptr;
  for (const StagedOperand &operand : staged) {
    auto view = operand ? operand.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    if (!view || view->getBlock() != dot->getBlock())
      continue;
    for (Operation *user : view.getBuffer().getUsers())
      if (isa<tile::AsyncCopyOp>(user) && user->getBlock() == dot->getBlock() &&
          (!newestNeeded || newestNeeded->isBeforeInBlock(user)))
        newestNeeded = user;
  }
  int64_t later = 0;
  for (Operation *op = newestNeeded ? newestNeeded->getNextNode() : &dot->getBlock()->front();
       op && op != dot.getOperation(); op = op->getNextNode()) {
    if (op->getNumRegions() != 0 &&
        op->walk([](tile::AsyncCopyOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return 0; // copies in nested regions: count nothing, wait for all
    later += isCopy(op);
  }
  return later;
}

std::optional<int64_t> tessera::schedule::sharedBytesPerBlock(llvm::StringRef arch) {
  return llvm::StringSwitch<std::optional<int64_t>>(arch)
      .Cases({"sm_90", "sm_90a", "sm_100", "sm_100a"}, 227 * 1024)
      .Case("sm_80", 163 * 1024)
      .Cases({"sm_86", "sm_89"}, 99 * 1024)
      .Default(std::nullopt);
}
