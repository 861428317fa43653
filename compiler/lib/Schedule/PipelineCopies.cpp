//===- PipelineCopies.cpp - The tile-pipeline-copies pass -----------------===//
//
// Software pipelining of the async copies of a loop over num_stages buffers
// (docs/COMPILER.md §3).
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

#include <limits>

namespace tessera {
#define GEN_PASS_DEF_TILEPIPELINECOPIES
#include "tessera/Schedule/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::schedule;

namespace {

/// The buffer (i32) that iteration `iv` + `ahead` iterations of `loop` uses
/// among `stages`: (the iteration's number + ahead) mod stages.
Value emitSlot(OpBuilder &b, Location loc, scf::ForOp loop, int64_t stages, int64_t ahead) {
  if (stages == 1)
    return constI32(b, loc, 0);
  Value k = emitIteration(b, loc, loop, loop.getInductionVar());
  if (ahead)
    k = arith::AddIOp::create(b, loc, k, constI32(b, loc, ahead));
  if (stages == 2)
    return arith::AndIOp::create(b, loc, k, constI32(b, loc, 1));
  return arith::RemUIOp::create(b, loc, k, constI32(b, loc, stages));
}

/// `copy` for the iteration whose induction variable is `iv`, made at `b`
/// into buffer `slot` of `buffer`, with its descriptor and indices cloned
/// from `slice`; out of range (it copies nothing, zero-fills) unless
/// `enabled`.
tile::AsyncCopyOp copyAt(OpBuilder &b, tile::AsyncCopyOp copy, scf::ForOp loop,
                         const llvm::SetVector<Operation *> &slice, Value iv, Value enabled,
                         Value buffer, Value slot, int64_t distance) {
  IRMapping mapping;
  mapping.map(loop.getInductionVar(), iv);
  for (Operation *op : slice)
    b.clone(*op, mapping);
  SmallVector<Value> indices;
  for (Value index : copy.getIndices())
    indices.push_back(mapping.lookupOrDefault(index));
  // A first index past any tensor makes every element out of bounds: the
  // copy writes zeros and reads nothing.
  Location loc = copy.getLoc();
  indices[0] = arith::SelectOp::create(b, loc, enabled, indices[0],
                                       constI32(b, loc, std::numeric_limits<int32_t>::max()));
  return tile::AsyncCopyOp::create(b, loc, mapping.lookupOrDefault(copy.getDesc()), indices, buffer,
                                   slot, copy.getTile(), distance);
}

/// The view of `copy`'s buffer in `body`; null if none.
tile::SharedViewOp viewOf(tile::AsyncCopyOp copy, Block *body) {
  for (Operation *user : copy.getBuffer().getUsers())
    if (auto view = dyn_cast<tile::SharedViewOp>(user); view && view->getBlock() == body)
      return view;
  return {};
}

/// The last dot in `body` that reads the tile `view` holds, when every
/// reader is a dot directly in `body`; null otherwise.
tile::DotOp lastReader(tile::SharedViewOp view, Block *body) {
  tile::DotOp last;
  for (Operation *staging : view->getUsers()) {
    if (staging->getNumResults() != 1)
      return {};
    StagedOperand staged = getStagedOperand(staging->getResult(0));
    if (!staged || staged.dot->getBlock() != body)
      return {};
    if (!last || last->isBeforeInBlock(staged.dot))
      last = staged.dot;
  }
  return last;
}

/// The end (bytes) of the tiles the dots inside `region` (a loop directly in
/// the kernel's body) stage: pipelining places further buffers after it.
int64_t regionEnd(Operation *region) {
  int64_t end = 0;
  region->walk([&](tile::DotOp dot) {
    tile::StagingAttr staging = dot.getStagingAttr();
    if (!staging)
      return;
    for (unsigned i : {0u, 1u}) {
      StagedOperand staged = getStagedOperand(dot->getOperand(i));
      if (staged && staging.getOffset(i) >= 0)
        end = std::max(end, staging.getOffset(i) +
                                tileBytes(cast<RankedTensorType>(staged.source.getType())));
    }
  });
  return llvm::alignTo(end, tile::kSharedTileAlignment);
}

void setStaging(tile::DotOp dot, std::array<bool, 2> ready, tile::PublishNext publishNext) {
  tile::StagingAttr s = dot.getStagingAttr();
  dot.setStagingAttr(tile::StagingAttr::get(dot->getContext(), s.getOffsetA(), s.getOffsetB(),
                                            ready[0], ready[1], publishNext));
}

class Pipeliner {
public:
  explicit Pipeliner(func::FuncOp kernel) : kernel(kernel) {
    stages = std::clamp<int64_t>(tile::getNumStages(kernel), 1, 4);
  }

  void run() {
    SmallVector<scf::ForOp> loops;
    kernel->walk([&](scf::ForOp loop) { loops.push_back(loop); });
    for (scf::ForOp loop : loops)
      pipeline(loop);
    dropBarriersOfFollowingCopies();
  }

private:
  /// Copies of the first stages - 1 iterations' tiles of each copy in an
  /// scf.for body whose indices follow from the induction variable are issued
  /// before the loop, and each iteration issues the copy stages - 1
  /// iterations ahead (out-of-range iterations copy zeros). With S = 2 to 4
  /// stages the copy gets S buffers and stays where it was, so tiles j+1 ..
  /// j+S-1 load during the dots of tile j (the copy refills the buffer
  /// iteration j-1 read, after the barrier before it). With one stage
  /// (kernels whose tiles fill the shared memory once) the tile keeps its one
  /// buffer and is refilled right after the last dot that reads it (the
  /// copy's barrier waits for every reader), so K_{j+1} loads during the rest
  /// of iteration j and V_{j+1} during Q·K_{j+1}ᵀ.
  void pipeline(scf::ForOp loop) {
    bool singleBuffer = stages < 2;
    if (!loop.getInductionVar().getType().isInteger(32))
      return;
    // Innermost loops only: an outer loop's body holds the first copies of
    // its inner loop's pipeline (walked first), which must stay where they
    // are, filling the inner loop's first tiles on every outer trip.
    if (loop.getBody()->walk([](scf::ForOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return;
    SmallVector<tile::AsyncCopyOp> copies;
    bool nested = false;
    loop.getBody()->walk([&](tile::AsyncCopyOp copy) {
      if (copy->getBlock() == loop.getBody())
        copies.push_back(copy);
      else
        nested = true;
    });
    if (copies.empty() || nested)
      return;
    SmallVector<llvm::SetVector<Operation *>> slices(copies.size());
    SmallVector<tile::SharedViewOp> views;
    SmallVector<tile::DotOp> lastReaders;
    bool ok = true;
    for (auto [copy, slice] : llvm::zip(copies, slices)) {
      ok = ok && collectIndexSlice(loop, copy.getDesc(), slice);
      for (Value index : copy.getIndices())
        ok = ok && collectIndexSlice(loop, index, slice);
      views.push_back(viewOf(copy, loop.getBody()));
      ok = ok && views.back() && copy.getDistance() == 0;
      if (ok && singleBuffer) {
        lastReaders.push_back(lastReader(views.back(), loop.getBody()));
        ok = ok && lastReaders.back();
      }
    }
    if (!ok)
      return;
    // With four stages, when one dot reads every copied tile, each copy goes
    // right after that dot, stages - 2 iterations ahead, into the buffer the
    // dot of two iterations back read: the dot's own barrier, after which
    // every warp is done with that dot (its wgmma waited for at the end of
    // the previous iteration), covers the copy, and the dot's wgmma group may
    // stay in flight into the next iteration (tessera-defer-wgmma-waits).
    // (With three, one iteration ahead did not hide the copies' latency: a
    // 128 x 128 x 64 matmul ran at 452 TFLOP/s that way, 574 copying two ahead.)
    tile::DotOp onlyReader;
    bool afterReader = false;
    if (stages >= 4) {
      for (tile::SharedViewOp view : views) {
        tile::DotOp last = lastReader(view, loop.getBody());
        afterReader = last && (!onlyReader || last == onlyReader);
        if (!afterReader)
          break;
        onlyReader = last;
      }
    }
    int64_t ahead = singleBuffer ? 1 : afterReader ? stages - 2 : stages - 1;
    Location loc = loop.getLoc();
    Value lb = loop.getLowerBound(), ub = loop.getUpperBound(), step = loop.getStep();
    // Further buffers go after the loop's region (tile-allocate-shared-memory);
    // those of sibling loops inside a top-level loop (a persistent kernel's,
    // which run one after the other in each trip, their tiles in one
    // sub-region) each from the region's end.
    Operation *region = topLevelLoop(loop, kernel);
    region = region ? region : loop.getOperation();
    auto [it, inserted] = regionEnds.try_emplace(loop.getOperation(), 0);
    if (inserted)
      it->second = std::max(regionEnd(region), regionEnd(loop));
    int64_t offset = it->second;
    // Each copy's buffers: its own tile, then stages - 1 more after the
    // region (one tile refilled in place for a single stage).
    SmallVector<Value> buffers;
    MLIRContext *ctx = kernel->getContext();
    for (tile::AsyncCopyOp copy : copies) {
      auto alloc = copy.getBuffer().getDefiningOp<tile::SharedAllocOp>();
      SmallVector<int64_t> offsets = {alloc.getOffsets()[0]};
      for (int64_t s = 1; s < stages; ++s) {
        offsets.push_back(offset);
        offset += llvm::alignTo(alloc.getType().getBufferBytes(), tile::kSharedTileAlignment);
      }
      tile::SharedType type = alloc.getType();
      OpBuilder b(alloc);
      buffers.push_back(tile::SharedAllocOp::create(
          b, alloc.getLoc(),
          tile::SharedType::get(ctx, type.getShape(), type.getElementType(), offsets.size()),
          b.getDenseI64ArrayAttr(offsets)));
    }
    // Before the loop: iterations 0 .. ahead - 1 into buffers 0 .. ahead - 1,
    // stage by stage (each copy one group, in the body's order of copies, so
    // that a dot counts the groups after its own the same way in every
    // iteration: copiesAllowedInFlight).
    OpBuilder before(loop);
    for (int64_t s = 0; s < ahead; ++s) {
      Value iv = s == 0 ? lb
                        : arith::AddIOp::create(
                              before, loc, lb,
                              arith::MulIOp::create(before, loc, step, constI32(before, loc, s)));
      Value runs = arith::CmpIOp::create(before, loc, arith::CmpIPredicate::slt, iv, ub);
      for (auto [i, copy] : llvm::enumerate(copies)) {
        gpu::BarrierOp::create(before, loc);
        copyAt(before, copy, loop, slices[i], iv, runs, buffers[i], constI32(before, loc, s),
               /*distance=*/0);
      }
    }
    SmallVector<gpu::BarrierOp> oldBarriers =
        llvm::map_to_vector(copies, [](tile::AsyncCopyOp copy) { return barrierBefore(copy); });
    Operation *lastAfterReader = nullptr;
    for (auto [i, copy] : llvm::enumerate(copies)) {
      // In the loop, where the copy was (or after its last reader): the tile
      // of the iteration `ahead` iterations on.
      OpBuilder inside(copy);
      if (singleBuffer)
        inside.setInsertionPointAfter(lastReaders[i]);
      else if (afterReader) // in the order of the copies, as before the loop
        inside.setInsertionPointAfter(lastAfterReader ? lastAfterReader
                                                      : onlyReader.getOperation());
      Value distance = ahead == 1
                           ? step
                           : arith::MulIOp::create(inside, loc, step, constI32(inside, loc, ahead));
      Value next = arith::AddIOp::create(inside, loc, loop.getInductionVar(), distance);
      Value nextRuns = arith::CmpIOp::create(inside, loc, arith::CmpIPredicate::slt, next, ub);
      // A one-stage refill after a dot with K split between groups of warps,
      // the tile's last reader, needs no barrier: the one that ends the dot's
      // exchange of partial sums follows every thread's reads of the tile.
      // Nor does a copy after the one dot of a four-stage loop (above).
      if (!((singleBuffer && splitKGroups(lastReaders[i]) > 1) || afterReader))
        gpu::BarrierOp::create(inside, loc);
      lastAfterReader = copyAt(inside, copy, loop, slices[i], next, nextRuns, buffers[i],
                               emitSlot(inside, loc, loop, stages, ahead), ahead);
      // The view reads this iteration's buffer.
      OpBuilder at(views[i]);
      tile::SharedViewOp view = views[i];
      view->setOperands({buffers[i], emitSlot(at, view.getLoc(), loop, stages, 0)});
      // The copy and its barrier.
      if (oldBarriers[i])
        oldBarriers[i]->erase();
      Operation *alloc = copy.getBuffer().getDefiningOp();
      copy->erase();
      if (alloc->use_empty())
        alloc->erase();
    }
    it->second = offset;
    if (singleBuffer)
      refillAfterWaitingDots(loop);
    if (singleBuffer)
      publishAtExchange(loop);
    // The last trip's copy (zeros, into the first tile) is never waited for
    // in the loop: drain it, or it could land on what a later copy into the
    // same tile brings (the next run of a nested loop, a sibling loop's
    // first tile).
    OpBuilder after(loop->getBlock(), std::next(Block::iterator(loop)));
    tile::AsyncWaitOp::create(after, loc, 0);
  }

  /// A dot that also waited for the next dot's copies (allocation) would now
  /// wait for a refill issued after that dot: each waits for its own, and
  /// the next dot's refilled tiles are no longer ready for it.
  void refillAfterWaitingDots(scf::ForOp loop) {
    for (tile::DotOp dot : loop.getBody()->getOps<tile::DotOp>()) {
      tile::StagingAttr staging = dot.getStagingAttr();
      if (!staging || staging.getPublishNext() != tile::PublishNext::at_start)
        continue;
      setStaging(dot, {staging.getReadyA(), staging.getReadyB()}, tile::PublishNext::none);
      tile::DotOp nextDot = followingDot(dot);
      tile::StagingAttr nextStaging = nextDot.getStagingAttr();
      std::array<bool, 2> ready = {nextStaging.getReadyA(), nextStaging.getReadyB()};
      // Still ready: a tile an earlier dot of the body reads (and waited for).
      auto readBefore = [&](Value source) {
        for (Operation *op = &loop.getBody()->front(); op != nextDot; op = op->getNextNode())
          if (auto earlier = dyn_cast<tile::DotOp>(op))
            for (Value operand : earlier->getOperands().take_front(2))
              if (StagedOperand staged = getStagedOperand(operand);
                  staged && staged.source == source)
                return true;
        return false;
      };
      for (unsigned operand : {0u, 1u}) {
        StagedOperand staged = getStagedOperand(nextDot->getOperand(operand));
        auto view =
            staged ? staged.source.getDefiningOp<tile::SharedViewOp>() : tile::SharedViewOp();
        if (view && view->getBlock() == loop.getBody() && !readBefore(staged.source))
          ready[operand] = false;
      }
      setStaging(nextDot, ready, nextStaging.getPublishNext());
    }
  }

  /// A dot that exchanges partial sums between warp groups waits for the
  /// next dot's refilled tiles at its exchange, a whole product after they
  /// were issued (after the previous iteration's last reader), and the
  /// exchange's barrier publishes them: the next dot needs none of its own.
  void publishAtExchange(scf::ForOp loop) {
    for (tile::DotOp dot : loop.getBody()->getOps<tile::DotOp>()) {
      if (splitKGroups(dot) < 2)
        continue;
      tile::DotOp next = followingDot(dot);
      if (!next)
        continue;
      tile::StagingAttr nextStaging = next.getStagingAttr();
      std::array<bool, 2> ready = {nextStaging.getReadyA(), nextStaging.getReadyB()};
      bool refilledAfter = true, waits = false;
      for (unsigned operand : {0u, 1u}) {
        StagedOperand staged = getStagedOperand(next->getOperand(operand));
        if (!staged || ready[operand])
          continue;
        auto view = staged.source.getDefiningOp<tile::SharedViewOp>();
        Operation *copy =
            view && view->getBlock() == loop.getBody() ? prefetchCopyOf(view) : nullptr;
        refilledAfter &= copy && next->isBeforeInBlock(copy);
        ready[operand] = true;
        waits = true;
      }
      if (!refilledAfter || !waits)
        continue;
      tile::StagingAttr staging = dot.getStagingAttr();
      setStaging(dot, {staging.getReadyA(), staging.getReadyB()}, tile::PublishNext::at_exchange);
      setStaging(next, ready, nextStaging.getPublishNext());
    }
  }

  /// Copies issued back to back share the barrier before the first: the
  /// barrier of a copy that follows another copy with only scalar code (and
  /// views, which lower to nothing) between goes.
  void dropBarriersOfFollowingCopies() {
    SmallVector<Operation *> redundant;
    kernel->walk([&](tile::AsyncCopyOp copy) {
      gpu::BarrierOp barrier = barrierBefore(copy);
      if (!barrier)
        return;
      for (Operation *prev = barrier->getPrevNode(); prev; prev = prev->getPrevNode()) {
        if (isa<tile::AsyncCopyOp>(prev)) {
          redundant.push_back(barrier);
          return;
        }
        if (!isa<tile::SharedViewOp>(prev) && !isScalarCode(prev))
          return;
      }
    });
    for (Operation *barrier : redundant)
      barrier->erase();
  }

  func::FuncOp kernel;
  int64_t stages;
  /// The end of each pipelined loop's tiles, its own further buffers included.
  llvm::DenseMap<Operation *, int64_t> regionEnds;
};

struct TilePipelineCopiesPass : tessera::impl::TilePipelineCopiesBase<TilePipelineCopiesPass> {
  void runOnOperation() override {
    for (auto kernel : getOperation().getOps<func::FuncOp>())
      if (kernel->hasAttr(tile::kKernelAttr))
        Pipeliner(kernel).run();
  }
};

} // namespace
