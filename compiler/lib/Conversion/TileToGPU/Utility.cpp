//===- Utility.cpp - Shared pieces of the tile-to-GPU lowering ------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
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

ThreadElements::ThreadElements(RankedTensorType type)
    : dims(tile::getDistribution(type.getEncoding(), type.getShape())), shape(type.getShape()) {
  numElements = 1;
  for (const tile::DimDistribution &d : dims) {
    perDim.push_back(d.count());
    numElements *= d.count();
  }
}

SmallVector<int64_t> ThreadElements::multiIndex(int64_t element) const {
  SmallVector<int64_t> mi(rank());
  for (int d = rank() - 1; d >= 0; --d) {
    mi[d] = element % perDim[d];
    element /= perDim[d];
  }
  return mi;
}

int64_t ThreadElements::flatten(ArrayRef<int64_t> mi) const {
  int64_t e = 0;
  for (unsigned d = 0; d < rank(); ++d)
    e = e * perDim[d] + mi[d];
  return e;
}

Value tessera::tilegpu::constI32(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
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

bool ThreadElements::wraps(unsigned dim) const {
  const tile::DimDistribution &d = dims[dim];
  int64_t last = int64_t(d.laneMask) * d.laneStride + int64_t(d.warpMask) * d.warpStride +
                 *llvm::max_element(d.offsets);
  return last >= shape[dim];
}

std::pair<unsigned, unsigned> ThreadElements::usedIdBits() const {
  unsigned laneBits = 0, warpBits = 0;
  for (const tile::DimDistribution &d : dims) {
    if (d.laneStride != 0)
      laneBits |= d.laneMask << d.laneShift;
    if (d.warpStride != 0)
      warpBits |= d.warpMask << d.warpShift;
  }
  return {laneBits, warpBits};
}

bool ThreadElements::hasCopies(unsigned numWarps) const {
  auto [laneBits, warpBits] = usedIdBits();
  bool anyWraps = false;
  for (unsigned k = 0; k < rank(); ++k)
    anyWraps |= wraps(k);
  return laneBits != tile::kWarpSize - 1 || warpBits != numWarps - 1 || anyWraps;
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

int64_t tessera::tilegpu::tileBytes(RankedTensorType t) {
  int64_t bits = std::max<int64_t>(8, t.getElementType().getIntOrFloatBitWidth());
  return t.getNumElements() * bits / 8;
}

int64_t tessera::tilegpu::sharedMemoryNeeded(Operation *op) {
  if (isa<tile::ReduceOp, tile::ReduceCombineOp>(op))
    return reductionSharedMemoryBytes(op);
  if (auto scan = dyn_cast<tile::ScanOp>(op))
    return scanSharedMemoryBytes(scan);
  // Atomics whose elements other threads hold copies of hand the old values
  // out through shared memory.
  if (isa<tile::AtomicRMWOp, tile::AtomicCASOp>(op)) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    Operation *kernel = op->getParentOfType<FunctionOpInterface>();
    return ThreadElements(type).hasCopies(tile::getNumWarps(kernel)) ? tileBytes(type) : 0;
  }
  if (isa<tile::ConvertLayoutOp, tile::TransOp>(op) && getStagedOperand(op->getResult(0)))
    return 0;
  if (auto cvt = dyn_cast<tile::ConvertLayoutOp>(op))
    return tile::isSameDistribution(cvt.getSrc().getType(), cvt.getType())
               ? 0
               : tileBytes(cvt.getSrc().getType());
  if (auto trans = dyn_cast<tile::TransOp>(op))
    return tileBytes(trans.getSrc().getType());
  if (auto dot = dyn_cast<tile::DotOp>(op)) {
    if (!isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()))
      return llvm::alignTo(tileBytes(dot.getA().getType()), 16) + tileBytes(dot.getB().getType());
    // Split K: every group's partial sums.
    if (int64_t groups = splitKGroups(dot); groups > 1)
      return groups * tileBytes(dot.getType());
  }
  return 0;
}

/// The loop directly in `kernel`'s body that holds `op`; null outside loops.
Operation *tessera::tilegpu::topLevelLoop(Operation *op, Operation *kernel) {
  Operation *loop = nullptr;
  for (Operation *p = op->getParentOp(); p && p != kernel; p = p->getParentOp())
    if (isa<scf::ForOp>(p))
      loop = p;
  return loop;
}

tile::DotOp tessera::tilegpu::precedingDot(tile::DotOp dot) {
  for (Operation *op = dot->getPrevNode(); op; op = op->getPrevNode()) {
    if (auto prev = dyn_cast<tile::DotOp>(op))
      return isa<tile::MmaLayoutAttr>(prev.getType().getEncoding()) ? prev : tile::DotOp();
    // Scalar arithmetic, constants and the stagings of dot's own operands
    // lower to no shared-memory access.
    bool free = isMemoryEffectFree(op) && op->getNumRegions() == 0;
    bool scalar = llvm::none_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
    bool feedsDot = !op->use_empty() && llvm::all_of(op->getUsers(), [&](Operation *user) {
      return user == dot.getOperation();
    });
    if (!free || !(scalar || op->getNumOperands() == 0 || feedsDot))
      return {};
  }
  return {};
}

tile::DotOp tessera::tilegpu::followingDot(tile::DotOp dot) {
  for (Operation *op = dot->getNextNode(); op; op = op->getNextNode())
    if (auto next = dyn_cast<tile::DotOp>(op))
      return next;
  return {};
}

int64_t tessera::tilegpu::sharedMemoryBytes(Operation *kernel) {
  int64_t scratch = 0, end = 0;
  kernel->walk([&](Operation *op) {
    scratch = std::max(scratch, sharedMemoryNeeded(op));
    if (auto alloc = dyn_cast<tile::SharedAllocOp>(op))
      for (int64_t offset : alloc.getOffsets())
        end = std::max(end, offset + alloc.getType().getBufferBytes());
    if (auto bars = dyn_cast<tile::MBarrierAllocOp>(op))
      end = std::max<int64_t>(end, bars.getOffset() + 8 * int64_t(bars.getType().getCount()));
    auto dot = dyn_cast<tile::DotOp>(op);
    tile::StagingAttr staging = dot ? dot.getStagingAttr() : tile::StagingAttr();
    for (unsigned i : {0u, 1u})
      if (StagedOperand staged = staging ? getStagedOperand(dot->getOperand(i)) : StagedOperand())
        end = std::max(end, staging.getOffset(i) +
                                tileBytes(cast<RankedTensorType>(staged.source.getType())));
  });
  // Tiles start after the scratch space, on the swizzle's period.
  return llvm::alignTo(std::max(scratch, end), kSharedTileAlignment);
}

FailureOr<scf::ForOp> tessera::tilegpu::tripLoopOf(scf::ForOp loop) {
  auto trip = dyn_cast<scf::ForOp>(loop->getParentOp());
  if (!trip) {
    if (isa<FunctionOpInterface>(loop->getParentOp()))
      return scf::ForOp();
    return failure();
  }
  if (!isa<FunctionOpInterface>(trip->getParentOp()) ||
      !trip.getInductionVar().getType().isInteger(32))
    return failure();
  for (Value bound : {loop.getLowerBound(), loop.getUpperBound(), loop.getStep()})
    if (Operation *def = bound.getDefiningOp();
        def ? trip->isProperAncestor(def) : bound == trip.getInductionVar())
      return failure();
  return trip;
}

bool tessera::tilegpu::isScalarCode(Operation *op) {
  return op->getNumRegions() == 0 && isMemoryEffectFree(op) &&
         llvm::none_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>);
}

gpu::BarrierOp tessera::tilegpu::barrierBefore(Operation *op, bool overCopies) {
  Operation *prev = op->getPrevNode();
  while (prev && (isScalarCode(prev) || (overCopies && isa<tile::TmaCopyOp>(prev))))
    prev = prev->getPrevNode();
  return dyn_cast_or_null<gpu::BarrierOp>(prev);
}

Value tessera::tilegpu::emitIteration(OpBuilder &b, Location loc, scf::ForOp loop, Value iv) {
  return arith::DivSIOp::create(b, loc, arith::SubIOp::create(b, loc, iv, loop.getLowerBound()),
                                loop.getStep());
}

Value tessera::tilegpu::emitTripCount(OpBuilder &b, Location loc, scf::ForOp loop) {
  Value step = loop.getStep();
  Value span = arith::SubIOp::create(b, loc, loop.getUpperBound(), loop.getLowerBound());
  Value n = arith::DivSIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, span, arith::SubIOp::create(b, loc, step, constI32(b, loc, 1))),
      step);
  return arith::MaxSIOp::create(b, loc, n, constI32(b, loc, 0));
}

Value tessera::tilegpu::emitFillNumber(OpBuilder &b, Location loc, scf::ForOp loop, Value j,
                                       int64_t stages, Value t) {
  Value s = constI32(b, loc, stages);
  Value fill = arith::DivUIOp::create(b, loc, j, s);
  if (!t) {
    FailureOr<scf::ForOp> trip = tripLoopOf(loop);
    if (failed(trip) || !*trip)
      return fill;
    t = emitIteration(b, loc, *trip, trip->getInductionVar());
  }
  // f(slot) = (n - slot + S - 1) / S fills a run.
  Value n = emitTripCount(b, loc, loop);
  Value slot = arith::RemUIOp::create(b, loc, j, s);
  Value perRun =
      arith::DivUIOp::create(b, loc,
                             arith::AddIOp::create(b, loc, arith::SubIOp::create(b, loc, n, slot),
                                                   constI32(b, loc, stages - 1)),
                             s);
  return arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, t, perRun), fill);
}

tile::AsyncCopyOp tessera::tilegpu::prefetchCopyOf(tile::SharedViewOp view) {
  for (Operation *user : view.getBuffer().getUsers())
    if (auto copy = dyn_cast<tile::AsyncCopyOp>(user);
        copy && copy->getBlock() == view->getBlock() && copy.getDistance() > 0)
      return copy;
  return {};
}

Value tessera::tilegpu::emitBufferOffset(OpBuilder &b, Location loc, Value buffer, Value slot) {
  ArrayRef<int64_t> offsets = buffer.getDefiningOp<tile::SharedAllocOp>().getOffsets();
  int64_t stages = offsets.size();
  if (stages == 1)
    return constI32(b, loc, offsets[0]);
  if (stages == 2)
    return arith::AddIOp::create(
        b, loc, constI32(b, loc, offsets[0]),
        arith::MulIOp::create(b, loc, slot, constI32(b, loc, offsets[1] - offsets[0])));
  Value offset = constI32(b, loc, offsets[0]);
  for (int64_t s = 1; s < stages; ++s)
    offset = arith::SelectOp::create(
        b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, slot, constI32(b, loc, s)),
        constI32(b, loc, offsets[s]), offset);
  return offset;
}

void tessera::tilegpu::emitAsyncWait(OpBuilder &b, Location loc, int64_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, pending);
}

void tessera::tilegpu::emitAsyncProxyFence(OpBuilder &b, Location loc) {
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKindAttr::get(b.getContext(), NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(b.getContext(), NVVM::SharedSpace::shared_cta));
}
