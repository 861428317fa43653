//===- AssignLayouts.cpp - Give every tile a distributed layout -----------===//

#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace tessera::tile {
#define GEN_PASS_DEF_TILEASSIGNLAYOUTS
#include "tessera/Dialect/Tile/Transforms/Passes.h.inc"
} // namespace tessera::tile

using namespace mlir;
using namespace tessera::tile;

namespace {

RankedTensorType withLayout(RankedTensorType type, Attribute layout) {
  return RankedTensorType::get(type.getShape(), type.getElementType(), layout);
}

class LayoutAssigner {
public:
  LayoutAssigner(func::FuncOp func) : func(func), numWarps(getNumWarps(func)) {}

  LogicalResult run() {
    WalkResult result = func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      return failed(visit(op)) ? WalkResult::interrupt() : WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

private:
  Attribute defaultLayout(RankedTensorType type) {
    return getDefaultBlockedLayout(func.getContext(), type.getShape(), numWarps);
  }

  /// Makes operand `idx` of `op` have `layout`, converting it if needed.
  void require(Operation *op, unsigned idx, Attribute layout) {
    Value v = op->getOperand(idx);
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getEncoding() == layout)
      return;
    OpBuilder b(op);
    Value converted = ConvertLayoutOp::create(b, op->getLoc(), withLayout(type, layout), v);
    op->setOperand(idx, converted);
  }

  void setLayout(Value v, Attribute layout) {
    v.setType(withLayout(cast<RankedTensorType>(v.getType()), layout));
  }

  static Attribute layoutOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getEncoding();
  }

  LogicalResult visit(Operation *op) {
    if (isa<ConvertLayoutOp>(op))
      return success();
    if (auto forOp = dyn_cast<scf::ForOp>(op))
      return visitFor(forOp);
    if (auto yield = dyn_cast<scf::YieldOp>(op)) {
      for (auto [i, v] : llvm::enumerate(yield.getOperands()))
        if (isa<RankedTensorType>(v.getType()))
          require(op, i, layoutOf(op->getParentOp()->getResult(i)));
      return success();
    }
    bool hasTensorResult = llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
    if (!hasTensorResult)
      return success();
    if (isa<scf::IfOp, scf::WhileOp>(op))
      return op->emitOpError("with tile results is not supported yet; use tile selects");

    if (auto reduce = dyn_cast<ReduceOp>(op)) {
      Attribute src = layoutOf(reduce.getSrc());
      BlockedLayoutAttr parent = dyn_cast<BlockedLayoutAttr>(src);
      if (!parent) {
        parent = cast<BlockedLayoutAttr>(defaultLayout(reduce.getSrc().getType()));
        require(op, 0, parent);
      }
      setLayout(reduce.getResult(), SliceLayoutAttr::get(op->getContext(), reduce.getAxis(), parent));
      return success();
    }
    if (auto expand = dyn_cast<ExpandDimsOp>(op)) {
      auto slice = dyn_cast<SliceLayoutAttr>(layoutOf(expand.getSrc()));
      if (slice && slice.getDim() == unsigned(expand.getAxis())) {
        setLayout(expand.getResult(), slice.getParent());
        return success();
      }
      auto layout = cast<BlockedLayoutAttr>(defaultLayout(expand.getType()));
      require(op, 0, SliceLayoutAttr::get(op->getContext(), expand.getAxis(), layout));
      setLayout(expand.getResult(), layout);
      return success();
    }
    if (auto broadcast = dyn_cast<BroadcastOp>(op)) {
      // A blocked layout describes any shape of its rank, so the operand's
      // layout serves the broadcast result with no data movement.
      Attribute src = layoutOf(broadcast.getSrc());
      if (!isa<BlockedLayoutAttr>(src)) {
        src = defaultLayout(broadcast.getType());
        require(op, 0, src);
      }
      setLayout(broadcast.getResult(), src);
      return success();
    }
    if (auto dot = dyn_cast<DotOp>(op)) {
      Attribute acc = layoutOf(dot.getAcc());
      if (!isa<BlockedLayoutAttr>(acc)) {
        acc = defaultLayout(dot.getType());
        require(op, 2, acc);
      }
      setLayout(dot.getResult(), acc);
      return success();
    }
    if (isa<LoadOp, IotaOp, SplatOp, TransOp>(op)) {
      setLayout(op->getResult(0), defaultLayout(cast<RankedTensorType>(op->getResult(0).getType())));
      return success();
    }
    if (auto cst = dyn_cast<arith::ConstantOp>(op)) {
      auto type = cast<RankedTensorType>(cst.getType());
      auto newType = withLayout(type, defaultLayout(type));
      auto value = cast<DenseElementsAttr>(cst.getValue()).reshape(newType);
      cst.setValueAttr(value);
      cst.getResult().setType(newType);
      return success();
    }
    if (isa<arith::ArithDialect, math::MathDialect>(op->getDialect()))
      return visitElementwise(op);
    return op->emitOpError("has tile results but no layout rule");
  }

  LogicalResult visitElementwise(Operation *op) {
    // Prefer a blocked operand's layout: slices come from reductions and are
    // best converted once into the layout of the data they combine with.
    Attribute layout;
    for (Value v : op->getOperands())
      if (auto type = dyn_cast<RankedTensorType>(v.getType()))
        if (isa<BlockedLayoutAttr>(type.getEncoding())) {
          layout = type.getEncoding();
          break;
        }
    for (Value v : op->getOperands())
      if (!layout)
        if (auto type = dyn_cast<RankedTensorType>(v.getType()))
          layout = type.getEncoding();
    if (!layout)
      return op->emitOpError("has tile results but no tile operands");
    for (unsigned i = 0; i < op->getNumOperands(); ++i)
      if (isa<RankedTensorType>(op->getOperand(i).getType()))
        require(op, i, layout);
    for (Value r : op->getResults())
      setLayout(r, layout);
    return success();
  }

  LogicalResult visitFor(scf::ForOp forOp) {
    for (auto [init, arg, result] :
         llvm::zip(forOp.getInitArgs(), forOp.getRegionIterArgs(), forOp.getResults())) {
      if (!isa<RankedTensorType>(init.getType()))
        continue;
      arg.setType(init.getType());
      result.setType(init.getType());
    }
    return success();
  }

  func::FuncOp func;
  unsigned numWarps;
};

struct TileAssignLayoutsPass
    : tessera::tile::impl::TileAssignLayoutsBase<TileAssignLayoutsPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(LayoutAssigner(getOperation()).run()))
      signalPassFailure();
  }
};

} // namespace
