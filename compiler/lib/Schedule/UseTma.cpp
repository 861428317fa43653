//===- UseTma.cpp - The tile-use-tma pass ---------------------------------===//
//
// A pipelined loop's copies onto Hopper's Tensor Memory Accelerator
// (docs/COMPILER.md §3). With cp.async every thread computes addresses and
// issues its share of each tile, then waits for its own groups and a CTA
// barrier publishes them. With TMA one thread issues a bulk tensor copy per
// column panel; the tile's mbarrier counts the bytes landing and every
// thread waits on its phase, after which the tile is visible to the
// tensor cores without a fence or a barrier.
//
// In a kernel of clusters (`tile.cluster_size`), a tile that every CTA of
// the cluster reads the same of (`tile.make_desc {cluster_shared}`) is
// multicast: each CTA issues a share of its panels into all of them, so
// that L2 serves it once per cluster rather than once per CTA. A buffer may
// then be refilled only once every CTA is done with it: the barrier at the
// top of the body, the one after the barriers' initialization and one at
// the kernel's end (no CTA leaves while a peer may still write into it)
// are the cluster's (`tile.cluster_barrier`).
//
//===----------------------------------------------------------------------===//

#include "tessera/Schedule/Analysis.h"
#include "tessera/Schedule/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#include <limits>

namespace tessera {
#define GEN_PASS_DEF_TILEUSETMA
#include "tessera/Schedule/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::schedule;

namespace {

/// The tensor a block access through `make` reads or writes, when TMA can
/// copy its blocks: a 2-D descriptor of 16-bit elements (f32 with `f32`:
/// the accumulators tile.tma_store adds into, tiles tf32 wgmma reads as
/// copied) whose strides allow
/// 16-byte vectors (TMA needs 16-byte aligned strides and base) of a kernel
/// tensor parameter, or of the sub-tensor of one at leading indices
/// (`tile.at`: the map is of the whole tensor, the indices lead the copy's
/// coordinates). Its sizes and strides must be the parameter's own, from
/// which the launch encodes the map.
struct TmaSource {
  /// The tensor's pointer parameter; null where TMA cannot copy.
  BlockArgument tensor;
  /// tile.at's indices, outermost first.
  SmallVector<Value> leading;

  explicit operator bool() const { return bool(tensor); }
  unsigned rank() const { return leading.size() + 2; }

  /// The tensor map of `box` rows, one column panel of `swizzleBytes`.
  tile::TensorMapType map(int64_t rows, int64_t swizzleBytes, Type elementType) const {
    int64_t panelCols = swizzleBytes * 8 / elementType.getIntOrFloatBitWidth();
    return tile::TensorMapType::get(elementType.getContext(), {rows, panelCols}, elementType,
                                    tensor.getArgNumber(), rank());
  }
  /// A copy's or store's coordinates: the leading indices, then `row`, `col`.
  SmallVector<Value> coordinates(Value row, Value col) const {
    SmallVector<Value> all(leading);
    all.append({row, col});
    return all;
  }
};

/// `source`, once `make`'s block is of its kernel parameter `ptr` (the
/// parameter, or its sub-tensor at `source.leading` whose strides are
/// `leadingStrides`): the descriptor's sizes and strides are the tensor's
/// trailing ones (the last stride may be the constant 1).
TmaSource ofParameter(TmaSource source, tile::MakeDescOp make, Value ptr, ValueRange leadingStrides,
                      func::FuncOp kernel) {
  auto arg = dyn_cast<BlockArgument>(ptr);
  unsigned rank = source.rank();
  // A tensor parameter is its pointer, then its sizes and strides (i32),
  // outermost first; cuTensorMapEncodeTiled takes up to 5 dimensions.
  if (!arg || arg.getOwner() != &kernel.getBody().front() || rank > 5 ||
      arg.getArgNumber() + 2 * rank >= kernel.getNumArguments())
    return {};
  auto param = [&](unsigned i) { return kernel.getArgument(arg.getArgNumber() + 1 + i); };
  unsigned dims = make.getSizes().size();
  for (unsigned d = 0; d < dims; ++d) {
    Value stride = make.getStrides()[d];
    bool last = d + 1 == dims;
    if (make.getSizes()[d] != param(rank - dims + d) ||
        (stride != param(2 * rank - dims + d) && !(last && matchPattern(stride, m_One()))))
      return {};
  }
  for (auto [d, stride] : llvm::enumerate(leadingStrides))
    if (stride != param(rank + d))
      return {};
  source.tensor = arg;
  return source;
}

TmaSource tmaSource(tile::MakeDescOp make, func::FuncOp kernel, bool f32 = false) {
  Type elem = make ? make.getType().getElementType() : Type();
  if (!make || !make.getAligned() || make.getSizes().size() != 2 ||
      !(f32 ? elem.isF32() : elem.getIntOrFloatBitWidth() == 16))
    return {};
  TmaSource source;
  Value ptr = make.getPtr();
  ValueRange leadingStrides;
  if (auto at = ptr.getDefiningOp<tile::AtOp>()) {
    ptr = at.getPtr();
    source.leading.assign(at.getIndices().begin(), at.getIndices().end());
    leadingStrides = at.getStrides();
  }
  return ofParameter(source, make, ptr, leadingStrides, kernel);
}

/// The tensor a row vector (a 1-D block of f32 along a tensor's last,
/// unit-stride dimension) reads through `make`, when TMA can copy it: the
/// descriptor views a kernel parameter at leading indices (`tile.at`) and
/// allows 16-byte vectors; its map's boxes are one row of the matrix of all
/// but the last of those indices, the last one (`row`) its row.
TmaSource rowVectorSource(tile::MakeDescOp make, func::FuncOp kernel, Value &row) {
  if (!make || !make.getAligned() || make.getSizes().size() != 1 ||
      !make.getType().getElementType().isF32())
    return {};
  auto at = make.getPtr().getDefiningOp<tile::AtOp>();
  if (!at || at.getIndices().empty())
    return {};
  TmaSource source;
  source.leading.assign(at.getIndices().begin(), std::prev(at.getIndices().end()));
  row = at.getIndices().back();
  return ofParameter(source, make, at.getPtr(), at.getStrides(), kernel);
}

/// Whether every tile viewed in `buffer` is an operand of tf32 wgmma, which
/// reads it as its f32 copy brought it: none is rounded to tf32 in place
/// (their loads promise tf32 values). The rounding rewrites the tile after
/// cp.async's wait, which a TMA copy's mbarrier wait would have to order,
/// with a barrier of its own; f32 tiles of other dots have not been run by
/// TMA on a GPU.
bool readAsCopiedByTf32Wgmma(Value buffer) {
  return llvm::all_of(buffer.getUsers(), [](Operation *user) {
    auto view = dyn_cast<tile::SharedViewOp>(user);
    if (!view)
      return true;
    return !mustRoundCopiedToTf32(view.getResult()) &&
           llvm::all_of(view->getUsers(), [](Operation *reader) {
             StagedOperand staged = reader->getNumResults() == 1
                                        ? getStagedOperand(reader->getResult(0))
                                        : StagedOperand();
             return staged && isTf32WarpgroupMma(staged.dot);
           });
  });
}

/// The tensor `copy` reads, when TMA can copy it (tmaSource) into its
/// buffer: at most 256 rows (a box's limit), a multiple of 8 (so that every
/// panel starts on a swizzle period, as TMA's swizzle is of absolute
/// addresses). 16-bit tiles, and f32 ones that tf32 wgmma reads as copied
/// (readAsCopiedByTf32Wgmma: K and Vᵀ that attention_prepare_kv rounded).
TmaSource tmaSource(tile::AsyncCopyOp copy, func::FuncOp kernel) {
  int64_t rows = copy.getBuffer().getType().getShape()[0];
  if (rows > 256 || rows % 8 != 0)
    return {};
  auto make = copy.getDesc().getDefiningOp<tile::MakeDescOp>();
  bool f32 = make && make.getType().getElementType().isF32();
  if (f32 && !readAsCopiedByTf32Wgmma(copy.getBuffer()))
    return {};
  return tmaSource(make, kernel, f32);
}

/// The tensor map of `source` for `buffer`'s tiles: boxes of all its rows,
/// one column panel (one swizzle period) wide.
tile::TensorMapType boxOf(tile::SharedType buffer, const TmaSource &source) {
  return source.map(buffer.getShape()[0], buffer.getSwizzleBytes(), buffer.getElementType());
}

/// The swizzle of the staging tile a TMA add's block of `type` is stored
/// into (tile.store_staging exact): 32 bytes for an mma accumulator's
/// layout, 0 (the widest) otherwise. Each thread stores its f32 pairs as 8
/// bytes; a quad of lanes writes 8 columns (32 bytes) of one row, a
/// half-warp four consecutive rows. In 128-byte panels rows r and r ^ 1
/// hold those 32 bytes in the same two chunks (swapped by the swizzle), in
/// 64-byte panels rows r and r ^ 2: every store takes two shared
/// wavefronts a half-warp. Four 32-byte rows fill the 32 banks once.
int64_t addStagingSwizzle(RankedTensorType type) {
  // A row of 8 columns is one 32-byte panel already.
  return TileElements(type).holdsMmaFragments() && type.getDimSize(1) % 8 == 0 &&
                 type.getDimSize(1) > 8
             ? 32
             : 0;
}

/// Index and predicate of a copy's first index as tile-pipeline-copies makes
/// it: `select(runs, index, INT32_MAX)` (out of range: zeros) becomes the
/// index with the predicate `runs`; any other index is always copied.
std::pair<Value, Value> splitOutOfRange(Value index) {
  auto select = index.getDefiningOp<arith::SelectOp>();
  APInt outOfRange;
  if (select && matchPattern(select.getFalseValue(), m_ConstantInt(&outOfRange)) &&
      outOfRange == std::numeric_limits<int32_t>::max())
    return {select.getTrueValue(), select.getCondition()};
  return {index, Value()};
}

/// Moves the ops of `body` that `v` is computed from (iteration arithmetic,
/// pure) after `cursor`, operands first, advancing it.
void hoistSlice(Value v, Block *body, Operation *&cursor) {
  Operation *def = v.getDefiningOp();
  if (!def || def == cursor || def->getBlock() != body || def->isBeforeInBlock(cursor))
    return;
  for (Value operand : def->getOperands())
    hoistSlice(operand, body, cursor);
  def->moveAfter(cursor);
  cursor = def;
}

class TmaRewriter {
public:
  TmaRewriter(func::FuncOp kernel, bool sharedRings, bool stageRows, bool narrowAddPanels,
              bool shiftedStores)
      : kernel(kernel), sharedRings(sharedRings), stageRows(stageRows),
        narrowAddPanels(narrowAddPanels), shiftedStores(shiftedStores) {
    if (auto size = kernel->getAttrOfType<IntegerAttr>(tile::kClusterSizeAttr);
        size && !kernel->hasAttr(tile::kWarpSpecializeAttr))
      clusterSize = size.getInt();
  }

  /// The loops directly in the kernel's body, and those directly in one of
  /// them (a persistent kernel's loop over its tiles) whose bounds do not
  /// change from trip to trip, or, in a kernel whose copies a producer
  /// warpgroup takes, whose bounds do where it can take them
  /// (producerCanTakeTiles: the attention forward's key loops on causal
  /// tiles): tile-warp-specialize then counts their ring's iterations
  /// across trips, replacing the fill numbers given here.
  void run() {
    // The atomic adds' staging tiles first: the loops' barriers go after them.
    SmallVector<std::pair<tile::AtomicAddOp, Value>> adds;
    SmallVector<tile::AtomicAddOp> atomics;
    kernel.walk([&](tile::AtomicAddOp add) { atomics.push_back(add); });
    for (tile::AtomicAddOp add : atomics)
      if (Value staging = reserveStaging(add))
        adds.push_back({add, staging});
    SmallVector<scf::ForOp> loops;
    bool producer = kernel->hasAttr(tile::kWarpSpecializeAttr);
    for (scf::ForOp loop : kernel.getBody().front().getOps<scf::ForOp>()) {
      loops.push_back(loop);
      bool takesTiles = producer && producerCanTakeTiles(loop);
      for (scf::ForOp inner : loop.getBody()->getOps<scf::ForOp>())
        if (succeeded(tripLoopOf(inner)) || takesTiles)
          loops.push_back(inner);
    }
    for (scf::ForOp loop : loops)
      rewrite(loop);
    if (sharedRings && !kernel->hasAttr(tile::kWarpSpecializeAttr) && clusterSize == 1) {
      SmallVector<scf::ForOp> top(kernel.getBody().front().getOps<scf::ForOp>());
      for (size_t k = 1; k < top.size(); ++k)
        continueRing(top[k - 1], top[k]);
    }
    for (auto [add, staging] : adds)
      rewriteAdd(add, staging);
    if (kernel->hasAttr(tile::kTmaStoresAttr))
      for (tile::StoreOp store : llvm::to_vector(kernel.getBody().front().getOps<tile::StoreOp>()))
        rewriteStore(store);
    if (!multicasts) {
      for (tile::ClusterBarrierOp barrier : initBarriers)
        barrier->erase();
      return;
    }
    // No CTA leaves while a peer may still multicast into it.
    kernel.walk([&](func::ReturnOp ret) {
      OpBuilder b(ret);
      tile::ClusterBarrierOp::create(b, ret.getLoc());
    });
  }

private:
  /// The copies in `loop`'s body if every one can move onto TMA: each
  /// pipelined, of a tensor TMA can describe, into a buffer whose view in the
  /// body is read only by dots that synchronize for it themselves (or whose
  /// tiles a dot before them waits for and publishes, at its start: each
  /// then waits for its own barrier instead).
  SmallVector<tile::AsyncCopyOp> convertibleCopies(scf::ForOp loop) {
    Block *body = loop.getBody();
    if (!loop.getInductionVar().getType().isInteger(32) ||
        body->walk([](scf::ForOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return {};
    SmallVector<tile::AsyncCopyOp> copies;
    bool ok = true;
    body->walk([&](tile::AsyncCopyOp copy) {
      ok = ok && copy->getBlock() == body && copy.getDistance() >= 1 &&
           copy.getBuffer().getType().getBuffers() >= 2 && tmaSource(copy, kernel);
      copies.push_back(copy);
    });
    for (tile::AsyncCopyOp copy : copies) {
      tile::SharedViewOp view = viewOf(copy, body);
      ok = ok && view && !readers(view).empty();
      // A dot that publishes the next dot's copies at a split-K exchange
      // keeps cp.async; one that publishes them at its start stops (below).
      for (tile::DotOp dot : view ? readers(view) : SmallVector<tile::DotOp>()) {
        tile::StagingAttr staging = dot.getStagingAttr();
        ok = ok && staging && staging.getPublishNext() != tile::PublishNext::at_exchange;
      }
    }
    if (!ok)
      return {};
    return copies;
  }

  static tile::SharedViewOp viewOf(tile::AsyncCopyOp copy, Block *body) {
    for (Operation *user : copy.getBuffer().getUsers())
      if (auto view = dyn_cast<tile::SharedViewOp>(user); view && view->getBlock() == body)
        return view;
    return {};
  }

  /// The dots of the view's block that stage it; empty if anything else reads it.
  static SmallVector<tile::DotOp> readers(tile::SharedViewOp view) {
    SmallVector<tile::DotOp> dots;
    for (Operation *staging : view->getUsers()) {
      StagedOperand staged =
          staging->getNumResults() == 1 ? getStagedOperand(staging->getResult(0)) : StagedOperand();
      if (!staged || staged.hoisted || staged.dot->getBlock() != view->getBlock())
        return {};
      dots.push_back(staged.dot);
    }
    return dots;
  }

  /// The tensor-map parameter of `map`'s type (tensor and boxes), appended
  /// to the kernel's arguments once.
  Value tensorMap(tile::TensorMapType map) {
    auto it = maps.find(map);
    if (it != maps.end())
      return it->second;
    unsigned index = kernel.getNumArguments();
    if (failed(kernel.insertArgument(index, map, DictionaryAttr(), kernel.getLoc())))
      return {};
    return maps[map] = kernel.getArgument(index);
  }

  /// `store` through a staging tile and TMA bulk stores: a 2-D block of
  /// 16-bit elements, whole 64-column panels of at most 256 rows (a
  /// multiple of 8), of an aligned tensor from a pointer parameter, stored
  /// after every loop and copy of the kernel, so that the staging tile may
  /// take the start of the shared memory those used (it must fit there,
  /// before the barriers). Beside a producer warpgroup too: the consumers
  /// have waited for every fill of its ring by then, and the barriers below
  /// become theirs (tile-warp-specialize). The block is written into it
  /// once every warp is done with that space (a barrier), fenced for the
  /// async proxy and published (a barrier); tile.tma_store sends it out; a
  /// last barrier keeps the space until TMA has read it. A 16-bit block of
  /// a tensor TMA cannot describe (not `aligned`: rows of 111 elements)
  /// goes through the same tile with `shiftedStores`: every thread then
  /// writes 16-byte vectors of global memory out of it
  /// (tile.store_from_staging) where its registers would write 2 bytes at a
  /// time; the next store's first barrier keeps the space until then.
  void rewriteStore(tile::StoreOp store) {
    RankedTensorType type = store.getValue().getType();
    auto make = store.getDesc().getDefiningOp<tile::MakeDescOp>();
    TmaSource source = tmaSource(make, kernel);
    bool shifted = !source && shiftedStores && make && !make.getAligned() && type.getRank() == 2 &&
                   type.getElementType().getIntOrFloatBitWidth() == 16;
    if (store.getMask() || (!source && !shifted) || type.getDimSize(0) > 256 ||
        type.getDimSize(0) % 8 != 0 || type.getDimSize(1) % kSharedPanelCols != 0)
      return;
    for (Operation *op = store->getNextNode(); op; op = op->getNextNode())
      if (op->getNumRegions() != 0 || isa<tile::AsyncCopyOp, tile::TmaCopyOp>(op))
        return;
    auto staging =
        tile::SharedType::get(kernel.getContext(), type.getShape(), type.getElementType(), 1);
    if (staging.getBufferBytes() > sharedEnd())
      return;
    Value map;
    if (!shifted && !(map = tensorMap(boxOf(staging, source))))
      return;
    OpBuilder b(store);
    Location loc = store.getLoc();
    auto alloc = tile::SharedAllocOp::create(b, loc, staging, b.getDenseI64ArrayAttr({0}));
    // The space may cover TMA adds' staging tiles: their last reads first.
    if (waitsAtReturn)
      tile::TmaStoreWaitOp::create(b, loc);
    gpu::BarrierOp::create(b, loc);
    tile::StoreStagingOp::create(b, loc, store.getValue(), /*offset=*/0);
    // The threads read it back with generic loads: no async proxy.
    if (!shifted)
      tile::FenceAsyncSharedOp::create(b, loc);
    gpu::BarrierOp::create(b, loc);
    if (shifted) {
      tile::StoreFromStagingOp::create(b, loc, alloc, store.getDesc(), store.getIndices());
    } else {
      tile::TmaStoreOp::create(b, loc, alloc, map,
                               source.coordinates(store.getIndices()[0], store.getIndices()[1]));
      tile::TmaStoreWaitOp::create(b, loc);
      gpu::BarrierOp::create(b, loc);
    }
    store->erase();
  }

  /// The staging tile of `add`, if TMA can add its block into the tensor: a
  /// 2-D f32 block of at most 256 rows (a multiple of 8) and whole 32-column
  /// panels (addStagingSwizzle may narrow them) of an aligned tensor from a
  /// pointer parameter, whose tile fits
  /// after the shared memory placed so far, added in the kernel's body or a
  /// loop's (every thread reaches its barriers; not under an scf.if).
  /// Allocated at the kernel's start: the tile is the add's alone.
  Value reserveStaging(tile::AtomicAddOp add) {
    RankedTensorType type = add.getValue().getType();
    TmaSource source =
        tmaSource(add.getDesc().getDefiningOp<tile::MakeDescOp>(), kernel, /*f32=*/true);
    if (!source || !isa<func::FuncOp, scf::ForOp>(add->getParentOp()) || !type.getEncoding() ||
        type.getDimSize(0) > 256 || type.getDimSize(0) % 8 != 0 ||
        sharedTileUnits(type) % kSharedPanelCols != 0)
      return {};
    auto staging =
        tile::SharedType::get(kernel.getContext(), type.getShape(), type.getElementType(), 1,
                              narrowAddPanels ? addStagingSwizzle(type) : 0);
    int64_t offset = llvm::alignTo(std::max(sharedEnd(), nextBarrier), tile::kSharedTileAlignment);
    if (!fitsBeforeBarriers(offset + staging.getBufferBytes()))
      return {};
    end = offset + staging.getBufferBytes();
    OpBuilder b = OpBuilder::atBlockBegin(&kernel.getBody().front());
    return tile::SharedAllocOp::create(b, add.getLoc(), staging, b.getDenseI64ArrayAttr({offset}));
  }

  /// `add` through its staging tile and a TMA bulk add: once the previous
  /// add has read the tile (tile.tma_store_wait, then a barrier: in a loop
  /// whose body opens with one that stays, the wait moves before that
  /// barrier, a whole iteration after the add it waits for), the block is
  /// written into it,
  /// fenced for the async proxy and published; one thread issues the add and
  /// goes on. Before the kernel returns the last one has read the tile.
  void rewriteAdd(tile::AtomicAddOp add, Value staging) {
    TmaSource source =
        tmaSource(add.getDesc().getDefiningOp<tile::MakeDescOp>(), kernel, /*f32=*/true);
    Value map = tensorMap(boxOf(cast<tile::SharedType>(staging.getType()), source));
    if (!map)
      return;
    OpBuilder b(add);
    Location loc = add.getLoc();
    Block *block = add->getBlock();
    Operation *opening = &block->front();
    // A producer warpgroup takes the barrier that opens the body away
    // (tile-warp-specialize): the add then waits before its own barrier,
    // which becomes the consumers' (thread 0, which issues, is theirs).
    bool loopBody = isa<scf::ForOp>(add->getParentOp()) &&
                    isa<gpu::BarrierOp, tile::ClusterBarrierOp>(opening) &&
                    !kernel->hasAttr(tile::kWarpSpecializeAttr);
    if (loopBody) {
      OpBuilder top(opening);
      tile::TmaStoreWaitOp::create(top, loc);
    } else {
      tile::TmaStoreWaitOp::create(b, loc);
      gpu::BarrierOp::create(b, loc);
    }
    int64_t offset = staging.getDefiningOp<tile::SharedAllocOp>().getOffsets()[0];
    int64_t swizzle = cast<tile::SharedType>(staging.getType()).getSwizzle();
    tile::StoreStagingOp::create(b, loc, add.getValue(), offset, /*exact=*/true, swizzle);
    tile::FenceAsyncSharedOp::create(b, loc);
    gpu::BarrierOp::create(b, loc);
    tile::TmaStoreOp::create(b, loc, staging, map,
                             source.coordinates(add.getIndices()[0], add.getIndices()[1]),
                             /*add=*/true);
    add->erase();
    if (!waitsAtReturn) {
      waitsAtReturn = true;
      kernel.walk([&](func::ReturnOp ret) {
        OpBuilder before(ret);
        tile::TmaStoreWaitOp::create(before, ret.getLoc());
      });
    }
  }

  /// The CTAs `copy` lands in: the cluster's where it reads the same blocks
  /// in each (cluster_shared), its panels divide among them and it is in the
  /// kernel's body or in an innermost loop directly there (every CTA of the
  /// cluster issues it as often; a persistent kernel's programs, looping
  /// over different numbers of tiles, need not); else 1.
  int64_t multicastOf(tile::AsyncCopyOp copy) {
    auto make = copy.getDesc().getDefiningOp<tile::MakeDescOp>();
    tile::TensorMapType map = boxOf(copy.getBuffer().getType(), tmaSource(copy, kernel));
    int64_t panels = copy.getBuffer().getType().getShape()[1] / map.getBox()[1];
    Operation *parent = copy->getParentOp();
    auto loop = dyn_cast<scf::ForOp>(parent);
    bool everyCta = parent == kernel.getOperation() ||
                    (loop && loop->getParentOp() == kernel.getOperation() &&
                     !loop.getBody()
                          ->walk([](scf::ForOp) { return WalkResult::interrupt(); })
                          .wasInterrupted());
    if (clusterSize > 1 && make && make.getClusterShared() && panels % clusterSize == 0 && everyCta)
      return clusterSize;
    return 1;
  }

  /// The barriers of `buffer`, placed after the kernel's shared memory and
  /// initialized at its start.
  Value barriersOf(Value buffer) {
    auto it = barriers.find(buffer);
    if (it != barriers.end())
      return it->second;
    unsigned count = cast<tile::SharedType>(buffer.getType()).getBuffers();
    int64_t offset = llvm::alignTo(std::max(sharedEnd(), nextBarrier), 8);
    nextBarrier = offset + 8 * count;
    OpBuilder b(kernel.getContext());
    b.setInsertionPointAfter(buffer.getDefiningOp());
    Location loc = buffer.getLoc();
    Value bars = tile::MBarrierAllocOp::create(
        b, loc, tile::MBarriersType::get(kernel.getContext(), count), offset);
    tile::MBarrierInitOp::create(b, loc, bars, /*count=*/1);
    // Peers may multicast into these barriers: all initialized first.
    if (clusterSize > 1)
      initBarriers.push_back(tile::ClusterBarrierOp::create(b, loc));
    return barriers[buffer] = bars;
  }

  /// Whether shared memory placed up to `end` leaves room for the barriers
  /// of up to four buffers per loop copy within what a CTA may take on
  /// sm_90, less the kilobyte of static shared memory that aligns it
  /// (align-dynamic-shared-memory).
  static bool fitsBeforeBarriers(int64_t end) {
    constexpr int64_t kBarrierRoom = 256;
    return end + kBarrierRoom <= *sharedBytesPerBlock("sm_90a") - 1024;
  }

  /// The end of the shared memory the schedule placed so far (barriers aside).
  int64_t sharedEnd() {
    if (!end)
      end = sharedMemoryBytes(kernel);
    return *end;
  }

  /// `copy` as a TMA copy at `b`, into the same buffer and slot.
  tile::TmaCopyOp replace(OpBuilder &b, tile::AsyncCopyOp copy, Value map, Value bars) {
    auto [row, runs] = splitOutOfRange(copy.getIndices()[0]);
    int64_t multicast = multicastOf(copy);
    multicasts |= multicast > 1;
    auto tma = tile::TmaCopyOp::create(
        b, copy.getLoc(), map, tmaSource(copy, kernel).coordinates(row, copy.getIndices()[1]),
        copy.getBuffer(), copy.getSlot(), bars, runs, copy.getDistance(), /*single_thread=*/false,
        multicast);
    Operation *select = copy.getIndices()[0].getDefiningOp();
    copy->erase();
    if (select && isa<arith::SelectOp>(select) && select->use_empty())
      select->erase();
    return tma;
  }

  void rewrite(scf::ForOp loop) {
    SmallVector<tile::AsyncCopyOp> copies = convertibleCopies(loop);
    if (copies.empty())
      return;
    Block *body = loop.getBody();
    Location loc = loop.getLoc();
    // A CTA barrier at the top of the body: every warp is done with the
    // previous iterations' reads of the buffers refilled below (their wgmma
    // groups were waited for by then, tessera-defer-wgmma-waits), and the
    // copies follow it.
    OpBuilder top = OpBuilder::atBlockBegin(body);
    // The cluster's, where peers multicast into this CTA's buffers.
    bool multicast =
        llvm::any_of(copies, [&](tile::AsyncCopyOp copy) { return multicastOf(copy) > 1; });
    Operation *barrier = multicast ? tile::ClusterBarrierOp::create(top, loc).getOperation()
                                   : gpu::BarrierOp::create(top, loc).getOperation();
    // The prologue's copies of the same buffers, before the loop.
    llvm::SetVector<Value> buffers;
    for (tile::AsyncCopyOp copy : copies)
      buffers.insert(copy.getBuffer());
    SmallVector<tile::AsyncCopyOp> prologue;
    for (Value buffer : buffers)
      for (Operation *user : buffer.getUsers())
        if (auto copy = dyn_cast<tile::AsyncCopyOp>(user); copy && copy->getBlock() != body)
          prologue.push_back(copy);
    for (tile::AsyncCopyOp copy : prologue) {
      Value map = tensorMap(boxOf(copy.getBuffer().getType(), tmaSource(copy, kernel)));
      OpBuilder b(copy);
      replace(b, copy, map, barriersOf(copy.getBuffer()));
    }
    Operation *cursor = barrier;
    for (tile::AsyncCopyOp copy : copies) {
      Value map = tensorMap(boxOf(copy.getBuffer().getType(), tmaSource(copy, kernel)));
      Value bars = barriersOf(copy.getBuffer());
      // The copy's own barrier (tile-pipeline-copies) gives way to the one above.
      if (gpu::BarrierOp own = barrierBefore(copy); own && own.getOperation() != barrier)
        own->erase();
      for (Value operand : copy->getOperands())
        hoistSlice(operand, body, cursor);
      OpBuilder b(body, std::next(Block::iterator(cursor)));
      cursor = replace(b, copy, map, bars);
    }
    // Each view's readers wait for its buffer's barrier: phase parity the
    // fill's number mod 2 (emitFillNumber: iteration / stages, counted on
    // from the trips before in a persistent kernel).
    for (Value buffer : buffers) {
      auto type = cast<tile::SharedType>(buffer.getType());
      for (Operation *user : buffer.getUsers()) {
        auto view = dyn_cast<tile::SharedViewOp>(user);
        if (!view || view->getBlock() != body)
          continue;
        SmallVector<tile::DotOp> dots = readers(view);
        tile::DotOp first = dots.front();
        for (tile::DotOp dot : dots)
          if (dot->isBeforeInBlock(first))
            first = dot;
        OpBuilder b(first);
        Value fill = emitFillNumber(
            b, loc, loop, emitIteration(b, loc, loop, loop.getInductionVar()), type.getBuffers());
        Value parity = arith::AndIOp::create(b, loc, fill, constI32(b, loc, 1));
        tile::MBarrierWaitOp::create(b, loc, barriersOf(buffer), view.getSlot(), parity);
        for (tile::DotOp dot : dots)
          for (unsigned i : {0u, 1u})
            if (StagedOperand staged = getStagedOperand(dot->getOperand(i));
                staged && staged.source == view.getResult())
              markReady(dot, i);
      }
    }
    // No copy is left for a dot to wait for and publish for the next one:
    // each dot waited for its own tiles' barriers above.
    for (tile::DotOp dot : body->getOps<tile::DotOp>())
      if (tile::StagingAttr s = dot.getStagingAttr();
          s && s.getPublishNext() == tile::PublishNext::at_start)
        dot.setStagingAttr(tile::StagingAttr::get(dot->getContext(), s.getOffsetA(), s.getOffsetB(),
                                                  s.getReadyA(), s.getReadyB(),
                                                  tile::PublishNext::none));
    // No cp.async group is left to drain after the loop.
    if (auto wait = dyn_cast_or_null<tile::AsyncWaitOp>(loop->getNextNode()))
      if (!hasAsyncCopies())
        wait->erase();
    if (stageRows)
      stageRowVectors(loop, cast<tile::TmaCopyOp>(cursor));
  }

  /// The row vectors `loop`'s body loads (rowVectorSource: a 1-D f32 block,
  /// zero-padded, at most 256 elements of whole 16-byte chunks, its
  /// coordinates computed from the induction variable) once its copies are
  /// TMA copies, `ref` among them: each gets a ring of one-row buffers as
  /// deep as ref's, after everything placed so far, and barriers of its
  /// own; its copies go beside ref's (after it in the body, after each of
  /// its copies before the loop) for the same iteration, into the same
  /// slot, under the same predicate; the load becomes a wait on its
  /// buffer's barrier and a view of the buffer. Where a producer warpgroup
  /// takes the ring (tile-warp-specialize), the consumers' first use of the
  /// scores in the attention backward no longer waits on L and D from
  /// global memory (FlashAttention-3's producer brings them so).
  void stageRowVectors(scf::ForOp loop, tile::TmaCopyOp ref) {
    Block *body = loop.getBody();
    MLIRContext *ctx = kernel.getContext();
    int64_t stages = ref.getBuffer().getType().getBuffers();
    SmallVector<tile::TmaCopyOp> refBefore;
    for (Operation *user : ref.getBuffer().getUsers())
      if (auto copy = dyn_cast<tile::TmaCopyOp>(user); copy && copy != ref) {
        if (copy->getBlock() == body || !getConstantIntValue(copy.getSlot()))
          return;
        refBefore.push_back(copy);
      }
    Type f32 = Float32Type::get(ctx);
    for (tile::LoadOp load : llvm::to_vector(body->getOps<tile::LoadOp>())) {
      RankedTensorType type = load.getType();
      int64_t n = type.getRank() == 1 ? type.getDimSize(0) : 0;
      Value row;
      TmaSource source =
          rowVectorSource(load.getDesc().getDefiningOp<tile::MakeDescOp>(), kernel, row);
      if (!source || n < 1 || n > 256 || n % 4 != 0 || load.getTf32Rounded() ||
          load.getDesc().getType().getPadding() != tile::Padding::zero)
        continue;
      SmallVector<Value> coordinates = source.coordinates(row, load.getIndices()[0]);
      llvm::SetVector<Operation *> slice;
      if (!llvm::all_of(coordinates, [&](Value v) { return collectIndexSlice(loop, v, slice); }))
        continue;
      // The ring, on TMA's 128-byte alignment of destinations.
      auto type1 = tile::SharedType::get(ctx, {1, n}, f32, stages);
      int64_t bufferBytes = llvm::alignTo(type1.getBufferBytes(), tile::kRowVectorAlignment);
      int64_t offset = llvm::alignTo(std::max(sharedEnd(), nextBarrier), tile::kRowVectorAlignment);
      if (!fitsBeforeBarriers(offset + stages * bufferBytes))
        continue;
      Value map = tensorMap(source.map(1, type1.getSwizzleBytes(), f32));
      if (!map)
        return;
      end = offset + stages * bufferBytes;
      SmallVector<int64_t> offsets;
      for (int64_t s = 0; s < stages; ++s)
        offsets.push_back(offset + s * bufferBytes);
      Location loc = load.getLoc();
      OpBuilder entry = OpBuilder::atBlockBegin(&kernel.getBody().front());
      Value buffer =
          tile::SharedAllocOp::create(entry, loc, type1, entry.getDenseI64ArrayAttr(offsets));
      Value bars = barriersOf(buffer);
      // The vector of iteration `iv` at `b`, as `copy` issues its tile.
      auto copyBeside = [&](tile::TmaCopyOp copy, Value iv) {
        OpBuilder b(copy->getBlock(), std::next(Block::iterator(copy)));
        IRMapping mapping;
        mapping.map(loop.getInductionVar(), iv);
        for (Operation *op : slice)
          b.clone(*op, mapping);
        SmallVector<Value> at =
            llvm::map_to_vector(coordinates, [&](Value v) { return mapping.lookupOrDefault(v); });
        tile::TmaCopyOp::create(b, loc, map, at, buffer, copy.getSlot(), bars, copy.getPredicate(),
                                copy.getDistance(), /*single_thread=*/false, /*multicast=*/1);
      };
      auto ivAt = [&](OpBuilder &b, Value base, int64_t ahead) -> Value {
        return arith::AddIOp::create(
            b, loc, base, arith::MulIOp::create(b, loc, loop.getStep(), constI32(b, loc, ahead)));
      };
      {
        OpBuilder b(ref);
        copyBeside(ref, ivAt(b, loop.getInductionVar(), ref.getDistance()));
      }
      for (tile::TmaCopyOp before : refBefore) {
        OpBuilder b(before);
        copyBeside(before, ivAt(b, loop.getLowerBound(), *getConstantIntValue(before.getSlot())));
      }
      // The load: this iteration's buffer once its fill has landed, read
      // right before its first use in the body (a global load is issued
      // early to hide its latency; a shared one need not hold its registers
      // across the products before that use).
      Operation *firstUse = nullptr;
      for (Operation *user : load->getUsers())
        if (Operation *inBody = body->findAncestorOpInBlock(*user);
            inBody && (!firstUse || inBody->isBeforeInBlock(firstUse)))
          firstUse = inBody;
      OpBuilder b(firstUse ? firstUse : load.getOperation());
      Value j = emitIteration(b, loc, loop, loop.getInductionVar());
      Value slot = arith::RemUIOp::create(b, loc, j, constI32(b, loc, stages));
      Value parity = arith::AndIOp::create(b, loc, emitFillNumber(b, loc, loop, j, stages),
                                           constI32(b, loc, 1));
      tile::MBarrierWaitOp::create(b, loc, bars, slot, parity);
      auto view = tile::SharedViewOp::create(b, loc, type, buffer, slot, /*tf32_rounded=*/false);
      load.replaceAllUsesWith(view.getResult());
      load->erase();
    }
  }

  /// Whether `b` (in `second`) is computed from `second`'s induction
  /// variable as `a` (in `first`) is from `first`'s: the same values from
  /// outside both, or the same scalar ops on operands that are.
  static bool sameFunctionOfIv(Value a, Value b, scf::ForOp first, scf::ForOp second) {
    if (a == first.getInductionVar() && b == second.getInductionVar())
      return true;
    if (a == b)
      return !first->isAncestor(a.getParentBlock()->getParentOp()) &&
             !second->isAncestor(a.getParentBlock()->getParentOp());
    Operation *x = a.getDefiningOp(), *y = b.getDefiningOp();
    if (!x || !y || x->getName() != y->getName() ||
        x->getAttrDictionary() != y->getAttrDictionary() ||
        x->getNumOperands() != y->getNumOperands() || x->getResultTypes() != y->getResultTypes() ||
        !isScalarCode(x) ||
        cast<OpResult>(a).getResultNumber() != cast<OpResult>(b).getResultNumber())
      return false;
    for (auto [u, v] : llvm::zip(x->getOperands(), y->getOperands()))
      if (!sameFunctionOfIv(u, v, first, second))
        return false;
    return true;
  }

  /// `second` continues `first` (they follow each other in the kernel's
  /// body, second's lower bound first's upper one, the same step) and copies
  /// alike (the same tensor maps, tiles at indices of the same form in the
  /// induction variable, buffers at the same offsets, as far ahead): one ring
  /// for both, as a producer warpgroup's shared ring. First's lookahead
  /// copies, and its copies before it, run on to second's upper bound,
  /// bringing second's first tiles while first's last iterations compute
  /// (its key blocks are second's: the same form of the same induction
  /// variable's values); second's own copies before it go, and its
  /// iterations count on from first's trips (retargetRing). The pipelines
  /// then no longer restart between the attention forward's unmasked and
  /// masked key loops.
  void continueRing(scf::ForOp first, scf::ForOp second) {
    if (second.getLowerBound() != first.getUpperBound() || second.getStep() != first.getStep())
      return;
    SmallVector<tile::TmaCopyOp> a(first.getBody()->getOps<tile::TmaCopyOp>());
    SmallVector<tile::TmaCopyOp> b(second.getBody()->getOps<tile::TmaCopyOp>());
    if (a.empty() || a.size() != b.size())
      return;
    int64_t stages = a.front().getBuffer().getType().getBuffers();
    for (auto [x, y] : llvm::zip(a, b)) {
      if (!sameRingCopies(x, y) || !x.getPredicate() ||
          x.getBuffer().getType().getBuffers() != stages ||
          x.getIndices().size() != y.getIndices().size())
        return;
      for (auto [u, v] : llvm::zip(x.getIndices(), y.getIndices()))
        if (!sameFunctionOfIv(u, v, first, second))
          return;
    }
    // Between the loops: scalar code, descriptors, barriers, fences,
    // cp.async waits and the copies before second (into its buffers, which
    // go); before first, its own copies of constant slots.
    SmallVector<Value> secondBuffers =
        llvm::map_to_vector(b, [](tile::TmaCopyOp copy) -> Value { return copy.getBuffer(); });
    SmallVector<tile::TmaCopyOp> secondPrologue;
    for (Operation *op = first->getNextNode(); op != second.getOperation();
         op = op->getNextNode()) {
      if (auto copy = dyn_cast<tile::TmaCopyOp>(op);
          copy && llvm::is_contained(secondBuffers, copy.getBuffer())) {
        secondPrologue.push_back(copy);
        continue;
      }
      if (!isScalarCode(op) &&
          !isa<gpu::BarrierOp, tile::AsyncWaitOp, tile::FenceAsyncSharedOp, tile::MakeDescOp>(op))
        return;
    }
    // First's own copies before it: those into its buffers since the loop
    // before it (a loop that continued an earlier one is not continued in
    // turn: its copies before it no longer fill constant slots).
    SmallVector<Value> firstBuffers =
        llvm::map_to_vector(a, [](tile::TmaCopyOp copy) -> Value { return copy.getBuffer(); });
    SmallVector<tile::TmaCopyOp> firstPrologue;
    for (Operation *op = first->getPrevNode(); op && !isa<scf::ForOp>(op); op = op->getPrevNode())
      if (auto before = dyn_cast<tile::TmaCopyOp>(op);
          before && llvm::is_contained(firstBuffers, before.getBuffer())) {
        if (!before.getPredicate() || !getConstantIntValue(before.getSlot()))
          return;
        firstPrologue.push_back(before);
      }

    for (tile::TmaCopyOp copy : secondPrologue)
      if (!copy.getPredicate() || !getConstantIntValue(copy.getSlot()))
        return;

    // Whether first's range is whole steps (its last tile's successor is
    // then second's first): first's key blocks end where the masked ones
    // begin, a multiple of the block. Checked when the kernel runs; where
    // it does not hold, second starts its pipeline as before, on the ring's
    // numbering all the same.
    Location loc = first.getLoc();
    Value step = first.getStep();
    // Before first's copies ahead of it, which the bounds already precede.
    Operation *start = first;
    for (tile::TmaCopyOp copy : firstPrologue)
      if (copy->isBeforeInBlock(start))
        start = copy;
    OpBuilder head(start);
    Value span = arith::SubIOp::create(head, loc, first.getUpperBound(), first.getLowerBound());
    Value zero = constI32(head, loc, 0);
    Value whole = arith::AndIOp::create(
        head, loc, arith::CmpIOp::create(head, loc, arith::CmpIPredicate::sge, span, zero),
        arith::CmpIOp::create(head, loc, arith::CmpIPredicate::eq,
                              arith::RemSIOp::create(head, loc, span, step), zero));
    Value end =
        arith::SelectOp::create(head, loc, whole, second.getUpperBound(), first.getUpperBound());
    // First's copies, in it and before it, run on to second's upper bound.
    for (tile::TmaCopyOp copy : a) {
      OpBuilder at(copy);
      Value next = arith::AddIOp::create(
          at, loc, first.getInductionVar(),
          arith::MulIOp::create(at, loc, step, constI32(at, loc, copy.getDistance())));
      copy.getPredicateMutable().assign(
          arith::CmpIOp::create(at, loc, arith::CmpIPredicate::slt, next, end));
    }
    for (tile::TmaCopyOp copy : firstPrologue) {
      OpBuilder at(copy);
      Value iv = arith::AddIOp::create(
          at, loc, first.getLowerBound(),
          arith::MulIOp::create(at, loc, step,
                                constI32(at, loc, *getConstantIntValue(copy.getSlot()))));
      copy.getPredicateMutable().assign(
          arith::CmpIOp::create(at, loc, arith::CmpIPredicate::slt, iv, end));
    }
    // Second's copies before it run only where first's did not bring its
    // tiles, into the slots its iterations count on to.
    OpBuilder before(first->getBlock(), std::next(Block::iterator(first)));
    Value trips = emitTripCount(before, loc, first);
    Value partial =
        arith::XOrIOp::create(before, loc, whole, arith::ConstantIntOp::create(before, loc, 1, 1));
    for (tile::TmaCopyOp copy : secondPrologue) {
      OpBuilder at(copy);
      copy.getPredicateMutable().assign(
          arith::AndIOp::create(at, loc, copy.getPredicate(), partial));
      Value g = arith::AddIOp::create(at, loc, trips,
                                      constI32(at, loc, *getConstantIntValue(copy.getSlot())));
      copy.getSlotMutable().assign(arith::RemUIOp::create(at, loc, g, constI32(at, loc, stages)));
    }
    auto [buffers, fulls] = mergeRings({first, second});
    retargetRing(second, trips, stages, buffers, fulls);
  }

  static void markReady(tile::DotOp dot, unsigned operand) {
    tile::StagingAttr s = dot.getStagingAttr();
    std::array<bool, 2> ready = {s.getReadyA(), s.getReadyB()};
    ready[operand] = true;
    dot.setStagingAttr(tile::StagingAttr::get(dot->getContext(), s.getOffsetA(), s.getOffsetB(),
                                              ready[0], ready[1], s.getPublishNext()));
  }

  bool hasAsyncCopies() {
    return kernel.walk([](tile::AsyncCopyOp) { return WalkResult::interrupt(); }).wasInterrupted();
  }

  func::FuncOp kernel;
  /// A loop that continues the one before it shares its ring (continueRing).
  bool sharedRings;
  /// Row vectors come by TMA beside the tiles (stageRowVectors).
  bool stageRows;
  /// An add's mma accumulator is staged in 32-byte panels (addStagingSwizzle).
  bool narrowAddPanels;
  /// Blocks of tensors TMA cannot describe go out from a staging tile
  /// (rewriteStore).
  bool shiftedStores;
  /// CTAs per cluster (1 in a warp-specialized kernel: its producer has no
  /// share of the cluster's barriers).
  int64_t clusterSize = 1;
  bool multicasts = false;
  SmallVector<tile::ClusterBarrierOp> initBarriers;
  llvm::DenseMap<Type, Value> maps;
  llvm::DenseMap<Value, Value> barriers;
  std::optional<int64_t> end;
  int64_t nextBarrier = 0;
  bool waitsAtReturn = false;
};

struct TileUseTmaPass : tessera::impl::TileUseTmaBase<TileUseTmaPass> {
  using Base::Base;
  void runOnOperation() override {
    if (arch != "sm_90a")
      return;
    for (auto kernel : getOperation().getOps<func::FuncOp>())
      if (kernel->hasAttr(tile::kKernelAttr) && kernel->hasAttr(tile::kTmaAttr))
        TmaRewriter(kernel, sharedRings, stageRowVectors, narrowAddPanels, shiftedStores).run();
  }
};

} // namespace
