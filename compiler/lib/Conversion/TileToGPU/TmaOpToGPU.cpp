//===- TmaOpToGPU.cpp - TMA copies and mbarriers --------------------------===//
//
// The ops tile-use-tma makes, on upstream's typed NVVM ops (PTX ISA,
// "cp.async.bulk.tensor" and "mbarrier"): one thread arms a buffer's
// barrier with the bytes of its tile and issues a bulk tensor copy per
// column panel; every thread waits on the barrier's phase (with a bound:
// a wait that never ends traps with a message).
//
//===----------------------------------------------------------------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

/// The pointer to barrier `slot` (i32) of `barriers` (a tile.mbarrier_alloc).
Value barrierPointer(OpBuilder &b, Location loc, Value barriers, Value slot) {
  int64_t offset = barriers.getDefiningOp<tile::MBarrierAllocOp>().getOffset();
  Value at = constI32(b, loc, offset);
  if (slot)
    at =
        arith::AddIOp::create(b, loc, at, arith::MulIOp::create(b, loc, slot, constI32(b, loc, 8)));
  return sharedPointer(b, loc, at);
}

/// Thread 0 of the CTA, which issues what one thread does for all.
Value isLeader(OpBuilder &b, Location loc) {
  Value tid = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                         gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid, constI32(b, loc, 0));
}

/// Emits `body` in an scf.if on `cond` at `b`, leaving `b` after it.
void emitIf(OpBuilder &b, Location loc, Value cond, function_ref<void(OpBuilder &)> body) {
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, cond, /*withElse=*/false);
  OpBuilder inside = OpBuilder::atBlockTerminator(&ifOp.getThenRegion().front());
  body(inside);
}

struct MBarrierAllocOpToGPU : OpConversionPattern<tile::MBarrierAllocOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::MBarrierAllocOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, constI32(rewriter, op.getLoc(), op.getOffset()));
    return success();
  }
};

/// Thread 0 initializes every barrier; the fence makes that visible to the
/// async proxy, the barrier to every thread, before any copy arms one.
struct MBarrierInitOpToGPU : OpConversionPattern<tile::MBarrierInitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::MBarrierInitOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    emitIf(rewriter, loc, isLeader(rewriter, loc), [&](OpBuilder &b) {
      for (unsigned i = 0; i < op.getBarriers().getType().getCount(); ++i)
        NVVM::MBarrierInitOp::create(b, loc,
                                     barrierPointer(b, loc, op.getBarriers(), constI32(b, loc, i)),
                                     constI32(b, loc, op.getCount()), /*predicate=*/Value());
    });
    NVVM::FenceMbarrierInitOp::create(rewriter, loc);
    gpu::BarrierOp::create(rewriter, loc);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The shared pointer (in `addressSpace`) and tensor column (i32) of panel
/// `panel` (i32) of a tile of `map`'s boxes at byte `tile` of the shared
/// memory whose first column is the tensor's `col`.
std::pair<Value, Value> emitPanel(OpBuilder &b, Location loc, tile::TensorMapType map, Value tile,
                                  Value col, Value panel, unsigned addressSpace = 3) {
  Value at = arith::AddIOp::create(
      b, loc, tile, arith::MulIOp::create(b, loc, panel, constI32(b, loc, map.getBoxBytes())));
  Value x = arith::AddIOp::create(
      b, loc, col, arith::MulIOp::create(b, loc, panel, constI32(b, loc, map.getBox()[1])));
  return {sharedPointer(b, loc, at, addressSpace), x};
}

/// A TMA copy's or store's coordinates, innermost first, for panel column
/// `x`: the column, the row, then the leading indices of a map of higher
/// rank (given outermost first).
SmallVector<Value> innermostFirst(ValueRange indices, Value x) {
  SmallVector<Value> coordinates = {x, indices[indices.size() - 2]};
  for (Value leading : llvm::reverse(indices.drop_back(2)))
    coordinates.push_back(leading);
  return coordinates;
}

/// Thread 0 (where the predicate holds) arms the buffer's barrier with the
/// tile's bytes, then copies each column panel: a box of the tile's rows,
/// one swizzle period wide, at its place in the panel-major shared tile.
/// Multicast to the cluster's n CTAs: the CTA of rank r copies panels r,
/// r + n, ... into the same place of every CTA, whose barriers (at the same
/// offset in each) count the bytes landing there.
struct TmaCopyOpToGPU : OpConversionPattern<tile::TmaCopyOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::TmaCopyOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    tile::TensorMapType map = op.getMap().getType();
    tile::SharedType buffer = op.getBuffer().getType();
    int64_t panels = buffer.getShape()[1] / map.getBox()[1];
    int64_t ctas = op.getMulticast();
    Value issue = op.getSingleThread() ? Value(arith::ConstantIntOp::create(rewriter, loc, 1, 1))
                                       : isLeader(rewriter, loc);
    if (adaptor.getPredicate())
      issue = arith::AndIOp::create(rewriter, loc, issue, adaptor.getPredicate());
    emitIf(rewriter, loc, issue, [&](OpBuilder &b) {
      Value barrier = barrierPointer(b, loc, op.getBarriers(), adaptor.getSlot());
      NVVM::MBarrierArriveExpectTxOp::create(b, loc, Type(), barrier,
                                             constI32(b, loc, buffer.getBufferBytes()),
                                             NVVM::MemScopeKindAttr(), BoolAttr(), Value());
      Value tile = emitBufferOffset(b, loc, op.getBuffer(), adaptor.getSlot());
      Value col = adaptor.getIndices().back();
      // This CTA's first panel (its rank) and the mask of all the CTAs.
      Value rank, mask;
      if (ctas > 1) {
        rank = NVVM::ClusterId::create(b, loc, b.getI32Type());
        mask = arith::ConstantIntOp::create(b, loc, b.getI16Type(), (int64_t(1) << ctas) - 1);
      }
      for (int64_t p = 0; p < panels; p += ctas) {
        // Panel p (+ rank): at its place in the tile and in the tensor.
        Value panel = constI32(b, loc, p);
        if (rank)
          panel = arith::AddIOp::create(b, loc, panel, rank);
        // Without multicast a CTA is a cluster of one: its shared memory is
        // its cluster's.
        auto [dst, x] = emitPanel(b, loc, map, tile, col, panel, /*addressSpace=*/7);
        NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
            b, loc, dst, adaptor.getMap(), innermostFirst(adaptor.getIndices(), x), barrier,
            ValueRange{}, mask,
            /*l2CacheHint=*/Value(), NVVM::TMALoadModeAttr(), BoolAttr(), NVVM::CTAGroupKindAttr(),
            /*predicate=*/Value());
      }
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Thread 0 issues a bulk tensor store (or add) per column panel of the
/// staging tile (TMA leaves out what lies outside the tensor) and commits
/// them as one bulk group; tile.tma_store_wait waits for its reads.
struct TmaStoreOpToGPU : OpConversionPattern<tile::TmaStoreOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::TmaStoreOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    tile::TensorMapType map = op.getMap().getType();
    int64_t panels = op.getStaging().getType().getShape()[1] / map.getBox()[1];
    emitIf(rewriter, loc, isLeader(rewriter, loc), [&](OpBuilder &b) {
      Value col = adaptor.getIndices().back();
      for (int64_t p = 0; p < panels; ++p) {
        auto [src, x] = emitPanel(b, loc, map, adaptor.getStaging(), col, constI32(b, loc, p));
        SmallVector<Value> coordinates = innermostFirst(adaptor.getIndices(), x);
        if (op.getAdd())
          NVVM::CpAsyncBulkTensorReduceOp::create(b, loc, adaptor.getMap(), src,
                                                  NVVM::TMAReduxKind::ADD, NVVM::TMAStoreMode::TILE,
                                                  coordinates,
                                                  /*l2CacheHint=*/Value());
        else
          NVVM::CpAsyncBulkTensorSharedCTAToGlobalOp::create(
              b, loc, adaptor.getMap(), src, coordinates,
              /*l2CacheHint=*/Value(), NVVM::TMAStoreMode::TILE, /*predicate=*/Value());
      }
      NVVM::CpAsyncBulkCommitGroupOp::create(b, loc);
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Thread 0, which issued the CTA's bulk stores, waits until they have read
/// their shared tiles.
struct TmaStoreWaitOpToGPU : OpConversionPattern<tile::TmaStoreWaitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::TmaStoreWaitOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    emitIf(rewriter, loc, isLeader(rewriter, loc), [&](OpBuilder &b) {
      NVVM::CpAsyncBulkWaitGroupOp::create(b, loc, 0, /*read=*/b.getUnitAttr());
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// The cluster's barrier: every thread arrives (release), then waits
/// (acquire).
struct ClusterBarrierOpToGPU : OpConversionPattern<tile::ClusterBarrierOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::ClusterBarrierOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    UnitAttr aligned = rewriter.getUnitAttr();
    NVVM::ClusterArriveOp::create(rewriter, op.getLoc(), aligned);
    NVVM::ClusterWaitOp::create(rewriter, op.getLoc(), aligned);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The first lane of each warp (where the predicate holds) arrives.
struct MBarrierArriveOpToGPU : OpConversionPattern<tile::MBarrierArriveOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::MBarrierArriveOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value first =
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                              laneAndWarp(rewriter, loc).first, constI32(rewriter, loc, 0));
    if (adaptor.getPredicate())
      first = arith::AndIOp::create(rewriter, loc, first, adaptor.getPredicate());
    emitIf(rewriter, loc, first, [&](OpBuilder &b) {
      NVVM::MBarrierArriveOp::create(b, loc, Type(),
                                     barrierPointer(b, loc, op.getBarriers(), adaptor.getSlot()),
                                     Value(), NVVM::MemScopeKindAttr());
    });
    rewriter.eraseOp(op);
    return success();
  }
};

/// Tries before a wait gives up. Each try suspends the thread until the
/// phase completes or a time limit passes (the hint below), so a phase that
/// never completes, a schedule bug, stops the kernel after seconds with a
/// message instead of hanging the process.
constexpr int64_t kWaitTries = int64_t(1) << 20;

/// Every thread tries the barrier's phase until it completes
/// (`mbarrier.try_wait.parity`, the suspend-time hint CUTLASS uses), or
/// prints which barrier it gave up on and traps.
struct MBarrierWaitOpToGPU : OpConversionPattern<tile::MBarrierWaitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::MBarrierWaitOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type i32 = rewriter.getI32Type();
    Value barrier = LLVM::PtrToIntOp::create(
        rewriter, loc, i32, barrierPointer(rewriter, loc, op.getBarriers(), adaptor.getSlot()));
    auto loop =
        scf::WhileOp::create(rewriter, loc, TypeRange{i32}, ValueRange{constI32(rewriter, loc, 0)});
    {
      Block *before = rewriter.createBlock(&loop.getBefore(), {}, {i32}, {loc});
      OpBuilder b = OpBuilder::atBlockEnd(before);
      Value done = asmOp(b, loc, i32, {barrier, adaptor.getPhase(), constI32(b, loc, 10000000)},
                         "{ .reg .pred p; mbarrier.try_wait.parity.shared.b64 p, [$1], $2, $3; "
                         "selp.u32 $0, 1, 0, p; }",
                         "=r,r,r,r", /*sideEffects=*/true);
      Value waiting =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, done, constI32(b, loc, 0));
      scf::ConditionOp::create(b, loc, waiting, before->getArguments());
    }
    {
      Block *after = rewriter.createBlock(&loop.getAfter(), {}, {i32}, {loc});
      OpBuilder b = OpBuilder::atBlockEnd(after);
      Value tries = arith::AddIOp::create(b, loc, after->getArgument(0), constI32(b, loc, 1));
      Value givesUp = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tries,
                                            constI32(b, loc, kWaitTries));
      emitIf(b, loc, givesUp, [&](OpBuilder &inside) { LLVM::Trap::create(inside, loc); });
      scf::YieldOp::create(b, loc, tries);
    }
    rewriter.setInsertionPointAfter(loop);
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateTmaOpPatterns(TileTypeConverter &converter,
                                             RewritePatternSet &patterns) {
  patterns.add<MBarrierAllocOpToGPU, MBarrierInitOpToGPU, TmaCopyOpToGPU, MBarrierWaitOpToGPU,
               MBarrierArriveOpToGPU, ClusterBarrierOpToGPU, TmaStoreOpToGPU, TmaStoreWaitOpToGPU>(
      converter, patterns.getContext());
}

WarpRegisters tessera::tilegpu::warpSpecializedRegisters(int64_t consumerThreads,
                                                         int64_t producerThreads,
                                                         int64_t ctasPerSm) {
  // setmaxnreg takes multiples of 8 from 24 to 256; a thread has at most
  // 255 registers at launch. The producer keeps 24, as FlashAttention-3's
  // does beside two consumer warpgroups: its copies' coordinates, barriers
  // and loop counters fit (ptxas reports no spills), and the consumers get
  // 240. (ptxas honours this only in a whole-program assembly: linkPTX.)
  constexpr int64_t kRegisterFile = 65536, kProducer = 24;
  int64_t threads = consumerThreads + producerThreads;
  int64_t launch = std::min<int64_t>(255, kRegisterFile / ctasPerSm / threads / 8 * 8);
  int64_t consumer = std::min<int64_t>(256, (launch * threads - kProducer * producerThreads) /
                                                consumerThreads / 8 * 8);
  return {launch, kProducer, std::max(consumer, launch)};
}

/// The turns of ping-pong (tile.turn_*): warpgroup w waits on named barrier
/// kTurnBarrier + w and arrives on the other's, 256 threads each.
static void lowerTurns(tile::WarpSpecializeOp op) {
  SmallVector<Operation *> turns;
  op.getConsumers().walk([&](Operation *turn) {
    if (isa<tile::TurnWaitOp, tile::TurnPassOp, tile::TurnStartOp, tile::TurnFinishOp>(turn))
      turns.push_back(turn);
  });
  constexpr int32_t kThreads = 2 * 4 * tile::kWarpSize;
  for (Operation *turn : turns) {
    OpBuilder b(turn);
    Location loc = turn->getLoc();
    Value tid = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                           gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
    Value warpgroup = arith::DivUIOp::create(b, loc, tid, constI32(b, loc, kThreads / 2));
    Value mine = arith::AddIOp::create(b, loc, warpgroup, constI32(b, loc, kTurnBarrier));
    Value other = arith::SubIOp::create(b, loc, constI32(b, loc, 2 * kTurnBarrier + 1), mine);
    auto sync = [&](OpBuilder &at, Value id) {
      NVVM::BarrierOp::create(at, loc, Type(), id, constI32(at, loc, kThreads),
                              NVVM::BarrierReductionAttr(), Value());
    };
    auto arrive = [&](OpBuilder &at, Value id) {
      NVVM::BarrierArriveOp::create(at, loc, id, constI32(at, loc, kThreads));
    };
    // Only warpgroup `only` runs `body` (turn_start: 1; turn_finish: 0).
    auto onWarpgroup = [&](int32_t only, auto body) {
      Value is = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warpgroup,
                                       constI32(b, loc, only));
      auto guarded = scf::IfOp::create(b, loc, TypeRange{}, is, /*withElse=*/false);
      OpBuilder in = OpBuilder::atBlockBegin(guarded.thenBlock());
      body(in, constI32(in, loc, kTurnBarrier));
    };
    if (isa<tile::TurnWaitOp>(turn))
      sync(b, mine);
    else if (isa<tile::TurnPassOp>(turn))
      arrive(b, other);
    else if (isa<tile::TurnStartOp>(turn))
      onWarpgroup(1, arrive);
    else
      onWarpgroup(0, sync);
    turn->erase();
  }
}

void tessera::tilegpu::lowerWarpSpecialize(tile::WarpSpecializeOp op) {
  lowerTurns(op);
  // The consumers synchronize among themselves: the producer's threads never
  // reach their barriers (the lowering's own included, hence after it).
  int64_t consumerThreads =
      int64_t(tile::getNumWarps(op->getParentOfType<FunctionOpInterface>())) * tile::kWarpSize;
  op.getConsumers().walk([&](gpu::BarrierOp barrier) {
    OpBuilder b(barrier);
    Location loc = barrier.getLoc();
    NVVM::BarrierOp::create(b, loc, Type(), constI32(b, loc, kConsumerBarrier),
                            constI32(b, loc, consumerThreads), NVVM::BarrierReductionAttr(),
                            Value());
    barrier.erase();
  });
  // The kernel's own warps (threads 0 .. num_warps x 32 - 1) run the
  // consumers; the first thread after them the producer, while the rest of
  // the producer's warps exit.
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value tid = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                         gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
  Value isConsumer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, tid,
                                           constI32(b, loc, consumerThreads));
  auto split = scf::IfOp::create(b, loc, TypeRange{}, isConsumer, /*withElse=*/true);
  Block &consumers = op.getConsumers().front();
  split.thenBlock()->getOperations().splice(split.thenBlock()->getTerminator()->getIterator(),
                                            consumers.getOperations());
  // Registers move from the producer's warps (all of them, warp-aligned:
  // before its one thread goes on alone) to the consumers'.
  WarpRegisters registers = warpSpecializedRegisters(
      consumerThreads, int64_t(op.getProducerWarps()) * tile::kWarpSize, op.getCtasPerSm());
  if (registers.consumer >= registers.launch + 8) {
    OpBuilder c = OpBuilder::atBlockBegin(split.thenBlock());
    NVVM::SetMaxRegisterOp::create(c, loc, uint32_t(registers.consumer),
                                   NVVM::SetMaxRegisterAction::increase);
    b.setInsertionPoint(split.elseBlock()->getTerminator());
    NVVM::SetMaxRegisterOp::create(b, loc, uint32_t(registers.producer),
                                   NVVM::SetMaxRegisterAction::decrease);
  }
  b.setInsertionPoint(split.elseBlock()->getTerminator());
  Value isProducer = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                           constI32(b, loc, consumerThreads));
  auto producer = scf::IfOp::create(b, loc, TypeRange{}, isProducer, /*withElse=*/false);
  Block &producerBlock = op.getProducer().front();
  producer.thenBlock()->getOperations().splice(producer.thenBlock()->getTerminator()->getIterator(),
                                               producerBlock.getOperations());
  op.erase();
}
