//===- WarpSpecialize.cpp - The tile-warp-specialize pass -----------------===//
//
// A producer warpgroup for a TMA loop (docs/COMPILER.md §3; FlashAttention-3
// §3.1, CUTLASS's warp-specialized kernels). After tile-use-tma the
// kernel's own warps stop at a CTA barrier at the top of every iteration so
// that thread 0 may refill the buffer of two iterations back. Here one
// thread of four extra warps issues every copy instead, as soon as the
// buffer it refills is released: the consumer warps wait only for their
// tiles ("full" barriers, as before) and release each buffer through an
// "empty" barrier (one arrival per warp) once the wgmma that read it is
// done, which, with four stages and a wgmma group kept in flight into the
// next iteration, is at the top of the iteration after next. In a
// persistent kernel the loop sits in the tile loop, after any tile work of
// the consumers' (Q's copy in the attention forward), its ring of any depth
// and its bounds the same on every tile: the producer runs the tile loop
// too, the ring's fills counted across tiles. Several loops in the tile
// loop, or bounds that change from tile to tile (causal tiles), share one
// ring whose iterations both sides' tile loops carry (specializeTiles).
//
// A kernel whose loops are preceded by tile work (FlashAttention's forward:
// Q's copy, then the key loop over unmasked blocks, then the one over
// masked blocks) splits before that work, and the producer runs the loops'
// copies in sequence. Loops whose rings match share one, its iterations
// counted on from loop to loop (FlashAttention-3's pipeline state), so the
// producer fills a loop's first buffers while the previous loop runs;
// otherwise (or with shared-rings=false) each loop's ring is released by its
// own "empty" barriers, and the producer refills the memory of a loop's
// ring (which a later loop's buffers share) only once the consumers
// released all of the earlier loop's. The scalar code the producer needs
// (bounds, indices) is cloned into it.
//
//===----------------------------------------------------------------------===//

#include "tessera/Schedule/Analysis.h"
#include "tessera/Schedule/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

#include <optional>

namespace tessera {
#define GEN_PASS_DEF_TILEWARPSPECIALIZE
#include "tessera/Schedule/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::schedule;

namespace {

/// The stages a warp-specialized loop has: the producer refills buffer j - 2
/// once iteration j has begun (its wgmma group of j - 1 may still run).
constexpr int64_t kStages = 4;
constexpr int64_t kReleaseDistance = 2;
constexpr int32_t kProducerWarps = 4;

/// Clones into `b` the ops inside `region` (a loop) that `v` is computed
/// from, with `mapping` (induction variables mapped), operands first.
void cloneSlice(OpBuilder &b, Value v, Operation *region, IRMapping &mapping) {
  Operation *def = v.getDefiningOp();
  if (!def || !region->isProperAncestor(def) || mapping.contains(v))
    return;
  for (Value operand : def->getOperands())
    cloneSlice(b, operand, region, mapping);
  b.clone(*def, mapping);
}

/// In `b`: once `fills` (i32) fills of buffer `slot` of a ring came before,
/// waits until the consumers released the last of them (phase fills - 1 of
/// its "empty" barrier).
void emitWaitForRelease(OpBuilder &b, Location loc, Value empty, Value slot, Value fills) {
  Value refill =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, fills, constI32(b, loc, 1));
  auto ifRefill = scf::IfOp::create(b, loc, TypeRange{}, refill, /*withElse=*/false);
  OpBuilder w = OpBuilder::atBlockTerminator(ifRefill.thenBlock());
  Value parity = arith::AndIOp::create(
      w, loc, arith::SubIOp::create(w, loc, fills, constI32(w, loc, 1)), constI32(w, loc, 1));
  tile::MBarrierWaitOp::create(w, loc, empty, slot, parity);
}

/// Erases the TMA copies in `region` into `buffers` (but those `keep`
/// names), now the producer's, with the barriers that kept each from
/// refilling a buffer still being read: the producer waits for the
/// buffers' release instead.
void eraseMovedCopies(Region &region, ArrayRef<Value> buffers,
                      llvm::function_ref<bool(tile::TmaCopyOp)> keep) {
  SmallVector<Operation *> gone;
  region.walk([&](tile::TmaCopyOp copy) {
    if (!llvm::is_contained(buffers, copy.getBuffer()) || keep(copy))
      return;
    gone.push_back(copy);
    if (gpu::BarrierOp barrier = barrierBefore(copy, /*overCopies=*/true);
        barrier && !llvm::is_contained(gone, barrier.getOperation()))
      gone.push_back(barrier);
  });
  for (Operation *op : gone)
    op->erase();
}

/// The consumers' releases of `loop`'s ring of `stages` buffers on `empty`:
/// the top of iteration j releases the buffers of iteration j - `release`,
/// and after the loop those of its last `release`. `base` (i32, or null for
/// 0): the ring's iterations before the loop's first (a ring several loops
/// share), which iteration j's slot counts on from.
void emitReleases(scf::ForOp loop, int64_t stages, int64_t release, Value empty,
                  Value base = Value()) {
  Location loc = loop.getLoc();
  auto slotOf = [&](OpBuilder &b, Value i) {
    if (base)
      i = arith::AddIOp::create(b, loc, base, i);
    return arith::RemUIOp::create(b, loc, i, constI32(b, loc, stages));
  };
  OpBuilder c = OpBuilder::atBlockBegin(loop.getBody());
  Value j = emitIteration(c, loc, loop, loop.getInductionVar());
  Value started =
      arith::CmpIOp::create(c, loc, arith::CmpIPredicate::sge, j, constI32(c, loc, release));
  Value released = slotOf(c, arith::SubIOp::create(c, loc, j, constI32(c, loc, release)));
  tile::MBarrierArriveOp::create(c, loc, empty, released, started, release);
  OpBuilder after(loop->getBlock(), std::next(Block::iterator(loop)));
  Value n = emitTripCount(after, loc, loop);
  for (int64_t last = release; last >= 1; --last) {
    Value i = arith::SubIOp::create(after, loc, n, constI32(after, loc, last));
    Value ran =
        arith::CmpIOp::create(after, loc, arith::CmpIPredicate::sge, i, constI32(after, loc, 0));
    tile::MBarrierArriveOp::create(after, loc, empty, slotOf(after, i), ran, /*distance=*/0);
  }
}

class Specializer {
public:
  Specializer(func::FuncOp kernel, bool sharedRings) : kernel(kernel), sharedRings(sharedRings) {}

  /// The first TMA loop that qualifies: directly in the kernel's body, or
  /// in a persistent kernel's tile loop there (tripLoopOf): the one loop of
  /// TMA copies in each tile (a matmul's k-loop on four stages, or a ring of
  /// any depth, as the attention forward's key loop on whole key blocks); or
  /// the TMA loops of a tile loop that are several or whose bounds change
  /// from tile to tile (specializeTiles). Fails where such loops, which
  /// tile-use-tma gave TMA copies only for a producer to take, could not be
  /// given one.
  LogicalResult run() {
    for (scf::ForOp top : kernel.getBody().front().getOps<scf::ForOp>()) {
      if (!onlyScalarsBefore(top)) {
        specializeSequence();
        break;
      }
      if (specializable(top)) {
        specialize(top, top, Ring{kStages, kStages - kReleaseDistance});
        return success();
      }
      SmallVector<scf::ForOp> tmaLoops;
      top.getBody()->walk([&](scf::ForOp loop) {
        if (loop->walk([](tile::TmaCopyOp) { return WalkResult::interrupt(); }).wasInterrupted())
          tmaLoops.push_back(loop);
      });
      if (tmaLoops.empty() || llvm::any_of(tmaLoops, [&](scf::ForOp loop) {
            return loop->getParentOp() != top.getOperation();
          }))
        continue;
      if (tmaLoops.size() == 1) {
        scf::ForOp inner = tmaLoops.front();
        std::optional<Ring> ring = ringOf(inner);
        if (FailureOr<scf::ForOp> trip = tripLoopOf(inner);
            succeeded(trip) && *trip == top && top.getNumRegionIterArgs() == 0 && ring) {
          specialize(inner, top, *ring);
          return success();
        }
      }
      if (specializeTiles(top, tmaLoops))
        return success();
    }
    // What tile-use-tma copied by TMA for a producer only: loops in a tile
    // loop whose bounds change from tile to tile, outside any split.
    WalkResult left = kernel.walk([&](tile::TmaCopyOp copy) {
      auto loop = dyn_cast<scf::ForOp>(copy->getParentOp());
      if (!loop || copy->getParentOfType<tile::WarpSpecializeOp>() || succeeded(tripLoopOf(loop)))
        return WalkResult::advance();
      copy->emitError("tile-warp-specialize: this TMA copy's loop, in a tile loop and with "
                      "bounds that change from tile to tile, needs a producer warpgroup, which "
                      "could not be made (one ring for all of the tile's TMA loops: the same "
                      "copies into buffers at the same offsets, bounds and indices scalar code "
                      "of the tile's)");
      return WalkResult::interrupt();
    });
    return failure(left.wasInterrupted());
  }

private:
  /// The register budget the kernel asked for (KernelBuilder::setCtasPerSm),
  /// which the split carries.
  uint32_t ctasPerSm() const {
    auto ctas = kernel->getAttrOfType<IntegerAttr>(tile::kCtasPerSmAttr);
    return ctas ? uint32_t(ctas.getInt()) : 1;
  }

  /// A loop tile-use-tma made: its body opens with a barrier and the TMA
  /// copies, two iterations ahead, into four buffers.
  static bool specializable(scf::ForOp loop) {
    Block *body = loop.getBody();
    if (body->empty() || !isa<gpu::BarrierOp>(body->front()))
      return false;
    SmallVector<tile::TmaCopyOp> copies(body->getOps<tile::TmaCopyOp>());
    if (copies.empty())
      return false;
    return llvm::all_of(copies, [](tile::TmaCopyOp copy) {
      return copy.getBuffer().getType().getBuffers() == kStages &&
             copy.getDistance() == kStages - kReleaseDistance;
    });
  }

  /// A TMA loop's ring: its buffers and how far ahead its copies run. The
  /// copies at the top of iteration j refill the buffers of iteration
  /// j - (stages - distance), which every reader is done with by then (the
  /// barrier that opens the body): the consumers release them there.
  struct Ring {
    int64_t stages, distance;
    int64_t release() const { return stages - distance; }
  };

  /// Splits the kernel before `top` (`loop` itself, or the tile loop that
  /// holds it); `loop`'s copies fill `ring`.
  void specialize(scf::ForOp loop, scf::ForOp top, const Ring &ring) {
    MLIRContext *ctx = kernel.getContext();
    Location loc = loop.getLoc();
    Block *body = loop.getBody();
    SmallVector<tile::TmaCopyOp> copies(body->getOps<tile::TmaCopyOp>());
    SmallVector<Value> buffers =
        llvm::map_to_vector(copies, [](tile::TmaCopyOp copy) -> Value { return copy.getBuffer(); });
    // The empty barriers: one set for all of the loop's buffers (a slot's
    // tiles are released together), after the kernel's shared memory.
    int64_t offset = llvm::alignTo(sharedMemoryBytes(kernel), 8);
    OpBuilder b(top);
    Value empty =
        tile::MBarrierAllocOp::create(b, loc, tile::MBarriersType::get(ctx, ring.stages), offset);
    tile::MBarrierInitOp::create(b, loc, empty, tile::getNumWarps(kernel));
    // The split, right before `top`: it and everything after it are the
    // consumers'.
    Block *producer = splitAt(b, top).second;

    // The producer: every iteration's copies of every trip, in order, each
    // after the release of the buffer it refills (its previous fill's).
    OpBuilder p = OpBuilder::atBlockEnd(producer);
    IRMapping mapping;
    Value trip;
    if (top != loop) {
      auto trips =
          scf::ForOp::create(p, loc, top.getLowerBound(), top.getUpperBound(), top.getStep());
      mapping.map(top.getInductionVar(), trips.getInductionVar());
      p.setInsertionPointToStart(trips.getBody());
      trip = emitIteration(p, loc, top, trips.getInductionVar());
    }
    // The loop's bounds, where the tile loop computes them (trip-invariant:
    // tripLoopOf), cloned into the producer's.
    SmallVector<Value> bounds;
    for (Value bound : {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()}) {
      if (top != loop)
        cloneSlice(p, bound, top, mapping);
      bounds.push_back(mapping.lookupOrDefault(bound));
    }
    auto fill = scf::ForOp::create(p, loc, bounds[0], bounds[1], bounds[2]);
    {
      OpBuilder f = OpBuilder::atBlockBegin(fill.getBody());
      Value iv = fill.getInductionVar();
      Value j = emitIteration(f, loc, fill, iv);
      Value slot = arith::RemUIOp::create(f, loc, j, constI32(f, loc, ring.stages));
      emitWaitForRelease(f, loc, empty, slot, emitFillNumber(f, loc, fill, j, ring.stages, trip));
      // The loop's copies were of iteration iv + distance: clone them with
      // the induction variable at iv - distance (always in range here).
      for (tile::TmaCopyOp copy : copies) {
        IRMapping inner = mapping;
        Value ahead =
            arith::MulIOp::create(f, loc, fill.getStep(), constI32(f, loc, copy.getDistance()));
        inner.map(loop.getInductionVar(), arith::SubIOp::create(f, loc, iv, ahead));
        for (Value operand : copy->getOperands())
          cloneSlice(f, operand, top, inner);
        SmallVector<Value> indices = llvm::map_to_vector(
            copy.getIndices(), [&](Value v) { return inner.lookupOrDefault(v); });
        tile::TmaCopyOp::create(f, copy.getLoc(), copy.getMap(), indices, copy.getBuffer(),
                                inner.lookupOrDefault(copy.getSlot()), copy.getBarriers(), Value(),
                                /*distance=*/0, /*single_thread=*/true);
      }
    }

    // The consumers: no copies and no barrier in the loop; the top of
    // iteration j releases the buffers of iteration j - 2, and after the
    // loop (the last wgmma group waited for) those of its last two.
    body->front().erase();
    for (tile::TmaCopyOp copy : copies)
      copy->erase();
    emitReleases(loop, ring.stages, ring.release(), empty);

    // The copies before the loop are the producer's now, and so are the
    // barriers that kept them from refilling buffers still being read (the
    // producer waits for the buffers' release instead): in a persistent
    // kernel that is one consumer barrier less per tile.
    eraseMovedCopies(kernel.getBody(), buffers, [&](tile::TmaCopyOp copy) {
      return copy->getBlock() == body || producer->getParent()->isAncestor(copy->getParentRegion());
    });
  }

  /// The ring of a loop tile-use-tma made: a body that opens with a barrier,
  /// TMA copies into buffers of one depth, all as far ahead; no loop inside.
  static std::optional<Ring> ringOf(scf::ForOp loop) {
    Block *body = loop.getBody();
    SmallVector<tile::TmaCopyOp> copies(body->getOps<tile::TmaCopyOp>());
    if (copies.empty() || !isa<gpu::BarrierOp>(body->front()) ||
        body->walk([](scf::ForOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return std::nullopt;
    Ring ring{copies.front().getBuffer().getType().getBuffers(),
              int64_t(copies.front().getDistance())};
    for (tile::TmaCopyOp copy : copies)
      if (copy.getBuffer().getType().getBuffers() != ring.stages ||
          copy.getDistance() != ring.distance)
        return std::nullopt;
    if (ring.distance < 1 || ring.distance >= ring.stages)
      return std::nullopt;
    return ring;
  }

  /// Whether the producer can compute `v` where the kernel splits at
  /// `split`: from values before it, `ivs` (induction variables it maps)
  /// and scalar code after (cloned).
  static bool producerComputes(Value v, Operation *split, ArrayRef<Value> ivs) {
    if (llvm::is_contained(ivs, v))
      return true;
    Operation *def = v.getDefiningOp();
    if (!def)
      return isa<func::FuncOp>(cast<BlockArgument>(v).getOwner()->getParentOp());
    if (def->getBlock() == split->getBlock() && def->isBeforeInBlock(split))
      return true;
    return isScalarCode(def) && llvm::all_of(def->getOperands(), [&](Value operand) {
             return producerComputes(operand, split, ivs);
           });
  }

  /// `v` in the producer: the scalar code it is computed from that lies
  /// after `split` (in the consumers' region by then) cloned into `b`,
  /// operands first.
  static Value cloneScalarSlice(OpBuilder &b, Value v, Operation *split, IRMapping &mapping) {
    if (Value mapped = mapping.lookupOrNull(v))
      return mapped;
    Operation *def = v.getDefiningOp();
    if (!def || (def->getBlock() == split->getBlock() && def->isBeforeInBlock(split)))
      return v;
    for (Value operand : def->getOperands())
      cloneScalarSlice(b, operand, split, mapping);
    return b.clone(*def, mapping)->getResult(cast<OpResult>(v).getResultNumber());
  }

  /// Waits in `b` until the consumers released every fill of `ring` that
  /// `fill` (the producer's loop over a loop's iterations) made: slot s was
  /// filled ceil(max(0, n - s) / S) times in n iterations, each released once.
  static void emitWaitForReleases(OpBuilder &b, Location loc, scf::ForOp fill, const Ring &ring,
                                  Value empty) {
    Value n = emitTripCount(b, loc, fill);
    for (int64_t s = 0; s < ring.stages; ++s) {
      Value left = arith::MaxSIOp::create(
          b, loc, arith::SubIOp::create(b, loc, n, constI32(b, loc, s)), constI32(b, loc, 0));
      Value fills = arith::DivSIOp::create(
          b, loc, arith::AddIOp::create(b, loc, left, constI32(b, loc, ring.stages - 1)),
          constI32(b, loc, ring.stages));
      emitWaitForRelease(b, loc, empty, constI32(b, loc, s), fills);
    }
  }

  /// A tile.warp_specialize made at `b`, before `split`, whose consumers
  /// take `split` and the rest of its block; its producer's block, empty.
  std::pair<tile::WarpSpecializeOp, Block *> splitAt(OpBuilder &b, Operation *split) {
    auto op = tile::WarpSpecializeOp::create(b, split->getLoc(), kProducerWarps, ctasPerSm());
    Block *producer = new Block(), *consumers = new Block();
    op.getProducer().push_back(producer);
    op.getConsumers().push_back(consumers);
    Block *block = split->getBlock();
    for (Operation &moved : llvm::make_early_inc_range(
             llvm::make_range(Block::iterator(split), Block::iterator(block->getTerminator()))))
      moved.moveBefore(consumers, consumers->end());
    return {op, producer};
  }

  /// splitAt `split`, after the "empty" barriers of a ring of `stages`
  /// (one arrival per consumer warp), placed after the kernel's shared
  /// memory: the split, its producer's block and those barriers.
  std::tuple<tile::WarpSpecializeOp, Block *, Value> splitWithRing(Operation *split,
                                                                   int64_t stages) {
    OpBuilder b(split);
    Location loc = split->getLoc();
    Value empty =
        tile::MBarrierAllocOp::create(b, loc, tile::MBarriersType::get(kernel.getContext(), stages),
                                      llvm::alignTo(sharedMemoryBytes(kernel), 8));
    tile::MBarrierInitOp::create(b, loc, empty, tile::getNumWarps(kernel));
    auto [op, producer] = splitAt(b, split);
    return {op, producer, empty};
  }

  /// `loop`'s TMA copies issued at `f` by the producer's loop `fill` over
  /// the same iterations: the loop's copies were of iteration iv + distance,
  /// so at iv - distance, their scalar code cloned (`scalars`: what the
  /// producer has cloned already); into `slot` where given, else into the
  /// copy's own slot.
  static void cloneCopies(OpBuilder &f, scf::ForOp loop, scf::ForOp fill, Operation *split,
                          const IRMapping &scalars, Value slot) {
    Location loc = fill.getLoc();
    Value iv = fill.getInductionVar();
    for (tile::TmaCopyOp copy : loop.getBody()->getOps<tile::TmaCopyOp>()) {
      IRMapping inner = scalars;
      Value ahead =
          arith::MulIOp::create(f, loc, fill.getStep(), constI32(f, loc, copy.getDistance()));
      inner.map(loop.getInductionVar(), arith::SubIOp::create(f, loc, iv, ahead));
      SmallVector<Value> indices = llvm::map_to_vector(
          copy.getIndices(), [&](Value v) { return cloneScalarSlice(f, v, split, inner); });
      tile::TmaCopyOp::create(f, copy.getLoc(), copy.getMap(), indices, copy.getBuffer(),
                              slot ? slot : cloneScalarSlice(f, copy.getSlot(), split, inner),
                              copy.getBarriers(), Value(), /*distance=*/0,
                              /*single_thread=*/true);
    }
  }

  /// Loops of TMA copies in sequence after tile work (the comment at the
  /// top of this file).
  void specializeSequence() {
    // A cluster's multicast copies are issued by every CTA's own threads.
    if (auto size = kernel->getAttrOfType<IntegerAttr>(tile::kClusterSizeAttr);
        size && size.getInt() > 1)
      return;
    MLIRContext *ctx = kernel.getContext();
    Block &entry = kernel.getBody().front();
    // The split: before the first op that is not scalar code, a buffer or
    // a barrier's initialization.
    Operation *split = nullptr;
    for (Operation &op : entry)
      if (!isScalarCode(&op) &&
          !isa<tile::SharedAllocOp, tile::MBarrierAllocOp, tile::MBarrierInitOp>(op)) {
        split = &op;
        break;
      }
    if (!split || split->hasTrait<OpTrait::IsTerminator>())
      return;
    SmallVector<scf::ForOp> loops;
    SmallVector<Ring> rings;
    bool ok = true;
    for (scf::ForOp loop : entry.getOps<scf::ForOp>()) {
      bool tma =
          loop->walk([](tile::TmaCopyOp) { return WalkResult::interrupt(); }).wasInterrupted();
      std::optional<Ring> ring = tma ? ringOf(loop) : std::nullopt;
      ok &= !tma || (ring && split->isBeforeInBlock(loop));
      if (!ring)
        continue;
      loops.push_back(loop);
      rings.push_back(*ring);
      for (Value bound : {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()})
        ok &= producerComputes(bound, split, {});
      for (tile::TmaCopyOp copy : loop.getBody()->getOps<tile::TmaCopyOp>())
        for (Value operand : copy->getOperands())
          ok &= producerComputes(operand, split, {loop.getInductionVar()});
    }
    // Every TMA copy is one of those loops' or a first copy of their buffers.
    kernel.walk([&](tile::TmaCopyOp copy) {
      ok &= llvm::any_of(loops, [&](scf::ForOp loop) {
        return llvm::any_of(loop.getBody()->getOps<tile::TmaCopyOp>(), [&](tile::TmaCopyOp own) {
          return own.getBuffer() == copy.getBuffer();
        });
      });
    });
    if (!ok || loops.empty())
      return;
    if (sharedRings && loops.size() > 1 &&
        llvm::all_of(llvm::seq<size_t>(1, loops.size()),
                     [&](size_t k) { return sameRing(loops[0], rings[0], loops[k], rings[k]); }))
      return specializeSharedSequence(split, loops, rings[0]);

    Location loc = split->getLoc();
    OpBuilder b(split);
    int64_t offset = llvm::alignTo(sharedMemoryBytes(kernel), 8);
    SmallVector<Value> empties;
    for (const Ring &ring : rings) {
      empties.push_back(tile::MBarrierAllocOp::create(
          b, loc, tile::MBarriersType::get(ctx, ring.stages), offset));
      tile::MBarrierInitOp::create(b, loc, empties.back(), tile::getNumWarps(kernel));
      offset += 8 * ring.stages;
    }
    auto [op, producer] = splitAt(b, split);

    // The producer: each loop's copies in order, each after the release of
    // the buffer it refills; a loop's ring only once the previous loop's is
    // released entirely (the rings share memory).
    OpBuilder p = OpBuilder::atBlockEnd(producer);
    IRMapping scalars;
    SmallVector<scf::ForOp> fills;
    for (size_t k = 0; k < loops.size(); ++k) {
      scf::ForOp loop = loops[k];
      const Ring &ring = rings[k];
      if (k > 0)
        emitWaitForReleases(p, loc, fills.back(), rings[k - 1], empties[k - 1]);
      auto fill =
          scf::ForOp::create(p, loc, cloneScalarSlice(p, loop.getLowerBound(), split, scalars),
                             cloneScalarSlice(p, loop.getUpperBound(), split, scalars),
                             cloneScalarSlice(p, loop.getStep(), split, scalars));
      fills.push_back(fill);
      OpBuilder f = OpBuilder::atBlockBegin(fill.getBody());
      Value iv = fill.getInductionVar();
      Value j = emitIteration(f, loc, fill, iv);
      Value slot = arith::RemUIOp::create(f, loc, j, constI32(f, loc, ring.stages));
      emitWaitForRelease(f, loc, empties[k], slot,
                         arith::DivUIOp::create(f, loc, j, constI32(f, loc, ring.stages)));
      cloneCopies(f, loop, fill, split, scalars, Value());
    }

    // The consumers: no copies and no opening barrier in the loops; the top
    // of iteration j releases the buffers of iteration j - R, and after the
    // loop those of its last R. The first copies before each loop go, with
    // the barriers that kept them from buffers still being read.
    for (size_t k = 0; k < loops.size(); ++k) {
      scf::ForOp loop = loops[k];
      const Ring &ring = rings[k];
      Block *body = loop.getBody();
      SmallVector<Value> buffers;
      for (tile::TmaCopyOp copy : llvm::make_early_inc_range(body->getOps<tile::TmaCopyOp>())) {
        buffers.push_back(copy.getBuffer());
        copy->erase();
      }
      body->front().erase();
      emitReleases(loop, ring.stages, ring.release(), empties[k]);
      eraseMovedCopies(op.getConsumers(), buffers, [](tile::TmaCopyOp) { return false; });
    }
  }

  /// Whether `b`'s ring can be `a`'s: as deep and as far ahead, the same
  /// copies in order (sameRingCopies).
  static bool sameRing(scf::ForOp a, const Ring &ra, scf::ForOp b, const Ring &rb) {
    if (ra.stages != rb.stages || ra.distance != rb.distance)
      return false;
    SmallVector<tile::TmaCopyOp> ca(a.getBody()->getOps<tile::TmaCopyOp>());
    SmallVector<tile::TmaCopyOp> cb(b.getBody()->getOps<tile::TmaCopyOp>());
    if (ca.size() != cb.size())
      return false;
    return llvm::all_of(llvm::zip(ca, cb), [](auto pair) {
      return sameRingCopies(std::get<0>(pair), std::get<1>(pair));
    });
  }

  /// At `b`, the producer's fills of `loops`' shared ring (sameRing) in
  /// turn, from ring iteration `base` on: iteration j of a loop is ring
  /// iteration g = base + j, filled into slot g mod stages once that slot's
  /// previous fill is released. The loops' bounds and copies' indices are
  /// cloned from after `split` (`scalars`: what is mapped or cloned already).
  /// Returns the ring iteration after the loops'.
  Value emitFills(OpBuilder &b, ArrayRef<scf::ForOp> loops, Operation *split, IRMapping &scalars,
                  Value base, const Ring &ring, Value empty) {
    for (scf::ForOp loop : loops) {
      Location loc = loop.getLoc();
      auto fill =
          scf::ForOp::create(b, loc, cloneScalarSlice(b, loop.getLowerBound(), split, scalars),
                             cloneScalarSlice(b, loop.getUpperBound(), split, scalars),
                             cloneScalarSlice(b, loop.getStep(), split, scalars));
      OpBuilder f = OpBuilder::atBlockBegin(fill.getBody());
      Value g =
          arith::AddIOp::create(f, loc, base, emitIteration(f, loc, fill, fill.getInductionVar()));
      Value slot = arith::RemUIOp::create(f, loc, g, constI32(f, loc, ring.stages));
      emitWaitForRelease(f, loc, empty, slot,
                         arith::DivUIOp::create(f, loc, g, constI32(f, loc, ring.stages)));
      cloneCopies(f, loop, fill, split, scalars, slot);
      b.setInsertionPointAfter(fill);
      base = arith::AddIOp::create(b, loc, base, emitTripCount(b, loc, fill));
    }
    return base;
  }

  /// The consumers' side of `loops`' shared ring (`buffers`, `fulls`,
  /// `empty`): no copies and no opening barrier in the loops; a loop's
  /// iterations count on from `base` (null: 0) and the loops' trips before
  /// it, its views, waits and releases retargeted.
  static void takeCopies(ArrayRef<scf::ForOp> loops, Value base, const Ring &ring,
                         ArrayRef<Value> buffers, ArrayRef<Value> fulls, Value empty) {
    for (size_t k = 0; k < loops.size(); ++k) {
      scf::ForOp loop = loops[k];
      Block *body = loop.getBody();
      body->front().erase(); // the opening barrier (ringOf)
      if (k > 0) {
        OpBuilder before(loop);
        Value trips = emitTripCount(before, loop.getLoc(), loops[k - 1]);
        base = base ? arith::AddIOp::create(before, loop.getLoc(), base, trips) : trips;
      }
      if (base)
        retargetRing(loop, base, ring.stages, buffers, fulls);
      for (tile::TmaCopyOp copy : llvm::make_early_inc_range(body->getOps<tile::TmaCopyOp>()))
        copy->erase();
      emitReleases(loop, ring.stages, ring.release(), empty, base);
    }
  }

  /// A persistent kernel's tile loop `top` whose TMA loops (directly in its
  /// body, after any tile work of the consumers') are several or change
  /// their bounds from tile to tile (the attention forward on causal tiles:
  /// a loop over unmasked key blocks, then one over masked blocks, both as
  /// long as the tile's query block needs): one ring for all of them, as in
  /// specializeSharedSequence, its iterations counted across the loops and
  /// the tiles: the consumers' tile loop and the producer's carry the ring's
  /// iterations so far (an iteration argument), so a tile's first buffers
  /// are filled while the consumers finish the tile before. False (nothing
  /// changed) unless the rings match and the producer can compute the loops'
  /// bounds and copies' indices from the tile's scalar code.
  bool specializeTiles(scf::ForOp top, MutableArrayRef<scf::ForOp> loops) {
    Value tile = top.getInductionVar();
    if (top.getNumRegionIterArgs() != 0 || !tile.getType().isInteger(32))
      return false;
    SmallVector<Ring> rings;
    for (scf::ForOp loop : loops) {
      std::optional<Ring> ring = ringOf(loop);
      if (!ring)
        return false;
      rings.push_back(*ring);
      for (Value bound : {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()})
        if (!producerComputes(bound, top, {tile}))
          return false;
      for (tile::TmaCopyOp copy : loop.getBody()->getOps<tile::TmaCopyOp>())
        for (Value index : copy.getIndices())
          if (!producerComputes(index, top, {tile, loop.getInductionVar()}))
            return false;
    }
    for (size_t k = 1; k < loops.size(); ++k)
      if (!sameRing(loops[0], rings[0], loops[k], rings[k]))
        return false;
    const Ring &ring = rings[0];
    MLIRContext *ctx = kernel.getContext();
    Location loc = top.getLoc();
    auto [buffers, fulls] = mergeRings(loops);
    auto [op, producer, empty] = splitWithRing(top, ring.stages);

    // The producer: the tile loop, carrying the ring's iterations so far;
    // in each tile, ring iteration g = base + j of each loop in turn.
    OpBuilder p = OpBuilder::atBlockEnd(producer);
    scf::ForOp::create(p, loc, top.getLowerBound(), top.getUpperBound(), top.getStep(),
                       ValueRange{constI32(p, loc, 0)},
                       [&](OpBuilder &t, Location loc, Value iv, ValueRange carried) {
                         IRMapping scalars;
                         scalars.map(tile, iv);
                         scf::YieldOp::create(
                             t, loc, emitFills(t, loops, top, scalars, carried[0], ring, empty));
                       });

    // The consumers' tile loop carries the same count; each loop's views,
    // waits and releases count from it.
    IRRewriter rewriter(ctx);
    rewriter.setInsertionPoint(top);
    Value zero = constI32(rewriter, loc, 0);
    FailureOr<LoopLikeOpInterface> carried = top.replaceWithAdditionalYields(
        rewriter, ValueRange{zero}, /*replaceInitOperandUsesInLoop=*/false,
        [&](OpBuilder &y, Location loc, ArrayRef<BlockArgument> args) {
          Value total = args[0];
          for (scf::ForOp loop : loops)
            total = arith::AddIOp::create(y, loc, total, emitTripCount(y, loc, loop));
          return SmallVector<Value>{total};
        });
    if (failed(carried))
      return false;
    takeCopies(loops, cast<scf::ForOp>(carried->getOperation()).getRegionIterArgs().back(), ring,
               buffers, fulls, empty);
    eraseMovedCopies(op.getConsumers(), buffers, [](tile::TmaCopyOp) { return false; });
    return true;
  }

  /// Loops of TMA copies in sequence that share one ring (sameRing): the
  /// ring's iterations are counted on from loop to loop (g = the trips of
  /// the loops before + j), so the producer fills a loop's first buffers as
  /// soon as the previous loop's readers release theirs, one by one, rather
  /// than after that loop's last (FlashAttention-3's pipeline state: one
  /// index and phase across every loop of the mainloop). The later loops'
  /// buffers and barriers become the first loop's; their views and waits
  /// take slot g mod stages and phase parity (g / stages) mod 2.
  void specializeSharedSequence(Operation *split, MutableArrayRef<scf::ForOp> loops,
                                const Ring &ring) {
    Location loc = split->getLoc();
    auto [buffers, fulls] = mergeRings(loops);
    auto [op, producer, empty] = splitWithRing(split, ring.stages);

    // The producer: ring iteration g = base + j of each loop in turn, into
    // slot g mod stages once its previous fill is released.
    OpBuilder p = OpBuilder::atBlockEnd(producer);
    IRMapping scalars;
    emitFills(p, loops, split, scalars, constI32(p, loc, 0), ring, empty);

    // The consumers: no copies and no opening barrier in the loops; each
    // loop's iterations count on from the loops' before it (the first
    // loop's from 0, as they do already).
    takeCopies(loops, Value(), ring, buffers, fulls, empty);
    eraseMovedCopies(op.getConsumers(), buffers, [](tile::TmaCopyOp) { return false; });
  }

  func::FuncOp kernel;
  /// Loops in sequence whose rings match share one (specializeSequence).
  bool sharedRings;
};

/// The last product of the turn that opens with `first`: the products
/// issued back to back after it, up to the body's next exponential or
/// reduction (a softmax), so that no warpgroup holds the turn through work
/// the other's products should run under (FlashAttention-3 §3.1: each
/// warpgroup issues Q·K_jᵀ and P_{j-1}·V_{j-1} in its turn, then runs its
/// softmax under the other's).
tile::DotOp lastDotOfTurn(tile::DotOp first) {
  tile::DotOp last = first;
  for (Operation *op = first->getNextNode(); op; op = op->getNextNode()) {
    if (auto dot = dyn_cast<tile::DotOp>(op)) {
      last = dot;
      continue;
    }
    if (op->getNumRegions() || isa<tile::ReduceOp, tile::ScanOp, math::Exp2Op, math::ExpOp>(op))
      break;
  }
  return last;
}

/// Ping-pong (tile::kPingPongAttr): in every consumer loop, the two
/// consumer warpgroups take turns issuing the body's first products
/// (lastDotOfTurn), which each hands over as soon as they are issued;
/// warpgroup 1 gives warpgroup 0 the first turn and warpgroup 0 takes back
/// the last one after the loops.
/// Both run the same loops with the same trips, so the turns balance.
/// Not in a persistent kernel (consumer loops nested in a tile loop): there
/// the attention forward hung on the GPU (H100, 22f8748's call) where it ran
/// with either alone, and nothing on the CPU (the schedule interpreter runs
/// the consumers as one thread) shows why; the request is then not applied
/// (CompiledKernel::notApplied says so).
void addTurns(tile::WarpSpecializeOp split) {
  bool tileLoop = split.getConsumers()
                      .walk([&](scf::ForOp loop) {
                        auto outer = loop->getParentOfType<scf::ForOp>();
                        return outer && split->isProperAncestor(outer) ? WalkResult::interrupt()
                                                                       : WalkResult::advance();
                      })
                      .wasInterrupted();
  if (tileLoop)
    return;
  bool any = false;
  split.getConsumers().walk([&](scf::ForOp loop) {
    auto dots = loop.getBody()->getOps<tile::DotOp>();
    if (dots.empty())
      return;
    tile::DotOp first = *dots.begin();
    OpBuilder b(first);
    tile::TurnWaitOp::create(b, first.getLoc());
    b.setInsertionPointAfter(lastDotOfTurn(first));
    tile::TurnPassOp::create(b, first.getLoc());
    any = true;
  });
  if (!any)
    return;
  Block &consumers = split.getConsumers().front();
  OpBuilder b = OpBuilder::atBlockBegin(&consumers);
  tile::TurnStartOp::create(b, split.getLoc());
  b.setInsertionPointToEnd(&consumers);
  tile::TurnFinishOp::create(b, split.getLoc());
}

struct TileWarpSpecializePass : tessera::impl::TileWarpSpecializeBase<TileWarpSpecializePass> {
  using Base::Base;
  void runOnOperation() override {
    if (arch != "sm_90a")
      return;
    for (auto kernel : getOperation().getOps<func::FuncOp>()) {
      if (!kernel->hasAttr(tile::kKernelAttr) || !kernel->hasAttr(tile::kWarpSpecializeAttr))
        continue;
      if (failed(Specializer(kernel, sharedRings).run()))
        return signalPassFailure();
      if (kernel->hasAttr(tile::kPingPongAttr) && tile::getNumWarps(kernel) == 8)
        kernel.walk([](tile::WarpSpecializeOp split) { addTurns(split); });
    }
  }
};

} // namespace
