//===- AllocateSharedMemory.cpp - The tile-allocate-shared-memory pass ----===//
//
// The shared tiles of staged dot operands, the loads that fill them with
// async copies, and which tiles a dot finds ready (docs/COMPILER.md §3).
//
//===----------------------------------------------------------------------===//

#include "tessera/Schedule/Analysis.h"
#include "tessera/Schedule/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/MapVector.h"

namespace tessera {
#define GEN_PASS_DEF_TILEALLOCATESHAREDMEMORY
#include "tessera/Schedule/Passes.h.inc"
} // namespace tessera

using namespace mlir;
using namespace tessera;
using namespace tessera::schedule;

namespace {

/// The largest block a store stages through the scratch space: a memory-bound
/// kernel's rows (4 of 4096 bf16 elements), without costing it occupancy.
constexpr int64_t kStagedStoreMaxBytes = 32 * 1024;

/// Marks `staged` the stores of `kernel` that may go out of the scratch space
/// in shifted 16-byte vectors: unmasked 2-D blocks of 16- or 32-bit elements,
/// rows of whole 16-byte chunks, of a tensor that may take no vectors, in a
/// kernel without tensor-core dots (whose shared memory is for their tiles:
/// TMA kernels stage such stores after their loops, tile-use-tma).
void stageStoresOfUnalignedRows(func::FuncOp kernel) {
  if (kernel
          .walk([](tile::DotOp dot) {
            return isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) ? WalkResult::interrupt()
                                                                         : WalkResult::advance();
          })
          .wasInterrupted())
    return;
  kernel.walk([](tile::StoreOp store) {
    auto make = store.getDesc().getDefiningOp<tile::MakeDescOp>();
    RankedTensorType type = store.getValue().getType();
    if (!make || make.getAligned() || store.getMask() || type.getRank() != 2 ||
        !sharedTileFits(type) || tileBytes(type) > kStagedStoreMaxBytes)
      return;
    store.setStaged(true);
  });
}

/// A load whose tile dots stage that can be copied asynchronously: a 16- or
/// 32-bit tile read in 16-byte runs, zero-padded, used only by staging
/// conversions or transposes in its block (Q in attention's backward is
/// staged for Q Kᵀ and for dSᵀ Q: one copy, one tile).
bool canCopyAsync(tile::LoadOp load) {
  RankedTensorType type = load.getType();
  if (load.getResult().use_empty())
    return false;
  for (Operation *user : load->getUsers())
    if (load->getBlock() != user->getBlock() || !isa<tile::ConvertLayoutOp, tile::TransOp>(user) ||
        !getStagedOperand(user->getResult(0)))
      return false;
  if (load.getDesc().getType().getPadding() != tile::Padding::zero || !sharedTileFits(type))
    return false;
  return TileElements(type).distribution().back().holdsRunsOf(
      128 / type.getElementType().getIntOrFloatBitWidth());
}

struct Operand {
  tile::DotOp dot;
  unsigned index;
  StagedOperand staged;
};

/// The decisions of one kernel, made on its loads and dots as the DSL wrote
/// them, then written into the IR (materialize).
class Allocation {
public:
  Allocation(func::FuncOp kernel, bool asyncProxyReads)
      : kernel(kernel), asyncProxyReads(asyncProxyReads) {}

  void run() {
    placeTiles();
    markReady();
    markPublishedByPrecedingDot();
    materialize();
  }

private:
  int64_t tileSize(const StagedOperand &staged) const {
    return llvm::alignTo(tileBytes(cast<RankedTensorType>(staged.source.getType())),
                         tile::kSharedTileAlignment);
  }

  /// Tiles staged outside a loop (or hoisted out of one) live for the whole
  /// kernel; stagings of one value share a tile (a Q tile read in two loops;
  /// K read as A of K Qᵀ and, transposed, of Kᵀ dSᵀ: a tile holds the value
  /// and each dot reads it k-major or MN-major). The tiles staged inside a
  /// top-level loop are dead once it ends, so sibling loops reuse one region;
  /// so are those of a loop inside one (a persistent kernel's loop over its
  /// tiles), once that inner loop ends: after the tiles the top-level loop's
  /// own body stages, its sibling inner loops reuse one sub-region (the
  /// attention forward's two key loops then fill the same buffers, which
  /// lets a producer warpgroup give them one ring).
  void placeTiles() {
    auto definedInLoop = [&](Value v) {
      for (Operation *p = v.getParentBlock()->getParentOp(); p && p != kernel; p = p->getParentOp())
        if (isa<scf::ForOp>(p))
          return true;
      return false;
    };
    int64_t scratch = 0;
    kernel->walk([&](Operation *op) { scratch = std::max(scratch, sharedMemoryNeeded(op)); });
    SmallVector<Operand> persistent;
    llvm::MapVector<Operation *, SmallVector<Operand>> byLoop;
    kernel->walk([&](tile::DotOp dot) {
      if (!isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()))
        return;
      dots.push_back(dot);
      offsets[dot] = {-1, -1};
      for (unsigned i : {0u, 1u}) {
        StagedOperand staged = getStagedOperand(dot->getOperand(i));
        if (!staged)
          continue;
        // A staging hoisted out of its loop lives as long as its source:
        // for the whole kernel where that is computed outside every loop,
        // else for a trip of the top-level loop that computes it (Q in a
        // persistent kernel's tile loop, staged for the key loops and the
        // product before them: one tile, copied once per tile).
        Operation *loop = topLevelLoop(dot, kernel);
        if (!loop || (staged.hoisted && !definedInLoop(staged.source)))
          persistent.push_back({dot, i, staged});
        else
          byLoop[loop].push_back({dot, i, staged});
      }
    });
    // Tiles staged after the kernel's last top-level loop and filled there
    // (the attention forward's last V block with PIPELINE_QK = 2) need the
    // loops' region no more than the loops need theirs: they take it once
    // the loops are done, behind a barrier before their first load.
    Operation *lastLoop = nullptr;
    for (Operation &op : kernel.getBody().front())
      if (isa<scf::ForOp>(op))
        lastLoop = &op;
    auto afterLoops = [&](const Operand &operand) {
      Operation *source = operand.staged.source.getDefiningOp();
      return lastLoop && operand.dot->getBlock() == lastLoop->getBlock() &&
             lastLoop->isBeforeInBlock(operand.dot) && source &&
             source->getBlock() == lastLoop->getBlock() && lastLoop->isBeforeInBlock(source);
    };
    SmallVector<Operand> epilogue;
    llvm::erase_if(persistent, [&](const Operand &operand) {
      if (!afterLoops(operand))
        return false;
      epilogue.push_back(operand);
      return true;
    });
    int64_t offset = llvm::alignTo(scratch, tile::kSharedTileAlignment);
    llvm::DenseMap<Value, int64_t> shared;
    for (const Operand &operand : persistent) {
      auto [it, inserted] = shared.try_emplace(operand.staged.source, offset);
      if (inserted)
        offset += tileSize(operand.staged);
      place(operand, it->second);
    }
    int64_t regionStart = offset;
    if (!epilogue.empty()) {
      int64_t at = regionStart;
      llvm::DenseMap<Value, int64_t> afterShared;
      Operation *first = nullptr;
      for (const Operand &operand : epilogue) {
        auto [it, inserted] = afterShared.try_emplace(operand.staged.source, at);
        if (inserted)
          at += tileSize(operand.staged);
        place(operand, it->second);
        Operation *source = operand.staged.source.getDefiningOp();
        if (!first || source->isBeforeInBlock(first))
          first = source;
      }
      // A copied tile's load gets its barrier with the copy (materialize).
      if (!copied.count(first)) {
        OpBuilder b(first);
        gpu::BarrierOp::create(b, first->getLoc());
      }
    }
    for (auto [i, entry] : llvm::enumerate(byLoop)) {
      auto &[loop, operands] = entry;
      int64_t loopOffset = regionStart;
      llvm::DenseMap<Value, int64_t> inLoop;
      auto placeAll = [&](ArrayRef<Operand> group, int64_t &at) {
        for (const Operand &operand : group) {
          auto [it, inserted] = inLoop.try_emplace(operand.staged.source, at);
          if (inserted)
            at += tileSize(operand.staged);
          place(operand, it->second);
        }
      };
      // The loop's own body's tiles (and those of a value staged in more
      // than one inner loop, or in one and in the body: one tile for all),
      // then each inner loop's from one offset.
      llvm::DenseMap<Value, Operation *> stagedIn;
      for (const Operand &operand : operands) {
        Operation *inner = innerLoopOf(operand.dot, loop);
        auto [it, first] = stagedIn.try_emplace(operand.staged.source, inner);
        if (!first && it->second != inner)
          it->second = nullptr;
      }
      SmallVector<Operand> own;
      llvm::MapVector<Operation *, SmallVector<Operand>> byInner;
      for (const Operand &operand : operands) {
        if (Operation *inner = stagedIn.lookup(operand.staged.source))
          byInner[inner].push_back(operand);
        else
          own.push_back(operand);
      }
      placeAll(own, loopOffset);
      for (auto [k, innerEntry] : llvm::enumerate(byInner)) {
        auto &[inner, group] = innerEntry;
        int64_t innerOffset = loopOffset;
        placeAll(group, innerOffset);
        // The previous inner loop's readers of the sub-region are done first.
        if (k != 0) {
          OpBuilder b(inner);
          gpu::BarrierOp::create(b, inner->getLoc());
        }
      }
      // The previous loop's readers of this region must be done before the
      // first copy into it.
      if (i != 0) {
        OpBuilder b(loop);
        gpu::BarrierOp::create(b, loop->getLoc());
      }
    }
  }

  /// The scf.for directly in `loop`'s body that holds `op`, if any.
  static Operation *innerLoopOf(Operation *op, Operation *loop) {
    for (Operation *p = op->getParentOp(); p && p != loop; p = p->getParentOp())
      if (isa<scf::ForOp>(p) && p->getParentOp() == loop)
        return p;
    return nullptr;
  }

  /// Gives `operand` the tile at `offset`, copied by its load where it can be.
  /// A load staged into two tiles (a persistent one and one in a loop's
  /// region) cannot fill both with one copy: its stagings store instead.
  void place(const Operand &operand, int64_t offset) {
    offsets[operand.dot][operand.index] = offset;
    auto load = operand.staged.source.getDefiningOp<tile::LoadOp>();
    if (!load || twoTiles.contains(load) || !canCopyAsync(load))
      return;
    auto [it, inserted] = copied.try_emplace(load, offset);
    if (!inserted && it->second != offset) {
      copied.erase(load);
      twoTiles.insert(load);
    }
  }

  /// The offset `source`'s load copies into, if it is copied.
  std::optional<int64_t> copyOffset(Value source) const {
    auto load = source.getDefiningOp<tile::LoadOp>();
    auto it = load ? copied.find(load) : copied.end();
    if (it == copied.end())
      return std::nullopt;
    return it->second;
  }

  /// A dot reading a tile that an earlier dot of its block filled (copied or
  /// stored there, then waited, fenced and synchronized on) finds it ready.
  /// So does a dot in a loop reading a tile copied before the loop: the
  /// copies are waited for once, before the loop, rather than on every trip.
  /// Hoisted stagings stored from registers stay as they were (every reading
  /// wgmma fences and synchronizes), and so does a tile the earlier dot did
  /// not read at the same offset.
  void markReady() {
    llvm::DenseMap<std::pair<Block *, Value>, int64_t> filledInBlock;
    for (tile::DotOp dot : dots) {
      ready[dot] = {false, false};
      for (unsigned i : {0u, 1u}) {
        StagedOperand staged = getStagedOperand(dot->getOperand(i));
        if (!staged)
          continue;
        std::optional<int64_t> copy = copyOffset(staged.source);
        int64_t offset = offsets[dot][i];
        if (staged.hoisted && !copy)
          continue;
        auto [it, first] = filledInBlock.try_emplace({dot->getBlock(), staged.source}, offset);
        ready[dot][i] = !first && it->second == offset;
        if (!copy || !staged.hoisted || *copy != offset)
          continue;
        auto load = staged.source.getDefiningOp<tile::LoadOp>();
        Operation *loop = dot->getParentOp();
        while (loop && loop->getBlock() != load->getBlock())
          loop = loop->getParentOp();
        if (loop && isa<scf::ForOp>(loop) && load->isBeforeInBlock(loop)) {
          ready[dot][i] = true;
          SmallVector<tile::LoadOp> &copies = syncBefore[loop];
          if (!llvm::is_contained(copies, load))
            copies.push_back(load);
        }
      }
    }
  }

  /// A dot right after another that reads only tiles copied asynchronously
  /// (or ready) has its copies waited for by the first: one wait and one
  /// barrier publish both, and the second product queues behind the first
  /// (Sᵀ = K Qᵀ and dPᵀ = V dOᵀ in the dK/dV program; defer-wgmma-waits).
  void markPublishedByPrecedingDot() {
    for (tile::DotOp dot : dots) {
      tile::DotOp prev = precedingDot(dot);
      if (!prev)
        continue;
      std::array<bool, 2> isReady = ready[dot];
      bool copiedOrReady = true, waits = false;
      for (unsigned i : {0u, 1u}) {
        StagedOperand staged = getStagedOperand(dot->getOperand(i));
        if (!staged || isReady[i])
          continue;
        std::optional<int64_t> copy = copyOffset(staged.source);
        if (!copy || *copy != offsets[dot][i] || staged.hoisted)
          copiedOrReady = false;
        isReady[i] = true;
        waits = true;
      }
      if (!copiedOrReady || !waits || publishesNext.contains(prev))
        continue;
      publishesNext.insert(prev);
      ready[dot] = isReady;
    }
  }

  /// Writes the decisions into the IR: each dot's #tile.staging, each copied
  /// load as a copy and a view of its buffer, the waits before loops.
  void materialize() {
    MLIRContext *ctx = kernel->getContext();
    for (tile::DotOp dot : dots)
      dot.setStagingAttr(tile::StagingAttr::get(
          ctx, offsets[dot][0], offsets[dot][1], ready[dot][0], ready[dot][1],
          publishesNext.contains(dot) ? tile::PublishNext::at_start : tile::PublishNext::none));
    // Copied f32 tiles a tf32 wgmma reads are rounded in place after the wait
    // (decided while the loads still have their users).
    llvm::SmallPtrSet<Operation *, 4> roundInPlace;
    for (auto &[loop, copies] : syncBefore)
      for (tile::LoadOp load : copies)
        if (asyncProxyReads && mustRoundCopiedToTf32(load.getResult()))
          roundInPlace.insert(load);
    llvm::DenseMap<Operation *, Value> buffers;
    OpBuilder entry = OpBuilder::atBlockBegin(&kernel.getBody().front());
    // In program order, so that the IR reads in the order of the kernel.
    kernel->walk([&](tile::LoadOp load) {
      auto it = copied.find(load);
      if (it == copied.end())
        return;
      RankedTensorType type = load.getType();
      auto bufferType = tile::SharedType::get(ctx, type.getShape(), type.getElementType(), 1);
      Value buffer = tile::SharedAllocOp::create(entry, load.getLoc(), bufferType,
                                                 entry.getDenseI64ArrayAttr({it->second}));
      buffers[load] = buffer;
      OpBuilder b(load);
      Location loc = load.getLoc();
      Value slot = constI32(b, loc, 0);
      // The tile's previous readers are done.
      gpu::BarrierOp::create(b, loc);
      tile::AsyncCopyOp::create(b, loc, load.getDesc(), load.getIndices(), buffer, slot, type,
                                /*distance=*/0);
      auto view = tile::SharedViewOp::create(b, loc, type, buffer, slot, load.getTf32Rounded());
      load.replaceAllUsesWith(view.getResult());
    });
    for (auto &[loop, copies] : syncBefore) {
      OpBuilder b(loop);
      Location loc = loop->getLoc();
      tile::AsyncWaitOp::create(b, loc, 0);
      for (tile::LoadOp load : copies)
        if (roundInPlace.contains(load))
          tile::RoundSharedToTf32Op::create(b, loc, buffers[load], constI32(b, loc, 0),
                                            load.getType());
      if (asyncProxyReads)
        tile::FenceAsyncSharedOp::create(b, loc);
      gpu::BarrierOp::create(b, loc);
    }
    for (auto &[load, buffer] : buffers)
      load->erase();
  }

  func::FuncOp kernel;
  bool asyncProxyReads;
  SmallVector<tile::DotOp> dots;
  llvm::DenseMap<tile::DotOp, std::array<int64_t, 2>> offsets;
  llvm::DenseMap<tile::DotOp, std::array<bool, 2>> ready;
  /// Loads copied into a tile, with its offset.
  llvm::MapVector<Operation *, int64_t> copied;
  llvm::SmallPtrSet<Operation *, 4> twoTiles;
  /// Loops before which hoisted copies are waited for, with those copies.
  llvm::MapVector<Operation *, SmallVector<tile::LoadOp>> syncBefore;
  /// Dots that also wait for and publish the next dot's copies.
  llvm::SmallPtrSet<Operation *, 4> publishesNext;
};

struct TileAllocateSharedMemoryPass
    : tessera::impl::TileAllocateSharedMemoryBase<TileAllocateSharedMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto kernel : getOperation().getOps<func::FuncOp>()) {
      if (!kernel->hasAttr(tile::kKernelAttr))
        continue;
      if (shiftedStores)
        stageStoresOfUnalignedRows(kernel);
      Allocation(kernel, /*asyncProxyReads=*/arch == "sm_90a").run();
    }
  }
};

} // namespace
