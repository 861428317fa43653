//===- PublishStagings.cpp - The tile-publish-stagings pass ---------------===//
//
// The synchronization before a tensor-core dot, as ops (docs/COMPILER.md §3):
// the staged tiles it reads must be written (stored from registers by every
// thread, or copied asynchronously), waited for, fenced for the async proxy
// on sm_90a and published by a CTA barrier before any warp reads them. What
// is ready already (#tile.staging, decided by the passes before this one)
// gets nothing.
//
//===----------------------------------------------------------------------===//

#include "tessera/Schedule/Analysis.h"
#include "tessera/Schedule/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Dominance.h"

namespace tessera {
#define GEN_PASS_DEF_TILEPUBLISHSTAGINGS
#include "tessera/Schedule/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::schedule;

namespace {

/// A dot on tensor cores: an mma accumulator, both operands in dot_op
/// layouts (the others run on CUDA cores and stage nothing).
bool runsOnTensorCores(tile::DotOp dot) {
  return isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) &&
         isa<tile::DotOperandLayoutAttr>(dot.getA().getType().getEncoding()) &&
         isa<tile::DotOperandLayoutAttr>(dot.getB().getType().getEncoding());
}

/// The buffers a loop body refills right after `barrier`: the copies of a
/// later iteration (`distance` > 0) between it and the next barrier.
SmallVector<Value> buffersRefilledAfter(gpu::BarrierOp barrier) {
  SmallVector<Value> buffers;
  for (Operation *op = barrier->getNextNode(); op && !isa<gpu::BarrierOp>(op);
       op = op->getNextNode()) {
    if (auto copy = dyn_cast<tile::TmaCopyOp>(op); copy && copy.getDistance() > 0)
      buffers.push_back(copy.getBuffer());
    if (auto copy = dyn_cast<tile::AsyncCopyOp>(op); copy && copy.getDistance() > 0)
      buffers.push_back(copy.getBuffer());
  }
  return buffers;
}

/// Whether `dot` reads a tile copied into one of `buffers`.
bool readsOneOf(tile::DotOp dot, ArrayRef<Value> buffers) {
  return llvm::any_of(dot->getOperands().take_front(2), [&](Value operand) {
    StagedOperand staged = getStagedOperand(operand);
    auto view = staged ? staged.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    return view && llvm::is_contained(buffers, view.getBuffer());
  });
}

/// The bytes of `staged`'s shared tile.
SmallVector<SharedRange> stagedTile(const StagedOperand &staged) {
  int64_t offset = staged.offset();
  return {{offset, offset + tileBytes(cast<RankedTensorType>(staged.source.getType()))}};
}

/// Whether `op` (without regions), in a body that stores `tile` from
/// registers, leaves the tile to those stores: writes none of it unless it
/// is a staging store (advance), or may (interrupt).
WalkResult leavesTileToStagings(Operation *op, ArrayRef<SharedRange> tile) {
  FailureOr<SmallVector<SharedRange>> writes = sharedWritesOf(op);
  if (failed(writes))
    return WalkResult::interrupt();
  return overlaps(*writes, tile) && !isa<tile::StoreStagingOp>(op) ? WalkResult::interrupt()
                                                                   : WalkResult::advance();
}

/// Whether `dot`, about to store `staged` from registers inside a loop,
/// needs no barrier of its own before the stores: one that the loop body
/// runs before it already follows every earlier read of the tile.
///
/// That barrier is the one before a refill of the body's copy rings. A
/// wgmma that reads a tile its body stores from registers is waited for
/// within its trip (tessera-defer-wgmma-waits keeps a group in flight
/// across the back edge only for a body of one group whose staged tiles are
/// all copied, into rings of four buffers; lit
/// wgmma-wait-before-refill-barrier.mlir), and one that reads the refilled
/// ring before that barrier stops there, since the refill after it writes
/// what it reads; so by the refill's barrier of trip j every thread is done
/// with trip j - 1's such dots. When every dot that reads the staged tile (`dot`
/// too) is one of them and lies after `dot` or before that barrier, and
/// nothing else in the body touches the tile, the stores of trip j come
/// after every read of it in every thread. The d 256 backward's Pᵀ and dSᵀ
/// exchanges drop two of their five barriers a block so.
bool readsDoneAtRefillBarrier(tile::DotOp dot, const StagedOperand &staged) {
  Block *body = dot->getBlock();
  if (!isa_and_nonnull<scf::ForOp>(body->getParentOp()))
    return false;
  gpu::BarrierOp guard;
  SmallVector<Value> refilled;
  for (Operation &op : *body) {
    if (&op == dot.getOperation())
      break;
    if (auto barrier = dyn_cast<gpu::BarrierOp>(op))
      if (SmallVector<Value> buffers = buffersRefilledAfter(barrier); !buffers.empty()) {
        guard = barrier;
        refilled = std::move(buffers);
      }
  }
  if (!guard)
    return false;
  SmallVector<SharedRange> tile = stagedTile(staged);
  bool betweenGuardAndDot = false;
  WalkResult walk = body->walk([&](Operation *op) {
    if (op == guard.getOperation())
      betweenGuardAndDot = true;
    // `dot` reads the tile after these stores; its previous trip's read
    // must be done by the guard like any other's.
    if (op == dot.getOperation()) {
      betweenGuardAndDot = false;
      return readsOneOf(dot, refilled) ? WalkResult::advance() : WalkResult::interrupt();
    }
    // Bulk stores read their staging tiles asynchronously, until a wait of
    // their own: out of this reasoning.
    if (isa<tile::TmaStoreOp>(op))
      return WalkResult::interrupt();
    if (auto reader = dyn_cast<tile::DotOp>(op)) {
      FailureOr<SmallVector<SharedRange>> reads = sharedReadsOf(reader);
      if (failed(reads))
        return WalkResult::interrupt();
      if (overlaps(*reads, tile) && (betweenGuardAndDot || !readsOneOf(reader, refilled)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    }
    // Other writers of the tile: only the stagings of such readers.
    if (op->getNumRegions() != 0)
      return WalkResult::advance();
    return leavesTileToStagings(op, tile);
  });
  return !walk.wasInterrupted();
}

/// Whether `dot`, about to store `staged` from registers inside a loop,
/// needs no barrier of its own before the stores because each read of the
/// tile in the body (by dots at or after `dot`: so the ones of the previous
/// trip) is done at a barrier later in that trip: every reader's result is
/// used before one (its wgmma is waited for before the use, which needs its
/// registers), and nothing else touches the tile. In the FlashAttention-3
/// backward dQᵀ = Kᵀ dSᵀ reads the exchanged dSᵀ; its result is staged for
/// the TMA add, whose publishing barrier then also ends the reads of dSᵀ
/// before the next trip stores it.
bool readsDoneAtBarrierAfterUse(tile::DotOp dot, const StagedOperand &staged) {
  Block *body = dot->getBlock();
  if (!isa_and_nonnull<scf::ForOp>(body->getParentOp()))
    return false;
  SmallVector<SharedRange> tile = stagedTile(staged);
  // A barrier after a use of `reader`'s result, in the body.
  auto doneAtBarrier = [&](tile::DotOp reader) {
    Operation *firstUse = nullptr;
    for (Operation *user : reader->getUsers()) {
      Operation *inBody = body->findAncestorOpInBlock(*user);
      if (inBody && (!firstUse || inBody->isBeforeInBlock(firstUse)))
        firstUse = inBody;
    }
    if (!firstUse || isa<scf::YieldOp>(firstUse))
      return false;
    for (Operation *op = firstUse->getNextNode(); op; op = op->getNextNode())
      if (isa<gpu::BarrierOp>(op))
        return true;
    return false;
  };
  // Every buffer the kernel's copies write (the producer's among them).
  std::optional<SmallVector<SharedRange>> buffers;
  auto copyBuffers = [&]() -> ArrayRef<SharedRange> {
    if (!buffers) {
      buffers.emplace();
      dot->getParentOfType<func::FuncOp>().walk([&](Operation *copy) {
        if (!isa<tile::AsyncCopyOp, tile::TmaCopyOp>(copy))
          return;
        FailureOr<SmallVector<SharedRange>> writes = sharedWritesOf(copy);
        // Unknown places: everything.
        if (failed(writes))
          buffers->push_back({0, std::numeric_limits<int64_t>::max()});
        else
          llvm::append_range(*buffers, *writes);
      });
    }
    return *buffers;
  };
  bool beforeDot = true;
  WalkResult walk = body->walk([&](Operation *op) {
    if (op == dot.getOperation())
      beforeDot = false;
    // A bulk store reads its staging tile until a wait of its own: that
    // tile must be another.
    if (auto store = dyn_cast<tile::TmaStoreOp>(op)) {
      auto alloc = store.getStaging().getDefiningOp<tile::SharedAllocOp>();
      if (!alloc)
        return WalkResult::interrupt();
      int64_t start = alloc.getOffsets()[0];
      SharedRange read = {start, start + store.getStaging().getType().getBufferBytes()};
      return overlaps(read, tile) ? WalkResult::interrupt() : WalkResult::advance();
    }
    if (auto reader = dyn_cast<tile::DotOp>(op)) {
      FailureOr<SmallVector<SharedRange>> reads = sharedReadsOf(reader);
      if (failed(reads))
        return WalkResult::interrupt();
      if (!overlaps(*reads, tile))
        return WalkResult::advance();
      return !beforeDot && reader->getBlock() == body && doneAtBarrier(reader)
                 ? WalkResult::advance()
                 : WalkResult::interrupt();
    }
    if (op->getNumRegions() != 0)
      return WalkResult::advance();
    // A consumer's arrive hands copy buffers back to the producer: fine
    // where the tile is none of the kernel's copy buffers.
    if (isa<tile::MBarrierArriveOp>(op))
      return overlaps(copyBuffers(), tile) ? WalkResult::interrupt() : WalkResult::advance();
    return leavesTileToStagings(op, tile);
  });
  return !walk.wasInterrupted();
}

/// A TMA staging tile's guard (tile-use-tma: `tile.tma_store_wait`, then a
/// barrier before the tile is written again) whose barrier the block's
/// previous barrier can take over: the wait moves before that one and the
/// guard's barrier goes. Sound where nothing between the two barriers
/// writes shared memory or issues a bulk store (the moved wait must still
/// cover every bulk group the guard waited for) and nothing read there is
/// written after the guard before the next barrier. In the FlashAttention-3
/// backward's loop the dSᵀ exchange publishes the wait so: one CTA barrier
/// of the consumers fewer a query block.
void mergeStagingGuards(Operation *root) {
  SmallVector<tile::TmaStoreWaitOp> waits;
  root->walk([&](tile::TmaStoreWaitOp wait) { waits.push_back(wait); });
  for (tile::TmaStoreWaitOp wait : waits) {
    auto guard = dyn_cast_or_null<gpu::BarrierOp>(wait->getNextNode());
    if (!guard)
      continue;
    // Back to the previous barrier: nothing there may write shared memory.
    gpu::BarrierOp earlier;
    SmallVector<SharedRange> readBetween;
    bool ok = true;
    for (Operation *op = wait->getPrevNode(); op && ok; op = op->getPrevNode()) {
      if ((earlier = dyn_cast<gpu::BarrierOp>(op)))
        break;
      // A store from a staging tile reads it until the guard's barrier.
      if (op->getNumRegions() != 0 ||
          isa<tile::TmaStoreOp, tile::TmaStoreWaitOp, tile::StoreFromStagingOp>(op)) {
        ok = false;
        break;
      }
      FailureOr<SmallVector<SharedRange>> writes = sharedWritesOf(op);
      ok = succeeded(writes) && writes->empty();
      if (auto dot = dyn_cast<tile::DotOp>(op)) {
        FailureOr<SmallVector<SharedRange>> reads = sharedReadsOf(dot);
        ok = ok && succeeded(reads);
        if (ok)
          llvm::append_range(readBetween, *reads);
      }
    }
    if (!ok || !earlier)
      continue;
    // What the guard's barrier kept after those reads, up to the next one.
    for (Operation *op = guard->getNextNode(); op && ok && !isa<gpu::BarrierOp>(op);
         op = op->getNextNode()) {
      FailureOr<SmallVector<SharedRange>> writes = sharedWritesOf(op);
      ok = op->getNumRegions() == 0 && succeeded(writes) && !overlaps(*writes, readBetween);
    }
    if (!ok)
      continue;
    wait->moveBefore(earlier);
    guard->erase();
  }
}

struct TilePublishStagingsPass : tessera::impl::TilePublishStagingsBase<TilePublishStagingsPass> {
  using Base::Base;

  void runOnOperation() override {
    bool warpgroupMma = arch == "sm_90a";
    DominanceInfo dominance(getOperation());
    // A staging hoisted out of its dot's loop (Q in attention) is stored once,
    // where it is converted: after the tile's last readers, published by a
    // barrier; the dots inside the loop find it ready.
    getOperation().walk([&](Operation *op) {
      if (!isa<tile::ConvertLayoutOp, tile::TransOp>(op))
        return;
      StagedOperand staged = getStagedOperand(op->getResult(0));
      if (!staged || !staged.hoisted || isCopied(staged))
        return;
      OpBuilder b(op);
      gpu::BarrierOp::create(b, op->getLoc());
      tile::StoreStagingOp::create(b, op->getLoc(), staged.source, staged.offset());
      gpu::BarrierOp::create(b, op->getLoc());
    });
    WalkResult result = getOperation().walk([&](tile::DotOp dot) {
      if (!runsOnTensorCores(dot))
        return WalkResult::advance();
      if (failed(publish(dot, warpgroupMma, dominance)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (result.wasInterrupted()) {
      signalPassFailure();
      return;
    }
    if (barriersAfterUses)
      mergeStagingGuards(getOperation());
  }

  LogicalResult publish(tile::DotOp dot, bool warpgroupMma, DominanceInfo &dominance) {
    OpBuilder b(dot);
    Location loc = dot.getLoc();
    StagedOperand stagedA = getStagedOperand(dot.getA()), stagedB = getStagedOperand(dot.getB());
    if ((stagedA || stagedB) && !dot.getStagingAttr())
      return dot.emitOpError("stages an operand but has no shared tiles: run "
                             "tile-allocate-shared-memory first");
    // Tiles stored from registers: after a barrier (their last readers are
    // done), each thread writes its elements. A tile copied, hoisted out of
    // the loop (stored once, before it) or ready (filled by an earlier dot)
    // is not stored here.
    bool mustWait = false, allReady = true;
    SmallVector<const StagedOperand *> toStore;
    for (const StagedOperand *staged : {&stagedA, &stagedB}) {
      if (!*staged)
        continue;
      bool ready = staged->ready();
      allReady &= ready;
      if (isCopied(*staged)) {
        mustWait |= !ready;
        continue;
      }
      if (staged->hoisted || ready)
        continue;
      toStore.push_back(staged);
    }
    bool stored = !toStore.empty();
    if (stored && !(barriersAfterRefills && llvm::all_of(toStore, [&](const StagedOperand *staged) {
                      return readsDoneAtRefillBarrier(dot, *staged) ||
                             (barriersAfterUses && readsDoneAtBarrierAfterUse(dot, *staged));
                    })))
      gpu::BarrierOp::create(b, loc);
    for (const StagedOperand *staged : toStore)
      tile::StoreStagingOp::create(b, loc, staged->source, staged->offset());
    // The copied tiles it reads, and the next dot's where this one publishes
    // them (publishNext = at_start: one barrier for both products).
    SmallVector<StagedOperand> waitedFor = {stagedA, stagedB};
    tile::StagingAttr staging = dot.getStagingAttr();
    if (staging && staging.getPublishNext() == tile::PublishNext::at_start) {
      tile::DotOp next = followingDot(dot);
      if (!next)
        return dot.emitOpError("publishes the next dot's tiles, but no dot follows");
      for (Value operand : next->getOperands().take_front(2))
        if (StagedOperand staged = getStagedOperand(operand))
          waitedFor.push_back(staged);
      mustWait = true;
    }
    if (mustWait) {
      tile::AsyncWaitOp::create(b, loc, copiesAllowedInFlight(dot, waitedFor));
      // Copied f32 tiles a tf32 wgmma reads are rounded in place before the
      // barrier publishes them, unless their load promises tf32 values (the
      // next dot's count as unready: this dot waits for them).
      for (auto [i, staged] : llvm::enumerate(waitedFor)) {
        if (!warpgroupMma || !staged || !isCopied(staged) || (i < 2 && staged.ready()) ||
            !mustRoundCopiedToTf32(staged.source))
          continue;
        auto view = staged.source.getDefiningOp<tile::SharedViewOp>();
        if (!dominance.properlyDominates(view.getSlot(), dot))
          return dot.emitOpError("waits for a copied tile whose slot is computed after it");
        tile::RoundSharedToTf32Op::create(b, loc, view.getBuffer(), view.getSlot(),
                                          TypeAttr::get(staged.source.getType()));
      }
    }
    // wgmma reads shared memory through the async proxy: each thread's
    // generic-proxy writes (stores, cp.async) are fenced before the barrier
    // that publishes them. On sm_90a every publishing dot fences, also an
    // mma.sync one, since a later wgmma may find its tiles ready. A wgmma
    // whose tiles are all ready has nothing to publish.
    bool warpgroup = warpgroupMma && fitsWarpgroupMma(dot, stagedA, stagedB);
    bool publishes = mustWait || stored || (warpgroup && !allReady);
    if (publishes && warpgroupMma)
      tile::FenceAsyncSharedOp::create(b, loc);
    if (publishes)
      gpu::BarrierOp::create(b, loc);
    return success();
  }
};

} // namespace
