//===- Utility.h - Shared pieces of the tile-to-GPU lowering ----*- C++ -*-===//
#ifndef TESSERA_LIB_CONVERSION_TILETOGPU_UTILITY_H
#define TESSERA_LIB_CONVERSION_TILETOGPU_UTILITY_H

#include "tessera/Conversion/TileToGPU/TileToGPU.h"
#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/IR/TileDialect.h"

namespace tessera::tilegpu {

using namespace mlir;
using tile::kSharedTileAlignment;

using tile::kConsumerThreadsAttr;
using tile::kTensorMapsAttr;
/// The named barrier of a warp-specialized kernel's consumers (0 is the
/// whole CTA's).
inline constexpr int32_t kConsumerBarrier = 1;

/// The PTX of a wgmma wait that leaves the `pending` most recent groups running.
inline std::string wgmmaWaitText(int64_t pending) {
  return "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";";
}

/// cp.async.wait_group `pending`: all but the most recent groups of this thread.
void emitAsyncWait(OpBuilder &b, Location loc, int64_t pending);
/// fence.proxy.async.shared::cta: this thread's shared-memory writes become
/// visible to the async proxy (wgmma's operand reads) after a barrier.
void emitAsyncProxyFence(OpBuilder &b, Location loc);

/// Tiles become the vector of elements one thread holds; pointers become LLVM
/// global pointers; descriptors become a struct {ptr, sizes..., strides...}.
class TileTypeConverter : public TypeConverter {
public:
  explicit TileTypeConverter(MLIRContext *ctx);
};

/// Which elements of a tile one thread holds, in the order of its vector:
/// a multi-index over the tile's dimensions, last dimension fastest.
class ThreadElements {
public:
  explicit ThreadElements(RankedTensorType type);

  int64_t size() const { return numElements; }
  unsigned rank() const { return shape.size(); }
  /// Per-dimension counts (the vector is their row-major product).
  ArrayRef<int64_t> countsPerDim() const { return perDim; }
  SmallVector<int64_t> multiIndex(int64_t element) const;
  int64_t flatten(ArrayRef<int64_t> multiIndex) const;

  /// The coordinates (i32) of every element this thread holds, element-major.
  /// `opaque`: the thread id is read anew, through an instruction LLVM must
  /// leave in place, so that nothing computed from it is hoisted out of
  /// loops (a slow path's per-element addresses would stay live throughout).
  SmallVector<SmallVector<Value>> emitCoords(OpBuilder &b, Location loc, bool opaque = false) const;

  /// The thread's coordinate along each dimension without the constant
  /// offsets: element (i, j, ...) is at bases + (offset(0, i), offset(1, j), ...)
  /// wherever the layout does not wrap around the tile (see wraps()).
  SmallVector<Value> emitBases(OpBuilder &b, Location loc, bool opaque = false) const;
  int64_t offset(unsigned dim, int64_t index) const { return dims[dim].offsets[index]; }
  /// True when some coordinate along `dim` reaches past the tile (threads hold
  /// copies; coordinates are taken modulo the size).
  bool wraps(unsigned dim) const;
  /// True (i1) in exactly one of the threads that hold `element`: the one
  /// whose coordinates do not wrap and whose lane and warp bits that no
  /// dimension uses are zero. Null when every thread holds its own elements.
  Value emitIsOwner(OpBuilder &b, Location loc, ArrayRef<Value> bases, int64_t element) const;

  /// True when some element is held by more than one of a kernel's
  /// `numWarps` warps' threads (emitIsOwner picks one of them).
  bool hasCopies(unsigned numWarps) const;

  /// The distribution of each dimension (its coordinate function).
  ArrayRef<tile::DimDistribution> distribution() const { return dims; }

private:
  /// The lane and warp id bits some dimension's coordinate depends on.
  std::pair<unsigned, unsigned> usedIdBits() const;

  SmallVector<tile::DimDistribution> dims;
  SmallVector<int64_t> shape, perDim;
  int64_t numElements;
};

Value constI32(OpBuilder &b, Location loc, int64_t v);
Value constIndex(OpBuilder &b, Location loc, int64_t v);
Value toIndex(OpBuilder &b, Location loc, Value i32);

/// Inline PTX `text` with operands `args` under `constraints`, returning its
/// one result of type `result`.
Value asmOp(OpBuilder &b, Location loc, Type result, ValueRange args, StringRef text,
            StringRef constraints, bool sideEffects);
/// Inline PTX `text` with side effects and no result.
void emitAsmStatement(OpBuilder &b, Location loc, StringRef text, ValueRange args = {},
                      StringRef constraints = "");

/// The lane and warp ids (i32) of the calling thread.
/// `opaque`: as ThreadElements::emitCoords.
std::pair<Value, Value> laneAndWarp(OpBuilder &b, Location loc, bool opaque = false);

/// Row-major linear index (i32) of `coords` in a tile of `shape`.
Value linearIndex(OpBuilder &b, Location loc, ArrayRef<Value> coords, ArrayRef<int64_t> shape);

/// A view of the kernel's dynamic shared memory as `numElements` of `elementType`,
/// starting `byteOffset` bytes in. i1 is kept as i8.
Value sharedScratch(OpBuilder &b, Location loc, Type elementType, int64_t numElements,
                    int64_t byteOffset);

/// Element type as stored in memory (i1 as i8).
Type memoryType(Type elementType);
/// Converts a register value to its memory type and back.
Value toMemory(OpBuilder &b, Location loc, Value v);
Value fromMemory(OpBuilder &b, Location loc, Value v, Type elementType);

/// The elements of a thread's vector as scalars.
SmallVector<Value> unpack(OpBuilder &b, Location loc, Value vec);
/// Stores every element of `vec` (a tile of `type`) at its row-major index
/// of the shared `scratch`.
void storeTile(OpBuilder &b, Location loc, Value vec, RankedTensorType type, Value scratch);
Value pack(OpBuilder &b, Location loc, VectorType type, ArrayRef<Value> elements);

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
/// The lowering of a hoisted staged operand's conversion: stores `source`
/// into its shared tile (unless its load copies it there) and returns a
/// placeholder of `resultType` the dot does not read.
Value emitHoistedStaging(OpBuilder &b, Location loc, const StagedOperand &staged, Value source,
                         VectorType resultType);

/// Two 16-bit elements in one 32-bit register, the first in the low half.
Value packPair(OpBuilder &b, Location loc, Value lo, Value hi);
/// The two 16-bit `elem`s of a 32-bit register, the low half first.
std::pair<Value, Value> unpackPair(OpBuilder &b, Location loc, Value reg, Type elem);
/// x + c (i32), or x where c is 0.
Value addI32(OpBuilder &b, Location loc, Value x, int64_t c);
/// The f32 `value` rounded to the nearest tf32 (cvt.rna: low 13 bits zero),
/// as its bits (i32).
Value roundToTf32(OpBuilder &b, Location loc, Value value);

/// A rows x cols tile of 16-bit units in shared memory (a 32-bit element is
/// two of them, see units()), stored as column
/// panels of up to 64 elements (128 bytes), each panel row-major, the 16-byte
/// chunks of a panel row XOR-swizzled by row: chunk c of row r lives at chunk
/// c ^ ((r / rowsPerPhase) % phases). Any 8 consecutive rows' chunk c then
/// fall in 8 different bank groups, for ldmatrix and 16-byte stores alike;
/// and each panel is exactly the 128-, 64- or 32-byte swizzled canonical
/// layout wgmma descriptors describe (CUTLASS's Swizzle<3|2|1, 4, 3>).
class SharedTile {
public:
  /// A shared address as a register plus a constant the instruction adds:
  /// the constant parts of many addresses share one register.
  struct Address {
    Value base;
    int64_t offset;
    /// "[$n+offset]" for inline assembly.
    std::string operand(unsigned n) const;
  };

  SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, int64_t byteOffset);
  /// A tile at a byte offset known only at run time.
  SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, Value byteOffset);
  /// 2-D tiles of 16- or 32-bit elements whose rows are whole 16-byte chunks.
  static bool fits(RankedTensorType type);
  /// A row of `type` in 16-bit units, the tile's `cols` (a 32-bit element is
  /// two units: f32 tiles are laid out byte for byte like 16-bit ones).
  static int64_t units(RankedTensorType type);

  /// Shared address (i32) of row `row`, column chunkStart + inChunk, where
  /// `chunkStart` is a multiple of 8.
  Value address(OpBuilder &b, Location loc, Value row, Value chunkStart, Value inChunk) const;
  /// The address of chunk chunkLane + chunkConst of row rowLane + rowConst,
  /// where the *Lane parts vary by thread and the *Const parts are constant.
  Address address(OpBuilder &b, Location loc, Value rowLane, int64_t rowConst, Value chunkLane,
                  int64_t chunkConst) const;
  /// Every thread stores the elements it holds of `vec` (a tile of `type`):
  /// runs of 8 along the row as one 16-byte store, anything else one by one.
  void store(OpBuilder &b, Location loc, Value vec, RankedTensorType type) const;
  /// Stores one 16- or 32-bit element at column `col` (in elements).
  void storeElement(OpBuilder &b, Location loc, Value row, Value col, Value value) const;
  /// Shared address of element (row, col) of a tile of `bits`-bit elements.
  Value elementAddress(OpBuilder &b, Location loc, Value row, Value col, unsigned bits) const;
  /// ldmatrix of `count` (2 or 4) 8x8 matrices; lane l gives the address of
  /// row l % 8 of matrix l / 8 as (row, chunkStart).
  SmallVector<Value> ldmatrix(OpBuilder &b, Location loc, int count, bool trans,
                              const Address &address) const;

  /// Widest panel, in elements: one 128-byte swizzle period.
  static constexpr int64_t kPanelCols = 64;
  /// Bytes of one panel row (the swizzle width) and of one whole panel.
  int64_t swizzleBytes() const;
  int64_t panelBytes() const { return rows * panelCols * 2; }
  /// The tile's first byte in shared memory (i32).
  Value start() const { return base; }

  int64_t rows, cols, panelCols;

private:
  Value base;
  int64_t phases, rowsPerPhase;
};

/// Whether the shared tile staged from the f32 `source` must be rounded to
/// tf32 in place: some tf32 wgmma (sm_90a) reads it, and its load does not
/// promise tf32 values (`tf32_rounded`).
bool mustRoundCopiedToTf32(Value source);
/// Rounds to nearest tf32, in place, the f32 elements of `tile` this thread
/// copied there (a tile of `type`, the copying load's layout): wgmma would
/// truncate them. Its copies are complete once it has waited for them; the
/// barrier that publishes the tile must follow.
void emitRoundCopiedToTf32(OpBuilder &b, Location loc, const SharedTile &tile,
                           RankedTensorType type);

/// True when `src` reaches the dot operand layout `dst` through a swizzled
/// shared tile and ldmatrix (16-bit elements).
bool convertsThroughFragments(RankedTensorType src, RankedTensorType dst);
/// Stages `src` in shared memory and reads the whole operand with ldmatrix
/// (`transposed`: the operand is the transpose of `src`).
Value convertThroughFragments(OpBuilder &b, Location loc, Value src, RankedTensorType srcType,
                              RankedTensorType dstType, bool transposed);

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
/// The scratch bytes of a scan's lowering (ScanPlan's data and segment totals).
int64_t scanSharedMemoryBytes(tile::ScanOp op);

/// The groups of warps that split `dot`'s K among them (tile::getDotMmaLayout):
/// the kernel's warps over those its accumulator layout names; 1 for most dots.
int64_t splitKGroups(tile::DotOp dot);

/// Scratch shared memory (bytes) the lowering of `op` needs at offset 0, for
/// the duration of the op; 0 for none.
int64_t sharedMemoryNeeded(Operation *op);

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
/// not change from trip to trip; null when `loop` is directly in the kernel's
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
/// The barrier before `op` with only scalar code between (a copy's index
/// arithmetic) and, with `overCopies`, TMA copies; null if none.
gpu::BarrierOp barrierBefore(Operation *op, bool overCopies = false);
/// Iteration number (i32) of `iv` in `loop`: (iv - lb) / step.
Value emitIteration(OpBuilder &b, Location loc, scf::ForOp loop, Value iv);

/// The byte offset (i32) of buffer `slot` (i32) of `buffer` (a
/// tile.shared_alloc's result).
Value emitBufferOffset(OpBuilder &b, Location loc, Value buffer, Value slot);

/// Copies the tile of `copy` into its buffer with cp.async, 16 bytes per
/// instruction, zero-filling what lies outside the tensor; element by element
/// where the tensor's strides or alignment do not allow 16-byte copies.
/// `warpgroupMma` (sm_90a): tf32 wgmmas read tiles rounded in place after
/// the copy (mma.sync rounds as it reads).
void emitAsyncCopy(OpBuilder &b, Location loc, tile::AsyncCopyOp copy, Value desc,
                   ValueRange indices, Value slot, bool warpgroupMma);
/// `warpgroupMma`: as emitAsyncCopy's.
void populateMemoryOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns,
                              bool warpgroupMma);
void populateElementwiseOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
void populateSharedMemoryOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
/// tile.tma_copy and the mbarrier ops (tile-use-tma).
void populateTmaOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
/// `warpgroupMma`: dots that fit run as sm_90a wgmma rather than mma.sync.
void populateFmaDotPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
void populateTensorCoreOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns,
                                  bool warpgroupMma);

} // namespace tessera::tilegpu

#endif
