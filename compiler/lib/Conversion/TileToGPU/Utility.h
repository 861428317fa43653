//===- Utility.h - Shared pieces of the tile-to-GPU lowering ----*- C++ -*-===//
#ifndef TESSERA_LIB_CONVERSION_TILETOGPU_UTILITY_H
#define TESSERA_LIB_CONVERSION_TILETOGPU_UTILITY_H

#include "tessera/Conversion/TileToGPU/TileToGPU.h"
#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/IR/TileDialect.h"
#include "tessera/Schedule/Analysis.h"

namespace tessera::tilegpu {

using namespace mlir;
// The queries the schedule level decides from, which the lowering follows.
using namespace schedule;
using tile::kSharedTileAlignment;

using tile::kTensorMapsAttr;
/// The named barrier of a warp-specialized kernel's consumers (0 is the
/// whole CTA's).
inline constexpr int32_t kConsumerBarrier = 1;
/// Ping-pong's turn barriers: kTurnBarrier + consumer warpgroup (2 and 3).
inline constexpr int32_t kTurnBarrier = 2;

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

/// TileElements (which elements of a tile one thread holds) with the code
/// that computes their coordinates.
class ThreadElements : public schedule::TileElements {
public:
  using TileElements::TileElements;

  /// The coordinates (i32) of every element this thread holds, element-major.
  /// `opaque`: the thread id is read anew, through an instruction LLVM must
  /// leave in place, so that nothing computed from it is hoisted out of
  /// loops (a slow path's per-element addresses would stay live throughout).
  SmallVector<SmallVector<Value>> emitCoords(OpBuilder &b, Location loc, bool opaque = false) const;

  /// The thread's coordinate along each dimension without the constant
  /// offsets: element (i, j, ...) is at bases + (offset(0, i), offset(1, j), ...)
  /// wherever the layout does not wrap around the tile (see wraps()).
  SmallVector<Value> emitBases(OpBuilder &b, Location loc, bool opaque = false) const;
  /// True (i1) in exactly one of the threads that hold `element`: the one
  /// whose coordinates do not wrap and whose lane and warp bits that no
  /// dimension uses are zero. Null when every thread holds its own elements.
  Value emitIsOwner(OpBuilder &b, Location loc, ArrayRef<Value> bases, int64_t element) const;
};

Value constIndex(OpBuilder &b, Location loc, int64_t v);
Value toIndex(OpBuilder &b, Location loc, Value i32);

/// The opaque move that keeps a typed wgmma group's descriptor bases where
/// the group is issued (emitWarpgroupMma); harmless to a running wgmma.
inline constexpr llvm::StringLiteral kPinnedDescriptorAsm = "mov.b64 $0, $1;";

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

/// The shared-memory pointer of byte `offset` (i32) of the kernel's dynamic
/// shared memory, in address space 3 (shared::cta) or 7 (shared::cluster).
/// PTX lets an address of the executing CTA's window name the same bytes in
/// the cluster's, so one integer serves both: an addrspacecast from 3 to 7
/// would go through a generic address (cvta.shared, cvta.to.shared::cluster,
/// two 64-bit registers per TMA copy).
Value sharedPointer(OpBuilder &b, Location loc, Value offset, unsigned addressSpace = 3);

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

/// Two 16-bit elements in one 32-bit register, the first in the low half.
Value packPair(OpBuilder &b, Location loc, Value lo, Value hi);
/// The two 16-bit `elem`s of a 32-bit register, the low half first.
std::pair<Value, Value> unpackPair(OpBuilder &b, Location loc, Value reg, Type elem);
/// The largest power of two (up to 2^30) known to divide the i32 `v`:
/// constants, and sums, differences, products, shifts, selects and loop
/// induction variables of such; 1 for anything else. A select's INT32_MAX
/// (tile-pipeline-copies' position of a copy past the loop's end) divides
/// by anything: the access lies outside every tensor and touches no memory.
int64_t knownDivisor(Value v);

/// knownDivisor of the last index of every load, store, gather and async
/// copy under `root`, taken before the conversion: it moves loop bodies into
/// new loops, after which an old induction variable tells nothing.
class LastIndexDivisors {
public:
  explicit LastIndexDivisors(Operation *root);
  /// 1 for an op that was not there.
  int64_t of(Operation *op) const { return divisors.lookup_or(op, 1); }

private:
  llvm::DenseMap<Operation *, int64_t> divisors;
};
/// x + c (i32), or x where c is 0.
Value addI32(OpBuilder &b, Location loc, Value x, int64_t c);
/// The f32 `value` rounded to the nearest tf32 (cvt.rna: low 13 bits zero),
/// as its bits (i32).
Value roundToTf32(OpBuilder &b, Location loc, Value value);

/// A rows x cols tile of 16-bit units in shared memory (a 32-bit element is
/// two of them, see units()), stored as column
/// panels of up to 64 units (128 bytes), each panel row-major, the 16-byte
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

  /// `swizzleBytes` (32 or 64) narrows the panels below the widest the row
  /// allows (0), as a `!tile.shared` type's swizzle does.
  SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, int64_t byteOffset,
             int64_t swizzleBytes = 0);
  /// A tile at a byte offset known only at run time.
  SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, Value byteOffset);
  /// 2-D tiles of 16- or 32-bit elements whose rows are whole 16-byte chunks.
  static bool fits(RankedTensorType type) { return schedule::sharedTileFits(type); }
  /// A row of `type` in 16-bit units, the tile's `cols` (a 32-bit element is
  /// two units: f32 tiles are laid out byte for byte like 16-bit ones).
  static int64_t units(RankedTensorType type) { return schedule::sharedTileUnits(type); }

  /// Shared address (i32) of row `row`, column chunkStart + inChunk, where
  /// `chunkStart` is a multiple of 8.
  Value address(OpBuilder &b, Location loc, Value row, Value chunkStart, Value inChunk) const;
  /// The address of chunk chunkLane + chunkConst of row rowLane + rowConst,
  /// where the *Lane parts vary by thread and the *Const parts are constant.
  Address address(OpBuilder &b, Location loc, Value rowLane, int64_t rowConst, Value chunkLane,
                  int64_t chunkConst) const;
  /// Every thread stores the elements it holds of `vec` (a tile of `type`):
  /// runs of 8 along the row as one 16-byte store, an mma accumulator's
  /// 16-bit fragments by stmatrix where `matrices` (sm_90), anything else
  /// one by one. f32 elements are rounded to tf32 (a dot's operand) unless
  /// `exact`.
  void store(OpBuilder &b, Location loc, Value vec, RankedTensorType type, bool exact = false,
             bool matrices = false) const;
  /// Stores one 16- or 32-bit element at column `col` (in elements).
  void storeElement(OpBuilder &b, Location loc, Value row, Value col, Value value) const;
  /// Shared address of element (row, col) of a tile of `bits`-bit elements.
  Value elementAddress(OpBuilder &b, Location loc, Value row, Value col, unsigned bits) const;
  /// ldmatrix of `count` (2 or 4) 8x8 matrices; lane l gives the address of
  /// row l % 8 of matrix l / 8 as (row, chunkStart).
  SmallVector<Value> ldmatrix(OpBuilder &b, Location loc, int count, bool trans,
                              const Address &address) const;

  /// Widest panel, in elements: one 128-byte swizzle period.
  static constexpr int64_t kPanelCols = schedule::kSharedPanelCols;
  /// Bytes of one panel row (the swizzle width) and of one whole panel.
  int64_t swizzleBytes() const;
  int64_t panelBytes() const { return rows * panelCols * 2; }
  /// The tile's first byte in shared memory (i32).
  Value start() const { return base; }

  int64_t rows, cols, panelCols;

private:
  /// store()'s stmatrix path: false (nothing emitted) unless `elems` are an
  /// mma accumulator's fragments that group into 16 x 16 blocks.
  bool storeMatrices(OpBuilder &b, Location loc, ArrayRef<Value> values,
                     const ThreadElements &elems) const;

  Value base;
  /// 16-byte chunks of a panel row (8, 4 or 2).
  int64_t chunksPerPanel;
  int64_t phases, rowsPerPhase;
};

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

/// Copies the tile of `copy` into its buffer with cp.async, 16 bytes per
/// instruction, zero-filling what lies outside the tensor; element by element
/// where the tensor's strides or alignment do not allow 16-byte copies.
/// `warpgroupMma` (sm_90a): tf32 wgmmas read tiles rounded in place after
/// the copy (mma.sync rounds as it reads).
/// `indexDivisor`: the copy's LastIndexDivisors. `typed`: upstream's
/// nvvm.cp.async.shared.global rather than inline PTX (convert-tile-to-gpu's
/// typed-async-copies).
void emitAsyncCopy(OpBuilder &b, Location loc, tile::AsyncCopyOp copy, Value desc,
                   ValueRange indices, Value slot, bool warpgroupMma, int64_t indexDivisor,
                   bool typed = false);
/// `warpgroupMma`: as emitAsyncCopy's. `divisors` outlives the patterns.
void populateMemoryOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns,
                              bool warpgroupMma, const LastIndexDivisors &divisors,
                              bool typedAsyncCopies = false);
void populateElementwiseOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
void populateSharedMemoryOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
/// tile.tma_copy and the mbarrier ops (tile-use-tma).
/// tile.warp_specialize, after the conversion of its regions: the consumers
/// in an scf.if of the kernel's own threads, their barriers named barrier
/// kConsumerBarrier for that many; the producer on the first thread after.
/// The producer's warps give registers to the consumers (setmaxnreg,
/// WarpRegisters).
void lowerWarpSpecialize(tile::WarpSpecializeOp op);

/// Registers per thread of a warp-specialized kernel, one CTA per SM
/// (FlashAttention-3 §3.1, CUTLASS's warp-specialized kernels): the launch
/// gives every thread `launch` of the 64K (.maxntid, .minnctapersm 1), then
/// the producer's warps, which only issue copies, drop to `producer` and
/// the consumers take what they left, `consumer` (setmaxnreg; 240 for 8
/// consumer warps beside 4 producer warps at 24, where the launch gives
/// 168). ptxas reports the launch's count; it needs .minnctapersm (or
/// .maxnreg) and a whole-program assembly (linkPTX) to honour setmaxnreg.
struct WarpRegisters {
  int64_t launch, producer, consumer;
};
/// `ctasPerSm` (tile.ctas_per_sm): the CTAs that share an SM's registers
/// (two 256-thread CTAs: 128 at launch, 232 for 4 consumer warps).
WarpRegisters warpSpecializedRegisters(int64_t consumerThreads, int64_t producerThreads,
                                       int64_t ctasPerSm = 1);
void populateTmaOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
void populateFmaDotPatterns(TileTypeConverter &converter, RewritePatternSet &patterns);
/// `warpgroupMma`: dots that fit run as sm_90a wgmma rather than mma.sync;
/// `typedWarpgroupMma`: those with both operands staged through upstream's
/// typed ops (convert-tile-to-gpu's typed-wgmma). `stmatrixStagings` (with
/// `warpgroupMma`): 16-bit accumulators staged by stmatrix
/// (stmatrix-stagings).
void populateTensorCoreOpPatterns(TileTypeConverter &converter, RewritePatternSet &patterns,
                                  bool warpgroupMma, bool typedWarpgroupMma = false,
                                  bool stmatrixStagings = false);

} // namespace tessera::tilegpu

#endif
