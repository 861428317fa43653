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

#include "mlir/Analysis/SliceAnalysis.h"
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
/// synchronizes threads: a running wgmma may overlap it. (The predicated
/// atomic adds open with their predicates' declarations, `{ .reg .pred p;
/// ... red.global.add.f32 ...}`, and sm_90's pairs carry a scalar fallback
/// beside `red.global.add.v2.f32`, so they are found by that instruction.)
bool isHarmlessAsm(StringRef text) {
  return llvm::any_of(
             ArrayRef<StringRef>{"mov.u32 $0, %tid", "ld.shared", "ldmatrix", kPinnedDescriptorAsm},
             [&](StringRef prefix) { return text.starts_with(prefix); }) ||
         (text.contains("red.global.add.f32") && !text.contains("shared"));
}

/// The issue of a wgmma group: the inline assembly of its instructions,
/// which the group's commit follows, or (typed-wgmma) upstream's fence and
/// mma_async ops.
bool isWgmmaIssue(Operation *op) {
  if (isa<NVVM::WgmmaFenceAlignedOp, NVVM::WgmmaMmaAsyncOp>(op))
    return true;
  return isa<LLVM::InlineAsmOp>(op) &&
         isa_and_nonnull<NVVM::WgmmaGroupSyncAlignedOp>(op->getNextNode());
}

/// The instructions of the group `commit` closes: its one inline assembly
/// statement, or the mma_async ops since its fence.
SmallVector<Operation *> groupInstructions(NVVM::WgmmaGroupSyncAlignedOp commit) {
  Operation *prev = commit->getPrevNode();
  if (isa_and_nonnull<LLVM::InlineAsmOp>(prev))
    return {prev};
  SmallVector<Operation *> instructions;
  for (Operation *op = prev; op && !isa<NVVM::WgmmaFenceAlignedOp>(op); op = op->getPrevNode())
    if (isa<NVVM::WgmmaMmaAsyncOp>(op))
      instructions.push_back(op);
  return instructions;
}

/// Whether `op` only feeds the instructions `group`: is one, or packs an
/// accumulator struct that goes only into them.
bool feedsOnly(Operation *op, ArrayRef<Operation *> group) {
  if (llvm::is_contained(group, op))
    return true;
  return isa<LLVM::InsertValueOp>(op) &&
         llvm::all_of(op->getUsers(), [&](Operation *user) { return feedsOnly(user, group); });
}

/// Whether a wgmma in flight may keep running through `op`; counts the
/// wgmma groups `op` issues into `issued` (nested regions may issue none).
/// `copiesAreElsewhere`: the group's loop copies only into buffers it does
/// not read (mayRunIntoNextIteration), so its cp.async copies may overlap.
/// `sharedIsElsewhere`: nothing in the group's block writes a shared tile it
/// reads (the wait's may_cross_barriers), so barriers and stores may too.
bool mayOverlap(Operation *op, int64_t &issued, bool copiesAreElsewhere,
                bool sharedIsElsewhere = false) {
  // Groups are counted by their commits, as wgmma.wait_group counts them.
  if (isa<NVVM::WgmmaGroupSyncAlignedOp>(op)) {
    ++issued;
    return true;
  }
  if (sharedIsElsewhere && op->getNumRegions() == 0)
    return true;
  if (isa<gpu::BarrierOp, NVVM::Barrier0Op, NVVM::BarrierOp>(op))
    return false;
  // mma.sync reads and writes registers only (upstream declares no effects);
  // a named barrier's arrive (ping-pong's turn_pass) waits for nothing.
  if (isa<tile::WarpgroupWaitOp, NVVM::CpAsyncCommitGroupOp, NVVM::CpAsyncWaitGroupOp,
          NVVM::FenceProxyOp, NVVM::MmaOp, NVVM::BarrierArriveOp>(op) ||
      isWgmmaIssue(op))
    return true;
  if (isa<NVVM::CpAsyncOp>(op))
    return copiesAreElsewhere;
  if (auto inlineAsm = dyn_cast<LLVM::InlineAsmOp>(op)) {
    return !inlineAsm.getHasSideEffects() || isHarmlessAsm(inlineAsm.getAsmString()) ||
           (copiesAreElsewhere && inlineAsm.getAsmString().starts_with("cp.async.cg.shared"));
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
      return mayOverlap(nested, nestedIssues, copiesAreElsewhere, sharedIsElsewhere)
                 ? WalkResult::advance()
                 : WalkResult::interrupt();
    });
    return !walk.wasInterrupted() && nestedIssues == 0 &&
           (sharedIsElsewhere || op->hasTrait<OpTrait::HasRecursiveMemoryEffects>());
  }
  // Reads and arithmetic overlap; writes (shared tiles, scratch) and
  // operations of unknown effect do not.
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  return effects && !effects.hasEffect<MemoryEffects::Write>();
}

/// The instructions of the one wgmma group `body` issues, directly in it;
/// empty if it issues another number of groups.
SmallVector<Operation *> onlyGroup(Block *body) {
  NVVM::WgmmaGroupSyncAlignedOp only;
  int64_t count = 0;
  body->walk([&](NVVM::WgmmaGroupSyncAlignedOp commit) {
    only = commit;
    ++count;
  });
  if (count != 1 || only->getBlock() != body)
    return {};
  return groupInstructions(only);
}

/// A wait that reached the end of a loop body, whose group may run into the
/// next iteration (the wait's attribute is true) and whose accumulators only
/// go round the loop into the next issue of the same wgmma (a matmul's
/// k-loop): the group stays in flight across the back edge, as CUTLASS's and
/// Triton's Hopper main loops keep one. The end of the body waits with
/// `wait_group 1` (the group before is done, so the next iteration's copy may
/// refill what it read; registers untouched: consecutive wgmmas on the same
/// accumulators are ordered by the hardware), and after the loop one
/// `wait_group 0` takes the accumulators, tied to their registers as before.
bool carryIntoNextIteration(tile::WarpgroupWaitOp wait, const llvm::SetVector<Operation *> &behind,
                            Operation *stop) {
  auto yield = dyn_cast<scf::YieldOp>(stop);
  auto loop = yield ? dyn_cast<scf::ForOp>(yield->getParentOp()) : scf::ForOp();
  if (!wait.getMayCrossIterations() || !loop)
    return false;
  Block *body = loop.getBody();
  SmallVector<Operation *> group = onlyGroup(body);
  if (group.empty())
    return false;
  // The wait takes the group's results: the statement's, extracted in order,
  // or (typed) each accumulator from the last instruction of its slab.
  for (auto [i, operand] : llvm::enumerate(wait.getOperands())) {
    auto extract = operand.getDefiningOp<LLVM::ExtractValueOp>();
    Operation *container = extract ? extract.getContainer().getDefiningOp() : nullptr;
    if (!container || !llvm::is_contained(group, container) ||
        (isa<LLVM::InlineAsmOp>(container) &&
         extract.getPosition() != ArrayRef<int64_t>{int64_t(i)}))
      return false;
  }
  // What follows from the wait goes only into the yield, and each carried
  // value comes back only as the accumulators of the same issue.
  SmallVector<unsigned> carried;
  for (Operation *op : behind)
    for (Operation *user : op->getUsers())
      if (!behind.contains(user) && user != yield.getOperation())
        return false;
  for (OpOperand &operand : yield->getOpOperands()) {
    Operation *def = operand.get().getDefiningOp();
    if (!def || !behind.contains(def))
      continue;
    unsigned i = operand.getOperandNumber();
    if (!isa<VectorType>(loop.getResult(i).getType()))
      return false;
    for (Operation *user : loop.getRegionIterArgs()[i].getUsers())
      for (Operation *next : user->getUsers())
        if (!feedsOnly(next, group) || !isMemoryEffectFree(user))
          return false;
    carried.push_back(i);
  }
  if (carried.empty())
    return false;
  // In the body: the accumulators stay with the tensor cores.
  for (auto [result, accumulator] : llvm::zip(wait.getResults(), wait.getAccumulators()))
    result.replaceAllUsesWith(accumulator);
  OpBuilder b(yield);
  Location loc = wait.getLoc();
  tile::WarpgroupWaitOp::create(b, loc, TypeRange{}, ValueRange{}, /*pending=*/1);
  wait.erase();
  // After the loop: wait for the last group, tied to the carried values.
  b.setInsertionPointAfter(loop);
  for (unsigned i : carried) {
    Value result = loop.getResult(i);
    auto type = cast<VectorType>(result.getType());
    SmallVector<Value> elements = unpack(b, loc, result);
    auto waited = tile::WarpgroupWaitOp::create(b, loc, TypeRange(ValueRange(elements)), elements,
                                                /*pending=*/0);
    Value packed = pack(b, loc, type, SmallVector<Value>(waited.getResults()));
    llvm::SmallPtrSet<Operation *, 8> keep;
    for (Value e : elements)
      keep.insert(e.getDefiningOp());
    result.replaceAllUsesExcept(packed, keep);
  }
  return true;
}

/// Whether `op` is a wait on an mbarrier's phase (tile.mbarrier_wait's
/// loop of `mbarrier.try_wait.parity`, trapping when it gives up): it reads
/// no register a wgmma in flight writes.
bool isMBarrierWait(Operation *op) {
  auto loop = dyn_cast<scf::WhileOp>(op);
  if (!loop)
    return false;
  bool tries = false;
  loop.getBefore().walk([&](LLVM::InlineAsmOp inlineAsm) {
    tries |= inlineAsm.getAsmString().contains("mbarrier.try_wait");
  });
  return tries;
}

/// A typed wgmma instruction whose accumulators `wait` takes (each operand
/// extracted from one; the slabs of one product share a shape); null where
/// any comes from elsewhere (inline assembly, A in registers).
NVVM::WgmmaMmaAsyncOp waitedInstruction(tile::WarpgroupWaitOp wait) {
  NVVM::WgmmaMmaAsyncOp first;
  for (Value operand : wait.getOperands()) {
    auto extract = operand.getDefiningOp<LLVM::ExtractValueOp>();
    auto mma = extract ? extract.getContainer().getDefiningOp<NVVM::WgmmaMmaAsyncOp>()
                       : NVVM::WgmmaMmaAsyncOp();
    if (!mma)
      return {};
    if (!first)
      first = mma;
  }
  return first;
}

/// Whether two typed wgmma instructions have one shape and types: the PTX ISA
/// orders accesses to the same accumulator registers between such
/// instructions without a wait ("wgmma.fence": "except when these are
/// accumulator register accesses across multiple wgmma.mma_async
/// instructions of the same shape").
bool sameShape(NVVM::WgmmaMmaAsyncOp a, NVVM::WgmmaMmaAsyncOp b) {
  return a.getShape() == b.getShape() && a.getTypeA() == b.getTypeA() &&
         a.getTypeB() == b.getTypeB() && a.getTypeD() == b.getTypeD() &&
         a.getResults().getType() == b.getResults().getType();
}

/// A product that continues another's accumulator, as S = Q_0 K_0ᵀ +
/// Q_1 K_1ᵀ over a head dim in two pieces: where the next wgmma group reads
/// what `wait` returns only as the accumulators of instructions of the
/// waited group's shape, that group joins the chain instead of waiting
/// (the hardware orders them), and its own wait covers both. Mbarrier waits
/// (the next group's tiles arriving) and work independent of the
/// accumulators may lie between; anything else that reads the accumulators,
/// writes memory or issues another group keeps the wait. Typed groups only.
bool chainIntoNextGroup(tile::WarpgroupWaitOp wait) {
  NVVM::WgmmaMmaAsyncOp waited = waitedInstruction(wait);
  if (!waited)
    return false;
  llvm::SetVector<Operation *> derived; // the wait and what follows from it
  derived.insert(wait);
  auto reads = [&](Operation *op) {
    return llvm::any_of(op->getOperands(), [&](Value v) {
      Operation *def = v.getDefiningOp();
      return def && derived.contains(def);
    });
  };
  for (Operation *op = wait->getNextNode(); op && !op->hasTrait<OpTrait::IsTerminator>();
       op = op->getNextNode()) {
    if (auto fence = dyn_cast<NVVM::WgmmaFenceAlignedOp>(op)) {
      SmallVector<Operation *> group;
      NVVM::WgmmaGroupSyncAlignedOp commit;
      for (Operation *in = fence->getNextNode(); in; in = in->getNextNode()) {
        if ((commit = dyn_cast<NVVM::WgmmaGroupSyncAlignedOp>(in)))
          break;
        if (auto mma = dyn_cast<NVVM::WgmmaMmaAsyncOp>(in)) {
          if (!sameShape(mma, waited))
            return false;
          group.push_back(in);
        }
      }
      if (!commit || group.empty())
        return false;
      // The group must read the accumulators, and only through what packs
      // them into its instructions' accumulator operands.
      bool readsAny = false;
      for (Operation *in = fence->getNextNode(); in != commit; in = in->getNextNode()) {
        if (llvm::is_contained(group, in) || !reads(in))
          continue;
        if (!isa<LLVM::InsertValueOp>(in) || !feedsOnly(in, group))
          return false;
        readsAny = true;
        derived.insert(in);
      }
      if (!readsAny)
        return false;
      for (Operation *d : derived)
        for (Operation *user : d->getUsers())
          if (!derived.contains(user) && !llvm::is_contained(group, user))
            return false;
      // The plumbing from the accumulators to the group moves next to it.
      for (Operation *d : derived)
        if (d != wait && d->getBlock() == fence->getBlock() && d->isBeforeInBlock(fence))
          d->moveBefore(fence);
      for (auto [result, accumulator] : llvm::zip(wait.getResults(), wait.getAccumulators()))
        result.replaceAllUsesWith(accumulator);
      wait.erase();
      return true;
    }
    if (reads(op)) {
      if (op->getNumRegions() != 0 || !isMemoryEffectFree(op))
        return false;
      derived.insert(op);
      continue;
    }
    int64_t issued = 0;
    if (!isMBarrierWait(op) && (!mayOverlap(op, issued, /*copiesAreElsewhere=*/false) || issued))
      return false;
  }
  return false;
}

/// Moves `wait` down to the first operation after it that needs its group
/// done or must not overlap it, and lets the groups it passes keep running.
/// Pure operations on the accumulators on the way (the extraction of the
/// results, exp2 of the scores) move along behind the wait, in order, so
/// that the independent work in between runs first.
void deferWait(tile::WarpgroupWaitOp wait, bool pastMBarrierWaits, bool pastBarriers) {
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
  bool copiesAreElsewhere = wait.getMayCrossIterations();
  // The first mbarrier wait passed, with what had been issued and moved
  // behind by then: passing it pays where another group issues after it.
  Operation *firstMBarrierWait = nullptr;
  int64_t issuedBeforeMBarrierWait = 0;
  size_t behindBeforeMBarrierWait = 0;
  Operation *stop = wait->getNextNode();
  for (; !stop->hasTrait<OpTrait::IsTerminator>(); stop = stop->getNextNode()) {
    // A typed group that reads what the wait returns (its accumulators,
    // packed after its fence) takes the wait before the fence: nothing may
    // write them between the fence and the instructions.
    if (isa<NVVM::WgmmaFenceAlignedOp>(stop)) {
      llvm::SetVector<Operation *> reading = behind;
      bool reads = false;
      for (Operation *op = stop->getNextNode(); op && !isa<NVVM::WgmmaGroupSyncAlignedOp>(op);
           op = op->getNextNode())
        for (Value operand : op->getOperands())
          if (Operation *def = operand.getDefiningOp(); def && reading.contains(def)) {
            reading.insert(op);
            reads = true;
          }
      if (reads)
        break;
    }
    if (dependsOnWait(stop)) {
      if (stop->getNumRegions() != 0 || !isMemoryEffectFree(stop))
        break;
      behind.insert(stop);
      continue;
    }
    // The next group's tiles arriving (FlashAttention-3's order: S_j
    // issued, then V_{j-1} waited for and P_{j-1}·V_{j-1} issued behind it).
    if (pastMBarrierWaits && isMBarrierWait(stop)) {
      if (!firstMBarrierWait) {
        firstMBarrierWait = stop;
        issuedBeforeMBarrierWait = issued;
        behindBeforeMBarrierWait = behind.size();
      }
      continue;
    }
    if (!mayOverlap(stop, issued, copiesAreElsewhere, pastBarriers && wait.getMayCrossBarriers()))
      break;
  }
  // No group issued past it: the wait stays before it. Waiting there costs
  // nothing the tensor cores could use, and holding the scores' registers
  // through it made ptxas spill (the one-warpgroup d 64 forward: 20-40 bytes).
  if (firstMBarrierWait && issued == issuedBeforeMBarrierWait) {
    stop = firstMBarrierWait;
    while (behind.size() > behindBeforeMBarrierWait)
      behind.pop_back();
  }
  if (behind.size() == 1 && stop == wait->getNextNode())
    return;
  if (carryIntoNextIteration(wait, behind, stop))
    return;
  // The wait's operands, the issue's results extracted from its struct,
  // are read by nothing else: they follow it down.
  for (Value operand : wait.getOperands())
    if (Operation *def = operand.getDefiningOp();
        def && def->getBlock() == wait->getBlock() && def->hasOneUse() && isMemoryEffectFree(def))
      def->moveBefore(stop);
  for (Operation *op : behind)
    op->moveBefore(stop);
  wait.setPending(issued);
}

/// Whether `op` reads `value` or what pure operations of its block make
/// from it.
bool readsDerived(Operation *op, Value value) {
  ForwardSliceOptions options;
  options.filter = [&](Operation *user) {
    return user == op || (user->getBlock() == op->getBlock() && user->getNumRegions() == 0 &&
                          isMemoryEffectFree(user));
  };
  SetVector<Operation *> slice;
  getForwardSlice(value, &slice, options);
  return slice.contains(op);
}

/// The first wait after the group `commit` closes that leaves it no longer
/// in flight (`wait_group N` with at least N groups issued since: only the N
/// newest may still run), in its block; null if none.
tile::WarpgroupWaitOp completingWait(NVVM::WgmmaGroupSyncAlignedOp commit) {
  int64_t issuedSince = 0;
  for (Operation *op = commit->getNextNode(); op; op = op->getNextNode()) {
    if (isa<NVVM::WgmmaGroupSyncAlignedOp>(op))
      ++issuedSince;
    if (auto wait = dyn_cast<tile::WarpgroupWaitOp>(op); wait && wait.getPending() <= issuedSince)
      return wait;
  }
  return {};
}

/// A wgmma whose A operand is in registers reads them until its group is
/// waited for (PTX ISA, "wgmma.mma_async": the registers must not be
/// modified before the wait). Where that operand is carried round a loop
/// (FlashAttention-3's order: P_{j-1}·V_{j-1} reads the P of the previous
/// iteration while this one computes P_j), the value yielded for the next
/// iteration gets the same register: ptxas gives a loop-carried value one,
/// even through a copy. Made before the wait, it would overwrite registers
/// the tensor cores still read, and ptxas then serializes every wgmma of the
/// kernel ("(C7513) ... non wgmma instructions defining input registers of
/// a wgmma between start and end of the pipeline stage"). So the conversion
/// that makes it (P to the inputs' dtype) moves behind the wait, its f32
/// input tied through the wait's registers so that no later pass moves it
/// back.
void keepCarriedOperandsUntilWait(scf::ForOp loop) {
  Block *body = loop.getBody();
  auto yield = cast<scf::YieldOp>(body->getTerminator());
  SmallVector<NVVM::WgmmaGroupSyncAlignedOp> commits;
  for (auto commit : body->getOps<NVVM::WgmmaGroupSyncAlignedOp>())
    commits.push_back(commit);
  for (NVVM::WgmmaGroupSyncAlignedOp commit : commits) {
    auto issue = dyn_cast_or_null<LLVM::InlineAsmOp>(commit->getPrevNode());
    tile::WarpgroupWaitOp wait = completingWait(commit);
    if (!issue || !wait)
      continue;
    for (auto [iterArg, next] : llvm::zip(loop.getRegionIterArgs(), yield->getOpOperands())) {
      Operation *convert = next.get().getDefiningOp();
      if (!convert || convert->getBlock() != body || !convert->isBeforeInBlock(wait) ||
          !isa<arith::TruncFOp, LLVM::FPTruncOp>(convert) || !readsDerived(issue, iterArg))
        continue;
      auto wideType = dyn_cast<VectorType>(convert->getOperand(0).getType());
      if (!wideType || !wideType.getElementType().isF32())
        continue;
      // The wait takes the f32 values beside the accumulators it returns.
      OpBuilder b(wait);
      Location loc = wait.getLoc();
      SmallVector<Value> tied(wait.getAccumulators());
      size_t accumulators = tied.size();
      llvm::append_range(tied, unpack(b, loc, convert->getOperand(0)));
      auto widened = tile::WarpgroupWaitOp::create(b, loc, TypeRange(ValueRange(tied)), tied,
                                                   wait.getPending(), wait.getMayCrossIterations(),
                                                   wait.getMayCrossBarriers());
      for (auto [old, now] : llvm::zip(wait.getResults(), widened.getResults()))
        old.replaceAllUsesWith(now);
      wait.erase();
      wait = widened;
      b.setInsertionPointAfter(widened);
      Value wide =
          pack(b, loc, wideType, SmallVector<Value>(widened.getResults().drop_front(accumulators)));
      Operation *moved = b.clone(*convert);
      moved->setOperand(0, wide);
      next.set(moved->getResult(0));
      if (convert->use_empty())
        convert->erase();
    }
  }
}

/// Two waits with nothing between them but pure operations become one, at
/// the second, for the accumulators of both, that waits as the second does
/// (`wait_group 2; wait_group 0` is `wait_group 0`); the operations between
/// that use the first's results move behind it. Waits sunk to the same point
/// (the end of a loop body) otherwise stand stacked, and ptxas then
/// serialized every wgmma of the kernel (C7514) where a group's accumulators
/// are read while a later group runs (the atomic-dQ backward's dQᵀ, staged
/// while dK's product runs).
void mergeWithNextWait(tile::WarpgroupWaitOp first) {
  SetVector<Operation *> dependents;
  auto dependsOnFirst = [&](Value v) {
    Operation *def = v.getDefiningOp();
    return def == first.getOperation() || dependents.contains(def);
  };
  tile::WarpgroupWaitOp second;
  for (Operation *op = first->getNextNode(); op; op = op->getNextNode()) {
    if ((second = dyn_cast<tile::WarpgroupWaitOp>(op)))
      break;
    if (!isMemoryEffectFree(op) || op->getNumRegions() != 0)
      return;
    if (!llvm::any_of(op->getOperands(), dependsOnFirst))
      continue;
    // Only packing (free moves of the results) may wait longer: work on the
    // first's results, such as a softmax under the next group's product,
    // keeps its wait.
    if (!isa<vector::FromElementsOp, vector::InsertOp, vector::BroadcastOp, LLVM::InsertValueOp,
             LLVM::ExtractValueOp, LLVM::InsertElementOp, UnrealizedConversionCastOp>(op))
      return;
    dependents.insert(op);
  }
  if (!second || llvm::any_of(second->getOperands(), dependsOnFirst))
    return;
  OpBuilder b(second);
  SmallVector<Value> tied(first.getAccumulators());
  llvm::append_range(tied, second.getAccumulators());
  auto merged =
      tile::WarpgroupWaitOp::create(b, second.getLoc(), TypeRange(ValueRange(tied)), tied,
                                    std::min(first.getPending(), second.getPending()),
                                    first.getMayCrossIterations() && second.getMayCrossIterations(),
                                    first.getMayCrossBarriers() && second.getMayCrossBarriers());
  size_t n = first.getNumResults();
  first.replaceAllUsesWith(merged.getResults().take_front(n));
  second.replaceAllUsesWith(merged.getResults().drop_front(n));
  Operation *after = merged;
  for (Operation *op : dependents) {
    op->moveAfter(after);
    after = op;
  }
  first.erase();
  second.erase();
}

/// `wgmma.wait_group pending`, the accumulators tied to the results.
void lowerWait(tile::WarpgroupWaitOp wait) {
  OpBuilder b(wait);
  Location loc = wait.getLoc();
  std::string text = wgmmaWaitText(wait.getPending());
  size_t n = wait.getAccumulators().size();
  if (n == 0) {
    emitAsmStatement(b, loc, text);
    wait.erase();
    return;
  }
  std::string constraints;
  for (size_t e = 0; e < n; ++e)
    constraints += "=f,";
  for (size_t e = 0; e < n; ++e)
    constraints += std::to_string(e) + (e + 1 < n ? "," : "");
  auto structType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), SmallVector<Type>(n, b.getF32Type()));
  Value waited =
      asmOp(b, loc, structType, wait.getAccumulators(), text, constraints, /*sideEffects=*/true);
  for (auto [e, result] : llvm::enumerate(wait.getResults()))
    result.replaceAllUsesWith(LLVM::ExtractValueOp::create(b, loc, waited, e));
  wait.erase();
}

struct DeferWgmmaWaitsPass : tessera::impl::DeferWgmmaWaitsBase<DeferWgmmaWaitsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<tile::WarpgroupWaitOp> waits;
    getOperation().walk([&](tile::WarpgroupWaitOp op) { waits.push_back(op); });
    for (tile::WarpgroupWaitOp wait : waits)
      if (!chainIntoNextGroup(wait))
        deferWait(wait, pastMBarrierWaits, pastBarriers);
    getOperation().walk([&](scf::ForOp loop) { keepCarriedOperandsUntilWait(loop); });
    waits.clear();
    getOperation().walk([&](tile::WarpgroupWaitOp op) { waits.push_back(op); });
    // Last first: a wait merges with the one after it, which may already
    // hold those after that.
    if (mergeStacked)
      for (tile::WarpgroupWaitOp wait : llvm::reverse(waits))
        mergeWithNextWait(wait);
    waits.clear();
    getOperation().walk([&](tile::WarpgroupWaitOp op) { waits.push_back(op); });
    for (tile::WarpgroupWaitOp wait : waits)
      lowerWait(wait);
  }
};

} // namespace
