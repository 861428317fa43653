//===- RemoveLayoutConversions.cpp - Drop conversions that move nothing ---===//
//
// A conversion moves data between threads through shared memory. Where the
// converted value can as well be computed directly in the wanted layout, it
// is: the conversion moves up to the operands of its producer, until it meets
// a splat, a constant, an iota or a load (which are made in the new layout) or
// a value that must stay (then the conversion stays too). Broadcasts and
// expansions are rebuilt per conversion even where other users keep theirs:
// the conversion of their operand moves no more data than theirs would.
// Loads are made again where they were (never inside a loop they were
// outside of). A conversion of a row vector made outside its loop moves in
// front of the loop: it would move the same data every iteration.
//
//===----------------------------------------------------------------------===//

#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/Transforms/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace tessera::tile {
#define GEN_PASS_DEF_TILEREMOVELAYOUTCONVERSIONS
#include "tessera/Dialect/Tile/Transforms/Passes.h.inc"
} // namespace tessera::tile

using namespace mlir;
using namespace tessera::tile;

namespace {

bool isElementwise(Operation *op) {
  return isa<arith::ArithDialect, math::MathDialect>(op->getDialect()) &&
         !isa<arith::ConstantOp>(op) && op->getNumResults() == 1;
}

/// True when `v` is computed from splats, constants and iotas only, by ops
/// that need no other thread's data: recomputing it anywhere costs a few
/// instructions at most.
bool isFreeToRecompute(Value v, int depth = 0) {
  Operation *def = v.getDefiningOp();
  if (!def || depth > 16)
    return false;
  if (isa<SplatOp, IotaOp, arith::ConstantOp>(def))
    return true;
  if (!isa<BroadcastOp, ExpandDimsOp>(def) && !isElementwise(def))
    return false;
  return llvm::all_of(def->getOperands(), [&](Value operand) {
    return !isa<RankedTensorType>(operand.getType()) || isFreeToRecompute(operand, depth + 1);
  });
}

RankedTensorType withLayout(Type type, Attribute layout) {
  auto t = cast<RankedTensorType>(type);
  return RankedTensorType::get(t.getShape(), t.getElementType(), layout);
}

/// Bytes a conversion of `v` to `layout` moves between threads once moved up
/// its producers as far as that pays: none for what is made in any layout
/// (splats, constants, iotas, transposes, which cross shared memory anyway,
/// loads other than tensor-core operands), the cheaper of v's own bytes and
/// its operands' conversions for elementwise ops, broadcasts and expansions.
int64_t conversionBytes(Value v, Attribute layout, int depth = 0) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getEncoding() == layout || isSameDistribution(type, withLayout(type, layout)))
    return 0;
  int64_t own = type.getNumElements() * std::max<int64_t>(8, type.getElementTypeBitWidth()) / 8;
  Operation *def = v.getDefiningOp();
  if (!def || def->getNumResults() != 1 || depth > 8)
    return own;
  if (isa<SplatOp, IotaOp, arith::ConstantOp, TransOp>(def))
    return 0;
  if (isa<LoadOp>(def))
    return isa<DotOperandLayoutAttr>(layout) ? own : 0;
  if (!v.hasOneUse() && !isFreeToRecompute(v) && !isa<BroadcastOp, ExpandDimsOp>(def))
    return own;
  int64_t moved = 0;
  if (auto expand = dyn_cast<ExpandDimsOp>(def)) {
    if (isa<SliceLayoutAttr>(layout))
      return own;
    moved =
        conversionBytes(def->getOperand(0),
                        SliceLayoutAttr::get(v.getContext(), expand.getAxis(), layout), depth + 1);
  } else if (isa<BroadcastOp>(def) || isElementwise(def)) {
    for (Value operand : def->getOperands())
      if (isa<RankedTensorType>(operand.getType()))
        moved += conversionBytes(operand, layout, depth + 1);
  } else {
    return own;
  }
  return std::min(own, moved);
}

/// convert(op(x...)) -> op'(convert(x)...) with op' producing the wanted layout,
/// where that moves no more bytes between threads: not above a truncation
/// (the wider input would cross), nor above an op whose several operands
/// would each cross (attention's backward on two warpgroups converted Pᵀ
/// twice and dPᵀ once in f32 where it needs Pᵀ and dSᵀ once in bf16).
struct RecomputeInTargetLayout : OpRewritePattern<ConvertLayoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ConvertLayoutOp cvt, PatternRewriter &rewriter) const override {
    Operation *def = cvt.getSrc().getDefiningOp();
    if (!def || def->getNumResults() != 1)
      return failure();
    // A broadcast or an expansion is rebuilt for this user, whatever other
    // users it has: the conversion then moves the smaller operand (or the
    // same elements), never more.
    bool onlyUser = cvt.getSrc().hasOneUse();
    if (!onlyUser && !isFreeToRecompute(cvt.getSrc()) && !isa<BroadcastOp, ExpandDimsOp>(def))
      return failure();
    Attribute layout = cvt.getType().getEncoding();
    // Where each operand of `def` must be for its result to be in `layout`.
    SmallVector<Attribute> operandLayouts(def->getNumOperands());
    // Tensor-core operands are loaded as whole rows and staged through
    // shared memory by the dot, not gathered fragment by fragment.
    if (isa<LoadOp>(def) && isa<DotOperandLayoutAttr>(layout))
      return failure();
    if (isa<IotaOp, LoadOp, TransOp>(def)) {
      // Made directly in any layout (a transpose through shared memory).
    } else if (isa<BroadcastOp>(def) || isElementwise(def)) {
      for (auto [i, v] : llvm::enumerate(def->getOperands()))
        if (isa<RankedTensorType>(v.getType()))
          operandLayouts[i] = layout;
    } else if (auto expand = dyn_cast<ExpandDimsOp>(def)) {
      if (isa<SliceLayoutAttr>(layout))
        return failure();
      operandLayouts[0] = SliceLayoutAttr::get(getContext(), expand.getAxis(), layout);
    } else {
      return failure();
    }
    if (isElementwise(def) || isa<BroadcastOp>(def)) {
      int64_t moved = 0;
      for (auto [operand, operandLayout] : llvm::zip(def->getOperands(), operandLayouts))
        if (operandLayout)
          moved += conversionBytes(operand, operandLayout);
      if (moved > conversionBytes(cvt.getSrc(), layout, /*depth=*/9))
        return failure();
    }
    // A load is made again right after the original, not at the conversion:
    // a conversion inside a loop of a tile loaded before it (RMSNorm's weight)
    // must not become a load on every trip.
    if (isa<LoadOp>(def))
      rewriter.setInsertionPointAfter(def);
    IRMapping mapping;
    for (auto [operand, operandLayout] : llvm::zip(def->getOperands(), operandLayouts))
      if (operandLayout)
        mapping.map(operand,
                    ConvertLayoutOp::create(rewriter, cvt.getLoc(),
                                            withLayout(operand.getType(), operandLayout), operand));
    Operation *clone = rewriter.clone(*def, mapping);
    rewriter.modifyOpInPlace(clone, [&] { clone->getResult(0).setType(cvt.getType()); });
    rewriter.replaceOp(cvt, clone->getResult(0));
    return success();
  }
};

struct TileRemoveLayoutConversionsPass
    : tessera::tile::impl::TileRemoveLayoutConversionsBase<TileRemoveLayoutConversionsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // The folders (same layout) run as part of the greedy driver; the
    // canonical patterns fold chains and rebuild splats in place.
    ConvertLayoutOp::getCanonicalizationPatterns(patterns, &getContext());
    patterns.add<RecomputeInTargetLayout>(&getContext());
    GreedyRewriteConfig config;
    // Each round moves conversions further up their chains: attention's
    // causal, masked dQ kernel settles in 9 rounds (it fails with 8); the
    // bound only stops a pattern bug from looping forever.
    config.setMaxIterations(64);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config))) {
      getOperation().emitError("layout conversions did not reach a fixed point");
      signalPassFailure();
      return;
    }
    if (hoistRowConversions)
      hoistInvariantRowConversions();
  }

  /// A conversion inside a loop of a value made outside it moves the same
  /// data through shared memory every iteration (the dQ program's rows of L
  /// and D into the scores' layout: four CTA barriers per key block): it
  /// moves in front of the loop, out of every loop it is invariant in
  /// (inner loops are visited first). Row vectors only: a thread holds a
  /// register or two of one across the loop, where a whole tile could cost
  /// dozens.
  void hoistInvariantRowConversions() {
    getOperation().walk([](scf::ForOp loop) {
      SmallVector<ConvertLayoutOp> invariant;
      for (auto cvt : loop.getBody()->getOps<ConvertLayoutOp>())
        if (cvt.getType().getRank() == 1 && loop.isDefinedOutsideOfLoop(cvt.getSrc()))
          invariant.push_back(cvt);
      for (ConvertLayoutOp cvt : invariant)
        cvt->moveBefore(loop);
    });
  }
};
} // namespace
