//===- Analysis.h - What the schedule decides from -------------*- C++ -*-===//
//
// The schedule level (docs/COMPILER.md §3) between layouts and lowering: the
// queries its passes decide from and the lowering follows (staged dot
// operands, wgmma's reach, the scratch each op's lowering needs, the
// distribution of tiles over threads), and the loop arithmetic of pipelined
// buffers. Depends on the tile dialect only; the lowering depends on it.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_SCHEDULE_ANALYSIS_H
#define TESSERA_SCHEDULE_ANALYSIS_H

#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/IR/TileDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/SetVector.h"

#include <optional>

namespace tessera::schedule {

using namespace mlir;

/// Which elements of a tile one thread holds, in the order of its vector:
/// a multi-index over the tile's dimensions, last dimension fastest (the
/// lowering's ThreadElements adds the code that computes them).
class TileElements {
public:
  explicit TileElements(RankedTensorType type);

  int64_t size() const { return numElements; }
  unsigned rank() const { return shape.size(); }
  /// Per-dimension counts (the vector is their row-major product).
  ArrayRef<int64_t> countsPerDim() const { return perDim; }
  SmallVector<int64_t> multiIndex(int64_t element) const;
  int64_t flatten(ArrayRef<int64_t> multiIndex) const;
  int64_t offset(unsigned dim, int64_t index) const { return dims[dim].offsets[index]; }
  /// True when some coordinate along `dim` reaches past the tile (threads hold
  /// copies; coordinates are taken modulo the size).
  bool wraps(unsigned dim) const;
  /// True when some element is held by more than one of a kernel's
  /// `numWarps` warps' threads (one of them owns it).
  bool hasCopies(unsigned numWarps) const;
  /// True for a 2-D tile whose lanes hold an mma accumulator's fragments
  /// (PTX ISA, "Matrix Fragments for mma.m16n8k16"): lane l the pairs at row
  /// l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 of 8-column blocks, so that
  /// a quad of lanes holds 8 columns (one stmatrix row) of one row.
  bool holdsMmaFragments() const;
  /// The distribution of each dimension (its coordinate function).
  ArrayRef<tile::DimDistribution> distribution() const { return dims; }

protected:
  /// The lane and warp id bits some dimension's coordinate depends on.
  std::pair<unsigned, unsigned> usedIdBits() const;

  SmallVector<tile::DimDistribution> dims;
  SmallVector<int64_t> shape, perDim;
  int64_t numElements;
};

/// The i32 constant v.
Value constI32(OpBuilder &b, Location loc, int64_t v);

/// Where the scratch arrays of tiles reduced or scanned together lie:
/// `elements(i)` elements of `elems[i]` each, 16-byte aligned from offset 0.
/// The offset of each, then the end of the last.
SmallVector<int64_t> scratchOffsets(TypeRange elems, function_ref<int64_t(unsigned)> elements);
/// The element types of `tiles`.
SmallVector<Type> elementTypesOf(TypeRange tiles);
/// The elements of each tile's scratch array in a reduction: W words per
/// result element (shuffles across W > 1 warps), none within one warp, or
/// the whole tile.
int64_t reductionScratchElements(Operation *reduce);

/// Columns (16-bit units) of a shared tile's swizzle panel: 128 bytes.
inline constexpr int64_t kSharedPanelCols = 64;
/// Whether a tile of `type` can be staged in a swizzled shared tile: 2-D,
/// 16- or 32-bit elements, rows of whole 16-byte chunks.
bool sharedTileFits(RankedTensorType type);
/// A row of `type` in 16-bit units (a 32-bit element is two).
int64_t sharedTileUnits(RankedTensorType type);

/// A tensor-core dot operand that lives in a shared tile of its own:
/// `source` (a 16-bit tile in another layout, converted or transposed for
/// this dot alone) is stored once and the dot reads it a k-step at a time
/// with ldmatrix. The conversion or transpose producing the operand then
/// yields no registers. Converted in the dot's block, the dot stores it;
/// converted outside (`hoisted`: a loop-invariant Q), the conversion stores
/// it once and the dot only reads it on every trip.
struct StagedOperand {
  Value source;
  bool transposed = false;
  bool hoisted = false;
  tile::DotOp dot;
  unsigned operandIndex = 0;
  explicit operator bool() const { return bool(source); }
  /// The shared tile's byte offset (#tile.staging, tile-allocate-shared-memory).
  int64_t offset() const;
  /// The tile is filled and published already (#tile.staging).
  bool ready() const;
};
StagedOperand getStagedOperand(Value operand);

/// How many of the most recent cp.async groups `dot` may leave in flight
/// when it waits for the copied tiles of `staged`: the copies committed in
/// its block after the last one it reads (a V tile copied after the K tile
/// the Q·Kᵀ dot reads keeps loading during it). Copies hoisted out of the
/// dot's loop are older than all of those.
int64_t copiesAllowedInFlight(tile::DotOp dot, ArrayRef<StagedOperand> staged);

/// Whether the shared tile staged from the f32 `source` must be rounded to
/// tf32 in place: some tf32 wgmma (sm_90a) reads it, and its load does not
/// promise tf32 values (`tf32_rounded`).
bool mustRoundCopiedToTf32(Value source);

/// The warps a reduction's rows span when each element lies in one thread
/// and is 32-bit: it lowers to shuffles, and through W shared words per
/// result element when W > 1. Nothing otherwise (the whole-tile path).
std::optional<int64_t> shuffleReductionWarps(RankedTensorType src, unsigned axis);
/// The same for a tile.reduce or tile.reduce_combine: every tile it reduces
/// together shuffles, or it does not.
std::optional<int64_t> shuffleReductionWarps(Operation *reduce);
/// The scratch bytes of a reduction's lowering: per tile reduced together,
/// W words per result element (shuffles across W > 1 warps) or the tile.
int64_t reductionSharedMemoryBytes(Operation *reduce);

/// How a scan shares its lines (the sequences along the axis) among the
/// kernel's threads: `segments` per line of `segmentLength` elements each,
/// scanned by one thread each, then offset by the segments before them.
struct ScanPlan {
  int64_t length = 1, inner = 1, lines = 1, segments = 1, segmentLength = 1;
  /// Along the innermost dimension a segment's elements are adjacent words:
  /// one word of padding after each keeps the threads' banks apart.
  bool padded = false;
  int64_t dataElements() const { return lines * length + (padded ? lines * segments : 0); }
  int64_t totalElements() const { return segments > 1 ? lines * segments : 0; }
};
ScanPlan planScan(tile::ScanOp op);
/// The element types of a scan's scratch arrays, as its lowering lays them
/// out: each tile's data, then (with more than one segment per line) each
/// tile's segment totals; and the elements of array i.
SmallVector<Type> scanScratchTypes(tile::ScanOp op, const ScanPlan &plan);
int64_t scanScratchElements(tile::ScanOp op, const ScanPlan &plan, unsigned i);
/// The scratch bytes of a scan's lowering (ScanPlan's data and segment totals).
int64_t scanSharedMemoryBytes(tile::ScanOp op);

/// The groups of warps that split `dot`'s K among them (tile::getDotMmaLayout):
/// the kernel's warps over those its accumulator layout names; 1 for most dots.
int64_t splitKGroups(tile::DotOp dot);

/// Scratch shared memory (bytes) the lowering of `op` needs at offset 0, for
/// the duration of the op; 0 for none.
int64_t sharedMemoryNeeded(Operation *op);

/// Bytes [first, second) of the dynamic shared memory.
using SharedRange = std::pair<int64_t, int64_t>;
/// Whether some range of `a` shares a byte with some range of `b`.
bool overlaps(ArrayRef<SharedRange> a, ArrayRef<SharedRange> b);
/// The shared bytes `dot`'s tensor-core lowering reads: its staged operands'
/// tiles, every buffer of a copied operand's ring (its slot is known only at
/// run time); failure where a buffer's place is unknown.
FailureOr<SmallVector<SharedRange>> sharedReadsOf(tile::DotOp dot);
/// The shared bytes `op` and the operations inside it write (stagings,
/// copies into buffers, the lowering's scratch at offset 0); nothing for
/// operations that touch registers or global memory only; failure where
/// unknown, or where `op` hands shared memory to other writers (an mbarrier
/// arrive frees a buffer for a producer's next copy).
FailureOr<SmallVector<SharedRange>> sharedWritesOf(Operation *op);
/// Whether nothing after `dot` in its block writes a shared tile the dot
/// reads: its wgmma group may stay in flight through the block's barriers
/// and shared stores (a staging exchange between warpgroups, a tile TMA
/// adds into global memory), which order other threads' writes only.
bool nothingAfterWritesWhatItReads(tile::DotOp dot);

/// Bytes of a tile of `t` in memory (i1 as a byte).
int64_t tileBytes(RankedTensorType t);
/// The loop directly in `kernel`'s body that holds `op`; null outside loops.
Operation *topLevelLoop(Operation *op, Operation *kernel);
/// The tensor-core dot before `dot` in its block when nothing in between
/// touches shared memory (scalar arithmetic, constants, stagings of `dot`'s
/// operands); null otherwise.
tile::DotOp precedingDot(tile::DotOp dot);
/// The next dot after `dot` in its block, whatever lies between; null if none.
tile::DotOp followingDot(tile::DotOp dot);
/// The copy in `view`'s block that fills its buffers ahead (tile-pipeline-
/// copies: the same buffer, a distance of at least one); null if none.
tile::AsyncCopyOp prefetchCopyOf(tile::SharedViewOp view);
/// The loop that runs `loop` once per trip (a persistent kernel's tile loop):
/// its parent scf.for directly in the kernel's body when `loop`'s bounds do
/// not change from trip to trip (defined before it, or scalar code in it of
/// such values only); null when `loop` is directly in the kernel's
/// body. Failure for any other nesting (mbarrier phases could not follow).
FailureOr<scf::ForOp> tripLoopOf(scf::ForOp loop);
/// The number (i32, from 0) of the fill of its slot that iteration `j` (i32)
/// of `loop` brings, among all fills of that slot in the kernel, with
/// `stages` buffers: iteration j fills slot j mod S for the (j / S)-th time
/// in a run of the loop; a loop with a trip loop (tripLoopOf) runs once per
/// trip t, filling slot s f(s) = ceil((n - s) / S) times a run of n
/// iterations, so the fill is t f(s) + j / S. An mbarrier of the slot
/// completes its phase of that parity when the fill has landed.
/// `trip`: the trip loop's iteration number, given where `loop` is no longer
/// where tripLoopOf finds it (a producer's copy of the trip loop runs the
/// trips); by default, computed from tripLoopOf.
Value emitFillNumber(OpBuilder &b, Location loc, scf::ForOp loop, Value j, int64_t stages,
                     Value trip = {});
/// Iterations (i32) of `loop` in one run: max(0, ceil((ub - lb) / step)).
Value emitTripCount(OpBuilder &b, Location loc, scf::ForOp loop);
/// Scalar code, which lowers to no memory access.
bool isScalarCode(Operation *op);
/// Whether nothing before `op` in its block touches tiles (constants aside)
/// or holds a region: what runs before a producer warpgroup's split there
/// runs on its warps too (tile-warp-specialize).
bool onlyScalarsBefore(Operation *op);
/// Whether a producer warpgroup can take the copies of `top`'s loops (a
/// persistent kernel's tile loop, directly in the kernel) whose bounds
/// change from trip to trip: nothing but scalar code before `top`, no
/// iteration argument, and the pipelined loops directly in its body copy
/// alike (the same tiles of the same tensors into buffers at the same
/// offsets), so that they can share one ring (tile-use-tma converts such
/// loops only then, and tile-warp-specialize takes them).
bool producerCanTakeTiles(scf::ForOp top);

/// Whether two TMA copies (of two loops) fill one ring alike: the same
/// tensor map, as far ahead, into buffers of one type at the same offsets
/// (the allocator gave both loops' tiles the same memory), with barriers of
/// one type; neither multicast.
bool sameRingCopies(tile::TmaCopyOp x, tile::TmaCopyOp y);
/// The TMA buffers and full barriers of the first of `loops` (TMA loops
/// that copy alike into buffers at the same offsets), which replace the
/// later loops' (their barriers' initialization goes): one ring for all.
std::pair<SmallVector<Value>, SmallVector<Value>> mergeRings(ArrayRef<scf::ForOp> loops);
/// Iteration j of `loop` is ring iteration g = `base` + j (a ring several
/// loops share): the views of `buffers` and the waits on `fulls` in its body
/// take slot g mod `stages` and phase parity (g / stages) mod 2, its TMA
/// copies into `buffers` (of iteration j + distance) slot (g + distance) mod
/// `stages`.
void retargetRing(scf::ForOp loop, Value base, int64_t stages, ArrayRef<Value> buffers,
                  ArrayRef<Value> fulls);
/// The barrier before `op` with only scalar code between (a copy's index
/// arithmetic) and, with `overCopies`, TMA copies; null if none.
gpu::BarrierOp barrierBefore(Operation *op, bool overCopies = false);
/// Appends to `slice`, in order, the ops of `loop`'s body that `v` is computed
/// by. False if `v` depends on anything but the induction variable and values
/// from outside the loop, or on an op that is not plain scalar arithmetic.
bool collectIndexSlice(scf::ForOp loop, Value v, llvm::SetVector<Operation *> &slice);
/// Iteration number (i32) of `iv` in `loop`: (iv - lb) / step.
Value emitIteration(OpBuilder &b, Location loc, scf::ForOp loop, Value iv);

/// The byte offset (i32) of buffer `slot` (i32) of `buffer` (a
/// tile.shared_alloc's result).
Value emitBufferOffset(OpBuilder &b, Location loc, Value buffer, Value slot);

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
/// Whether `dot`'s kernel keeps to mma.sync (tile::kWarpgroupMmaAttr false).
bool keepsToMmaSync(tile::DotOp dot);
/// Whether `op` can run as sm_90a wgmma with these staged operands (B must
/// be staged; A staged or in registers).
bool fitsWarpgroupMma(tile::DotOp op, const StagedOperand &stagedA, const StagedOperand &stagedB);
/// A tf32 dot that lowers to wgmma (on sm_90a).
bool isTf32WarpgroupMma(tile::DotOp dot);

/// Where the next shared tile of `kernel` (a tile.kernel function after
/// tile-allocate-shared-memory and tile-pipeline-copies) may start: past the
/// lowering's scratch space at offset 0, every shared buffer, every barrier
/// and every staged dot operand's tile, on the swizzle's period.
int64_t sharedMemoryBytes(Operation *kernel);
/// The bytes of dynamic shared memory a launch of `kernel` must give it: the
/// same end, rounded to 16 bytes only.
int64_t sharedMemoryLaunchBytes(Operation *kernel);

/// The most shared memory (static and dynamic) a block may opt in to on
/// `arch` (CUDA C Programming Guide, "Technical Specifications per Compute
/// Capability"), where Tessera knows the chip.
std::optional<int64_t> sharedBytesPerBlock(llvm::StringRef arch);

} // namespace tessera::schedule

#endif
