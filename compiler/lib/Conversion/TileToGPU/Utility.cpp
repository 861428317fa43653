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

Value ThreadElements::emitIsOwner(OpBuilder &b, Location loc, ArrayRef<Value> bases,
                                  int64_t element) const {
  unsigned laneBits = 0, warpBits = 0;
  for (const tile::DimDistribution &d : dims) {
    if (d.laneStride != 0)
      laneBits |= d.laneMask << d.laneShift;
    if (d.warpStride != 0)
      warpBits |= d.warpMask << d.warpShift;
  }
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

static int64_t tileBytes(RankedTensorType t) {
  int64_t bits = std::max<int64_t>(8, t.getElementType().getIntOrFloatBitWidth());
  return t.getNumElements() * bits / 8;
}

int64_t tessera::tilegpu::sharedMemoryNeeded(Operation *op) {
  if (auto reduce = dyn_cast<tile::ReduceOp>(op)) {
    if (std::optional<int64_t> warps = shuffleReductionWarps(reduce))
      return *warps == 1 ? 0 : reduce.getType().getNumElements() * *warps * 4;
    return tileBytes(reduce.getSrc().getType());
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

/// A load whose tile dots stage that can be copied asynchronously: a 16- or
/// 32-bit tile read in 16-byte runs, zero-padded, used only by staging
/// conversions or transposes in its block (Q in attention's backward is
/// staged for Q Kᵀ and for dSᵀ Q: one copy, one tile).
static bool canCopyAsync(tile::LoadOp load) {
  RankedTensorType type = load.getType();
  if (load.getResult().use_empty())
    return false;
  for (Operation *user : load->getUsers())
    if (load->getBlock() != user->getBlock() || !isa<tile::ConvertLayoutOp, tile::TransOp>(user) ||
        !getStagedOperand(user->getResult(0)))
      return false;
  if (load.getDesc().getType().getPadding() != tile::Padding::zero || !SharedTile::fits(type))
    return false;
  return ThreadElements(type).distribution().back().holdsRunsOf(
      128 / type.getElementType().getIntOrFloatBitWidth());
}

/// The loop directly in `kernel`'s body that holds `op`; null outside loops.
static Operation *topLevelLoop(Operation *op, Operation *kernel) {
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

Operation *tessera::tilegpu::prefetchCopyOf(Operation *load) {
  Attribute buffers = load->getAttr(kPrefetchedAttr);
  Operation *copy = nullptr;
  for (Operation &op : *load->getBlock())
    if (buffers && op.getAttr(kPrefetchBuffersAttr) == buffers)
      copy = &op;
  return copy;
}

int64_t tessera::tilegpu::allocateSharedMemory(Operation *kernel, bool asyncProxyReads) {
  int64_t scratch = 0;
  kernel->walk([&](Operation *op) { scratch = std::max(scratch, sharedMemoryNeeded(op)); });
  MLIRContext *ctx = kernel->getContext();
  auto tileSize = [](const StagedOperand &staged) {
    return llvm::alignTo(tileBytes(cast<RankedTensorType>(staged.source.getType())),
                         kSharedTileAlignment);
  };

  // Tiles staged outside a loop (or hoisted out of one) live for the whole
  // kernel; stagings of one value share a tile (a Q tile read in two loops;
  // K read as A of K Qᵀ and, transposed, of Kᵀ dSᵀ: a tile holds the value
  // and each dot reads it k-major or MN-major). The tiles staged inside a
  // top-level loop are dead once it ends, so sibling loops reuse one region.
  struct Operand {
    tile::DotOp dot;
    unsigned index;
    StagedOperand staged;
  };
  SmallVector<Operand> persistent;
  llvm::MapVector<Operation *, SmallVector<Operand>> byLoop;
  SmallVector<tile::DotOp> dots;
  kernel->walk([&](tile::DotOp dot) {
    if (!isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()))
      return;
    dots.push_back(dot);
    for (unsigned i : {0u, 1u}) {
      StagedOperand staged = getStagedOperand(dot->getOperand(i));
      if (!staged)
        continue;
      Operation *loop = topLevelLoop(dot, kernel);
      if (!loop || staged.hoisted)
        persistent.push_back({dot, i, staged});
      else
        byLoop[loop].push_back({dot, i, staged});
    }
  });

  llvm::DenseMap<tile::DotOp, SmallVector<int64_t>> offsets;
  for (tile::DotOp dot : dots)
    offsets[dot] = {-1, -1};
  // A load staged into two tiles (a persistent one and one in a loop's
  // region) cannot fill both with one copy: its stagings store instead.
  llvm::SmallPtrSet<Operation *, 4> twoTiles;
  auto place = [&](const Operand &operand, int64_t offset) {
    offsets[operand.dot][operand.index] = offset;
    auto load = operand.staged.source.getDefiningOp<tile::LoadOp>();
    if (!load || twoTiles.contains(load) || !canCopyAsync(load))
      return;
    auto copied = load->getAttrOfType<IntegerAttr>(kAsyncCopyAttr);
    if (copied && copied.getInt() != offset) {
      load->removeAttr(kAsyncCopyAttr);
      twoTiles.insert(load);
      return;
    }
    load->setAttr(kAsyncCopyAttr, IntegerAttr::get(IntegerType::get(ctx, 64), offset));
  };
  int64_t offset = llvm::alignTo(scratch, kSharedTileAlignment);
  llvm::DenseMap<Value, int64_t> shared;
  for (const Operand &operand : persistent) {
    auto [it, inserted] = shared.try_emplace(operand.staged.source, offset);
    if (inserted)
      offset += tileSize(operand.staged);
    place(operand, it->second);
  }
  int64_t regionStart = offset, end = offset;
  for (auto [i, entry] : llvm::enumerate(byLoop)) {
    auto &[loop, operands] = entry;
    int64_t loopOffset = regionStart;
    llvm::DenseMap<Value, int64_t> inLoop;
    for (const Operand &operand : operands) {
      auto [it, inserted] = inLoop.try_emplace(operand.staged.source, loopOffset);
      if (inserted)
        loopOffset += tileSize(operand.staged);
      place(operand, it->second);
    }
    loop->setAttr(kSharedEndAttr, IntegerAttr::get(IntegerType::get(ctx, 64), loopOffset));
    // The previous loop's readers of this region must be done before the
    // first copy into it.
    if (i != 0) {
      OpBuilder b(loop);
      gpu::BarrierOp::create(b, loop->getLoc());
    }
    end = std::max(end, loopOffset);
  }
  // A dot reading a tile that an earlier dot of its block filled (copied or
  // stored there, then waited, fenced and synchronized on) finds it ready.
  // So does a dot in a loop reading a tile copied before the loop: the
  // copies are waited for once, before the loop, rather than on every trip.
  // Hoisted stagings stored from registers stay as they were (every reading
  // wgmma fences and synchronizes), and so does a tile the earlier dot did
  // not read at the same offset.
  llvm::DenseMap<std::pair<Block *, Value>, int64_t> filledInBlock;
  // Loops before which hoisted copies are waited for, with those copies.
  llvm::MapVector<Operation *, SmallVector<tile::LoadOp>> syncBefore;
  for (tile::DotOp dot : dots) {
    dot->setAttr(kStagedOffsetsAttr, DenseI64ArrayAttr::get(ctx, offsets[dot]));
    SmallVector<int64_t> ready = {0, 0};
    for (unsigned i : {0u, 1u}) {
      StagedOperand staged = getStagedOperand(dot->getOperand(i));
      if (!staged)
        continue;
      auto load = staged.source.getDefiningOp<tile::LoadOp>();
      auto copied = load ? load->getAttrOfType<IntegerAttr>(kAsyncCopyAttr) : IntegerAttr();
      int64_t offset = offsets[dot][i];
      if (staged.hoisted && !copied)
        continue;
      auto [it, first] = filledInBlock.try_emplace({dot->getBlock(), staged.source}, offset);
      ready[i] = !first && it->second == offset;
      if (!copied || !staged.hoisted || copied.getInt() != offset)
        continue;
      Operation *loop = dot->getParentOp();
      while (loop && loop->getBlock() != load->getBlock())
        loop = loop->getParentOp();
      if (loop && isa<scf::ForOp>(loop) && load->isBeforeInBlock(loop)) {
        ready[i] = 1;
        SmallVector<tile::LoadOp> &copies = syncBefore[loop];
        if (!llvm::is_contained(copies, load))
          copies.push_back(load);
      }
    }
    dot->setAttr(kStagedReadyAttr, DenseI64ArrayAttr::get(ctx, ready));
  }
  // A dot right after another that reads only tiles copied asynchronously
  // (or ready) has its copies waited for by the first: one wait and one
  // barrier publish both, and the second product queues behind the first
  // (Sᵀ = K Qᵀ and dPᵀ = V dOᵀ in the dK/dV program; defer-wgmma-waits).
  for (tile::DotOp dot : dots) {
    tile::DotOp prev = precedingDot(dot);
    if (!prev)
      continue;
    auto ready =
        llvm::to_vector(dot->getAttrOfType<DenseI64ArrayAttr>(kStagedReadyAttr).asArrayRef());
    bool copiedOrReady = true, waits = false;
    for (unsigned i : {0u, 1u}) {
      StagedOperand staged = getStagedOperand(dot->getOperand(i));
      auto load = staged ? staged.source.getDefiningOp<tile::LoadOp>() : tile::LoadOp();
      auto copied = load ? load->getAttrOfType<IntegerAttr>(kAsyncCopyAttr) : IntegerAttr();
      if (!staged || ready[i])
        continue;
      if (!copied || copied.getInt() != offsets[dot][i] || staged.hoisted)
        copiedOrReady = false;
      ready[i] = 1;
      waits = true;
    }
    if (!copiedOrReady || !waits || prev->hasAttr(kWaitsForNextAttr))
      continue;
    prev->setAttr(kWaitsForNextAttr, UnitAttr::get(ctx));
    dot->setAttr(kStagedReadyAttr, DenseI64ArrayAttr::get(ctx, ready));
  }
  for (auto &[loop, copies] : syncBefore) {
    OpBuilder b(loop);
    emitAsmStatement(b, loop->getLoc(), "cp.async.wait_group 0;");
    if (asyncProxyReads)
      for (tile::LoadOp load : copies)
        if (mustRoundCopiedToTf32(load.getResult())) {
          RankedTensorType type = load.getType();
          SharedTile tile(b, loop->getLoc(), type.getDimSize(0), SharedTile::units(type),
                          load->getAttrOfType<IntegerAttr>(kAsyncCopyAttr).getInt());
          emitRoundCopiedToTf32(b, loop->getLoc(), tile, type);
        }
    if (asyncProxyReads)
      emitAsmStatement(b, loop->getLoc(), "fence.proxy.async.shared::cta;");
    gpu::BarrierOp::create(b, loop->getLoc());
  }
  return end;
}

/// Appends to `slice`, in order, the ops of `loop`'s body that `v` is computed
/// by. False if `v` depends on anything but the induction variable and values
/// from outside the loop, or on an op that is not plain scalar arithmetic.
static bool collectIndexSlice(scf::ForOp loop, Value v, llvm::SetVector<Operation *> &slice) {
  Block *body = loop.getBody();
  if (v == loop.getInductionVar())
    return true;
  if (auto arg = dyn_cast<BlockArgument>(v))
    return arg.getOwner() != body &&
           !body->getParentOp()->isAncestor(arg.getOwner()->getParentOp());
  Operation *def = v.getDefiningOp();
  if (!loop->isProperAncestor(def))
    return true;
  if (slice.contains(def))
    return true;
  if (def->getBlock() != body || def->getNumRegions() != 0 || !isMemoryEffectFree(def) ||
      llvm::any_of(def->getResultTypes(), llvm::IsaPred<RankedTensorType>))
    return false;
  for (Value operand : def->getOperands())
    if (!collectIndexSlice(loop, operand, slice))
      return false;
  slice.insert(def);
  return true;
}

/// `load` for the iteration whose induction variable is `iv`, made at `b`
/// with its descriptor and indices cloned from `slice`; out of range (it
/// copies nothing) unless `enabled`.
static tile::LoadOp loadAt(OpBuilder &b, tile::LoadOp load, scf::ForOp loop,
                           const llvm::SetVector<Operation *> &slice, Value iv, Value enabled) {
  IRMapping mapping;
  mapping.map(loop.getInductionVar(), iv);
  for (Operation *op : slice)
    b.clone(*op, mapping);
  SmallVector<Value> indices;
  for (Value index : load.getIndices())
    indices.push_back(mapping.lookupOrDefault(index));
  // A first index past any tensor makes every element out of bounds: the
  // copy writes zeros and reads nothing.
  Location loc = load.getLoc();
  indices[0] = arith::SelectOp::create(b, loc, enabled, indices[0],
                                       constI32(b, loc, std::numeric_limits<int32_t>::max()));
  return tile::LoadOp::create(b, loc, load.getType(), mapping.lookupOrDefault(load.getDesc()),
                              indices, load.getTf32Rounded());
}

/// The last dot in `body` that reads the tile `load` copies, when every
/// reader is a dot directly in `body`; null otherwise.
static tile::DotOp lastReader(tile::LoadOp load, Block *body) {
  tile::DotOp last;
  for (Operation *staging : load->getUsers()) {
    if (staging->getNumResults() != 1)
      return {};
    StagedOperand staged = getStagedOperand(staging->getResult(0));
    if (!staged || staged.dot->getBlock() != body)
      return {};
    if (!last || last->isBeforeInBlock(staged.dot))
      last = staged.dot;
  }
  return last;
}

int64_t tessera::tilegpu::prefetchAsyncCopies(Operation *kernel, int64_t sharedBytes) {
  int64_t end = sharedBytes;
  SmallVector<scf::ForOp> loops;
  int64_t stages = std::clamp<int64_t>(tile::getNumStages(kernel), 1, 4);
  bool singleBuffer = stages < 2;
  kernel->walk([&](scf::ForOp loop) { loops.push_back(loop); });
  for (scf::ForOp loop : loops) {
    if (!loop.getInductionVar().getType().isInteger(32))
      continue;
    // Innermost loops only: an outer loop's body holds the first copies of
    // its inner loop's pipeline (walked first), which must stay where they
    // are, filling the inner loop's first tiles on every outer trip.
    if (loop.getBody()->walk([](scf::ForOp) { return WalkResult::interrupt(); }).wasInterrupted())
      continue;
    SmallVector<tile::LoadOp> loads;
    bool nested = false;
    loop.getBody()->walk([&](tile::LoadOp load) {
      if (!load->hasAttr(kAsyncCopyAttr))
        return;
      if (load->getBlock() == loop.getBody())
        loads.push_back(load);
      else
        nested = true;
    });
    if (loads.empty() || nested)
      continue;
    SmallVector<llvm::SetVector<Operation *>> slices(loads.size());
    SmallVector<tile::DotOp> lastReaders;
    bool ok = true;
    for (auto [load, slice] : llvm::zip(loads, slices)) {
      ok = ok && collectIndexSlice(loop, load.getDesc(), slice);
      for (Value index : load.getIndices())
        ok = ok && collectIndexSlice(loop, index, slice);
      if (singleBuffer) {
        lastReaders.push_back(lastReader(load, loop.getBody()));
        ok = ok && lastReaders.back();
      }
    }
    // With four stages, when one dot reads every copied tile, each copy goes
    // right after that dot, stages - 2 iterations ahead, into the buffer the
    // dot of two iterations back read: the dot's own barrier, after which
    // every warp is done with that dot (its wgmma waited for at the end of
    // the previous iteration), covers the copy, and the dot's wgmma group may
    // stay in flight into the next iteration (tessera-defer-wgmma-waits).
    // (With three, one iteration ahead did not hide the copies' latency: a
    // 128 x 128 x 64 matmul ran at 452 TFLOP/s that way, 574 copying two ahead.)
    tile::DotOp onlyReader;
    bool afterReader = false;
    if (ok && stages >= 4) {
      for (tile::LoadOp load : loads) {
        tile::DotOp last = lastReader(load, loop.getBody());
        afterReader = last && (!onlyReader || last == onlyReader);
        if (!afterReader)
          break;
        onlyReader = last;
      }
    }
    int64_t ahead = singleBuffer ? 1 : afterReader ? stages - 2 : stages - 1;
    if (!ok)
      continue;
    Location loc = loop.getLoc();
    Value lb = loop.getLowerBound(), ub = loop.getUpperBound(), step = loop.getStep();
    // Second tiles go after the loop's region (see allocateSharedMemory).
    Operation *region = topLevelLoop(loop, kernel);
    region = region ? region : loop.getOperation();
    auto regionEnd = region->getAttrOfType<IntegerAttr>(kSharedEndAttr);
    int64_t offset = regionEnd ? regionEnd.getInt() : sharedBytes;
    // Each load's buffers: its own tile, then stages - 1 more after the
    // region (one tile refilled in place for a single stage).
    SmallVector<SmallVector<int64_t>> buffers(loads.size());
    for (auto [i, load] : llvm::enumerate(loads)) {
      buffers[i].push_back(cast<IntegerAttr>(load->getAttr(kAsyncCopyAttr)).getInt());
      if (singleBuffer)
        buffers[i].push_back(buffers[i][0]);
      for (int64_t s = 1; s < stages; ++s) {
        buffers[i].push_back(offset);
        offset += llvm::alignTo(tileBytes(load.getType()), kSharedTileAlignment);
      }
    }
    // Before the loop: iterations 0 .. ahead - 1 into buffers 0 .. ahead - 1,
    // stage by stage (each copy one group, in the body's order of copies, so
    // that a dot counts the groups after its own the same way in every
    // iteration: copiesAllowedInFlight).
    OpBuilder before(loop);
    for (int64_t s = 0; s < ahead; ++s) {
      Value iv = s == 0 ? lb
                        : arith::AddIOp::create(
                              before, loc, lb,
                              arith::MulIOp::create(before, loc, step, constI32(before, loc, s)));
      Value runs = arith::CmpIOp::create(before, loc, arith::CmpIPredicate::slt, iv, ub);
      for (auto [i, load] : llvm::enumerate(loads)) {
        tile::LoadOp prologue = loadAt(before, load, loop, slices[i], iv, runs);
        prologue->setAttr(kAsyncCopyAttr, before.getI64IntegerAttr(buffers[i][s]));
      }
    }
    Operation *lastAfterReader = nullptr;
    for (auto [i, load] : llvm::enumerate(loads)) {
      const llvm::SetVector<Operation *> &slice = slices[i];
      auto bufferAttr = DenseI64ArrayAttr::get(kernel->getContext(), buffers[i]);
      // In the loop, where the load was (or after its last reader): the tile
      // of the iteration `ahead` iterations on.
      OpBuilder inside(load);
      if (singleBuffer)
        inside.setInsertionPointAfter(lastReaders[i]);
      else if (afterReader) // in the order of the loads, as before the loop
        inside.setInsertionPointAfter(lastAfterReader ? lastAfterReader
                                                      : onlyReader.getOperation());
      Value distance = ahead == 1
                           ? step
                           : arith::MulIOp::create(inside, loc, step, constI32(inside, loc, ahead));
      Value next = arith::AddIOp::create(inside, loc, loop.getInductionVar(), distance);
      Value nextRuns = arith::CmpIOp::create(inside, loc, arith::CmpIPredicate::slt, next, ub);
      tile::LoadOp copy = loadAt(inside, load, loop, slice, next, nextRuns);
      lastAfterReader = copy;
      copy->setAttr(kPrefetchBuffersAttr, bufferAttr);
      if ((singleBuffer && splitKGroups(lastReaders[i]) > 1) || afterReader)
        copy->setAttr(kAfterReadersBarrierAttr, UnitAttr::get(kernel->getContext()));
      copy->setAttr(kPrefetchNextAttr, inside.getI64IntegerAttr(ahead));
      load->removeAttr(kAsyncCopyAttr);
      load->setAttr(kPrefetchedAttr, bufferAttr);
    }
    region->setAttr(kSharedEndAttr,
                    IntegerAttr::get(IntegerType::get(kernel->getContext(), 64), offset));
    end = std::max(end, offset);
    // A dot that also waited for the next dot's copies (allocateSharedMemory)
    // would now wait for a refill issued after that dot: each waits for its
    // own, and the next dot's refilled tiles are no longer ready for it.
    if (singleBuffer)
      for (tile::DotOp dot : loop.getBody()->getOps<tile::DotOp>()) {
        if (!dot->hasAttr(kWaitsForNextAttr))
          continue;
        dot->removeAttr(kWaitsForNextAttr);
        tile::DotOp nextDot = followingDot(dot);
        auto ready = llvm::to_vector(
            nextDot->getAttrOfType<DenseI64ArrayAttr>(kStagedReadyAttr).asArrayRef());
        // Still ready: a tile an earlier dot of the body reads (and waited for).
        auto readBefore = [&](Value source) {
          for (Operation *op = &loop.getBody()->front(); op != nextDot; op = op->getNextNode())
            if (auto earlier = dyn_cast<tile::DotOp>(op))
              for (Value operand : earlier->getOperands().take_front(2))
                if (StagedOperand staged = getStagedOperand(operand);
                    staged && staged.source == source)
                  return true;
          return false;
        };
        for (unsigned operand : {0u, 1u}) {
          StagedOperand staged = getStagedOperand(nextDot->getOperand(operand));
          Operation *def = staged ? staged.source.getDefiningOp() : nullptr;
          if (def && def->hasAttr(kPrefetchedAttr) && !readBefore(staged.source))
            ready[operand] = 0;
        }
        nextDot->setAttr(kStagedReadyAttr, DenseI64ArrayAttr::get(kernel->getContext(), ready));
      }
    // A dot that exchanges partial sums between warp groups waits for the
    // next dot's refilled tiles at its exchange, a whole product after they
    // were issued (after the previous iteration's last reader), and the
    // exchange's barrier publishes them: the next dot needs none of its own.
    if (singleBuffer)
      for (tile::DotOp dot : loop.getBody()->getOps<tile::DotOp>()) {
        if (splitKGroups(dot) < 2)
          continue;
        tile::DotOp next = followingDot(dot);
        if (!next)
          continue;
        auto ready =
            llvm::to_vector(next->getAttrOfType<DenseI64ArrayAttr>(kStagedReadyAttr).asArrayRef());
        bool refilledAfter = true, waits = false;
        for (unsigned operand : {0u, 1u}) {
          StagedOperand staged = getStagedOperand(next->getOperand(operand));
          if (!staged || ready[operand])
            continue;
          Operation *def = staged.source.getDefiningOp();
          Operation *copy =
              def && def->getBlock() == loop.getBody() ? prefetchCopyOf(def) : nullptr;
          refilledAfter &= copy && next->isBeforeInBlock(copy);
          ready[operand] = 1;
          waits = true;
        }
        if (!refilledAfter || !waits)
          continue;
        dot->setAttr(kWaitsForNextAtExchangeAttr, UnitAttr::get(kernel->getContext()));
        next->setAttr(kStagedReadyAttr, DenseI64ArrayAttr::get(kernel->getContext(), ready));
      }
    // The last trip's copy (zeros, into the first tile) is never waited for
    // in the loop: drain it, or it could land on what a later copy into the
    // same tile brings (the next run of a nested loop, a sibling loop's
    // first tile).
    OpBuilder after(loop->getBlock(), std::next(Block::iterator(loop)));
    emitAsmStatement(after, loc, "cp.async.wait_group 0;");
  }
  // The regions' ends were only for this allocation.
  kernel->walk([](scf::ForOp loop) { loop->removeAttr(kSharedEndAttr); });
  // Copies issued back to back share the barrier before the first.
  auto isCopy = [](Operation *op) {
    return isa<tile::LoadOp>(op) &&
           (op->hasAttr(kAsyncCopyAttr) || op->hasAttr(kPrefetchBuffersAttr));
  };
  kernel->walk([&](tile::LoadOp load) {
    if (!isCopy(load))
      return;
    for (Operation *prev = load->getPrevNode(); prev; prev = prev->getPrevNode()) {
      if (isCopy(prev)) {
        load->setAttr(kFollowsCopyAttr, UnitAttr::get(kernel->getContext()));
        return;
      }
      if (prev->hasAttr(kPrefetchedAttr))
        continue; // copied by the previous iteration: lowers to nothing
      if (prev->getNumRegions() != 0 || !isMemoryEffectFree(prev) ||
          llvm::any_of(prev->getResultTypes(), llvm::IsaPred<RankedTensorType>))
        return;
    }
  });
  return end;
}

Value tessera::tilegpu::emitPrefetchOffset(OpBuilder &b, Location loc, Operation *op,
                                           ArrayRef<int64_t> buffers, int64_t ahead) {
  auto loop = op->getParentOfType<scf::ForOp>();
  // The iteration's number k = (iv - lb) / step; its tile is in buffer
  // k mod stages, and a copy `ahead` iterations on fills buffer
  // (k + ahead) mod stages.
  Value k = arith::DivSIOp::create(
      b, loc, arith::SubIOp::create(b, loc, loop.getInductionVar(), loop.getLowerBound()),
      loop.getStep());
  int64_t stages = buffers.size();
  if (ahead)
    k = arith::AddIOp::create(b, loc, k, constI32(b, loc, ahead));
  if (stages == 2) {
    Value parity = arith::AndIOp::create(b, loc, k, constI32(b, loc, 1));
    return arith::AddIOp::create(
        b, loc, constI32(b, loc, buffers[0]),
        arith::MulIOp::create(b, loc, parity, constI32(b, loc, buffers[1] - buffers[0])));
  }
  Value index = arith::RemUIOp::create(b, loc, k, constI32(b, loc, stages));
  Value offset = constI32(b, loc, buffers[0]);
  for (int64_t s = 1; s < stages; ++s)
    offset = arith::SelectOp::create(
        b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, index, constI32(b, loc, s)),
        constI32(b, loc, buffers[s]), offset);
  return offset;
}
