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
// next iteration, is at the top of the iteration after next.
//
//===----------------------------------------------------------------------===//

#include "tessera/Schedule/Analysis.h"
#include "tessera/Schedule/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

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

class Specializer {
public:
  explicit Specializer(func::FuncOp kernel) : kernel(kernel) {}

  /// The first TMA loop that qualifies: directly in the kernel's body, or
  /// in a persistent kernel's tile loop there (tripLoopOf).
  void run() {
    for (scf::ForOp top : kernel.getBody().front().getOps<scf::ForOp>()) {
      if (!onlyScalarsBefore(top))
        return;
      if (specializable(top))
        return specialize(top, top);
      for (scf::ForOp inner : top.getBody()->getOps<scf::ForOp>())
        if (FailureOr<scf::ForOp> trip = tripLoopOf(inner); succeeded(trip) && *trip == top &&
                                                            top.getNumRegionIterArgs() == 0 &&
                                                            specializable(inner))
          return specialize(inner, top);
    }
  }

private:
  /// What runs before the split runs on the producer's warps too.
  static bool onlyScalarsBefore(Operation *split) {
    for (Operation *op = split->getPrevNode(); op; op = op->getPrevNode()) {
      bool tiles = llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
      if ((tiles && !isa<arith::ConstantOp>(op)) || isa<tile::AsyncCopyOp>(op) ||
          op->getNumRegions() != 0)
        return false;
    }
    return true;
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

  /// Splits the kernel before `top` (`loop` itself, or the tile loop that
  /// holds it).
  void specialize(scf::ForOp loop, scf::ForOp top) {
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
        tile::MBarrierAllocOp::create(b, loc, tile::MBarriersType::get(ctx, kStages), offset);
    tile::MBarrierInitOp::create(b, loc, empty, tile::getNumWarps(kernel));
    // The split, right before `top`: it and everything after it are the
    // consumers'.
    auto split = tile::WarpSpecializeOp::create(b, loc, kProducerWarps);
    Block *producer = new Block(), *consumers = new Block();
    split.getProducer().push_back(producer);
    split.getConsumers().push_back(consumers);
    Block *entry = top->getBlock();
    for (Operation &op : llvm::make_early_inc_range(
             llvm::make_range(Block::iterator(top), Block::iterator(entry->getTerminator()))))
      op.moveBefore(consumers, consumers->end());

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
    auto fill =
        scf::ForOp::create(p, loc, loop.getLowerBound(), loop.getUpperBound(), loop.getStep());
    {
      OpBuilder f = OpBuilder::atBlockBegin(fill.getBody());
      Value iv = fill.getInductionVar();
      Value j = emitIteration(f, loc, loop, iv);
      Value slot = arith::RemUIOp::create(f, loc, j, constI32(f, loc, kStages));
      Value number = emitFillNumber(f, loc, loop, j, kStages, trip);
      Value refill =
          arith::CmpIOp::create(f, loc, arith::CmpIPredicate::sge, number, constI32(f, loc, 1));
      auto ifRefill = scf::IfOp::create(f, loc, TypeRange{}, refill, /*withElse=*/false);
      {
        OpBuilder w = OpBuilder::atBlockTerminator(ifRefill.thenBlock());
        Value parity = arith::AndIOp::create(
            w, loc, arith::SubIOp::create(w, loc, number, constI32(w, loc, 1)),
            constI32(w, loc, 1));
        tile::MBarrierWaitOp::create(w, loc, empty, slot, parity);
      }
      // The loop's copies were of iteration iv + distance: clone them with
      // the induction variable at iv - distance (always in range here).
      for (tile::TmaCopyOp copy : copies) {
        IRMapping inner = mapping;
        Value ahead =
            arith::MulIOp::create(f, loc, loop.getStep(), constI32(f, loc, copy.getDistance()));
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
    OpBuilder c = OpBuilder::atBlockBegin(body);
    Value j = emitIteration(c, loc, loop, loop.getInductionVar());
    Value started = arith::CmpIOp::create(c, loc, arith::CmpIPredicate::sge, j,
                                          constI32(c, loc, kReleaseDistance));
    Value released = arith::RemUIOp::create(
        c, loc, arith::SubIOp::create(c, loc, j, constI32(c, loc, kReleaseDistance)),
        constI32(c, loc, kStages));
    tile::MBarrierArriveOp::create(c, loc, empty, released, started, kReleaseDistance);
    OpBuilder after(loop->getBlock(), std::next(Block::iterator(loop)));
    Value n = emitTripCount(after, loc, loop);
    for (int64_t last = kReleaseDistance; last >= 1; --last) {
      Value i = arith::SubIOp::create(after, loc, n, constI32(after, loc, last));
      Value ran =
          arith::CmpIOp::create(after, loc, arith::CmpIPredicate::sge, i, constI32(after, loc, 0));
      Value lastSlot = arith::RemUIOp::create(after, loc, i, constI32(after, loc, kStages));
      tile::MBarrierArriveOp::create(after, loc, empty, lastSlot, ran, /*distance=*/0);
    }

    // The copies before the loop are the producer's now, and so are the
    // barriers that kept them from refilling buffers still being read (the
    // producer waits for the buffers' release instead): in a persistent
    // kernel that is one consumer barrier less per tile.
    SmallVector<Operation *> gone;
    kernel.walk([&](tile::TmaCopyOp copy) {
      if (!llvm::is_contained(buffers, copy.getBuffer()) || copy->getBlock() == body ||
          producer->getParent()->isAncestor(copy->getParentRegion()))
        return;
      gone.push_back(copy);
      if (gpu::BarrierOp barrier = barrierBefore(copy, /*overCopies=*/true);
          barrier && !llvm::is_contained(gone, barrier.getOperation()))
        gone.push_back(barrier);
    });
    for (Operation *op : gone)
      op->erase();
  }

  func::FuncOp kernel;
};

struct TileWarpSpecializePass : tessera::impl::TileWarpSpecializeBase<TileWarpSpecializePass> {
  using Base::Base;
  void runOnOperation() override {
    if (arch != "sm_90a")
      return;
    for (auto kernel : getOperation().getOps<func::FuncOp>())
      if (kernel->hasAttr(tile::kKernelAttr) && kernel->hasAttr(tile::kWarpSpecializeAttr))
        Specializer(kernel).run();
  }
};

} // namespace
