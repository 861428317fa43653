//===- Dot.cpp - tile.dot on tensor cores: staging and synchronization ----===//
//
// A dot whose operands are in `#tile.dot_op` layouts and whose accumulator is
// in `#tile.mma` runs on tensor cores: wgmma on sm_90a where it fits
// (Wgmma.cpp), mma.sync elsewhere (MmaSync.cpp). Operands already in
// registers (the softmax numerator P of attention, an mma result) are used in
// place. An operand converted from another layout in the dot's own block (a
// K or V tile just loaded) is staged: the threads store the source tile into
// its shared tile (SharedTile.cpp) with 16-byte stores, or an async copy
// filled it; this file places the waits, the fence and the barrier that
// publish the tiles (#tile.staging says which are ready already) and picks
// the instruction family.
//
//===----------------------------------------------------------------------===//

#include "DotOpToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

Value tessera::tilegpu::emitHoistedStaging(OpBuilder &b, Location loc, const StagedOperand &staged,
                                           Value source, VectorType resultType) {
  if (!staged.source.getDefiningOp<tile::SharedViewOp>()) {
    auto srcType = cast<RankedTensorType>(staged.source.getType());
    SharedTile tile(b, loc, srcType.getDimSize(0), SharedTile::units(srcType), staged.offset());
    gpu::BarrierOp::create(b, loc);
    tile.store(b, loc, source, srcType);
    gpu::BarrierOp::create(b, loc);
  }
  return LLVM::PoisonOp::create(b, loc, resultType);
}

/// Two 16-bit elements in one 32-bit register, the first in the low half.
Value tessera::tilegpu::packPair(OpBuilder &b, Location loc, Value lo, Value hi) {
  auto pairType = VectorType::get({2}, lo.getType());
  Value pair = vector::FromElementsOp::create(b, loc, pairType, ValueRange{lo, hi});
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
}

namespace {

/// How many of the most recent cp.async groups `dot` may leave in flight:
/// the copies committed in its block after the last one it reads (a V tile
/// copied after the K tile the QKᵀ dot reads keeps loading during it).
/// Copies hoisted out of the dot's loop are older than all of those.
int64_t copiesAllowedInFlight(tile::DotOp dot, ArrayRef<StagedOperand> staged) {
  auto isCopy = llvm::IsaPred<tile::AsyncCopyOp>;
  // Prefetched tiles were committed by the previous iteration's copy (just
  // before the view): every copy after it then, and every copy of this
  // iteration before the dot, may still run.
  std::optional<int64_t> prefetched;
  for (const StagedOperand &operand : staged) {
    // The copy of the tile (its buffers) in the loop's body: where the load
    // was, or after the tile's last reader (one stage).
    auto view = operand ? operand.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    tile::AsyncCopyOp copy = view ? prefetchCopyOf(view) : tile::AsyncCopyOp();
    if (!copy)
      continue;
    int64_t count = 0, perIteration = 0;
    for (Operation *op = copy->getNextNode(); op; op = op->getNextNode())
      count += isCopy(op);
    for (Operation *op = &dot->getBlock()->front(); op != dot.getOperation();
         op = op->getNextNode())
      count += isCopy(op);
    for (Operation &op : *dot->getBlock())
      perIteration += isCopy(&op);
    // The tile was copied `distance` iterations ago: the iterations between
    // issued their copies after it too.
    count += (copy.getDistance() - 1) * perIteration;
    prefetched = std::min(prefetched.value_or(count), count);
  }
  if (prefetched)
    return *prefetched;
  Operation *newestNeeded = nullptr;
  for (const StagedOperand &operand : staged) {
    auto view = operand ? operand.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    if (!view || view->getBlock() != dot->getBlock())
      continue;
    for (Operation *user : view.getBuffer().getUsers())
      if (isa<tile::AsyncCopyOp>(user) && user->getBlock() == dot->getBlock() &&
          (!newestNeeded || newestNeeded->isBeforeInBlock(user)))
        newestNeeded = user;
  }
  int64_t later = 0;
  for (Operation *op = newestNeeded ? newestNeeded->getNextNode() : &dot->getBlock()->front();
       op && op != dot.getOperation(); op = op->getNextNode()) {
    if (op->getNumRegions() != 0 &&
        op->walk([](tile::AsyncCopyOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return 0; // copies in nested regions: count nothing, wait for all
    later += isCopy(op);
  }
  return later;
}

/// The shared tile of a staged operand: its own, or this iteration's of the
/// two a prefetched load alternates between.
SharedTile emitStagedTile(OpBuilder &b, Location loc, const StagedOperand &staged) {
  auto type = cast<RankedTensorType>(staged.source.getType());
  if (auto view = staged.source.getDefiningOp<tile::SharedViewOp>())
    return SharedTile(b, loc, type.getDimSize(0), SharedTile::units(type),
                      emitBufferOffset(b, loc, view.getBuffer(), view.getSlot()));
  return SharedTile(b, loc, type.getDimSize(0), SharedTile::units(type), staged.offset());
}

} // namespace

void tessera::tilegpu::emitRoundCopiedToTf32(OpBuilder &b, Location loc, const SharedTile &tile,
                                             RankedTensorType type) {
  ThreadElements elems(type);
  SmallVector<SmallVector<Value>> coords = elems.emitCoords(b, loc);
  bool chunks = elems.distribution().back().holdsRunsOf(4);
  for (int64_t e = 0; e < elems.size(); ++e) {
    if (chunks && elems.multiIndex(e).back() % 4 != 0)
      continue;
    Value address = tile.elementAddress(b, loc, coords[e][0], coords[e][1], 32);
    if (!chunks) {
      emitAsmStatement(b, loc,
                       "{\n.reg .b32 x;\nld.shared.b32 x, [$0];\ncvt.rna.tf32.f32 x, x;\n"
                       "st.shared.b32 [$0], x;\n}",
                       {address}, "r");
      continue;
    }
    emitAsmStatement(b, loc,
                     "{\n.reg .b32 x<4>;\nld.shared.v4.b32 {x0, x1, x2, x3}, [$0];\n"
                     "cvt.rna.tf32.f32 x0, x0;\ncvt.rna.tf32.f32 x1, x1;\n"
                     "cvt.rna.tf32.f32 x2, x2;\ncvt.rna.tf32.f32 x3, x3;\n"
                     "st.shared.v4.b32 [$0], {x0, x1, x2, x3};\n}",
                     {address}, "r");
  }
}

namespace {

struct DotOpToMMA : OpConversionPattern<tile::DotOp> {
  // Preferred over the CUDA-core lowering wherever the layouts allow it.
  DotOpToMMA(TypeConverter &converter, MLIRContext *ctx, bool warpgroupMma)
      : OpConversionPattern(converter, ctx, /*benefit=*/2), warpgroupMma(warpgroupMma) {}
  bool warpgroupMma;

  LogicalResult matchAndRewrite(tile::DotOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    RankedTensorType aType = op.getA().getType(), bType = op.getB().getType(), cType = op.getType();
    auto mma = dyn_cast<tile::MmaLayoutAttr>(cType.getEncoding());
    if (!mma || !isa<tile::DotOperandLayoutAttr>(aType.getEncoding()) ||
        !isa<tile::DotOperandLayoutAttr>(bType.getEncoding()))
      return rewriter.notifyMatchFailure(op, "expects mma and dot_op layouts");
    Type in = aType.getElementType();
    Location loc = op.getLoc();

    // Staged operands: copied asynchronously by their load, or stored here
    // from registers, each into its own shared tile.
    StagedOperand stagedA = getStagedOperand(op.getA()), stagedB = getStagedOperand(op.getB());
    std::optional<SharedTile> tileA, tileB;
    bool mustWait = false, stored = false;
    bool allReady = true;
    for (auto [staged, tile] : {std::pair{&stagedA, &tileA}, std::pair{&stagedB, &tileB}}) {
      if (!*staged)
        continue;
      auto srcType = cast<RankedTensorType>(staged->source.getType());
      // Filled and published already (#tile.staging).
      bool ready = staged->ready();
      allReady &= ready;
      tile->emplace(emitStagedTile(rewriter, loc, *staged));
      if (isCopied(*staged)) {
        mustWait |= !ready;
        continue;
      }
      if (staged->hoisted || ready)
        continue; // stored once, before the loop, or by the earlier dot
      if (!stored)
        gpu::BarrierOp::create(rewriter, loc); // the last readers of the tiles are done
      stored = true;
      (*tile)->store(rewriter, loc, rewriter.getRemappedValue(staged->source), srcType);
    }
    // The next dot's copies too, where it reads them straight after this one.
    SmallVector<StagedOperand> waitedFor = {stagedA, stagedB};
    tile::StagingAttr staging = op.getStagingAttr();
    tile::PublishNext publishNext = staging ? staging.getPublishNext() : tile::PublishNext::none;
    if (publishNext == tile::PublishNext::at_start) {
      tile::DotOp next = followingDot(op);
      assert(next && "publishNext without a next dot");
      for (Value operand : next->getOperands().take_front(2))
        if (StagedOperand staged = getStagedOperand(operand))
          waitedFor.push_back(staged);
      mustWait = true;
    }
    // The next dot's copies, waited for at this dot's exchange of partial
    // sums instead (publishNext = at_exchange): its barrier publishes them.
    SmallVector<StagedOperand> atExchange;
    if (publishNext == tile::PublishNext::at_exchange) {
      tile::DotOp next = followingDot(op);
      assert(next && "publishNext without a next dot");
      for (Value operand : next->getOperands().take_front(2))
        if (StagedOperand staged = getStagedOperand(operand); staged && isCopied(staged))
          atExchange.push_back(staged);
    }
    SplitKSync sync;
    if (!atExchange.empty())
      sync.alsoPublish = [&, atExchange](OpBuilder &b) {
        emitAsyncWait(b, loc, copiesAllowedInFlight(op, atExchange));
        if (!warpgroupMma)
          return;
        for (const StagedOperand &staged : atExchange)
          if (mustRoundCopiedToTf32(staged.source))
            emitRoundCopiedToTf32(b, loc, emitStagedTile(b, loc, staged),
                                  cast<RankedTensorType>(staged.source.getType()));
        emitAsyncProxyFence(b, loc);
      };
    bool tf32 = in.isF32();
    if (mustWait) {
      emitAsyncWait(rewriter, loc, copiesAllowedInFlight(op, waitedFor));
      // Copied f32 tiles that a tf32 wgmma reads, waited for here: rounded
      // before the barrier publishes them, unless their load promises tf32
      // values. (The next dot's tiles, waited for by this one, count as ready.)
      if (warpgroupMma)
        for (auto [i, staged] : llvm::enumerate(waitedFor)) {
          if (staged && isCopied(staged) && (i >= 2 || !staged.ready()) &&
              mustRoundCopiedToTf32(staged.source))
            emitRoundCopiedToTf32(rewriter, loc, emitStagedTile(rewriter, loc, staged),
                                  cast<RankedTensorType>(staged.source.getType()));
        }
    }
    bool warpgroup = warpgroupMma && fitsWarpgroupMma(op, stagedA, stagedB);
    // wgmma reads shared memory through the async proxy: each thread's
    // generic-proxy writes (stores, cp.async) must be fenced before the
    // barrier that publishes them. On sm_90a every publishing dot fences,
    // also an mma.sync one, since a later wgmma may find its tiles ready.
    // A wgmma whose tiles are all ready has nothing to publish.
    bool publishes = mustWait || stored || (warpgroup && !allReady);
    sync.published = publishes;
    if (publishes && warpgroupMma)
      emitAsyncProxyFence(rewriter, loc);
    if (publishes)
      gpu::BarrierOp::create(rewriter, loc);

    SmallVector<Value> c;
    if (warpgroup)
      c = emitWarpgroupMmaDot(rewriter, loc, op, adaptor.getA(), adaptor.getAcc(), stagedA,
                              tileA ? &*tileA : nullptr, stagedB, *tileB, sync);
    else if (tf32)
      c = emitTf32Mma(rewriter, loc, op, adaptor.getA(), adaptor.getB(), adaptor.getAcc(), stagedA,
                      tileA ? &*tileA : nullptr, stagedB, tileB ? &*tileB : nullptr, sync);
    else
      c = emitMmaSyncDot(rewriter, loc, op, adaptor.getA(), adaptor.getB(), adaptor.getAcc(),
                         stagedA, tileA ? &*tileA : nullptr, stagedB, tileB ? &*tileB : nullptr,
                         sync);
    auto vecType = cast<VectorType>(adaptor.getAcc().getType());
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, c));
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateTensorCoreOpPatterns(TileTypeConverter &converter,
                                                    RewritePatternSet &patterns,
                                                    bool warpgroupMma) {
  patterns.add<DotOpToMMA>(converter, patterns.getContext(), warpgroupMma);
}
