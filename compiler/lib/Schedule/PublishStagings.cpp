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
    if (result.wasInterrupted())
      signalPassFailure();
  }

  static LogicalResult publish(tile::DotOp dot, bool warpgroupMma, DominanceInfo &dominance) {
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
    bool mustWait = false, stored = false, allReady = true;
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
      if (!stored)
        gpu::BarrierOp::create(b, loc);
      stored = true;
      tile::StoreStagingOp::create(b, loc, staged->source, staged->offset());
    }
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
