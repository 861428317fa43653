//===- ElementwiseOpToGPU.cpp - Per-thread elementwise code ---------------===//
//
// Ops that need no communication between threads: arith and math on tiles,
// constants, splats, iota, and the shape ops that only reindex a thread's
// own elements (broadcast, expand_dims). A multiply by a row factor that
// is mostly 1 (tile::kSkipUnitFactorAttr) runs only in warps that need it.
//
//===----------------------------------------------------------------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

bool touchesTiles(Operation *op) {
  return llvm::any_of(op->getOperandTypes(), llvm::IsaPred<RankedTensorType>) ||
         llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
}

/// arith ops on tiles become the same ops on each thread's vector.
struct ArithOnTiles : ConversionPattern {
  ArithOnTiles(TypeConverter &converter, MLIRContext *ctx)
      : ConversionPattern(converter, MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}
  LogicalResult matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                                ConversionPatternRewriter &rewriter) const override {
    if (!isa<arith::ArithDialect>(op->getDialect()) || isa<arith::ConstantOp>(op) ||
        !touchesTiles(op))
      return failure();
    SmallVector<Type> resultTypes;
    if (failed(getTypeConverter()->convertTypes(op->getResultTypes(), resultTypes)))
      return failure();
    OperationState state(op->getLoc(), op->getName(), operands, resultTypes, op->getAttrs());
    rewriter.replaceOp(op, rewriter.create(state)->getResults());
    return success();
  }
};

/// x · broadcast(expand_dims(factor)) marked tile::kSkipUnitFactorAttr (the
/// online softmax's rescale of its accumulator): each warp votes whether all
/// its threads' factors are exactly 1, and if so keeps x as it is, sparing a
/// multiply per element of x. The vote makes the branch uniform in the warp,
/// so the .aligned warpgroup MMA that usually reads the result runs on
/// converged warps.
struct SkipUnitFactorMul : OpConversionPattern<arith::MulFOp> {
  SkipUnitFactorMul(TypeConverter &converter, MLIRContext *ctx)
      : OpConversionPattern(converter, ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(arith::MulFOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    if (!op->hasAttr(tile::kSkipUnitFactorAttr) || !isa<RankedTensorType>(op.getType()))
      return failure();
    auto broadcast = op.getRhs().getDefiningOp<tile::BroadcastOp>();
    auto expand = broadcast ? broadcast.getSrc().getDefiningOp<tile::ExpandDimsOp>() : nullptr;
    if (!expand)
      return rewriter.notifyMatchFailure(op, "expects a factor expanded and broadcast along rows");
    // This thread's factors: the expanded tile's own elements, few of them.
    Value factor = rewriter.getRemappedValue(expand.getSrc());
    auto factorType = dyn_cast_or_null<VectorType>(factor ? factor.getType() : Type());
    if (!factorType)
      return rewriter.notifyMatchFailure(op, "factor not lowered to a vector yet");
    Location loc = op.getLoc();
    Value one = arith::ConstantOp::create(rewriter, loc,
                                          rewriter.getFloatAttr(factorType.getElementType(), 1.0));
    Value allOne;
    for (int64_t i = 0; i < factorType.getNumElements(); ++i) {
      Value f = vector::ExtractOp::create(rewriter, loc, factor, i);
      Value isOne = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OEQ, f, one);
      allOne = allOne ? arith::AndIOp::create(rewriter, loc, allOne, isOne) : isOne;
    }
    Value lanes = arith::ConstantIntOp::create(rewriter, loc, -1, 32);
    Value warpAllOne = NVVM::VoteSyncOp::create(rewriter, loc, rewriter.getI1Type(), lanes, allOne,
                                                NVVM::VoteSyncKind::all);
    auto skip = scf::IfOp::create(rewriter, loc, TypeRange{adaptor.getLhs().getType()}, warpAllOne,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(skip.thenBlock());
    scf::YieldOp::create(rewriter, loc, adaptor.getLhs());
    rewriter.setInsertionPointToStart(skip.elseBlock());
    // An empty statement with side effects: LLVM would otherwise speculate
    // the multiplies and turn the branch into a select per element.
    emitAsmStatement(rewriter, loc, "");
    scf::YieldOp::create(rewriter, loc,
                         Value(arith::MulFOp::create(rewriter, loc, adaptor.getLhs(),
                                                     adaptor.getRhs(), op.getFastmathAttr())));
    rewriter.replaceOp(op, skip.getResults());
    return success();
  }
};

struct ConstantTile : OpConversionPattern<arith::ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(arith::ConstantOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto value = dyn_cast<DenseElementsAttr>(op.getValue());
    if (!value || !isa<RankedTensorType>(op.getType()))
      return failure();
    if (!value.isSplat())
      return rewriter.notifyMatchFailure(op, "only splat tile constants are supported");
    auto type = cast<VectorType>(getTypeConverter()->convertType(op.getType()));
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, value.resizeSplat(type));
    return success();
  }
};

/// One scalar f32 PTX instruction through inline assembly.
Value ptxUnary(OpBuilder &b, Location loc, StringRef instruction, Value x) {
  std::string asmString = (instruction + " $0, $1;").str();
  return asmOp(b, loc, b.getF32Type(), x, asmString, "=f,f", /*sideEffects=*/false);
}

/// The f32 computation of one math op on scalars; null if unsupported.
Value emitMathF32(OpBuilder &b, Location loc, Operation *op, ArrayRef<Value> args) {
  auto mulConst = [&](Value x, double c) {
    return arith::MulFOp::create(
        b, loc, x, arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(float(c))));
  };
  // exp(x) = 2^(x·log2 e) and log(x) = log2(x)·ln 2: the GPU has fast base-2
  // instructions (max relative error about 2^-22).
  if (isa<math::ExpOp>(op))
    return ptxUnary(b, loc, "ex2.approx.ftz.f32", mulConst(args[0], 1.4426950408889634));
  if (isa<math::Exp2Op>(op))
    return ptxUnary(b, loc, "ex2.approx.ftz.f32", args[0]);
  if (isa<math::LogOp>(op))
    return mulConst(ptxUnary(b, loc, "lg2.approx.ftz.f32", args[0]), 0.6931471805599453);
  if (isa<math::Log2Op>(op))
    return ptxUnary(b, loc, "lg2.approx.ftz.f32", args[0]);
  if (isa<math::RsqrtOp>(op))
    return ptxUnary(b, loc, "rsqrt.approx.ftz.f32", args[0]);
  if (isa<math::TanhOp>(op))
    return ptxUnary(b, loc, "tanh.approx.f32", args[0]);
  // Upstream's GPU-to-NVVM conversion makes LLVM's sqrt, fabs, floor, ceil,
  // copysign (and rint's neighbours) illegal, to be replaced by libdevice
  // calls that Tessera does not link: these are single PTX instructions.
  if (isa<math::SqrtOp>(op))
    return ptxUnary(b, loc, "sqrt.rn.f32", args[0]);
  if (isa<math::AbsFOp>(op))
    return ptxUnary(b, loc, "abs.f32", args[0]);
  if (isa<math::FmaOp>(op))
    return LLVM::FMAOp::create(b, loc, args[0], args[1], args[2]);
  if (isa<math::FloorOp>(op))
    return ptxUnary(b, loc, "cvt.rmi.f32.f32", args[0]);
  if (isa<math::CeilOp>(op))
    return ptxUnary(b, loc, "cvt.rpi.f32.f32", args[0]);
  auto constant = [&](double c) {
    return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(float(c)));
  };
  if (isa<math::SinOp, math::CosOp>(op)) {
    // r = x - k·2π, k = rint(x / 2π), with 2π split in two (Cody-Waite) so
    // that k·2π_hi is exact; sin.approx and cos.approx are accurate on [-π, π].
    Value x = args[0];
    Value k = ptxUnary(b, loc, "cvt.rni.f32.f32", mulConst(x, 0.15915494309189535));
    Value negK = LLVM::FNegOp::create(b, loc, k);
    Value r = LLVM::FMAOp::create(b, loc, negK, constant(6.28318548202514648), x);
    r = LLVM::FMAOp::create(b, loc, negK, constant(-1.7484555314695172e-7), r);
    return ptxUnary(b, loc, isa<math::SinOp>(op) ? "sin.approx.ftz.f32" : "cos.approx.ftz.f32", r);
  }
  if (isa<math::ErfOp>(op)) {
    // Abramowitz & Stegun 7.1.26 on |x|, odd: erf(x) = 1 - t·P(t)·e^(-x²),
    // t = 1 / (1 + p|x|), absolute error below 1.5e-7.
    Value x = args[0];
    Value ax = ptxUnary(b, loc, "abs.f32", x);
    Value denom = arith::AddFOp::create(b, loc, constant(1.0), mulConst(ax, 0.3275911));
    Value t = arith::DivFOp::create(b, loc, constant(1.0), denom, arith::FastMathFlags::afn);
    Value poly = constant(1.061405429);
    for (double c : {-1.453152027, 1.421413741, -0.284496736, 0.254829592})
      poly = LLVM::FMAOp::create(b, loc, poly, t, constant(c));
    poly = arith::MulFOp::create(b, loc, poly, t);
    Value negSquare = LLVM::FNegOp::create(b, loc, arith::MulFOp::create(b, loc, ax, ax));
    Value e = ptxUnary(b, loc, "ex2.approx.ftz.f32", mulConst(negSquare, 1.4426950408889634));
    Value y = arith::SubFOp::create(b, loc, constant(1.0), arith::MulFOp::create(b, loc, poly, e));
    // copysign.f32 d, a, b: b's magnitude with a's sign.
    return asmOp(b, loc, b.getF32Type(), ValueRange{x, y}, "copysign.f32 $0, $1, $2;", "=f,f,f",
                 /*sideEffects=*/false);
  }
  return {};
}

/// math ops, on scalars or tiles: computed per element in f32 (16-bit inputs
/// are widened and the result rounded back).
struct MathToGPU : ConversionPattern {
  MathToGPU(TypeConverter &converter, MLIRContext *ctx)
      : ConversionPattern(converter, MatchAnyOpTypeTag(), /*benefit=*/1, ctx) {}
  LogicalResult matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                                ConversionPatternRewriter &rewriter) const override {
    if (!isa<math::MathDialect>(op->getDialect()) || op->getNumResults() != 1)
      return failure();
    Location loc = op->getLoc();
    Type resultType = getTypeConverter()->convertType(op->getResult(0).getType());
    auto vecType = dyn_cast<VectorType>(resultType);
    Type elem = vecType ? vecType.getElementType() : resultType;
    if (!isa<FloatType>(elem) || elem.getIntOrFloatBitWidth() > 32)
      return rewriter.notifyMatchFailure(op, "supports f32, f16 and bf16 only");
    int64_t n = vecType ? vecType.getNumElements() : 1;
    SmallVector<SmallVector<Value>> args;
    for (Value v : operands)
      args.push_back(vecType ? unpack(rewriter, loc, v) : SmallVector<Value>{v});
    SmallVector<Value> results;
    for (int64_t i = 0; i < n; ++i) {
      SmallVector<Value> scalarArgs;
      for (auto &a : args) {
        Value x = a[i];
        if (!elem.isF32())
          x = arith::ExtFOp::create(rewriter, loc, rewriter.getF32Type(), x);
        scalarArgs.push_back(x);
      }
      Value r = emitMathF32(rewriter, loc, op, scalarArgs);
      if (!r)
        return rewriter.notifyMatchFailure(op, "has no GPU lowering");
      if (!elem.isF32())
        r = arith::TruncFOp::create(rewriter, loc, elem, r);
      results.push_back(r);
    }
    rewriter.replaceOp(op, vecType ? pack(rewriter, loc, vecType, results) : results[0]);
    return success();
  }
};

struct SplatOpToGPU : OpConversionPattern<tile::SplatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::SplatOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<VectorType>(getTypeConverter()->convertType(op.getType()));
    rewriter.replaceOpWithNewOp<vector::BroadcastOp>(op, type, adaptor.getSrc());
    return success();
  }
};

struct IotaOpToGPU : OpConversionPattern<tile::IotaOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::IotaOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    SmallVector<Value> values;
    for (const SmallVector<Value> &c :
         ThreadElements(op.getType()).emitCoords(rewriter, op.getLoc()))
      values.push_back(c[0]);
    auto type = cast<VectorType>(getTypeConverter()->convertType(op.getType()));
    rewriter.replaceOp(op, pack(rewriter, op.getLoc(), type, values));
    return success();
  }
};

/// Both ends share one layout, so each output element is one of this thread's
/// own input elements (the one at coordinate 0 along broadcast dimensions): a
/// static shuffle.
struct BroadcastOpToGPU : OpConversionPattern<tile::BroadcastOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::BroadcastOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    RankedTensorType srcType = op.getSrc().getType(), dstType = op.getType();
    if (srcType.getEncoding() != dstType.getEncoding())
      return rewriter.notifyMatchFailure(op, "expects one layout on both ends");
    ThreadElements src(srcType), dst(dstType);
    SmallVector<int64_t> mask;
    for (int64_t e = 0; e < dst.size(); ++e) {
      SmallVector<int64_t> mi = dst.multiIndex(e);
      for (unsigned d = 0; d < mi.size(); ++d)
        if (srcType.getDimSize(d) == 1)
          mi[d] = 0;
      mask.push_back(src.flatten(mi));
    }
    rewriter.replaceOpWithNewOp<vector::ShuffleOp>(op, adaptor.getSrc(), adaptor.getSrc(), mask);
    return success();
  }
};

struct ExpandDimsOpToGPU : OpConversionPattern<tile::ExpandDimsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::ExpandDimsOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto slice = dyn_cast<tile::SliceLayoutAttr>(op.getSrc().getType().getEncoding());
    if (!slice || slice.getDim() != unsigned(op.getAxis()) ||
        slice.getParent() != op.getType().getEncoding())
      return rewriter.notifyMatchFailure(op, "expects a slice of the result's layout");
    ThreadElements src(op.getSrc().getType()), dst(op.getType());
    SmallVector<int64_t> mask;
    for (int64_t e = 0; e < dst.size(); ++e) {
      SmallVector<int64_t> mi = dst.multiIndex(e);
      mi.erase(mi.begin() + op.getAxis());
      mask.push_back(src.flatten(mi));
    }
    rewriter.replaceOpWithNewOp<vector::ShuffleOp>(op, adaptor.getSrc(), adaptor.getSrc(), mask);
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateElementwiseOpPatterns(TileTypeConverter &converter,
                                                     RewritePatternSet &patterns) {
  patterns.add<ArithOnTiles, SkipUnitFactorMul, ConstantTile, MathToGPU, SplatOpToGPU, IotaOpToGPU,
               BroadcastOpToGPU, ExpandDimsOpToGPU>(converter, patterns.getContext());
}
