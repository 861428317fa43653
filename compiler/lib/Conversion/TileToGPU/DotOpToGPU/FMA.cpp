//===- FMA.cpp - tile.dot on CUDA cores -----------------------------------===//
//
// The dot for any layouts and element types (the tensor-core lowerings take
// the ones they fit, at a higher benefit): A and B through shared memory,
// then one fp32 FMA per accumulator element per k.
//
//===----------------------------------------------------------------------===//

#include "DotOpToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

/// C = A·B + C on CUDA cores: A and B go to shared memory, each thread
/// accumulates its own elements of C over k with fp32 FMAs.
struct DotOpToFMA : OpConversionPattern<tile::DotOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::DotOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType aType = op.getA().getType(), bType = op.getB().getType(), cType = op.getType();
    Type inElem = aType.getElementType();
    if (!isa<FloatType>(inElem) || !cType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "FMA dot supports floating-point inputs only");
    int64_t m = aType.getDimSize(0), k = aType.getDimSize(1), n = bType.getDimSize(1);
    int64_t aBytes = aType.getNumElements() * inElem.getIntOrFloatBitWidth() / 8;
    Value aShared = sharedScratch(rewriter, loc, inElem, m * k, 0);
    Value bShared = sharedScratch(rewriter, loc, inElem, k * n, llvm::alignTo(aBytes, 16));
    gpu::BarrierOp::create(rewriter, loc);
    storeTile(rewriter, loc, adaptor.getA(), aType, aShared);
    storeTile(rewriter, loc, adaptor.getB(), bType, bShared);
    gpu::BarrierOp::create(rewriter, loc);

    // Row starts in A and columns in B of each accumulator element.
    SmallVector<Value> aRow, bCol;
    for (const SmallVector<Value> &c : ThreadElements(cType).emitCoords(rewriter, loc)) {
      aRow.push_back(toIndex(
          rewriter, loc, arith::MulIOp::create(rewriter, loc, c[0], constI32(rewriter, loc, k))));
      bCol.push_back(toIndex(rewriter, loc, c[1]));
    }
    Value nIndex = constIndex(rewriter, loc, n);
    auto loop = scf::ForOp::create(rewriter, loc, constIndex(rewriter, loc, 0),
                                   constIndex(rewriter, loc, k), constIndex(rewriter, loc, 1),
                                   ValueRange{adaptor.getAcc()});
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(loop.getBody());
      Value kk = loop.getInductionVar();
      Value bRowStart = arith::MulIOp::create(rewriter, loc, kk, nIndex);
      SmallVector<Value> acc = unpack(rewriter, loc, loop.getRegionIterArgs()[0]);
      auto widen = [&](Value v) -> Value {
        return inElem.isF32()
                   ? v
                   : Value(arith::ExtFOp::create(rewriter, loc, rewriter.getF32Type(), v));
      };
      for (size_t e = 0; e < acc.size(); ++e) {
        Value aIdx = arith::AddIOp::create(rewriter, loc, aRow[e], kk);
        Value bIdx = arith::AddIOp::create(rewriter, loc, bRowStart, bCol[e]);
        Value a = widen(memref::LoadOp::create(rewriter, loc, aShared, ValueRange{aIdx}));
        Value b = widen(memref::LoadOp::create(rewriter, loc, bShared, ValueRange{bIdx}));
        acc[e] = LLVM::FMAOp::create(rewriter, loc, a, b, acc[e]);
      }
      scf::YieldOp::create(rewriter, loc,
                           pack(rewriter, loc, cast<VectorType>(adaptor.getAcc().getType()), acc));
    }
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateFmaDotPatterns(TileTypeConverter &converter,
                                              RewritePatternSet &patterns) {
  patterns.add<DotOpToFMA>(converter, patterns.getContext());
}
