//===- DeferWgmmaWaits.cpp - Overlap warpgroup MMAs with what follows ----===//
//
// The lowering emits every wgmma group as an issue followed at once by its
// wait. Here each wait sinks to the first operation that needs it done, so
// that the tensor cores work while the threads go on (PTX ISA,
// "wgmma.wait_group"): in the dK/dV program the dPᵀ product queues behind
// Sᵀ and runs while exp2 turns Sᵀ into Pᵀ, dV runs while dSᵀ is computed,
// and both dV and dK are waited for only at the end of the iteration.
//
//===----------------------------------------------------------------------===//

#include "Utility.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace tessera {
#define GEN_PASS_DEF_DEFERWGMMAWAITS
#include "tessera/Conversion/TileToGPU/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

/// Inline PTX with side effects that neither writes shared memory nor
/// synchronizes threads: a running wgmma may overlap it.
bool isHarmlessAsm(StringRef text) {
  return llvm::any_of(ArrayRef<StringRef>{"mov.u32 $0, %tid", "cp.async.commit_group",
                                          "cp.async.wait_group", "fence.proxy.async", "red.global",
                                          "ld.shared", "ldmatrix"},
                      [&](StringRef prefix) { return text.starts_with(prefix); });
}

/// Whether a wgmma in flight may keep running through `op`; counts the
/// wgmma groups `op` issues into `issued` (nested regions may issue none).
bool mayOverlap(Operation *op, int64_t &issued) {
  if (isa<gpu::BarrierOp, NVVM::Barrier0Op>(op))
    return false;
  if (auto inlineAsm = dyn_cast<LLVM::InlineAsmOp>(op)) {
    if (op->hasAttr(kWgmmaIssueAttr)) {
      ++issued;
      return true;
    }
    return op->hasAttr(kWgmmaWaitAttr) || !inlineAsm.getHasSideEffects() ||
           isHarmlessAsm(inlineAsm.getAsmString());
  }
  if (op->getNumRegions() != 0) {
    // Structured control flow whose every operation may overlap, issuing
    // nothing itself (its waits would not count groups of this block).
    int64_t nestedIssues = 0;
    WalkResult walk = op->walk([&](Operation *nested) {
      if (nested == op || nested->hasTrait<OpTrait::IsTerminator>())
        return WalkResult::advance();
      if (nested->getNumRegions() != 0)
        return nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>() ? WalkResult::advance()
                                                                      : WalkResult::interrupt();
      return mayOverlap(nested, nestedIssues) ? WalkResult::advance() : WalkResult::interrupt();
    });
    return !walk.wasInterrupted() && nestedIssues == 0 &&
           op->hasTrait<OpTrait::HasRecursiveMemoryEffects>();
  }
  // Reads and arithmetic overlap; writes (shared tiles, scratch) and
  // operations of unknown effect do not.
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  return effects && !effects.hasEffect<MemoryEffects::Write>();
}

/// Moves `wait` down to the first operation after it that needs its group
/// done or must not overlap it, and lets the groups it passes keep running.
/// Pure operations on the accumulators on the way (the extraction of the
/// results, exp2 of the scores) move along behind the wait, in order, so
/// that the independent work in between runs first.
void deferWait(LLVM::InlineAsmOp wait) {
  llvm::SetVector<Operation *> behind; // after the wait: it and what follows from it
  behind.insert(wait);
  auto dependsOnWait = [&](Operation *op) {
    WalkResult walk = op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (Operation *def = operand.getDefiningOp(); def && behind.contains(def))
          return WalkResult::interrupt();
      return WalkResult::advance();
    });
    return walk.wasInterrupted();
  };
  int64_t issued = 0;
  Operation *stop = wait->getNextNode();
  for (; !stop->hasTrait<OpTrait::IsTerminator>(); stop = stop->getNextNode()) {
    if (dependsOnWait(stop)) {
      if (stop->getNumRegions() != 0 || !isMemoryEffectFree(stop))
        break;
      behind.insert(stop);
      continue;
    }
    if (!mayOverlap(stop, issued))
      break;
  }
  if (behind.size() == 1 && stop == wait->getNextNode())
    return;
  // The wait's operands, the issue's results extracted from its struct,
  // are read by nothing else: they follow it down.
  for (Value operand : wait.getOperands())
    if (Operation *def = operand.getDefiningOp();
        def && def->getBlock() == wait->getBlock() && def->hasOneUse() && isMemoryEffectFree(def))
      def->moveBefore(stop);
  for (Operation *op : behind)
    op->moveBefore(stop);
  wait.setAsmString(wgmmaWaitText(issued));
}

struct DeferWgmmaWaitsPass : tessera::impl::DeferWgmmaWaitsBase<DeferWgmmaWaitsPass> {
  void runOnOperation() override {
    SmallVector<LLVM::InlineAsmOp> waits;
    getOperation().walk([&](LLVM::InlineAsmOp op) {
      if (op->hasAttr(kWgmmaWaitAttr))
        waits.push_back(op);
    });
    for (LLVM::InlineAsmOp wait : waits)
      deferWait(wait);
  }
};

} // namespace
