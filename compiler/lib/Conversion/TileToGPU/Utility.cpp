//===- Utility.cpp - Shared pieces of the tile-to-GPU lowering ------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#include "llvm/Support/MathExtras.h"
#include <limits>

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

TileTypeConverter::TileTypeConverter(MLIRContext *ctx) {
  addConversion([](Type t) { return t; });
  addConversion([](RankedTensorType t) -> std::optional<Type> {
    if (!tile::hasLayout(t))
      return std::nullopt;
    return VectorType::get({tile::getElemsPerThread(t)}, t.getElementType());
  });
  addConversion([ctx](tile::PtrType) -> Type { return LLVM::LLVMPointerType::get(ctx, 1); });
  // A shared buffer is the offset of its first tile.
  addConversion([ctx](tile::SharedType) -> Type { return IntegerType::get(ctx, 32); });
  addConversion([ctx](tile::MBarriersType) -> Type { return IntegerType::get(ctx, 32); });
  // A tensor map is read where the launch put it: its parameter's address
  // (tessera-tensor-map-params makes it a by-value grid constant).
  addConversion([ctx](tile::TensorMapType) -> Type { return LLVM::LLVMPointerType::get(ctx); });
  addConversion([ctx](tile::DescType d) -> Type {
    SmallVector<Type> fields{LLVM::LLVMPointerType::get(ctx, 1)};
    fields.append(2 * d.getRank(), IntegerType::get(ctx, 32));
    return LLVM::LLVMStructType::getLiteral(ctx, fields);
  });
}

namespace {

constexpr int64_t kMaxDivisor = int64_t(1) << 30;

int64_t divisorOf(Value v, int depth) {
  APInt constant;
  if (matchPattern(v, m_ConstantInt(&constant))) {
    int64_t c = constant.getSExtValue();
    if (c == 0 || c == std::numeric_limits<int32_t>::max())
      return kMaxDivisor;
    return std::min<int64_t>(kMaxDivisor, int64_t(1) << llvm::countr_zero(uint64_t(c)));
  }
  if (depth > 16)
    return 1;
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto loop = dyn_cast<scf::ForOp>(arg.getOwner()->getParentOp());
    if (loop && arg == loop.getInductionVar())
      return std::min(divisorOf(loop.getLowerBound(), depth + 1),
                      divisorOf(loop.getStep(), depth + 1));
    return 1;
  }
  Operation *def = v.getDefiningOp();
  auto operand = [&](unsigned i) { return divisorOf(def->getOperand(i), depth + 1); };
  if (isa<arith::AddIOp, arith::SubIOp>(def))
    return std::min(operand(0), operand(1));
  if (isa<arith::MulIOp>(def))
    return std::min(kMaxDivisor, operand(0) * operand(1));
  if (isa<arith::SelectOp>(def))
    return std::min(operand(1), operand(2));
  if (isa<arith::ExtSIOp, arith::ExtUIOp, arith::IndexCastOp>(def))
    return operand(0);
  if (auto shl = dyn_cast<arith::ShLIOp>(def);
      shl && matchPattern(shl.getRhs(), m_ConstantInt(&constant)))
    return std::min(kMaxDivisor, operand(0) << std::min<int64_t>(constant.getZExtValue(), 30));
  return 1;
}

} // namespace

int64_t tessera::tilegpu::knownDivisor(Value v) { return divisorOf(v, 0); }

LastIndexDivisors::LastIndexDivisors(Operation *root) {
  root->walk([&](Operation *op) {
    Value index;
    if (auto load = dyn_cast<tile::LoadOp>(op))
      index = load.getIndices().back();
    else if (auto store = dyn_cast<tile::StoreOp>(op))
      index = store.getIndices().back();
    else if (auto copy = dyn_cast<tile::AsyncCopyOp>(op))
      index = copy.getIndices().back();
    else if (auto gather = dyn_cast<tile::GatherOp>(op))
      index = gather.getCol();
    if (index)
      divisors[op] = knownDivisor(index);
  });
}

Value tessera::tilegpu::constIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value tessera::tilegpu::toIndex(OpBuilder &b, Location loc, Value i32) {
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), i32);
}

Value tessera::tilegpu::asmOp(OpBuilder &b, Location loc, Type result, ValueRange args,
                              StringRef text, StringRef constraints, bool sideEffects) {
  return LLVM::InlineAsmOp::create(b, loc, result, args, text, constraints, sideEffects,
                                   /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
                                   LLVM::AsmDialectAttr{}, ArrayAttr{})
      .getResult(0);
}

void tessera::tilegpu::emitAsmStatement(OpBuilder &b, Location loc, StringRef text, ValueRange args,
                                        StringRef constraints) {
  LLVM::InlineAsmOp::create(b, loc, TypeRange{}, args, text, constraints,
                            /*has_side_effects=*/true, /*is_align_stack=*/false,
                            LLVM::tailcallkind::TailCallKind::None, LLVM::AsmDialectAttr{},
                            ArrayAttr{});
}

std::pair<Value, Value> tessera::tilegpu::laneAndWarp(OpBuilder &b, Location loc, bool opaque) {
  Value tid =
      opaque ? asmOp(b, loc, b.getI32Type(), {}, "mov.u32 $0, %tid.x;", "=r",
                     /*sideEffects=*/true)
             : Value(arith::IndexCastOp::create(
                   b, loc, b.getI32Type(), gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x)));
  Value lane = arith::AndIOp::create(b, loc, tid, constI32(b, loc, tile::kWarpSize - 1));
  Value warp =
      arith::ShRUIOp::create(b, loc, tid, constI32(b, loc, llvm::Log2_32(tile::kWarpSize)));
  return {lane, warp};
}

SmallVector<Value> ThreadElements::emitBases(OpBuilder &b, Location loc, bool opaque) const {
  auto [lane, warp] = laneAndWarp(b, loc, opaque);
  auto bits = [&](Value id, unsigned shift, unsigned mask, int64_t stride) -> Value {
    if (mask == 0 || stride == 0)
      return constI32(b, loc, 0);
    Value v =
        arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, id, constI32(b, loc, shift)),
                              constI32(b, loc, mask));
    return arith::MulIOp::create(b, loc, v, constI32(b, loc, stride));
  };
  SmallVector<Value> base;
  for (const tile::DimDistribution &d : dims)
    base.push_back(arith::AddIOp::create(b, loc, bits(lane, d.laneShift, d.laneMask, d.laneStride),
                                         bits(warp, d.warpShift, d.warpMask, d.warpStride)));
  return base;
}

Value ThreadElements::emitIsOwner(OpBuilder &b, Location loc, ArrayRef<Value> bases,
                                  int64_t element) const {
  auto [laneBits, warpBits] = usedIdBits();
  Value owner;
  auto both = [&](Value cond) {
    owner = owner ? arith::AndIOp::create(b, loc, owner, cond) : cond;
  };
  auto [lane, warp] = laneAndWarp(b, loc);
  auto unusedBitsZero = [&](Value id, unsigned used, unsigned all) {
    if ((used & all) == all)
      return;
    Value rest = arith::AndIOp::create(b, loc, id, constI32(b, loc, all & ~used));
    both(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rest, constI32(b, loc, 0)));
  };
  unusedBitsZero(lane, laneBits, tile::kWarpSize - 1);
  unusedBitsZero(warp, warpBits, ~0u);
  SmallVector<int64_t> mi = multiIndex(element);
  for (unsigned k = 0; k < rank(); ++k) {
    if (!wraps(k))
      continue;
    Value raw = arith::AddIOp::create(b, loc, bases[k], constI32(b, loc, dims[k].offsets[mi[k]]));
    both(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, raw, constI32(b, loc, shape[k])));
  }
  return owner;
}

SmallVector<SmallVector<Value>> ThreadElements::emitCoords(OpBuilder &b, Location loc,
                                                           bool opaque) const {
  // base[d]: the coordinate of the thread's first element along d.
  SmallVector<Value> base = emitBases(b, loc, opaque);
  SmallVector<SmallVector<Value>> coords;
  for (int64_t e = 0; e < numElements; ++e) {
    SmallVector<int64_t> mi = multiIndex(e);
    SmallVector<Value> c;
    for (unsigned k = 0; k < rank(); ++k) {
      Value v = arith::AddIOp::create(b, loc, base[k], constI32(b, loc, dims[k].offsets[mi[k]]));
      // Where the layout covers more than the tile, threads hold copies.
      c.push_back(arith::AndIOp::create(b, loc, v, constI32(b, loc, shape[k] - 1)));
    }
    coords.push_back(std::move(c));
  }
  return coords;
}

Value tessera::tilegpu::linearIndex(OpBuilder &b, Location loc, ArrayRef<Value> coords,
                                    ArrayRef<int64_t> shape) {
  Value idx = coords[0];
  for (unsigned d = 1; d < coords.size(); ++d)
    idx = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, idx, constI32(b, loc, shape[d])), coords[d]);
  return idx;
}

Type tessera::tilegpu::memoryType(Type elementType) {
  if (elementType.isInteger(1))
    return IntegerType::get(elementType.getContext(), 8);
  return elementType;
}

Value tessera::tilegpu::toMemory(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isInteger(1))
    return arith::ExtUIOp::create(b, loc, b.getI8Type(), v);
  return v;
}

Value tessera::tilegpu::fromMemory(OpBuilder &b, Location loc, Value v, Type elementType) {
  if (elementType.isInteger(1))
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v,
                                 arith::ConstantIntOp::create(b, loc, b.getI8Type(), 0));
  return v;
}

Value tessera::tilegpu::sharedScratch(OpBuilder &b, Location loc, Type elementType,
                                      int64_t numElements, int64_t byteOffset) {
  auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  auto raw = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface{},
                             workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(b, loc, raw);
  auto typed = MemRefType::get({numElements}, memoryType(elementType), MemRefLayoutAttrInterface{},
                               workgroup);
  return memref::ViewOp::create(b, loc, typed, smem, constIndex(b, loc, byteOffset), ValueRange{});
}

Value tessera::tilegpu::sharedPointer(OpBuilder &b, Location loc, Value offset,
                                      unsigned addressSpace) {
  Value view = sharedScratch(b, loc, b.getI8Type(), 1, 0);
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, view);
  Value base = arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  Value address = arith::AddIOp::create(b, loc, base, offset);
  return LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext(), addressSpace),
                                  address);
}

SmallVector<Value> tessera::tilegpu::unpack(OpBuilder &b, Location loc, Value vec) {
  auto type = cast<VectorType>(vec.getType());
  SmallVector<Value> out;
  for (int64_t i = 0; i < type.getNumElements(); ++i)
    out.push_back(vector::ExtractOp::create(b, loc, vec, i));
  return out;
}

Value tessera::tilegpu::pack(OpBuilder &b, Location loc, VectorType type,
                             ArrayRef<Value> elements) {
  return vector::FromElementsOp::create(b, loc, type, elements);
}

void tessera::tilegpu::emitAsyncWait(OpBuilder &b, Location loc, int64_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, pending);
}

void tessera::tilegpu::emitAsyncProxyFence(OpBuilder &b, Location loc) {
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKindAttr::get(b.getContext(), NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}
