//===- AssignLayouts.cpp - Give every tile a distributed layout -----------===//
//
// One walk in program order gives each tile a layout from its operands'
// (elementwise ops follow their most expensive operand: a tensor-core result
// over a load over a reduction's slice), anchored by loads and dots: a dot of
// 16-bit inputs runs on tensor cores and asks for mma operand layouts.
// Conversions are inserted where layouts disagree; the next pass removes the
// ones it can by recomputing cheap values in the layout their users need.
//
// Loop-carried tiles take the layout their loop yields: the walk runs again
// with the carried layouts pinned to what the previous walk yielded until the
// two agree (twice for flash attention).
//
//===----------------------------------------------------------------------===//

#include "tessera/Dialect/Tile/IR/Layout.h"
#include "tessera/Dialect/Tile/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#include <map>

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

/// Loop-carried layouts, by (loop number in walk order, iter arg number).
using CarriedLayouts = std::map<std::pair<unsigned, unsigned>, Attribute>;

/// True for tensor-core dots: 16-bit float inputs (or f32 ones the dot lets
/// round to tf32), f32 accumulator, and whole m16n8k16 instructions (tf32's
/// m16n8k8 run in pairs over the same operand layouts).
bool runsOnTensorCores(DotOp dot) {
  RankedTensorType a = dot.getA().getType(), b = dot.getB().getType();
  Type in = a.getElementType();
  if (!(in.isF16() || in.isBF16() || (in.isF32() && dot.getTf32())) || b.getElementType() != in ||
      !dot.getType().getElementType().isF32())
    return false;
  return a.getDimSize(0) % 16 == 0 && a.getDimSize(1) % 16 == 0 && b.getDimSize(1) % 8 == 0;
}

class LayoutAssigner {
public:
  LayoutAssigner(func::FuncOp func, const CarriedLayouts &pinned, bool warpgroupColumns)
      : func(func), numWarps(getNumWarps(func)), warpgroupColumns(warpgroupColumns),
        pinned(pinned) {}

  LogicalResult run() {
    WalkResult result = func.walk<WalkOrder::PreOrder>([&](Operation *op) {
      return failed(visit(op)) ? WalkResult::interrupt() : WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

  /// The layouts each loop yielded before conversion to its carried layout.
  const CarriedLayouts &yielded() const { return yieldedLayouts; }

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
    // A value from outside the user's loop is converted where it is made,
    // once, not on every trip.
    OpBuilder b(op);
    if (Operation *def = v.getDefiningOp()) {
      if (def->getBlock() != op->getBlock())
        b.setInsertionPointAfter(def);
    } else if (auto arg = dyn_cast<BlockArgument>(v); arg.getOwner() != op->getBlock()) {
      b.setInsertionPointToStart(arg.getOwner());
    }
    Value converted = ConvertLayoutOp::create(b, op->getLoc(), withLayout(type, layout), v);
    op->setOperand(idx, converted);
  }

  void setLayout(Value v, Attribute layout) {
    v.setType(withLayout(cast<RankedTensorType>(v.getType()), layout));
  }

  static Attribute layoutOf(Value v) { return cast<RankedTensorType>(v.getType()).getEncoding(); }

  /// How much a value's layout should decide its users': what it costs to
  /// move the value elsewhere. Splats, constants and iotas are free to remake.
  /// Loop-carried values follow too (their layout is what the loop yields),
  /// but for tensor-core results carried whole (once pinned): scores carried
  /// from the previous iteration keep their mma layout through the softmax.
  static int weight(Value v) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return isa<MmaLayoutAttr>(layoutOf(v)) ? 2 : 0;
    if (isa<SplatOp, IotaOp, arith::ConstantOp>(def))
      return 0;
    Attribute layout = layoutOf(v);
    if (auto slice = dyn_cast<SliceLayoutAttr>(layout))
      layout = slice.getParent();
    return isa<BlockedLayoutAttr>(layout) ? 1 : 2;
  }

  LogicalResult visit(Operation *op) {
    if (isa<ConvertLayoutOp>(op))
      return success();
    if (auto forOp = dyn_cast<scf::ForOp>(op))
      return visitFor(forOp);
    if (auto yield = dyn_cast<scf::YieldOp>(op)) {
      auto loop = dyn_cast<scf::ForOp>(op->getParentOp());
      for (auto [i, v] : llvm::enumerate(yield.getOperands())) {
        if (!isa<RankedTensorType>(v.getType()))
          continue;
        if (loop)
          yieldedLayouts[{loopNumbers.lookup(loop), unsigned(i)}] = layoutOf(v);
        require(op, i, layoutOf(op->getParentOp()->getResult(i)));
      }
      return success();
    }
    // A store's mask is read element by element beside the value.
    if (auto store = dyn_cast<StoreOp>(op); store && store.getMask())
      require(op, op->getNumOperands() - 1, layoutOf(store.getValue()));
    bool hasTensorResult = llvm::any_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
    if (!hasTensorResult)
      return success();
    if (isa<scf::IfOp, scf::WhileOp>(op))
      return op->emitOpError("with tile results is not supported yet; use tile selects");

    if (auto reduce = dyn_cast<ReduceOp>(op))
      return visitReduce(op, reduce.getAxis());
    if (auto reduce = dyn_cast<ReduceCombineOp>(op))
      return visitReduce(op, reduce.getAxis());
    // A scan keeps its first operand's layout (the others take it): it moves
    // elements along the axis through shared memory whatever the layout.
    if (isa<ScanOp>(op)) {
      Attribute layout = layoutOf(op->getOperand(0));
      for (unsigned i = 0; i < op->getNumOperands(); ++i) {
        require(op, i, layout);
        setLayout(op->getResult(i), layout);
      }
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
      // A layout describes any shape of its rank, so the operand's layout
      // serves the broadcast result with no data movement; unless it is a
      // blocked layout made for the small operand that would give each
      // thread more of the result than the result's own layout does (a
      // [1, 1] index spread over warps along its size-1 dimension: every
      // thread would hold the whole broadcast row). Then the small operand
      // moves instead.
      Attribute src = layoutOf(broadcast.getSrc());
      RankedTensorType result = broadcast.getType();
      Attribute own = defaultLayout(result);
      bool replicates =
          isa<BlockedLayoutAttr>(src) &&
          getElemsPerThread(withLayout(result, src)) > getElemsPerThread(withLayout(result, own));
      if (isa<SliceLayoutAttr>(src) || replicates) {
        src = own;
        require(op, 0, src);
      }
      setLayout(broadcast.getResult(), src);
      return success();
    }
    if (auto dot = dyn_cast<DotOp>(op))
      return visitDot(dot);
    if (auto load = dyn_cast<LoadOp>(op)) {
      // 16-byte vectors along the contiguous dimension.
      RankedTensorType type = load.getType();
      unsigned bytes = std::max(1u, type.getElementType().getIntOrFloatBitWidth() / 8);
      setLayout(load.getResult(),
                getDefaultBlockedLayout(func.getContext(), type.getShape(), numWarps, 16 / bytes));
      return success();
    }
    if (auto gather = dyn_cast<GatherOp>(op)) {
      // As a load's; each thread holds the row indices of the rows it reads.
      RankedTensorType type = gather.getType();
      unsigned bytes = std::max(1u, type.getElementType().getIntOrFloatBitWidth() / 8);
      BlockedLayoutAttr layout =
          getDefaultBlockedLayout(func.getContext(), type.getShape(), numWarps, 16 / bytes);
      require(op, 1, SliceLayoutAttr::get(op->getContext(), 1, layout));
      setLayout(gather.getResult(), layout);
      return success();
    }
    if (isa<IotaOp, SplatOp, TransOp>(op)) {
      setLayout(op->getResult(0),
                defaultLayout(cast<RankedTensorType>(op->getResult(0).getType())));
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
    // Atomics: the old values in the layout of the values written.
    if (isa<arith::ArithDialect, math::MathDialect>(op->getDialect()) ||
        isa<AtomicRMWOp, AtomicCASOp>(op))
      return visitElementwise(op);
    return op->emitOpError("has tile results but no layout rule");
  }

  /// A reduction's results are the slice of its first operand's blocked
  /// layout, which the other operands (reduced together) take too.
  LogicalResult visitReduce(Operation *op, unsigned axis) {
    auto srcType = cast<RankedTensorType>(op->getOperand(0).getType());
    Attribute src = srcType.getEncoding();
    if (isa<SliceLayoutAttr>(src))
      src = defaultLayout(srcType);
    for (unsigned i = 0; i < op->getNumOperands(); ++i) {
      require(op, i, src);
      setLayout(op->getResult(i), SliceLayoutAttr::get(op->getContext(), axis, src));
    }
    return success();
  }

  LogicalResult visitDot(DotOp dot) {
    MLIRContext *ctx = dot.getContext();
    if (runsOnTensorCores(dot)) {
      RankedTensorType c = dot.getType();
      // Only 16-bit B tiles can be read MN-major (tf32 wgmma reads both
      // operands k-major), where contiguous columns are needed.
      bool sixteenBit = dot.getA().getType().getElementType().getIntOrFloatBitWidth() == 16;
      MmaLayoutAttr mma =
          getDotMmaLayout(ctx, c.getDimSize(0), c.getDimSize(1), dot.getA().getType().getDimSize(1),
                          numWarps, warpgroupColumns && sixteenBit);
      require(dot, 0, DotOperandLayoutAttr::get(ctx, 0, mma, /*kWidth=*/2));
      require(dot, 1, DotOperandLayoutAttr::get(ctx, 1, mma, /*kWidth=*/2));
      require(dot, 2, mma);
      setLayout(dot.getResult(), mma);
      return success();
    }
    // CUDA cores: any blocked accumulator; operands go through shared memory.
    Attribute acc = layoutOf(dot.getAcc());
    if (!isa<BlockedLayoutAttr>(acc)) {
      acc = defaultLayout(dot.getType());
      require(dot, 2, acc);
    }
    setLayout(dot.getResult(), acc);
    return success();
  }

  LogicalResult visitElementwise(Operation *op) {
    // The operand whose layout is most expensive to leave decides.
    Attribute layout;
    int best = -1;
    for (Value v : op->getOperands())
      if (isa<RankedTensorType>(v.getType()) && weight(v) > best) {
        best = weight(v);
        layout = layoutOf(v);
      }
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
    unsigned number = loopNumbers.size();
    loopNumbers[forOp] = number;
    unsigned firstInit = forOp.getNumControlOperands();
    for (auto [i, init, arg, result] :
         llvm::enumerate(forOp.getInitArgs(), forOp.getRegionIterArgs(), forOp.getResults())) {
      if (!isa<RankedTensorType>(init.getType()))
        continue;
      auto it = pinned.find({number, unsigned(i)});
      if (it != pinned.end())
        require(forOp, firstInit + i, it->second);
      Type type = forOp.getInitArgs()[i].getType();
      arg.setType(type);
      result.setType(type);
    }
    return success();
  }

  func::FuncOp func;
  unsigned numWarps;
  bool warpgroupColumns;
  const CarriedLayouts &pinned;
  CarriedLayouts yieldedLayouts;
  llvm::DenseMap<Operation *, unsigned> loopNumbers;
};

struct TileAssignLayoutsPass : tessera::tile::impl::TileAssignLayoutsBase<TileAssignLayoutsPass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    // Warpgroup MMA runs the dots on sm_90a unless the kernel keeps to
    // mma.sync (TF32 kernels that ask for it).
    auto wgmma = func->getAttrOfType<BoolAttr>(kWarpgroupMmaAttr);
    bool warpgroupColumns = arch == "sm_90a" && (!wgmma || wgmma.getValue());
    CarriedLayouts pinned;
    // Each round pins the carried layouts to what the last one yielded; a
    // round that yields what it carried is final.
    for (int round = 0; round < 4; ++round) {
      func::FuncOp trial = func.clone();
      LayoutAssigner assigner(trial, pinned, warpgroupColumns);
      if (failed(assigner.run())) {
        trial.erase();
        func.emitError("no layout assignment for this kernel");
        return signalPassFailure();
      }
      bool stable = true;
      for (auto &[key, layout] : assigner.yielded()) {
        auto it = pinned.find(key);
        Attribute carried = it != pinned.end() ? it->second : Attribute();
        if (carried != layout)
          stable = false;
      }
      if (stable || round == 3) {
        func.getBody().takeBody(trial.getBody());
        trial.erase();
        return;
      }
      pinned = assigner.yielded();
      trial.erase();
    }
  }
};

} // namespace
