//===- MemoryOpToGPU.cpp - Program ids, pointers, block loads and stores --===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

gpu::Dimension dimension(int axis) {
  return axis == 0 ? gpu::Dimension::x : axis == 1 ? gpu::Dimension::y : gpu::Dimension::z;
}

struct ProgramIdOpToGPU : OpConversionPattern<tile::ProgramIdOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::ProgramIdOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value id = gpu::BlockIdOp::create(rewriter, op.getLoc(), dimension(op.getAxis()));
    rewriter.replaceOpWithNewOp<arith::IndexCastOp>(op, rewriter.getI32Type(), id);
    return success();
  }
};

struct NumProgramsOpToGPU : OpConversionPattern<tile::NumProgramsOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::NumProgramsOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Value n = gpu::GridDimOp::create(rewriter, op.getLoc(), dimension(op.getAxis()));
    rewriter.replaceOpWithNewOp<arith::IndexCastOp>(op, rewriter.getI32Type(), n);
    return success();
  }
};

struct AddPtrOpToGPU : OpConversionPattern<tile::AddPtrOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::AddPtrOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Type elem = memoryType(op.getPtr().getType().getElementType());
    rewriter.replaceOpWithNewOp<LLVM::GEPOp>(op, adaptor.getPtr().getType(), elem,
                                             adaptor.getPtr(), ValueRange{adaptor.getOffset()});
    return success();
  }
};

struct MakeDescOpToGPU : OpConversionPattern<tile::MakeDescOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::MakeDescOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type structType = getTypeConverter()->convertType(op.getType());
    Value desc = LLVM::UndefOp::create(rewriter, loc, structType);
    int64_t pos = 0;
    desc = LLVM::InsertValueOp::create(rewriter, loc, desc, adaptor.getPtr(), pos++);
    for (Value v : adaptor.getSizes())
      desc = LLVM::InsertValueOp::create(rewriter, loc, desc, v, pos++);
    for (Value v : adaptor.getStrides())
      desc = LLVM::InsertValueOp::create(rewriter, loc, desc, v, pos++);
    rewriter.replaceOp(op, desc);
    return success();
  }
};

/// The address and in-bounds predicate of every element a thread holds of a
/// block at `indices` of a descriptor.
struct BlockAddresses {
  SmallVector<Value> pointers, inBounds;
};

BlockAddresses emitBlockAddresses(OpBuilder &b, Location loc, Value desc, ValueRange indices,
                                  RankedTensorType tileType) {
  unsigned rank = tileType.getRank();
  Value base = LLVM::ExtractValueOp::create(b, loc, desc, 0);
  SmallVector<Value> sizes, strides;
  for (unsigned d = 0; d < rank; ++d) {
    sizes.push_back(LLVM::ExtractValueOp::create(b, loc, desc, 1 + d));
    strides.push_back(LLVM::ExtractValueOp::create(b, loc, desc, 1 + rank + d));
  }
  Type elem = memoryType(tileType.getElementType());
  BlockAddresses out;
  for (const SmallVector<Value> &coord : ThreadElements(tileType).emitCoords(b, loc)) {
    Value offset, inBounds;
    for (unsigned d = 0; d < rank; ++d) {
      Value pos = arith::AddIOp::create(b, loc, indices[d], coord[d]);
      // Unsigned compare: negative positions are out of bounds too.
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, pos, sizes[d]);
      inBounds = inBounds ? arith::AndIOp::create(b, loc, inBounds, ok) : ok;
      Value term = arith::MulIOp::create(b, loc, pos, strides[d]);
      offset = offset ? arith::AddIOp::create(b, loc, offset, term) : term;
    }
    out.pointers.push_back(
        LLVM::GEPOp::create(b, loc, base.getType(), elem, base, ValueRange{offset}));
    out.inBounds.push_back(inBounds);
  }
  return out;
}

Value paddingValue(OpBuilder &b, Location loc, Type elementType, tile::Padding padding) {
  if (auto ft = dyn_cast<FloatType>(elementType)) {
    APFloat v = padding == tile::Padding::nan ? APFloat::getNaN(ft.getFloatSemantics())
                                              : APFloat::getZero(ft.getFloatSemantics());
    return arith::ConstantFloatOp::create(b, loc, ft, v);
  }
  return arith::ConstantIntOp::create(b, loc, elementType, 0);
}

struct LoadOpToGPU : OpConversionPattern<tile::LoadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::LoadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type elem = type.getElementType(), mem = memoryType(elem);
    BlockAddresses addr =
        emitBlockAddresses(rewriter, loc, adaptor.getDesc(), adaptor.getIndices(), type);
    Value pad = paddingValue(rewriter, loc, elem, op.getDesc().getType().getPadding());
    SmallVector<Value> values;
    for (auto [ptr, ok] : llvm::zip(addr.pointers, addr.inBounds)) {
      auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{elem}, ok, /*withElse=*/true);
      {
        OpBuilder::InsertionGuard guard(rewriter);
        rewriter.setInsertionPointToStart(&ifOp.getThenRegion().front());
        Value v = LLVM::LoadOp::create(rewriter, loc, mem, ptr);
        scf::YieldOp::create(rewriter, loc, fromMemory(rewriter, loc, v, elem));
        rewriter.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(rewriter, loc, pad);
      }
      values.push_back(ifOp.getResult(0));
    }
    auto vecType = cast<VectorType>(getTypeConverter()->convertType(type));
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, values));
    return success();
  }
};

struct StoreOpToGPU : OpConversionPattern<tile::StoreOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::StoreOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getValue().getType();
    BlockAddresses addr =
        emitBlockAddresses(rewriter, loc, adaptor.getDesc(), adaptor.getIndices(), type);
    SmallVector<Value> values = unpack(rewriter, loc, adaptor.getValue());
    // Threads holding copies of an element store the same value: harmless.
    for (auto [ptr, ok, v] : llvm::zip(addr.pointers, addr.inBounds, values)) {
      auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{}, ok, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(&ifOp.getThenRegion().front());
      LLVM::StoreOp::create(rewriter, loc, toMemory(rewriter, loc, v), ptr);
    }
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateMemoryOpPatterns(TileTypeConverter &converter,
                                                RewritePatternSet &patterns) {
  patterns.add<ProgramIdOpToGPU, NumProgramsOpToGPU, AddPtrOpToGPU, MakeDescOpToGPU, LoadOpToGPU,
               StoreOpToGPU>(converter, patterns.getContext());
}
