//===- Dot.cpp - tile.dot on tensor cores: staging and synchronization ----===//
//
// A dot whose operands are in `#tile.dot_op` layouts and whose accumulator is
// in `#tile.mma` runs on tensor cores: wgmma on sm_90a where it fits
// (Wgmma.cpp), mma.sync elsewhere (MmaSync.cpp). Operands already in
// registers (the softmax numerator P of attention, an mma result) are used in
// place. An operand converted from another layout in the dot's own block (a
// K or V tile just loaded) is staged: the threads store the source tile into
// its shared tile (SharedTile.cpp) with 16-byte stores, or an async copy
// filled it; tile-publish-stagings placed the stores, waits, fence and
// barrier before the dot. This file lowers those stores and picks the
// instruction family.
//
//===----------------------------------------------------------------------===//

#include "DotOpToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

/// Two 16-bit elements in one 32-bit register, the first in the low half.
Value tessera::tilegpu::packPair(OpBuilder &b, Location loc, Value lo, Value hi) {
  auto pairType = VectorType::get({2}, lo.getType());
  Value pair = vector::FromElementsOp::create(b, loc, pairType, ValueRange{lo, hi});
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
}

namespace {

/// Whether a gpu.barrier comes right before `op`, with nothing between but
/// the conversion's casts of `op`'s operands.
bool barrierRightBefore(Operation *op) {
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (isa<gpu::BarrierOp>(prev))
      return true;
    if (!isa<UnrealizedConversionCastOp>(prev))
      return false;
  }
  return false;
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
  DotOpToMMA(TypeConverter &converter, MLIRContext *ctx, bool warpgroupMma, bool typedWgmma)
      : OpConversionPattern(converter, ctx, /*benefit=*/2), warpgroupMma(warpgroupMma),
        typedWgmma(typedWgmma) {}
  bool warpgroupMma, typedWgmma;

  LogicalResult matchAndRewrite(tile::DotOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    RankedTensorType aType = op.getA().getType(), bType = op.getB().getType(), cType = op.getType();
    auto mma = dyn_cast<tile::MmaLayoutAttr>(cType.getEncoding());
    if (!mma || !isa<tile::DotOperandLayoutAttr>(aType.getEncoding()) ||
        !isa<tile::DotOperandLayoutAttr>(bType.getEncoding()))
      return rewriter.notifyMatchFailure(op, "expects mma and dot_op layouts");
    Type in = aType.getElementType();
    Location loc = op.getLoc();

    // A barrier right before the dot (tile-publish-stagings') also tells a
    // split-K exchange that every thread is past the scratch's last readers.
    bool published = barrierRightBefore(op);
    // Staged operands are read from their shared tiles, which
    // tile-publish-stagings made ready before the dot (stores, waits, fence,
    // barrier).
    StagedOperand stagedA = getStagedOperand(op.getA()), stagedB = getStagedOperand(op.getB());
    std::optional<SharedTile> tileA, tileB;
    for (auto [staged, tile] : {std::pair{&stagedA, &tileA}, std::pair{&stagedB, &tileB}})
      if (*staged)
        tile->emplace(emitStagedTile(rewriter, loc, *staged));
    // The next dot's copies, waited for at this dot's exchange of partial
    // sums (publishNext = at_exchange): its barrier publishes them.
    SmallVector<StagedOperand> atExchange;
    tile::StagingAttr staging = op.getStagingAttr();
    if (staging && staging.getPublishNext() == tile::PublishNext::at_exchange) {
      tile::DotOp next = followingDot(op);
      assert(next && "publishNext without a next dot");
      for (Value operand : next->getOperands().take_front(2))
        if (StagedOperand staged = getStagedOperand(operand); staged && isCopied(staged))
          atExchange.push_back(staged);
    }
    SplitKSync sync;
    sync.published = published;
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
    bool warpgroup = warpgroupMma && fitsWarpgroupMma(op, stagedA, stagedB);

    SmallVector<Value> c;
    if (warpgroup)
      c = emitWarpgroupMmaDot(rewriter, loc, op, adaptor.getA(), adaptor.getAcc(), stagedA,
                              tileA ? &*tileA : nullptr, stagedB, *tileB, sync, typedWgmma);
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

/// tile.store_staging: each thread writes its elements of the tile into the
/// dot operand's shared tile, in the swizzled layout the dot reads (and TMA
/// with the swizzle of the panels' width).
/// `matrices` (sm_90): an mma accumulator's 16-bit fragments go by
/// stmatrix, four 8 x 8 matrices an instruction (a quarter of the 4-byte
/// stores, one address a lane each).
struct StoreStagingOpToGPU : OpConversionPattern<tile::StoreStagingOp> {
  StoreStagingOpToGPU(TypeConverter &converter, MLIRContext *ctx, bool matrices)
      : OpConversionPattern(converter, ctx), matrices(matrices) {}
  LogicalResult matchAndRewrite(tile::StoreStagingOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getValue().getType();
    SharedTile tile(rewriter, loc, type.getDimSize(0), SharedTile::units(type), op.getOffset(),
                    op.getSwizzle().value_or(0));
    tile.store(rewriter, loc, adaptor.getValue(), type, op.getExact(), matrices);
    rewriter.eraseOp(op);
    return success();
  }

private:
  bool matrices;
};

} // namespace

void tessera::tilegpu::populateTensorCoreOpPatterns(TileTypeConverter &converter,
                                                    RewritePatternSet &patterns, bool warpgroupMma,
                                                    bool typedWarpgroupMma, bool stmatrixStagings) {
  patterns.add<DotOpToMMA>(converter, patterns.getContext(), warpgroupMma, typedWarpgroupMma);
  patterns.add<StoreStagingOpToGPU>(converter, patterns.getContext(),
                                    /*matrices=*/warpgroupMma && stmatrixStagings);
}
