//===- MemoryOpToGPU.cpp - Program ids, pointers, block loads and stores --===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

/// Loads each thread keeps in flight in an element-by-element copy
/// (emitElementwiseCopy): in a loop, eight (few registers beside a loop's
/// accumulators); outside any, where a kernel reads a tile once before its
/// loops (the forward's Q), 32.
constexpr int64_t kElementCopyUnrollInLoop = 8;
constexpr int64_t kElementCopyUnroll = 32;
/// The same for the 16-byte chunks of a shifted copy (emitShiftedChunkCopy),
/// two vector loads each: 16 loads in flight.
constexpr int64_t kChunkCopyUnroll = 8;
/// The widest tiles copied so: the forward at head dim 59 (Q a 128 x 64
/// tile) ran 2.3% faster at (4, 16, 4096) and 7% at (16, 16, 1024) causal;
/// at 111 (128 x 128) 2.8% and 3.0% slower (H100, the same registers or
/// fewer, the cause not found), where the element copy stays.
constexpr int64_t kChunkCopyMaxCols = 64;

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
    rewriter.replaceOpWithNewOp<LLVM::GEPOp>(op, adaptor.getPtr().getType(), elem, adaptor.getPtr(),
                                             ValueRange{adaptor.getOffset()});
    return success();
  }
};

/// ptr + sum(indices[i] * strides[i]), in the order the DSL's at() summed it.
struct AtOpToGPU : OpConversionPattern<tile::AtOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::AtOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value offset;
    for (auto [index, stride] : llvm::zip(adaptor.getIndices(), adaptor.getStrides())) {
      Value term = arith::MulIOp::create(rewriter, loc, index, stride);
      offset = offset ? arith::AddIOp::create(rewriter, loc, offset, term) : term;
    }
    Type elem = memoryType(op.getPtr().getType().getElementType());
    rewriter.replaceOpWithNewOp<LLVM::GEPOp>(op, adaptor.getPtr().getType(), elem, adaptor.getPtr(),
                                             ValueRange{offset});
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

/// A descriptor's fields.
struct Desc {
  Value base;
  SmallVector<Value> sizes, strides;
};

/// The fields of `desc` (converted); `unitLastStride`: the launch found its
/// last stride 1 (an aligned descriptor), so no element offset multiplies.
Desc unpackDesc(OpBuilder &b, Location loc, Value desc, unsigned rank,
                bool unitLastStride = false) {
  Desc d{LLVM::ExtractValueOp::create(b, loc, desc, 0), {}, {}};
  for (unsigned i = 0; i < rank; ++i) {
    d.sizes.push_back(LLVM::ExtractValueOp::create(b, loc, desc, 1 + i));
    d.strides.push_back(LLVM::ExtractValueOp::create(b, loc, desc, 1 + rank + i));
  }
  if (unitLastStride && rank)
    d.strides.back() = constI32(b, loc, 1);
  return d;
}

/// One access of `width` consecutive elements along the last dimension
/// (width 1: a single element) a thread makes of a block.
struct Access {
  int64_t firstElement;             ///< index of the first element in the thread's vector
  Value pointer;                    ///< of the first element
  Value otherDimsInBounds, lastPos; ///< the last dimension's position of the first
  Value lastSize, lastStride;

  /// Element `i` of the run is inside the tensor.
  Value inBounds(OpBuilder &b, Location loc, int64_t i) const {
    Value pos = i ? arith::AddIOp::create(b, loc, lastPos, constI32(b, loc, i)) : lastPos;
    // Unsigned compare: negative positions are out of bounds too.
    Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, pos, lastSize);
    return otherDimsInBounds ? arith::AndIOp::create(b, loc, otherDimsInBounds, ok) : ok;
  }
  Value elementPointer(OpBuilder &b, Location loc, Type elem, int64_t i) const {
    if (i == 0)
      return pointer;
    Value step = arith::MulIOp::create(b, loc, constI32(b, loc, i), lastStride);
    return LLVM::GEPOp::create(b, loc, pointer.getType(), elem, pointer, ValueRange{step});
  }
};

/// The widest run (up to 16 bytes) into which a thread's elements group:
/// consecutive coordinates along the last dimension starting at a multiple
/// of the run length.
int64_t accessWidth(RankedTensorType type) {
  unsigned bytes = std::max(1u, memoryType(type.getElementType()).getIntOrFloatBitWidth() / 8);
  ThreadElements elems(type);
  const tile::DimDistribution &last = elems.distribution().back();
  int64_t width = std::min<int64_t>(16 / bytes, last.count());
  while (width > 1 && !(last.holdsRunsOf(width) && type.getShape().back() % width == 0))
    width /= 2;
  return std::max<int64_t>(width, 1);
}

/// `rowOf` (gathers): element e's position along the first dimension, in
/// place of indices[0] plus its coordinate.
SmallVector<Access> emitAccesses(OpBuilder &b, Location loc, const Desc &desc, ValueRange indices,
                                 RankedTensorType tileType, int64_t width, bool opaque = false,
                                 function_ref<Value(int64_t)> rowOf = nullptr) {
  unsigned rank = tileType.getRank();
  Type elem = memoryType(tileType.getElementType());
  ThreadElements elems(tileType);
  SmallVector<SmallVector<Value>> coords = elems.emitCoords(b, loc, opaque);
  SmallVector<Access> out;
  for (int64_t e = 0; e < elems.size(); ++e) {
    if (elems.multiIndex(e).back() % width != 0)
      continue;
    Access access;
    access.firstElement = e;
    access.lastSize = desc.sizes.back();
    access.lastStride = desc.strides.back();
    Value offset;
    for (unsigned d = 0; d < rank; ++d) {
      Value pos =
          d == 0 && rowOf ? rowOf(e) : arith::AddIOp::create(b, loc, indices[d], coords[e][d]);
      Value term = arith::MulIOp::create(b, loc, pos, desc.strides[d]);
      offset = offset ? arith::AddIOp::create(b, loc, offset, term) : term;
      if (d + 1 == rank) {
        access.lastPos = pos;
        continue;
      }
      Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, pos, desc.sizes[d]);
      access.otherDimsInBounds = access.otherDimsInBounds
                                     ? arith::AndIOp::create(b, loc, access.otherDimsInBounds, ok)
                                     : ok;
    }
    access.pointer =
        LLVM::GEPOp::create(b, loc, desc.base.getType(), elem, desc.base, ValueRange{offset});
    out.push_back(access);
  }
  return out;
}

/// The descriptor's tensor allows 16-byte vectors, as the launch checked
/// (`tile.make_desc {aligned}`).
bool isAligned(Value desc) {
  auto make = desc.getDefiningOp<tile::MakeDescOp>();
  return make && make.getAligned();
}

/// What the vector path needs of the block's last index (`index`, lowered;
/// `divisor`, its LastIndexDivisors): runs of `width` elements start at
/// multiples of `width` along the last dimension only when the index is
/// one (their coordinates in the block are). Null where the divisor proves
/// it; else the check (the same in every thread).
Value emitIndexAligned(OpBuilder &b, Location loc, Value converted, int64_t divisor,
                       int64_t width) {
  if (width <= 1 || divisor % width == 0)
    return {};
  Value rem = arith::AndIOp::create(b, loc, converted, constI32(b, loc, width - 1));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rem, constI32(b, loc, 0));
}

/// True (the same in every thread) when runs of `width` elements along the
/// last dimension are contiguous and aligned in memory: unit last stride,
/// the other strides and the base multiples of the run. A constant for a
/// descriptor the launch found aligned (`tileDesc`, the unconverted one).
Value emitVectorizable(OpBuilder &b, Location loc, const Desc &desc, Type elem, int64_t width,
                       Value tileDesc) {
  if (isAligned(tileDesc) && width * elem.getIntOrFloatBitWidth() <= 128)
    return arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, desc.strides.back(),
                                   constI32(b, loc, 1));
  for (Value stride : ArrayRef<Value>(desc.strides).drop_back()) {
    Value rem = arith::AndIOp::create(b, loc, stride, constI32(b, loc, width - 1));
    ok = arith::AndIOp::create(
        b, loc, ok,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rem, constI32(b, loc, 0)));
  }
  Type i64 = b.getI64Type();
  Value address = LLVM::PtrToIntOp::create(b, loc, i64, desc.base);
  int64_t bytes = width * elem.getIntOrFloatBitWidth() / 8;
  Value misaligned =
      arith::AndIOp::create(b, loc, address, arith::ConstantIntOp::create(b, loc, i64, bytes - 1));
  return arith::AndIOp::create(b, loc, ok,
                               arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, misaligned,
                                                     arith::ConstantIntOp::create(b, loc, i64, 0)));
}

/// True (the same in every thread) when the block of `shape` at `indices`
/// lies wholly inside the tensor.
Value emitTileInside(OpBuilder &b, Location loc, const Desc &desc, ValueRange indices,
                     ArrayRef<int64_t> shape) {
  Value inside;
  for (auto [index, size, extent] : llvm::zip(indices, desc.sizes, shape)) {
    Value end = arith::AddIOp::create(b, loc, index, constI32(b, loc, extent));
    Value ok = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, index, constI32(b, loc, 0)),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, end, size));
    inside = inside ? arith::AndIOp::create(b, loc, inside, ok) : ok;
  }
  return inside;
}

/// How a thread accesses its elements of a block of `type` at a descriptor:
/// the descriptor's fields, the widest run (accessWidth) and, for runs
/// wider than one element, whether the tensor allows vectors and the block's
/// last index puts them on multiples of the run.
struct RunAccess {
  Desc desc;
  int64_t width;
  Value vectorizable;
  /// Every run lies wholly inside or wholly outside the tensor: an aligned
  /// descriptor (its last dimension is whole 16-byte vectors) and a last
  /// index known to be a multiple of the run. No element-by-element path.
  bool wholeRuns = false;
};

/// `index` and `divisor`: the block's last index, as emitIndexAligned.
RunAccess prepareRunAccess(OpBuilder &b, Location loc, Value descValue, Value tileDesc,
                           RankedTensorType type, Value index, int64_t divisor) {
  RunAccess r{unpackDesc(b, loc, descValue, type.getRank(), isAligned(tileDesc)), accessWidth(type),
              Value()};
  if (r.width > 1) {
    r.vectorizable =
        emitVectorizable(b, loc, r.desc, memoryType(type.getElementType()), r.width, tileDesc);
    Value indexAligned = emitIndexAligned(b, loc, index, divisor, r.width);
    if (indexAligned)
      r.vectorizable = arith::AndIOp::create(b, loc, r.vectorizable, indexAligned);
    r.wholeRuns = isAligned(tileDesc) && !indexAligned;
  }
  return r;
}

/// The vector path's condition: the tensor allows vectors and the run's first
/// and last elements are inside it (the first alone for whole runs); null
/// when there is no vector path.
Value runInBounds(OpBuilder &b, Location loc, const RunAccess &r, const Access &access) {
  if (!r.vectorizable)
    return {};
  Value inside = access.inBounds(b, loc, 0);
  if (!r.wholeRuns)
    inside = arith::AndIOp::create(b, loc, inside, access.inBounds(b, loc, r.width - 1));
  return arith::AndIOp::create(b, loc, r.vectorizable, inside);
}

/// Emits `fast()` when `cond` holds and `slow()` otherwise, both yielding
/// `types`; with no condition, just `slow()`. A null `slow` (no results)
/// does nothing otherwise.
SmallVector<Value> emitFastOrSlow(OpBuilder &b, Location loc, Value cond, TypeRange types,
                                  function_ref<SmallVector<Value>()> fast,
                                  function_ref<SmallVector<Value>()> slow) {
  if (!cond)
    return slow();
  if (matchPattern(cond, m_One()))
    return fast();
  if (!slow) {
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, cond, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    fast();
    return {};
  }
  auto ifOp = scf::IfOp::create(b, loc, types, cond, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  // Without results the regions come with their terminators.
  for (auto [region, body] :
       {std::pair{&ifOp.getThenRegion(), fast}, std::pair{&ifOp.getElseRegion(), slow}}) {
    Block &block = region->front();
    if (types.empty()) {
      b.setInsertionPoint(block.getTerminator());
      body();
    } else {
      b.setInsertionPointToStart(&block);
      scf::YieldOp::create(b, loc, body());
    }
  }
  return ifOp.getResults();
}

Value paddingValue(OpBuilder &b, Location loc, Type elementType, tile::Padding padding) {
  if (auto ft = dyn_cast<FloatType>(elementType)) {
    APFloat v = padding == tile::Padding::nan ? APFloat::getNaN(ft.getFloatSemantics())
                                              : APFloat::getZero(ft.getFloatSemantics());
    return arith::ConstantFloatOp::create(b, loc, ft, v);
  }
  return arith::ConstantIntOp::create(b, loc, elementType, 0);
}

/// One run of `width` elements as a vector load (aligned, all inside).
SmallVector<Value> emitRunLoad(OpBuilder &b, Location loc, const Access &access, Type mem,
                               Type elem, int64_t width) {
  auto vecType = VectorType::get({width}, mem);
  unsigned align = width * mem.getIntOrFloatBitWidth() / 8;
  Value v = LLVM::LoadOp::create(b, loc, vecType, access.pointer, align);
  SmallVector<Value> run;
  for (int64_t i = 0; i < width; ++i)
    run.push_back(fromMemory(b, loc, vector::ExtractOp::create(b, loc, v, i), elem));
  return run;
}

/// A pattern for an op that accesses a block at indices (LastIndexDivisors).
template <typename Op> struct IndexedAccessPattern : OpConversionPattern<Op> {
  IndexedAccessPattern(TileTypeConverter &converter, MLIRContext *ctx,
                       const LastIndexDivisors &divisors)
      : OpConversionPattern<Op>(converter, ctx), divisors(divisors) {}
  const LastIndexDivisors &divisors;
};

/// A thread's elements of `type`, run by run: a vector load where the run is
/// inside the tensor and `vectorizable` holds, else element by element, the
/// elements outside the tensor reading `pad`.
SmallVector<Value> emitRunByRunLoad(OpBuilder &b, Location loc, ArrayRef<Access> accesses,
                                    RankedTensorType type, const RunAccess &r, Value pad) {
  int64_t width = r.width;
  Type elem = type.getElementType(), mem = memoryType(elem);
  SmallVector<Type> runTypes(width, elem);
  SmallVector<Value> values(tile::getElemsPerThread(type));
  for (const Access &access : accesses) {
    auto fast = [&]() -> SmallVector<Value> {
      return emitRunLoad(b, loc, access, mem, elem, width);
    };
    auto slow = [&]() -> SmallVector<Value> {
      // A whole run outside the tensor reads padding throughout.
      if (r.wholeRuns)
        return SmallVector<Value>(width, pad);
      SmallVector<Value> run;
      for (int64_t i = 0; i < width; ++i) {
        Value ptr = access.elementPointer(b, loc, mem, i);
        auto ifOp = scf::IfOp::create(b, loc, TypeRange{elem}, access.inBounds(b, loc, i),
                                      /*withElse=*/true);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(&ifOp.getThenRegion().front());
        Value v = LLVM::LoadOp::create(b, loc, mem, ptr);
        scf::YieldOp::create(b, loc, fromMemory(b, loc, v, elem));
        b.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(b, loc, pad);
        run.push_back(ifOp.getResult(0));
      }
      return run;
    };
    Value cond = runInBounds(b, loc, r, access);
    SmallVector<Value> run = emitFastOrSlow(b, loc, cond, runTypes, fast, slow);
    for (int64_t i = 0; i < width; ++i)
      values[access.firstElement + i] = run[i];
  }
  return values;
}

/// Reads a thread's elements with 16-byte (or narrower) vector loads where
/// the tensor allows and the whole run is inside it, element by element
/// otherwise; elements outside the tensor read the padding.
struct LoadOpToGPU : IndexedAccessPattern<tile::LoadOp> {
  using IndexedAccessPattern::IndexedAccessPattern;
  LogicalResult matchAndRewrite(tile::LoadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType();
    Type elem = type.getElementType(), mem = memoryType(elem);
    RunAccess r = prepareRunAccess(rewriter, loc, adaptor.getDesc(), op.getDesc(), type,
                                   adaptor.getIndices().back(), divisors.of(op));
    const Desc &desc = r.desc;
    int64_t width = r.width;
    Value vectorizable = r.vectorizable;
    Value pad = paddingValue(rewriter, loc, elem, op.getDesc().getType().getPadding());
    // The whole tile inside the tensor, and (width > 1) its runs contiguous
    // and aligned: the same in every thread, so one branch for the tile
    // rather than one per run, and the runs' pointers differ by constants
    // (the last stride is 1 there), leaving one pointer live per thread.
    auto wholeTile = [&]() -> SmallVector<Value> {
      Desc unitLast = desc;
      if (vectorizable)
        unitLast.strides.back() = constI32(rewriter, loc, 1);
      SmallVector<Value> values(tile::getElemsPerThread(type));
      for (const Access &access :
           emitAccesses(rewriter, loc, unitLast, adaptor.getIndices(), type, width))
        for (auto [i, v] : llvm::enumerate(emitRunLoad(rewriter, loc, access, mem, elem, width)))
          values[access.firstElement + i] = v;
      return values;
    };
    auto runByRun = [&]() -> SmallVector<Value> {
      return emitRunByRunLoad(rewriter, loc,
                              emitAccesses(rewriter, loc, desc, adaptor.getIndices(), type, width),
                              type, r, pad);
    };
    Value inside = emitTileInside(rewriter, loc, desc, adaptor.getIndices(), type.getShape());
    Value whole =
        vectorizable ? arith::AndIOp::create(rewriter, loc, vectorizable, inside) : inside;
    SmallVector<Type> types(tile::getElemsPerThread(type), elem);
    SmallVector<Value> values = emitFastOrSlow(rewriter, loc, whole, types, wholeTile, runByRun);
    auto vecType = cast<VectorType>(getTypeConverter()->convertType(type));
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, values));
    return success();
  }
};

/// Each thread reads the rows its elements lie in, by index, run by run as
/// LoadOpToGPU's partial tiles: a row index outside the tensor reads padding.
struct GatherOpToGPU : IndexedAccessPattern<tile::GatherOp> {
  using IndexedAccessPattern::IndexedAccessPattern;
  LogicalResult matchAndRewrite(tile::GatherOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getType(), rowsType = op.getRows().getType();
    auto slice = dyn_cast<tile::SliceLayoutAttr>(rowsType.getEncoding());
    if (!slice || slice.getDim() != 1 || slice.getParent() != type.getEncoding())
      return rewriter.notifyMatchFailure(op, "expects row indices sliced from the result's layout");
    RunAccess r = prepareRunAccess(rewriter, loc, adaptor.getDesc(), op.getDesc(), type,
                                   adaptor.getCol(), divisors.of(op));
    const Desc &desc = r.desc;
    Value pad =
        paddingValue(rewriter, loc, type.getElementType(), op.getDesc().getType().getPadding());
    ThreadElements elems(type), rowElems(rowsType);
    auto rowOf = [&](int64_t e) -> Value {
      int64_t row = rowElems.flatten({elems.multiIndex(e)[0]});
      return vector::ExtractOp::create(rewriter, loc, adaptor.getRows(), row);
    };
    Value zero = constI32(rewriter, loc, 0);
    SmallVector<Access> accesses = emitAccesses(rewriter, loc, desc, {zero, adaptor.getCol()}, type,
                                                r.width, /*opaque=*/false, rowOf);
    SmallVector<Value> values = emitRunByRunLoad(rewriter, loc, accesses, type, r, pad);
    auto vecType = cast<VectorType>(getTypeConverter()->convertType(type));
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, values));
    return success();
  }
};

void emitShiftedChunkStore(OpBuilder &b, Location loc, const Desc &desc, ValueRange indices,
                           const SharedTile &tile, int64_t rows, int64_t cols, int64_t threads,
                           unsigned bits);

/// True (the same in every thread) where the shifted chunk copy and store
/// may run: the tensor's rows have unit stride and the block is not left of
/// or above it.
Value emitShiftable(OpBuilder &b, Location loc, const Desc &desc, ValueRange indices) {
  Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, desc.strides.back(),
                                   constI32(b, loc, 1));
  for (Value index : indices)
    ok = arith::AndIOp::create(
        b, loc, ok,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, index, constI32(b, loc, 0)));
  return ok;
}

/// Writes like LoadOpToGPU reads; elements outside the tensor are dropped.
struct StoreOpToGPU : IndexedAccessPattern<tile::StoreOp> {
  using IndexedAccessPattern::IndexedAccessPattern;
  LogicalResult matchAndRewrite(tile::StoreOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getValue().getType();
    RunAccess r = prepareRunAccess(rewriter, loc, adaptor.getDesc(), op.getDesc(), type,
                                   adaptor.getIndices().back(), divisors.of(op));
    const Desc &desc = r.desc;
    SmallVector<Value> values = unpack(rewriter, loc, adaptor.getValue());
    SmallVector<Value> mask;
    if (adaptor.getMask())
      mask = unpack(rewriter, loc, adaptor.getMask());
    bool inLoop = bool(op->getParentOfType<scf::ForOp>());
    // Staged (tile-allocate-shared-memory's shifted stores): where the rows
    // have unit stride but take no vectors, the block goes through the
    // scratch space (its last readers done: a barrier) and out of it in the
    // 16-byte vectors of global memory its rows cover; else as unstaged.
    if (op.getStaged()) {
      int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
      Value shifted = emitShiftable(rewriter, loc, desc, adaptor.getIndices());
      if (r.vectorizable)
        shifted = arith::AndIOp::create(
            rewriter, loc, shifted,
            arith::XOrIOp::create(rewriter, loc, r.vectorizable,
                                  arith::ConstantIntOp::create(rewriter, loc, 1, 1)));
      auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{}, shifted, /*withElse=*/true);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      int64_t threads =
          tile::getNumWarps(op->getParentOfType<FunctionOpInterface>()) * tile::kWarpSize;
      gpu::BarrierOp::create(rewriter, loc);
      SharedTile scratch(rewriter, loc, rows, SharedTile::units(type), int64_t(0));
      scratch.store(rewriter, loc, adaptor.getValue(), type, /*exact=*/true);
      gpu::BarrierOp::create(rewriter, loc);
      emitShiftedChunkStore(rewriter, loc, desc, adaptor.getIndices(), scratch, rows, cols, threads,
                            type.getElementType().getIntOrFloatBitWidth());
      rewriter.setInsertionPoint(ifOp.elseBlock()->getTerminator());
      emitRunStores(rewriter, loc, op, adaptor, r, values, mask, inLoop);
      rewriter.eraseOp(op);
      return success();
    }
    emitRunStores(rewriter, loc, op, adaptor, r, values, mask, inLoop);
    rewriter.eraseOp(op);
    return success();
  }

  /// The thread's runs: a vector store where the tensor allows and the run
  /// is inside it, else element by element (each inside and unmasked).
  void emitRunStores(OpBuilder &rewriter, Location loc, tile::StoreOp op, OpAdaptor adaptor,
                     const RunAccess &r, ArrayRef<Value> values, ArrayRef<Value> mask,
                     bool inLoop) const {
    RankedTensorType type = op.getValue().getType();
    Type mem = memoryType(type.getElementType());
    const Desc &desc = r.desc;
    int64_t width = r.width;
    // Threads holding copies of an element store the same value: harmless.
    // The addresses of an aligned tensor's stores come from a thread id read
    // here: with no element path, LLVM otherwise computes the column
    // offsets of an epilogue's stores before the loop that precedes them
    // (they equal those of other tiles) and keeps them live across it
    // (attention's forward spilled 4 bytes at 255 registers).
    for (const Access &access : emitAccesses(rewriter, loc, desc, adaptor.getIndices(), type, width,
                                             /*opaque=*/isAligned(op.getDesc()))) {
      auto fast = [&]() -> SmallVector<Value> {
        auto vecType = VectorType::get({width}, mem);
        SmallVector<Value> run;
        for (int64_t i = 0; i < width; ++i)
          run.push_back(toMemory(rewriter, loc, values[access.firstElement + i]));
        Value v = pack(rewriter, loc, vecType, run);
        unsigned align = width * mem.getIntOrFloatBitWidth() / 8;
        LLVM::StoreOp::create(rewriter, loc, v, access.pointer, align);
        return {};
      };
      auto slow = [&]() -> SmallVector<Value> {
        // In a loop, the run's elements again from a thread id read here:
        // what the element stores compute from it cannot be hoisted out of
        // the loop (a row loop's stores kept every element's predicate and
        // offset live across it; the arithmetic of the other runs is dead
        // code). Outside loops the shared accesses serve.
        SmallVector<Access> again;
        if (inLoop)
          again = emitAccesses(rewriter, loc, desc, adaptor.getIndices(), type, width,
                               /*opaque=*/true);
        const Access &here = inLoop ? *llvm::find_if(again,
                                                     [&](const Access &a) {
                                                       return a.firstElement == access.firstElement;
                                                     })
                                    : access;
        for (int64_t i = 0; i < width; ++i) {
          Value write = here.inBounds(rewriter, loc, i);
          if (!mask.empty())
            write = arith::AndIOp::create(rewriter, loc, write, mask[access.firstElement + i]);
          auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{}, write, /*withElse=*/false);
          OpBuilder::InsertionGuard guard(rewriter);
          rewriter.setInsertionPointToStart(&ifOp.getThenRegion().front());
          LLVM::StoreOp::create(rewriter, loc,
                                toMemory(rewriter, loc, values[access.firstElement + i]),
                                here.elementPointer(rewriter, loc, mem, i));
        }
        return {};
      };
      // A masked run goes as one vector only when its whole mask is set.
      Value cond = runInBounds(rewriter, loc, r, access);
      for (int64_t i = 0; cond && i < int64_t(mask.size() ? width : 0); ++i)
        cond = arith::AndIOp::create(rewriter, loc, cond, mask[access.firstElement + i]);
      // A whole run outside the tensor writes nothing.
      bool wholeOrNothing = r.wholeRuns && mask.empty();
      emitFastOrSlow(rewriter, loc, cond, TypeRange{}, fast,
                     wholeOrNothing ? function_ref<SmallVector<Value>()>() : slow);
    }
  }
};

/// Emits `@p red.global.add.f32 [ptr + byteOffset], value` for `add` (i1).
void emitRedAdd(OpBuilder &b, Location loc, Value ptr, int64_t byteOffset, Value value, Value add) {
  Value flag = arith::ExtUIOp::create(b, loc, b.getI32Type(), add);
  std::string at = byteOffset ? "[$0+" + std::to_string(byteOffset) + "]" : "[$0]";
  emitAsmStatement(
      b, loc, "{\n.reg .pred p;\nsetp.ne.b32 p, $2, 0;\n@p red.global.add.f32 " + at + ", $1;\n}",
      {ptr, value, flag}, "l,f,r");
}

/// Adds the consecutive pair (x, y) at [ptr + byteOffset]: one
/// `red.global.add.v2.f32` (sm_90) where `pair` holds (both elements added,
/// the address 8-byte aligned), else `red.global.add.f32` for each of x and
/// y whose flag holds.
void emitRedAddPair(OpBuilder &b, Location loc, Value ptr, int64_t byteOffset, Value x, Value y,
                    Value addX, Value addY, Value pair) {
  Value notPair = arith::XOrIOp::create(
      b, loc, pair, arith::ConstantOp::create(b, loc, b.getIntegerAttr(b.getI1Type(), 1)));
  auto flag = [&](Value add) {
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), add).getResult();
  };
  Value onlyX = flag(arith::AndIOp::create(b, loc, addX, notPair));
  Value onlyY = flag(arith::AndIOp::create(b, loc, addY, notPair));
  std::string at = "[$0+" + std::to_string(byteOffset) + "]";
  std::string atY = "[$0+" + std::to_string(byteOffset + 4) + "]";
  emitAsmStatement(b, loc,
                   "{\n.reg .pred pv, px, py;\nsetp.ne.b32 pv, $3, 0;\nsetp.ne.b32 px, $4, "
                   "0;\nsetp.ne.b32 py, $5, 0;\n@pv red.global.add.v2.f32 " +
                       at + ", {$1, $2};\n@px red.global.add.f32 " + at +
                       ", $1;\n@py red.global.add.f32 " + atY + ", $2;\n}",
                   {ptr, x, y, flag(pair), onlyX, onlyY}, "l,f,f,r,r,r");
}

/// One `red.global.add.f32` per element, predicated on the element lying
/// inside the tensor and on this thread being the one that adds it (threads
/// holding copies of an element must not add it twice). Where the last
/// dimension has unit stride (checked at run time), each run of a thread's
/// elements along it shares one pointer and the instructions carry the
/// constant offsets: one address per run, not one per element. On sm_90
/// (`vectorAdds`), a thread's pairs of consecutive elements at an even
/// column go out as one `red.global.add.v2.f32` where both are added and the
/// pair is 8-byte aligned (the tensor's base, its outer strides and the
/// column, checked at run time): half the reductions the L2 takes from the
/// wgmma accumulators' column pairs.
struct AtomicAddOpToGPU : OpConversionPattern<tile::AtomicAddOp> {
  AtomicAddOpToGPU(const TypeConverter &converter, MLIRContext *context, bool vectorAdds)
      : OpConversionPattern(converter, context), vectorAdds(vectorAdds) {}
  bool vectorAdds;

  LogicalResult matchAndRewrite(tile::AtomicAddOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getValue().getType();
    unsigned rank = type.getRank();
    Desc desc = unpackDesc(rewriter, loc, adaptor.getDesc(), rank);
    SmallVector<Value> values = unpack(rewriter, loc, adaptor.getValue());
    ThreadElements elems(type);
    SmallVector<Value> bases = elems.emitBases(rewriter, loc);
    ValueRange indices = adaptor.getIndices();
    Type f32 = rewriter.getF32Type();
    auto owned = [&](Value add, int64_t element) -> Value {
      if (Value owner = elems.emitIsOwner(rewriter, loc, bases, element))
        return arith::AndIOp::create(rewriter, loc, add, owner);
      return add;
    };
    // sm_90's pairs: an 8-byte aligned base, even outer strides and an even
    // first column keep every even column's pair 8-byte aligned.
    Value colStart = arith::AddIOp::create(rewriter, loc, indices[rank - 1], bases[rank - 1]);
    Value pairsAligned;
    if (vectorAdds) {
      Type i64 = rewriter.getI64Type();
      auto isEven = [&](Value v, Type type, int64_t alignment) -> Value {
        auto mask = arith::ConstantOp::create(rewriter, loc, type,
                                              rewriter.getIntegerAttr(type, alignment - 1));
        auto low = arith::AndIOp::create(rewriter, loc, v, mask);
        auto zero =
            arith::ConstantOp::create(rewriter, loc, type, rewriter.getIntegerAttr(type, 0));
        return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, low, zero);
      };
      Value address = LLVM::PtrToIntOp::create(rewriter, loc, i64, desc.base);
      pairsAligned = arith::AndIOp::create(rewriter, loc, isEven(address, i64, 8),
                                           isEven(colStart, rewriter.getI32Type(), 2));
      for (unsigned d = 0; d + 1 < rank; ++d)
        pairsAligned = arith::AndIOp::create(rewriter, loc, pairsAligned,
                                             isEven(desc.strides[d], rewriter.getI32Type(), 2));
    }
    auto fast = [&]() -> SmallVector<Value> {
      int64_t perRun = elems.countsPerDim().back();
      for (int64_t first = 0; first < elems.size(); first += perRun) {
        SmallVector<int64_t> mi = elems.multiIndex(first);
        Value offset = colStart, rowOk;
        for (unsigned d = 0; d + 1 < rank; ++d) {
          Value pos = arith::AddIOp::create(
              rewriter, loc, arith::AddIOp::create(rewriter, loc, indices[d], bases[d]),
              constI32(rewriter, loc, elems.offset(d, mi[d])));
          offset = arith::AddIOp::create(
              rewriter, loc, offset, arith::MulIOp::create(rewriter, loc, pos, desc.strides[d]));
          Value ok =
              arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, pos, desc.sizes[d]);
          rowOk = rowOk ? arith::AndIOp::create(rewriter, loc, rowOk, ok) : ok;
        }
        Value ptr = LLVM::GEPOp::create(rewriter, loc, desc.base.getType(), f32, desc.base,
                                        ValueRange{offset});
        auto adds = [&](int64_t j) {
          Value col = arith::AddIOp::create(rewriter, loc, colStart,
                                            constI32(rewriter, loc, elems.offset(rank - 1, j)));
          Value add = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, col,
                                            desc.sizes.back());
          if (rowOk)
            add = arith::AndIOp::create(rewriter, loc, rowOk, add);
          return owned(add, first + j);
        };
        for (int64_t j = 0; j < perRun; ++j) {
          int64_t c = elems.offset(rank - 1, j);
          if (pairsAligned && j + 1 < perRun && c % 2 == 0 &&
              elems.offset(rank - 1, j + 1) == c + 1) {
            Value addX = adds(j), addY = adds(j + 1);
            Value pair = arith::AndIOp::create(rewriter, loc, pairsAligned,
                                               arith::AndIOp::create(rewriter, loc, addX, addY));
            emitRedAddPair(rewriter, loc, ptr, 4 * c, values[first + j], values[first + j + 1],
                           addX, addY, pair);
            ++j;
            continue;
          }
          emitRedAdd(rewriter, loc, ptr, 4 * c, values[first + j], adds(j));
        }
      }
      return {};
    };
    auto slow = [&]() -> SmallVector<Value> {
      for (const Access &access : emitAccesses(rewriter, loc, desc, indices, type, 1))
        emitRedAdd(rewriter, loc, access.pointer, 0, values[access.firstElement],
                   owned(access.inBounds(rewriter, loc, 0), access.firstElement));
      return {};
    };
    Value unitStride = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                             desc.strides.back(), constI32(rewriter, loc, 1));
    emitFastOrSlow(rewriter, loc, unitStride, TypeRange{}, fast, slow);
    rewriter.eraseOp(op);
    return success();
  }
};

/// Whether the tile `copy` brings is rounded to tf32 in place once waited
/// for (mustRoundCopiedToTf32 of a view of its buffer).
bool isRoundedInPlace(tile::AsyncCopyOp copy) {
  return llvm::any_of(copy.getBuffer().getUsers(), [](Operation *user) {
    auto view = dyn_cast<tile::SharedViewOp>(user);
    return view && mustRoundCopiedToTf32(view.getResult());
  });
}

/// Copies the 2-D tile of `copy` into `tile` element by element (zeros
/// outside the tensor): thread t takes elements t, t + threads, ... in
/// row-major order, from a thread id LLVM must leave in the loop (addresses
/// hoisted out of it would stay live). Each iteration issues up to
/// kElementCopyUnroll loads before it stores any: one load per iteration
/// waited for each load's round trip to memory before the next (the
/// forward's 128 x 128 Q tile, 64 per thread, cost as much as 20 of its key
/// blocks). Where the tile is rounded to tf32 after the wait, each thread
/// rounds the elements the load's layout gives it, which other threads
/// stored here: a barrier orders those stores first.
void emitElementwiseCopy(OpBuilder &b, Location loc, tile::AsyncCopyOp copy, const Desc &desc,
                         ValueRange indices, const SharedTile &tile, bool roundedInPlace) {
  RankedTensorType type = copy.getTileType();
  Type elem = type.getElementType();
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  int64_t threads =
      tile::getNumWarps(copy->getParentOfType<FunctionOpInterface>()) * tile::kWarpSize;
  // Elements per thread in flight: a power of two that divides each
  // thread's share, so that no iteration runs past the tile.
  int64_t total = rows * cols, unroll = 1;
  int64_t maxUnroll =
      copy->getParentOfType<LoopLikeOpInterface>() ? kElementCopyUnrollInLoop : kElementCopyUnroll;
  if (total % threads == 0)
    while (unroll < maxUnroll && (total / threads) % (2 * unroll) == 0)
      unroll *= 2;
  Value tid = asmOp(b, loc, b.getI32Type(), {}, "mov.u32 $0, %tid.x;", "=r", /*sideEffects=*/true);
  auto loop =
      scf::ForOp::create(b, loc, tid, constI32(b, loc, total), constI32(b, loc, threads * unroll));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    SmallVector<std::pair<Value, Value>> at;
    SmallVector<Value> values;
    for (int64_t u = 0; u < unroll; ++u) {
      Value i =
          arith::AddIOp::create(b, loc, loop.getInductionVar(), constI32(b, loc, u * threads));
      Value row = arith::DivUIOp::create(b, loc, i, constI32(b, loc, cols));
      Value col = arith::RemUIOp::create(b, loc, i, constI32(b, loc, cols));
      Value r = arith::AddIOp::create(b, loc, indices[0], row);
      Value c = arith::AddIOp::create(b, loc, indices[1], col);
      // Unsigned compares: negative positions are outside too.
      Value inside = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, r, desc.sizes[0]),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c, desc.sizes[1]));
      Value offset =
          arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, desc.strides[0]),
                                arith::MulIOp::create(b, loc, c, desc.strides[1]));
      auto value = scf::IfOp::create(b, loc, TypeRange{elem}, inside, /*withElse=*/true);
      {
        OpBuilder::InsertionGuard inner(b);
        b.setInsertionPointToStart(&value.getThenRegion().front());
        Value ptr =
            LLVM::GEPOp::create(b, loc, desc.base.getType(), elem, desc.base, ValueRange{offset});
        scf::YieldOp::create(b, loc, Value(LLVM::LoadOp::create(b, loc, elem, ptr)));
        b.setInsertionPointToStart(&value.getElseRegion().front());
        scf::YieldOp::create(b, loc, paddingValue(b, loc, elem, tile::Padding::zero));
      }
      at.push_back({row, col});
      values.push_back(value.getResult(0));
    }
    for (auto [position, value] : llvm::zip(at, values))
      tile.storeElement(b, loc, position.first, position.second, value);
  }
  if (roundedInPlace)
    gpu::BarrierOp::create(b, loc);
}

/// The 16 bytes at byte `shift` (i32, even, below 16) of the 32 that
/// `words` (eight i32, little-endian) hold, as four i32: selects by 8 and 4
/// bytes, then a funnel shift of each word with the next by 0 or 16 bits.
SmallVector<Value> shiftedVector(OpBuilder &b, Location loc, ArrayRef<Value> words, Value shift) {
  auto c32 = [&](int64_t v) { return constI32(b, loc, v); };
  auto shiftWords = [&](ArrayRef<Value> in, int64_t byBytes) {
    Value on = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                     arith::AndIOp::create(b, loc, shift, c32(byBytes)), c32(0));
    SmallVector<Value> out;
    for (size_t j = 0; j + byBytes / 4 < in.size(); ++j)
      out.push_back(arith::SelectOp::create(b, loc, on, in[j + byBytes / 4], in[j]));
    return out;
  };
  SmallVector<Value> shifted = shiftWords(shiftWords(words, 8), 4);
  Value bits = arith::ShLIOp::create(b, loc, arith::AndIOp::create(b, loc, shift, c32(2)), c32(3));
  SmallVector<Value> out;
  for (int64_t i = 0; i < 4; ++i)
    out.push_back(LLVM::FshrOp::create(b, loc, b.getI32Type(), shifted[i + 1], shifted[i], bits));
  return out;
}

/// Copies the 2-D tile of `copy` (16-bit elements whose rows have unit
/// stride, at any even address: rows of 59 elements, a view at an odd
/// offset) into `tile` in 16-byte chunks of eight elements. A chunk's
/// elements lie in the one or two aligned 16-byte vectors around them: two
/// vector loads and a shift by the chunk's address modulo 16 (selects of 8
/// and 4 bytes, a funnel shift of 2) give the chunk, one 16-byte store puts
/// it in place, where the element copy issues eight 2-byte loads and eight
/// 2-byte stores. Elements past the tensor's rows and columns read as
/// zeros. A chunk whose vectors would reach past the tensor's last byte (in
/// its last row) is read element by element, so no byte after the tensor is
/// read; bytes before its first lie in the aligned vector of its first
/// element, inside its allocation. Thread t takes chunks t, t + threads,
/// ... in row-major order, up to kChunkCopyUnroll at a time, all loads
/// before any store.
void emitShiftedChunkCopy(OpBuilder &b, Location loc, tile::AsyncCopyOp copy, const Desc &desc,
                          ValueRange indices, const SharedTile &tile) {
  RankedTensorType type = copy.getTileType();
  Type elem = type.getElementType(), i32 = b.getI32Type(), i64 = b.getI64Type();
  Type i16 = b.getI16Type();
  auto vec4 = VectorType::get({4}, i32);
  int64_t rows = type.getDimSize(0), chunksPerRow = type.getDimSize(1) / 8;
  int64_t threads =
      tile::getNumWarps(copy->getParentOfType<FunctionOpInterface>()) * tile::kWarpSize;
  int64_t total = rows * chunksPerRow, unroll = 1;
  if (total % threads == 0)
    while (unroll < kChunkCopyUnroll && (total / threads) % (2 * unroll) == 0)
      unroll *= 2;
  auto c32 = [&](int64_t v) { return constI32(b, loc, v); };
  auto c64 = [&](int64_t v) { return arith::ConstantIntOp::create(b, loc, i64, v).getResult(); };
  auto gep = [&](Value base, Value offset) {
    return LLVM::GEPOp::create(b, loc, base.getType(), elem, base, ValueRange{offset}).getResult();
  };
  // The byte after the tensor's last element (rows of unit stride).
  Value lastOffset = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, arith::SubIOp::create(b, loc, desc.sizes[0], c32(1)),
                            desc.strides[0]),
      desc.sizes[1]);
  Value spanEnd = LLVM::PtrToIntOp::create(b, loc, i64, gep(desc.base, lastOffset));
  Value tid = asmOp(b, loc, i32, {}, "mov.u32 $0, %tid.x;", "=r", /*sideEffects=*/true);
  auto loop = scf::ForOp::create(b, loc, tid, c32(total), c32(threads * unroll));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  struct Chunk {
    Value row, chunk, count, shift;
    SmallVector<Value> words;
  };
  SmallVector<Chunk> chunks;
  for (int64_t u = 0; u < unroll; ++u) {
    Chunk ch;
    Value k = arith::AddIOp::create(b, loc, loop.getInductionVar(), c32(u * threads));
    ch.row = arith::DivUIOp::create(b, loc, k, c32(chunksPerRow));
    ch.chunk = arith::RemUIOp::create(b, loc, k, c32(chunksPerRow));
    Value r = arith::AddIOp::create(b, loc, indices[0], ch.row);
    Value c =
        arith::AddIOp::create(b, loc, indices[1], arith::ShLIOp::create(b, loc, ch.chunk, c32(3)));
    // Elements of the chunk inside the tensor: 0 to 8.
    Value left = arith::SubIOp::create(b, loc, desc.sizes[1], c);
    Value count =
        arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, left, c32(0)), c32(8));
    Value rowInside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, r, desc.sizes[0]);
    ch.count = arith::SelectOp::create(b, loc, rowInside, count, c32(0));
    Value first =
        gep(desc.base,
            arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, desc.strides[0]), c));
    Value address = LLVM::PtrToIntOp::create(b, loc, i64, first);
    Value shift =
        arith::TruncIOp::create(b, loc, i32, arith::AndIOp::create(b, loc, address, c64(15)));
    Value low = arith::AndIOp::create(b, loc, address, c64(~int64_t(15)));
    // The second vector where the chunk's bytes run into it; else the first
    // again (no branch; its words are shifted out or masked).
    Value bytesEnd =
        arith::AddIOp::create(b, loc, shift, arith::ShLIOp::create(b, loc, ch.count, c32(1)));
    Value two = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, bytesEnd, c32(16));
    Value high =
        arith::SelectOp::create(b, loc, two, arith::AddIOp::create(b, loc, low, c64(16)), low);
    Value inSpan = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                         arith::AddIOp::create(b, loc, high, c64(16)), spanEnd);
    Value vectors = arith::AndIOp::create(
        b, loc, inSpan, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, ch.count, c32(0)));
    SmallVector<Type> wordTypes(8, i32);
    wordTypes.push_back(i32);
    auto ifOp = scf::IfOp::create(b, loc, wordTypes, vectors, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      SmallVector<Value> yielded;
      auto ptrType = desc.base.getType();
      for (Value at : {low, high}) {
        Value v = LLVM::LoadOp::create(b, loc, vec4, LLVM::IntToPtrOp::create(b, loc, ptrType, at),
                                       /*alignment=*/16);
        for (int64_t i = 0; i < 4; ++i)
          yielded.push_back(LLVM::ExtractElementOp::create(b, loc, v, c32(i)));
      }
      yielded.push_back(shift);
      scf::YieldOp::create(b, loc, yielded);
      // The chunk's last row or none: element by element, packed in pairs.
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      SmallVector<Value> halves;
      for (int64_t e = 0; e < 8; ++e) {
        Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, c32(e), ch.count);
        auto value = scf::IfOp::create(b, loc, TypeRange{i16}, inside, /*withElse=*/true);
        OpBuilder::InsertionGuard element(b);
        b.setInsertionPointToStart(&value.getThenRegion().front());
        Value bits = LLVM::LoadOp::create(b, loc, i16, e ? gep(first, c32(e)) : first);
        scf::YieldOp::create(b, loc, bits);
        b.setInsertionPointToStart(&value.getElseRegion().front());
        scf::YieldOp::create(b, loc, Value(arith::ConstantIntOp::create(b, loc, i16, 0)));
        b.setInsertionPointAfter(value);
        halves.push_back(arith::ExtUIOp::create(b, loc, i32, value.getResult(0)));
      }
      SmallVector<Value> packed;
      for (int64_t i = 0; i < 4; ++i)
        packed.push_back(arith::OrIOp::create(
            b, loc, halves[2 * i], arith::ShLIOp::create(b, loc, halves[2 * i + 1], c32(16))));
      for (int64_t i = 0; i < 4; ++i)
        packed.push_back(c32(0));
      packed.push_back(c32(0));
      scf::YieldOp::create(b, loc, packed);
    }
    ch.words.assign(ifOp.getResults().begin(), ifOp.getResults().begin() + 8);
    ch.shift = ifOp.getResult(8);
    chunks.push_back(std::move(ch));
  }
  for (Chunk &ch : chunks) {
    SmallVector<Value> words = shiftedVector(b, loc, ch.words, ch.shift);
    SmallVector<Value> out;
    for (int64_t i = 0; i < 4; ++i) {
      Value word = words[i];
      // Elements 2i and 2i + 1 (low and high halves) past the count: zeros.
      Value past = arith::SubIOp::create(b, loc, ch.count, c32(2 * i));
      Value mask = arith::SelectOp::create(
          b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, past, c32(2)), c32(-1),
          arith::SelectOp::create(
              b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, past, c32(1)),
              c32(0xffff), c32(0)));
      out.push_back(arith::AndIOp::create(b, loc, word, mask));
    }
    Value at =
        tile.address(b, loc, ch.row, arith::ShLIOp::create(b, loc, ch.chunk, c32(3)), c32(0));
    emitAsmStatement(b, loc, "st.shared.v4.b32 [$0], {$1, $2, $3, $4};",
                     {at, out[0], out[1], out[2], out[3]}, "r,r,r,r,r");
  }
}

/// Writes the block of `desc` at `indices` from `tile` (a staging tile of
/// `rows` x `cols` elements of `bits` 16 or 32), where the tensor's rows
/// have unit stride at any address of a whole element (the indices not
/// negative): each row's bytes in the aligned 16-byte vectors of global
/// memory they cover, one more than the row's 16-byte chunks. With n
/// elements to a vector (8 or 4), vector k of a row whose first element
/// lies m elements into its vector holds the row's elements nk - m to
/// nk - m + n - 1: the tile's chunks k - 1 and k (k and k + 1 when m is 0),
/// shifted by n - m elements. A vector wholly inside the row's elements in
/// the tensor goes out as one 16-byte store; the first and last (or one
/// outside the tensor's rows) element by element. Thread t takes vectors t,
/// t + threads, ... of the block in row-major order: a warp writes
/// consecutive vectors of a row.
void emitShiftedChunkStore(OpBuilder &b, Location loc, const Desc &desc, ValueRange indices,
                           const SharedTile &tile, int64_t rows, int64_t cols, int64_t threads,
                           unsigned bits) {
  Type i32 = b.getI32Type(), i64 = b.getI64Type(), elem = b.getIntegerType(bits);
  auto c32 = [&](int64_t v) { return constI32(b, loc, v); };
  auto c64 = [&](int64_t v) { return arith::ConstantIntOp::create(b, loc, i64, v).getResult(); };
  auto ptrType = desc.base.getType();
  int64_t bytes = bits / 8, perVector = 16 / bytes;
  int64_t chunks = cols / perVector, perRow = chunks + 1;
  Value tid = asmOp(b, loc, i32, {}, "mov.u32 $0, %tid.x;", "=r", /*sideEffects=*/true);
  auto loop = scf::ForOp::create(b, loc, tid, c32(rows * perRow), c32(threads));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  Value k = loop.getInductionVar();
  Value row = arith::DivUIOp::create(b, loc, k, c32(perRow));
  Value vector = arith::RemUIOp::create(b, loc, k, c32(perRow));
  // The row's elements inside the tensor: 0 to cols.
  Value r = arith::AddIOp::create(b, loc, indices[0], row);
  Value left = arith::SubIOp::create(b, loc, desc.sizes[1], indices[1]);
  Value count =
      arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, left, c32(0)), c32(cols));
  Value rowInside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, r, desc.sizes[0]);
  count = arith::SelectOp::create(b, loc, rowInside, count, c32(0));
  Value first = LLVM::GEPOp::create(
      b, loc, ptrType, elem, desc.base,
      ValueRange{arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, desc.strides[0]),
                                       indices[1])});
  Value address = LLVM::PtrToIntOp::create(b, loc, i64, first);
  // m: the row's first element's place in its vector, in elements.
  Value m = arith::ShRUIOp::create(
      b, loc, arith::TruncIOp::create(b, loc, i32, arith::AndIOp::create(b, loc, address, c64(15))),
      c32(llvm::Log2_64(bytes)));
  Value at = arith::AddIOp::create(
      b, loc, arith::AndIOp::create(b, loc, address, c64(~int64_t(15))),
      arith::ExtUIOp::create(b, loc, i64, arith::ShLIOp::create(b, loc, vector, c32(4))));
  // The vector's first element in the row (negative: before it).
  Value e0 =
      arith::SubIOp::create(b, loc, arith::MulIOp::create(b, loc, vector, c32(perVector)), m);
  Value misaligned = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, m, c32(0));
  Value low =
      arith::SubIOp::create(b, loc, vector, arith::ExtUIOp::create(b, loc, i32, misaligned));
  Value shift = arith::SelectOp::create(
      b, loc, misaligned,
      arith::MulIOp::create(b, loc, arith::SubIOp::create(b, loc, c32(perVector), m), c32(bytes)),
      c32(0));
  // The two chunks of the tile (clamped inside it: what lies outside is
  // never stored).
  auto clampChunk = [&](Value c) {
    return arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, c, c32(0)),
                                  c32(chunks - 1));
  };
  SmallVector<Value> words;
  auto structType = LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32, i32, i32});
  for (Value c : {low, arith::AddIOp::create(b, loc, low, c32(1)).getResult()}) {
    Value chunkAt =
        tile.address(b, loc, row, arith::ShLIOp::create(b, loc, clampChunk(c), c32(3)), c32(0));
    Value v = asmOp(b, loc, structType, ValueRange{chunkAt},
                    "ld.shared.v4.b32 {$0, $1, $2, $3}, [$4];", "=r,=r,=r,=r,r",
                    /*sideEffects=*/true);
    for (int64_t i = 0; i < 4; ++i)
      words.push_back(LLVM::ExtractValueOp::create(b, loc, v, i));
  }
  SmallVector<Value> out = shiftedVector(b, loc, words, shift);
  Value end = arith::AddIOp::create(b, loc, e0, c32(perVector));
  Value whole = arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, e0, c32(0)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, end, count));
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, whole, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    auto vec4 = VectorType::get({4}, i32);
    Value v = LLVM::PoisonOp::create(b, loc, vec4);
    for (int64_t i = 0; i < 4; ++i)
      v = LLVM::InsertElementOp::create(b, loc, v, out[i], c32(i));
    LLVM::StoreOp::create(b, loc, v, LLVM::IntToPtrOp::create(b, loc, ptrType, at),
                          /*alignment=*/16);
    // The row's first and last vectors: each element of the row that the
    // vector holds (16-bit ones the halves of its words, low first).
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    for (int64_t i = 0; i < perVector; ++i) {
      Value e = arith::AddIOp::create(b, loc, e0, c32(i));
      Value inside = arith::AndIOp::create(
          b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, e, c32(0)),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, e, count));
      auto element = scf::IfOp::create(b, loc, TypeRange{}, inside, /*withElse=*/false);
      OpBuilder::InsertionGuard store(b);
      b.setInsertionPoint(element.thenBlock()->getTerminator());
      Value value = out[i];
      if (bits == 16)
        value = arith::TruncIOp::create(
            b, loc, elem,
            i % 2 ? arith::ShRUIOp::create(b, loc, out[i / 2], c32(16)).getResult() : out[i / 2]);
      Value ptr = LLVM::IntToPtrOp::create(
          b, loc, ptrType, arith::AddIOp::create(b, loc, at, c64(bytes * i)).getResult());
      LLVM::StoreOp::create(b, loc, value, ptr, /*alignment=*/bytes);
    }
  }
}

/// Writes the block of `desc` at `indices` from `tile` element by element:
/// any strides. Thread t takes elements t, t + threads, ... in row-major
/// order; those outside the tensor are left alone.
void emitElementStoreFromStaging(OpBuilder &b, Location loc, const Desc &desc, ValueRange indices,
                                 const SharedTile &tile, int64_t rows, int64_t cols,
                                 int64_t threads) {
  Type i16 = b.getI16Type(), i32 = b.getI32Type();
  auto c32 = [&](int64_t v) { return constI32(b, loc, v); };
  Value tid = asmOp(b, loc, i32, {}, "mov.u32 $0, %tid.x;", "=r", /*sideEffects=*/true);
  auto loop = scf::ForOp::create(b, loc, tid, c32(rows * cols), c32(threads));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  Value e = loop.getInductionVar();
  Value row = arith::DivUIOp::create(b, loc, e, c32(cols));
  Value col = arith::RemUIOp::create(b, loc, e, c32(cols));
  Value r = arith::AddIOp::create(b, loc, indices[0], row);
  Value c = arith::AddIOp::create(b, loc, indices[1], col);
  // Unsigned compares: negative positions are outside too.
  Value inside = arith::AndIOp::create(
      b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, r, desc.sizes[0]),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c, desc.sizes[1]));
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, inside, /*withElse=*/false);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  Value value = asmOp(b, loc, i16, ValueRange{tile.elementAddress(b, loc, row, col, 16)},
                      "ld.shared.b16 $0, [$1];", "=h,r", /*sideEffects=*/true);
  Value offset = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, r, desc.strides[0]),
                                       arith::MulIOp::create(b, loc, c, desc.strides[1]));
  LLVM::StoreOp::create(
      b, loc, value,
      LLVM::GEPOp::create(b, loc, desc.base.getType(), i16, desc.base, ValueRange{offset}));
}

} // namespace

void tessera::tilegpu::emitAsyncCopy(OpBuilder &b, Location loc, tile::AsyncCopyOp copy,
                                     Value descValue, ValueRange indices, Value slot,
                                     bool warpgroupMma, int64_t indexDivisor, bool typed) {
  RankedTensorType type = copy.getTileType();
  Type elem = type.getElementType();
  SharedTile tile(b, loc, type.getDimSize(0), SharedTile::units(type),
                  emitBufferOffset(b, loc, copy.getBuffer(), slot));
  // Elements per 16-byte chunk: 8 of 16 bits, 4 of 32.
  int64_t bytes = elem.getIntOrFloatBitWidth() / 8, perChunk = 16 / bytes;
  Desc desc = unpackDesc(b, loc, descValue, type.getRank(), isAligned(copy.getDesc()));
  SmallVector<SmallVector<Value>> coords = ThreadElements(type).emitCoords(b, loc);
  // Tensors the launch found aligned, copied at a last index known to be a
  // multiple of a chunk, need no other path, and each chunk lies wholly
  // inside or outside the tensor.
  Value indexAligned = emitIndexAligned(b, loc, indices.back(), indexDivisor, perChunk);
  bool aligned = isAligned(copy.getDesc()) && !indexAligned;
  Value vectorizable = emitVectorizable(b, loc, desc, elem, perChunk, copy.getDesc());
  if (indexAligned)
    vectorizable = arith::AndIOp::create(b, loc, vectorizable, indexAligned);
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, vectorizable, /*withElse=*/!aligned);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    Value zero = constI32(b, loc, 0);
    ThreadElements elems(type);
    SmallVector<Value> bases;
    if (!elems.wraps(0) && !elems.wraps(1))
      bases = elems.emitBases(b, loc);
    for (const Access &access : emitAccesses(b, loc, desc, indices, type, perChunk)) {
      // Bytes inside the tensor: the rest of the 16 are zero-filled.
      Value count = constI32(b, loc, 16);
      if (!aligned) {
        Value left = arith::SubIOp::create(b, loc, access.lastSize, access.lastPos);
        count = arith::MulIOp::create(
            b, loc, arith::MinSIOp::create(b, loc, left, constI32(b, loc, perChunk)),
            constI32(b, loc, bytes));
      }
      Value copied = arith::SelectOp::create(b, loc, access.inBounds(b, loc, 0), count, zero);
      Value ptr =
          arith::SelectOp::create(b, loc, access.inBounds(b, loc, 0), access.pointer, desc.base);
      SharedTile::Address dst{};
      if (bases.empty()) {
        const SmallVector<Value> &c = coords[access.firstElement];
        dst = {tile.elementAddress(b, loc, c[0], c[1], elem.getIntOrFloatBitWidth()), 0};
      } else {
        SmallVector<int64_t> mi = elems.multiIndex(access.firstElement);
        Value chunkLane =
            arith::ShRUIOp::create(b, loc, bases[1], constI32(b, loc, llvm::Log2_64(perChunk)));
        dst = tile.address(b, loc, bases[0], elems.offset(0, mi[0]), chunkLane,
                           elems.offset(1, mi[1]) / perChunk);
      }
      if (typed) {
        // Upstream's op (llvm.nvvm.cp.async.cg.shared.global.16.s): the
        // chunk's constant offset as a GEP from the shared base, which NVPTX
        // folds into the instruction's address.
        auto sharedPtr = LLVM::LLVMPointerType::get(b.getContext(), 3);
        Value at = LLVM::IntToPtrOp::create(b, loc, sharedPtr, dst.base);
        if (dst.offset)
          at = LLVM::GEPOp::create(b, loc, sharedPtr, b.getI8Type(), at,
                                   ArrayRef<LLVM::GEPArg>{int32_t(dst.offset)});
        NVVM::CpAsyncOp::create(b, loc, at, ptr, /*size=*/16, NVVM::LoadCacheModifierKind::CG,
                                copied);
        continue;
      }
      emitAsmStatement(b, loc, "cp.async.cg.shared.global " + dst.operand(0) + ", [$1], 16, $2;",
                       {dst.base, ptr, copied}, "r,l,r");
    }
    // Strided or unaligned tensors: element by element through registers,
    // in a loop over the tile (a rare path: unrolled per element, it was
    // half of an attention kernel's code and of its compile time).
    if (!aligned) {
      b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
      bool roundedInPlace = warpgroupMma && isRoundedInPlace(copy);
      auto elementwise = [&]() -> SmallVector<Value> {
        emitElementwiseCopy(b, loc, copy, desc, indices, tile, roundedInPlace);
        return {};
      };
      // 16-bit rows of unit stride at a block not left of or above the
      // tensor: shifted 16-byte chunks (the same in every thread). Tiles of
      // one buffer copied outside loops (the forward's Q): in a key loop, or
      // as a ring's first copies before it, their registers spilled the
      // d 128 causal cp.async forward (4 to 16 bytes at 255 registers). Up
      // to 64 columns (kChunkCopyMaxCols).
      Value shifted;
      auto buffer = cast<tile::SharedType>(copy.getBuffer().getType());
      if (elem.getIntOrFloatBitWidth() == 16 && !roundedInPlace && buffer.getBuffers() == 1 &&
          type.getDimSize(1) <= kChunkCopyMaxCols && !copy->getParentOfType<LoopLikeOpInterface>())
        shifted = emitShiftable(b, loc, desc, indices);
      emitFastOrSlow(
          b, loc, shifted, TypeRange{},
          [&]() -> SmallVector<Value> {
            emitShiftedChunkCopy(b, loc, copy, desc, indices, tile);
            return {};
          },
          elementwise);
    }
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

namespace {

/// One atomic per element of the block that lies inside the tensor, by the
/// one thread that owns it (threads holding copies must not apply it twice):
/// `atomic(ptr, element)` emits it and returns the old value. Elements
/// outside the tensor read as zero. Where other threads hold copies of an
/// element, the owner hands its old value to them through shared memory.
template <typename Op>
LogicalResult lowerAtomic(Op op, Value descValue, ValueRange indices,
                          ConversionPatternRewriter &rewriter,
                          llvm::function_ref<Value(OpBuilder &, Value, int64_t)> atomic) {
  Location loc = op.getLoc();
  RankedTensorType type = op.getType();
  Type elem = type.getElementType();
  unsigned rank = type.getRank();
  Desc desc = unpackDesc(rewriter, loc, descValue, rank);
  ThreadElements elems(type);
  SmallVector<Value> bases = elems.emitBases(rewriter, loc);
  SmallVector<SmallVector<Value>> coords = elems.emitCoords(rewriter, loc);
  Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(elem));
  SmallVector<Value> old;
  for (int64_t e = 0; e < elems.size(); ++e) {
    Value offset = constI32(rewriter, loc, 0), inBounds;
    for (unsigned d = 0; d < rank; ++d) {
      Value pos = arith::AddIOp::create(rewriter, loc, indices[d], coords[e][d]);
      offset = arith::AddIOp::create(rewriter, loc, offset,
                                     arith::MulIOp::create(rewriter, loc, pos, desc.strides[d]));
      Value ok =
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, pos, desc.sizes[d]);
      inBounds = inBounds ? arith::AndIOp::create(rewriter, loc, inBounds, ok) : ok;
    }
    if (Value owner = elems.emitIsOwner(rewriter, loc, bases, e))
      inBounds = arith::AndIOp::create(rewriter, loc, inBounds, owner);
    auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{elem}, inBounds, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToStart(&ifOp.getThenRegion().front());
    Value ptr = LLVM::GEPOp::create(rewriter, loc, desc.base.getType(), elem, desc.base,
                                    ValueRange{offset});
    scf::YieldOp::create(rewriter, loc, atomic(rewriter, ptr, e));
    rewriter.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(rewriter, loc, zero);
    rewriter.setInsertionPointAfter(ifOp);
    old.push_back(ifOp.getResult(0));
  }
  unsigned numWarps = tile::getNumWarps(op->template getParentOfType<FunctionOpInterface>());
  if (elems.hasCopies(numWarps)) {
    // Owners store, everyone reads (scratch at offset 0: sharedMemoryNeeded).
    Value scratch = sharedScratch(rewriter, loc, elem, type.getNumElements(), 0);
    gpu::BarrierOp::create(rewriter, loc);
    for (int64_t e = 0; e < elems.size(); ++e) {
      Value owner = elems.emitIsOwner(rewriter, loc, bases, e);
      Value at = toIndex(rewriter, loc, linearIndex(rewriter, loc, coords[e], type.getShape()));
      auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{}, owner, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      memref::StoreOp::create(rewriter, loc, old[e], scratch, ValueRange{at});
    }
    gpu::BarrierOp::create(rewriter, loc);
    for (int64_t e = 0; e < elems.size(); ++e) {
      Value at = toIndex(rewriter, loc, linearIndex(rewriter, loc, coords[e], type.getShape()));
      old[e] = memref::LoadOp::create(rewriter, loc, scratch, ValueRange{at});
    }
    gpu::BarrierOp::create(rewriter, loc);
  }
  auto vecType = VectorType::get({elems.size()}, elem);
  rewriter.replaceOp(op, pack(rewriter, loc, vecType, old));
  return success();
}

/// One cf.assert per thread on the conjunction of its elements (copies
/// included: they hold the same bits); convert-gpu-to-nvvm makes it a call
/// of __assertfail with the op's file and line.
struct AssertOpToGPU : OpConversionPattern<tile::AssertOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::AssertOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value all = adaptor.getCond();
    if (isa<VectorType>(all.getType())) {
      SmallVector<Value> elems = unpack(rewriter, loc, all);
      all = elems.front();
      for (Value e : ArrayRef<Value>(elems).drop_front())
        all = arith::AndIOp::create(rewriter, loc, all, e);
    }
    rewriter.replaceOpWithNewOp<cf::AssertOp>(op, all, op.getMessage());
    return success();
  }
};

/// gpu.printf of each element by the one thread that owns it (a scalar: by
/// thread 0), in PrintOp::getFormat's format; floats as doubles.
struct PrintOpToGPU : OpConversionPattern<tile::PrintOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::PrintOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    StringAttr format = rewriter.getStringAttr(op.getFormat());
    Type elem = getElementTypeOrSelf(op.getValue().getType());
    auto printable = [&](Value v) -> Value {
      if (isa<FloatType>(elem)) {
        if (!elem.isF32())
          v = arith::ExtFOp::create(rewriter, loc, rewriter.getF32Type(), v);
        return arith::ExtFOp::create(rewriter, loc, rewriter.getF64Type(), v);
      }
      if (elem.isInteger(1))
        return arith::ExtUIOp::create(rewriter, loc, rewriter.getI32Type(), v);
      return v;
    };
    SmallVector<Value> pid;
    for (gpu::Dimension d : {gpu::Dimension::x, gpu::Dimension::y, gpu::Dimension::z})
      pid.push_back(arith::IndexCastOp::create(rewriter, loc, rewriter.getI32Type(),
                                               gpu::BlockIdOp::create(rewriter, loc, d)));
    auto printIf = [&](Value cond, SmallVector<Value> args) {
      auto ifOp = scf::IfOp::create(rewriter, loc, TypeRange{}, cond, /*withElse=*/false);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      gpu::PrintfOp::create(rewriter, loc, format, args);
    };
    auto type = dyn_cast<RankedTensorType>(op.getValue().getType());
    if (!type) {
      auto [lane, warp] = laneAndWarp(rewriter, loc);
      Value first = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                          arith::OrIOp::create(rewriter, loc, lane, warp),
                                          constI32(rewriter, loc, 0));
      SmallVector<Value> args = pid;
      args.push_back(printable(adaptor.getValue()));
      printIf(first, args);
      rewriter.eraseOp(op);
      return success();
    }
    ThreadElements elems(type);
    SmallVector<Value> bases = elems.emitBases(rewriter, loc);
    SmallVector<SmallVector<Value>> coords = elems.emitCoords(rewriter, loc);
    SmallVector<Value> values = unpack(rewriter, loc, adaptor.getValue());
    Value always = arith::ConstantIntOp::create(rewriter, loc, rewriter.getI1Type(), 1);
    for (int64_t e = 0; e < elems.size(); ++e) {
      SmallVector<Value> args = pid;
      args.append(coords[e].begin(), coords[e].end());
      args.push_back(printable(values[e]));
      Value owner = elems.emitIsOwner(rewriter, loc, bases, e);
      printIf(owner ? owner : always, args);
    }
    rewriter.eraseOp(op);
    return success();
  }
};

LLVM::AtomicBinOp binOp(tile::AtomicKind kind, bool isFloat) {
  switch (kind) {
  case tile::AtomicKind::add:
    return isFloat ? LLVM::AtomicBinOp::fadd : LLVM::AtomicBinOp::add;
  case tile::AtomicKind::max:
    return isFloat ? LLVM::AtomicBinOp::fmax : LLVM::AtomicBinOp::max;
  case tile::AtomicKind::min:
    return isFloat ? LLVM::AtomicBinOp::fmin : LLVM::AtomicBinOp::min;
  case tile::AtomicKind::xchg:
    return LLVM::AtomicBinOp::xchg;
  }
  llvm_unreachable("atomic kind");
}

/// `atom.global.<kind>` per element (llvm.atomicrmw, relaxed, GPU scope).
struct AtomicRMWOpToGPU : OpConversionPattern<tile::AtomicRMWOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::AtomicRMWOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    SmallVector<Value> values = unpack(rewriter, op.getLoc(), adaptor.getValue());
    LLVM::AtomicBinOp kind = binOp(op.getKind(), op.getType().getElementType().isF32());
    return lowerAtomic(op, adaptor.getDesc(), adaptor.getIndices(), rewriter,
                       [&](OpBuilder &b, Value ptr, int64_t e) -> Value {
                         return LLVM::AtomicRMWOp::create(b, op.getLoc(), kind, ptr, values[e],
                                                          LLVM::AtomicOrdering::monotonic,
                                                          "device");
                       });
  }
};

/// `atom.global.cas.b32` per element (llvm.cmpxchg, relaxed, GPU scope).
struct AtomicCASOpToGPU : OpConversionPattern<tile::AtomicCASOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::AtomicCASOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    SmallVector<Value> cmp = unpack(rewriter, loc, adaptor.getCmp());
    SmallVector<Value> values = unpack(rewriter, loc, adaptor.getValue());
    return lowerAtomic(op, adaptor.getDesc(), adaptor.getIndices(), rewriter,
                       [&](OpBuilder &b, Value ptr, int64_t e) -> Value {
                         auto pair = LLVM::AtomicCmpXchgOp::create(
                             b, loc, ptr, cmp[e], values[e], LLVM::AtomicOrdering::monotonic,
                             LLVM::AtomicOrdering::monotonic, "device");
                         return LLVM::ExtractValueOp::create(b, loc, pair, 0);
                       });
  }
};

/// A buffer becomes the offset (i32) of its first tile; its users read all
/// offsets from the tile.shared_alloc itself.
struct SharedAllocOpToGPU : OpConversionPattern<tile::SharedAllocOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::SharedAllocOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, constI32(rewriter, op.getLoc(), op.getOffsets()[0]));
    return success();
  }
};

/// The copy and its commit: one cp.async group.
struct AsyncCopyOpToGPU : IndexedAccessPattern<tile::AsyncCopyOp> {
  AsyncCopyOpToGPU(TileTypeConverter &converter, MLIRContext *ctx,
                   const LastIndexDivisors &divisors, bool warpgroupMma, bool typed)
      : IndexedAccessPattern(converter, ctx, divisors), warpgroupMma(warpgroupMma), typed(typed) {}
  LogicalResult matchAndRewrite(tile::AsyncCopyOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    emitAsyncCopy(rewriter, op.getLoc(), op, adaptor.getDesc(), adaptor.getIndices(),
                  adaptor.getSlot(), warpgroupMma, divisors.of(op), typed);
    rewriter.eraseOp(op);
    return success();
  }
  bool warpgroupMma, typed;
};

/// Read only by stagings, whose dots read the buffer: no registers. A 1-D
/// view of a row vector reads the elements the thread holds where it
/// stands, runs of two or four consecutive ones as one vector load.
struct SharedViewOpToGPU : OpConversionPattern<tile::SharedViewOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::SharedViewOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto vecType = cast<VectorType>(getTypeConverter()->convertType(op.getType()));
    RankedTensorType type = op.getType();
    if (type.getRank() != 1) {
      rewriter.replaceOpWithNewOp<LLVM::PoisonOp>(op, vecType);
      return success();
    }
    Location loc = op.getLoc();
    Value buffer = sharedPointer(
        rewriter, loc, emitBufferOffset(rewriter, loc, op.getBuffer(), adaptor.getSlot()));
    ThreadElements elems(type);
    const tile::DimDistribution &dim = elems.distribution()[0];
    int64_t width = dim.holdsRunsOf(4) ? 4 : dim.holdsRunsOf(2) ? 2 : 1;
    Type elem = type.getElementType();
    int64_t bytes = elem.getIntOrFloatBitWidth() / 8;
    auto ptrType = LLVM::LLVMPointerType::get(rewriter.getContext(), 3);
    auto byteAt = [&](Value ptr, LLVM::GEPArg offset) {
      return LLVM::GEPOp::create(rewriter, loc, ptrType, rewriter.getI8Type(), ptr,
                                 ArrayRef<LLVM::GEPArg>{offset});
    };
    auto bytesOf = [&](Value element) -> Value {
      return arith::MulIOp::create(rewriter, loc, element, constI32(rewriter, loc, bytes));
    };
    // The thread's first element's address and constant offsets from it
    // (which the loads carry), where the layout does not wrap around the
    // vector; else each element's coordinate, modulo its length.
    bool wraps = elems.wraps(0);
    SmallVector<SmallVector<Value>> coords;
    Value first;
    if (wraps)
      coords = elems.emitCoords(rewriter, loc);
    else
      first = byteAt(buffer, bytesOf(elems.emitBases(rewriter, loc)[0]));
    SmallVector<Value> values;
    for (int64_t e = 0; e < elems.size(); e += width) {
      Value ptr = wraps ? byteAt(buffer, bytesOf(coords[e][0]))
                        : byteAt(first, int32_t(elems.offset(0, e) * bytes));
      if (width == 1) {
        values.push_back(LLVM::LoadOp::create(rewriter, loc, elem, ptr, bytes));
        continue;
      }
      Value run =
          LLVM::LoadOp::create(rewriter, loc, VectorType::get({width}, elem), ptr, width * bytes);
      for (int64_t i = 0; i < width; ++i)
        values.push_back(
            LLVM::ExtractElementOp::create(rewriter, loc, run, constI32(rewriter, loc, i)));
    }
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, values));
    return success();
  }
};

struct AsyncWaitOpToGPU : OpConversionPattern<tile::AsyncWaitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::AsyncWaitOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    emitAsyncWait(rewriter, op.getLoc(), op.getPending());
    rewriter.eraseOp(op);
    return success();
  }
};

struct FenceAsyncSharedOpToGPU : OpConversionPattern<tile::FenceAsyncSharedOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::FenceAsyncSharedOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    emitAsyncProxyFence(rewriter, op.getLoc());
    rewriter.eraseOp(op);
    return success();
  }
};

struct RoundSharedToTf32OpToGPU : OpConversionPattern<tile::RoundSharedToTf32Op> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::RoundSharedToTf32Op op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = op.getTileType();
    SharedTile tile(rewriter, loc, type.getDimSize(0), SharedTile::units(type),
                    emitBufferOffset(rewriter, loc, op.getBuffer(), adaptor.getSlot()));
    emitRoundCopiedToTf32(rewriter, loc, tile, type);
    rewriter.eraseOp(op);
    return success();
  }
};

/// A block stored from its staging tile (tile-use-tma's shifted stores):
/// 16-byte vectors where the rows have unit stride and the indices are not
/// negative (checked at run time), else element by element.
struct StoreFromStagingOpToGPU : OpConversionPattern<tile::StoreFromStagingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::StoreFromStagingOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    tile::SharedType type = op.getStaging().getType();
    int64_t rows = type.getShape()[0], cols = type.getShape()[1];
    int64_t threads =
        tile::getNumWarps(op->getParentOfType<FunctionOpInterface>()) * tile::kWarpSize;
    SharedTile tile(rewriter, loc, rows, cols, adaptor.getStaging());
    Desc desc = unpackDesc(rewriter, loc, adaptor.getDesc(), 2);
    ValueRange indices = adaptor.getIndices();
    Value unitRows = emitShiftable(rewriter, loc, desc, indices);
    emitFastOrSlow(
        rewriter, loc, unitRows, TypeRange{},
        [&]() -> SmallVector<Value> {
          emitShiftedChunkStore(rewriter, loc, desc, indices, tile, rows, cols, threads,
                                /*bits=*/16);
          return {};
        },
        [&]() -> SmallVector<Value> {
          emitElementStoreFromStaging(rewriter, loc, desc, indices, tile, rows, cols, threads);
          return {};
        });
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateMemoryOpPatterns(TileTypeConverter &converter,
                                                RewritePatternSet &patterns, bool warpgroupMma,
                                                const LastIndexDivisors &divisors,
                                                bool typedAsyncCopies) {
  patterns.add<AsyncCopyOpToGPU>(converter, patterns.getContext(), divisors, warpgroupMma,
                                 typedAsyncCopies);
  patterns.add<LoadOpToGPU, GatherOpToGPU, StoreOpToGPU>(converter, patterns.getContext(),
                                                         divisors);
  patterns.add<AtomicAddOpToGPU>(converter, patterns.getContext(), /*vectorAdds=*/warpgroupMma);
  patterns.add<ProgramIdOpToGPU, NumProgramsOpToGPU, AddPtrOpToGPU, AtOpToGPU, MakeDescOpToGPU,
               SharedAllocOpToGPU, SharedViewOpToGPU, AsyncWaitOpToGPU, FenceAsyncSharedOpToGPU,
               RoundSharedToTf32OpToGPU, AtomicRMWOpToGPU, AtomicCASOpToGPU, PrintOpToGPU,
               AssertOpToGPU, StoreFromStagingOpToGPU>(converter, patterns.getContext());
}
