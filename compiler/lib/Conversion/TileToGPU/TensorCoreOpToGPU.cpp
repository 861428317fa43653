//===- TensorCoreOpToGPU.cpp - tile.dot on tensor cores -------------------===//
//
// A dot whose operands are in `#tile.dot_op` layouts and whose accumulator is
// in `#tile.mma` becomes one `mma.sync.m16n8k16` per (16-row block, 8-column
// block, 16-deep slice) a warp owns. Fragment positions follow the PTX ISA's
// "Matrix Fragments for mma.m16n8k16 with floating point type".
//
// Operands already in registers (the softmax numerator P of attention, an mma
// result) are used in place. An operand converted from another layout in the
// dot's own block (a K or V tile just loaded) is staged: the threads store the
// source tile into shared memory with 16-byte stores, and each k-step reads
// the fragments it needs with `ldmatrix` (`.trans` where the tile's contiguous
// dimension is not the operand's k), so that only one k-step of fragments is
// live at a time. The staged tile's 16-byte chunks are XOR-swizzled by row so
// that the eight rows one `ldmatrix` reads fall in distinct banks.
//
//===----------------------------------------------------------------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

StagedOperand tessera::tilegpu::getStagedOperand(Value operand) {
  auto type = cast<RankedTensorType>(operand.getType());
  auto layout = dyn_cast<tile::DotOperandLayoutAttr>(type.getEncoding());
  Operation *def = operand.getDefiningOp();
  if (!layout || !def || !operand.hasOneUse())
    return {};
  OpOperand &use = *operand.getUses().begin();
  auto dot = dyn_cast<tile::DotOp>(use.getOwner());
  if (!dot || use.getOperandNumber() > 1 ||
      !isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) ||
      !def->getParentRegion()->isAncestor(dot->getParentRegion()))
    return {};
  // 16-bit operands, or f32 ones of a tf32 dot.
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  if (bits != 16 && !(bits == 32 && dot.getTf32()))
    return {};
  StagedOperand staged;
  if (auto cvt = dyn_cast<tile::ConvertLayoutOp>(def)) {
    if (tile::isSameDistribution(cvt.getSrc().getType(), type) ||
        !SharedTile::fits(cvt.getSrc().getType()))
      return {};
    staged.source = cvt.getSrc();
  } else if (auto trans = dyn_cast<tile::TransOp>(def)) {
    if (!SharedTile::fits(trans.getSrc().getType()))
      return {};
    staged.source = trans.getSrc();
    staged.transposed = true;
  } else {
    return {};
  }
  staged.hoisted = def->getBlock() != dot->getBlock();
  staged.dot = dot;
  staged.operandIndex = use.getOperandNumber();
  return staged;
}

int64_t StagedOperand::offset() const {
  tile::StagingAttr staging = tile::DotOp(dot).getStagingAttr();
  assert(staging && "shared memory not allocated (tile-allocate-shared-memory)");
  return staging.getOffset(operandIndex);
}

bool StagedOperand::ready() const {
  tile::StagingAttr staging = tile::DotOp(dot).getStagingAttr();
  return staging && staging.isReady(operandIndex);
}

Value tessera::tilegpu::emitHoistedStaging(OpBuilder &b, Location loc, const StagedOperand &staged,
                                           Value source, VectorType resultType) {
  if (!staged.source.getDefiningOp<tile::SharedViewOp>()) {
    auto srcType = cast<RankedTensorType>(staged.source.getType());
    SharedTile tile(b, loc, srcType.getDimSize(0), SharedTile::units(srcType), staged.offset());
    gpu::BarrierOp::create(b, loc);
    tile.store(b, loc, source, srcType);
    gpu::BarrierOp::create(b, loc);
  }
  return LLVM::PoisonOp::create(b, loc, resultType);
}

/// Two 16-bit elements in one 32-bit register, the first in the low half.
Value tessera::tilegpu::packPair(OpBuilder &b, Location loc, Value lo, Value hi) {
  auto pairType = VectorType::get({2}, lo.getType());
  Value pair = vector::FromElementsOp::create(b, loc, pairType, ValueRange{lo, hi});
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
}

int64_t tessera::tilegpu::splitKGroups(tile::DotOp dot) {
  auto mma = dyn_cast<tile::MmaLayoutAttr>(dot.getType().getEncoding());
  if (!mma)
    return 1;
  Operation *kernel = dot->getParentOp();
  while (kernel && !kernel->hasAttr(tile::kNumWarpsAttr))
    kernel = kernel->getParentOp();
  unsigned numWarps = kernel ? tile::getNumWarps(kernel) : mma.getNumWarps();
  return std::max<int64_t>(1, numWarps / mma.getNumWarps());
}

namespace {

std::pair<Value, Value> unpackPair(OpBuilder &b, Location loc, Value reg, Type elem) {
  Value pair = LLVM::BitcastOp::create(b, loc, VectorType::get({2}, elem), reg);
  return {vector::ExtractOp::create(b, loc, pair, 0), vector::ExtractOp::create(b, loc, pair, 1)};
}

Value add(OpBuilder &b, Location loc, Value x, int64_t c) {
  return c ? arith::AddIOp::create(b, loc, x, constI32(b, loc, c)) : x;
}

} // namespace

SharedTile::SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, int64_t byteOffset)
    : rows(rows), cols(cols) {
  Value view = sharedScratch(b, loc, b.getI16Type(), rows * cols, byteOffset);
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, view);
  base = arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  panelCols = std::min<int64_t>(cols, kPanelCols);
  int64_t chunks = panelCols / 8;
  phases = std::min<int64_t>(8, chunks);
  rowsPerPhase = std::max<int64_t>(1, 8 / chunks);
}

int64_t SharedTile::swizzleBytes() const { return panelCols * 2; }

SharedTile::SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, Value byteOffset)
    : SharedTile(b, loc, rows, cols, int64_t(0)) {
  base = arith::AddIOp::create(b, loc, base, byteOffset);
}

bool SharedTile::fits(RankedTensorType type) {
  unsigned bits = type.getElementType().getIntOrFloatBitWidth();
  return type.getRank() == 2 && (bits == 16 || bits == 32) && units(type) % 8 == 0;
}

int64_t SharedTile::units(RankedTensorType type) {
  return type.getDimSize(1) * type.getElementType().getIntOrFloatBitWidth() / 16;
}

Value SharedTile::elementAddress(OpBuilder &b, Location loc, Value row, Value col,
                                 unsigned bits) const {
  Value unit = bits == 32 ? arith::ShLIOp::create(b, loc, col, constI32(b, loc, 1)) : col;
  return address(b, loc, row, arith::AndIOp::create(b, loc, unit, constI32(b, loc, ~7)),
                 arith::AndIOp::create(b, loc, unit, constI32(b, loc, 7)));
}

Value SharedTile::address(OpBuilder &b, Location loc, Value row, Value chunkStart,
                          Value inChunk) const {
  Value chunk = arith::ShRUIOp::create(b, loc, chunkStart, constI32(b, loc, 3));
  Value phase = arith::AndIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, row, constI32(b, loc, rowsPerPhase)),
      constI32(b, loc, phases - 1));
  Value tileBase = base;
  if (cols > panelCols) {
    // Panel chunk / 8, chunk chunk % 8 within it.
    Value panel = arith::ShRUIOp::create(b, loc, chunk, constI32(b, loc, 3));
    tileBase = arith::AddIOp::create(
        b, loc, base, arith::MulIOp::create(b, loc, panel, constI32(b, loc, panelBytes())));
    chunk = arith::AndIOp::create(b, loc, chunk, constI32(b, loc, 7));
  }
  Value swizzled = arith::XOrIOp::create(b, loc, chunk, phase);
  Value element = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, row, constI32(b, loc, panelCols)),
      arith::AddIOp::create(b, loc, arith::ShLIOp::create(b, loc, swizzled, constI32(b, loc, 3)),
                            inChunk));
  return arith::AddIOp::create(b, loc, tileBase,
                               arith::ShLIOp::create(b, loc, element, constI32(b, loc, 1)));
}

std::string SharedTile::Address::operand(unsigned n) const {
  std::string text = "[$" + std::to_string(n);
  if (offset)
    text += "+" + std::to_string(offset);
  return text + "]";
}

SharedTile::Address SharedTile::address(OpBuilder &b, Location loc, Value rowLane, int64_t rowConst,
                                        Value chunkLane, int64_t chunkConst) const {
  // The swizzle phase depends on row % 8 (phases * rowsPerPhase == 8): a
  // constant row offset that is a multiple of 8 leaves it alone.
  if (rowConst % 8 != 0) {
    rowLane = add(b, loc, rowLane, rowConst);
    rowConst = 0;
  }
  // chunk ^ phase = (v ^ phase) + high for chunk = v + high, high a multiple
  // of the phase count: only v (lane part plus the low constant) is swizzled.
  int64_t low = chunkConst % phases, high = chunkConst - low;
  Value v = add(b, loc, chunkLane, low);
  Value phase = arith::AndIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, rowLane, constI32(b, loc, rowsPerPhase)),
      constI32(b, loc, phases - 1));
  Value tileBase = base;
  int64_t highBytes = high * 16;
  if (cols > panelCols) {
    // Whole panels of the constant part go into the instruction; the lane
    // part may still cross into the next panel.
    highBytes = (high / 8) * panelBytes();
    Value panel = arith::ShRUIOp::create(b, loc, v, constI32(b, loc, 3));
    tileBase = arith::AddIOp::create(
        b, loc, base, arith::MulIOp::create(b, loc, panel, constI32(b, loc, panelBytes())));
    v = arith::AndIOp::create(b, loc, v, constI32(b, loc, 7));
  }
  Value swizzled = arith::XOrIOp::create(b, loc, v, phase);
  Value element = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, rowLane, constI32(b, loc, panelCols)),
      arith::ShLIOp::create(b, loc, swizzled, constI32(b, loc, 3)));
  Value reg = arith::AddIOp::create(b, loc, tileBase,
                                    arith::ShLIOp::create(b, loc, element, constI32(b, loc, 1)));
  return {reg, rowConst * panelCols * 2 + highBytes};
}

void SharedTile::storeElement(OpBuilder &b, Location loc, Value row, Value col, Value value) const {
  unsigned width = value.getType().getIntOrFloatBitWidth();
  Value bits = LLVM::BitcastOp::create(b, loc, b.getIntegerType(width), value);
  emitAsmStatement(b, loc, width == 32 ? "st.shared.b32 [$0], $1;" : "st.shared.b16 [$0], $1;",
                   {elementAddress(b, loc, row, col, width), bits}, width == 32 ? "r,r" : "r,h");
}

/// The f32 `value` rounded to the nearest tf32 (cvt.rna: low 13 bits zero),
/// as its bits (i32).
static Value roundToTf32(OpBuilder &b, Location loc, Value value) {
  return asmOp(b, loc, b.getI32Type(), ValueRange{value}, "cvt.rna.tf32.f32 $0, $1;", "=r,f",
               /*sideEffects=*/false);
}

void SharedTile::store(OpBuilder &b, Location loc, Value vec, RankedTensorType type) const {
  ThreadElements elems(type);
  SmallVector<Value> values = unpack(b, loc, vec);
  SmallVector<SmallVector<Value>> coords = elems.emitCoords(b, loc);
  if (type.getElementType().getIntOrFloatBitWidth() == 32) {
    // 32-bit tiles are tf32 operands, staged once per tile: one by one, and
    // rounded to nearest, since wgmma would truncate them (mma.sync rounds
    // them again, which changes nothing).
    for (int64_t e = 0; e < elems.size(); ++e)
      emitAsmStatement(
          b, loc, "st.shared.b32 [$0], $1;",
          {elementAddress(b, loc, coords[e][0], coords[e][1], 32), roundToTf32(b, loc, values[e])},
          "r,r");
    return;
  }
  const tile::DimDistribution &along = elems.distribution()[1];
  bool vectorized = along.holdsRunsOf(8);
  // Pairs (an mma accumulator's rows): one 32-bit store each.
  bool paired = !vectorized && along.holdsRunsOf(2);
  SmallVector<Value> bases;
  if (vectorized && !elems.wraps(0) && !elems.wraps(1))
    bases = elems.emitBases(b, loc);
  for (int64_t e = 0; e < elems.size(); ++e) {
    if (paired) {
      if (elems.multiIndex(e)[1] % 2 != 0)
        continue;
      Value c = coords[e][1];
      Value chunkStart = arith::AndIOp::create(b, loc, c, constI32(b, loc, ~7));
      Value inChunk = arith::AndIOp::create(b, loc, c, constI32(b, loc, 7));
      emitAsmStatement(b, loc, "st.shared.b32 [$0], $1;",
                       {address(b, loc, coords[e][0], chunkStart, inChunk),
                        packPair(b, loc, values[e], values[e + 1])},
                       "r,r");
      continue;
    }
    if (!vectorized) {
      storeElement(b, loc, coords[e][0], coords[e][1], values[e]);
      continue;
    }
    SmallVector<int64_t> mi = elems.multiIndex(e);
    if (mi[1] % 8 != 0)
      continue;
    Address addr{};
    if (bases.empty()) {
      addr = {address(b, loc, coords[e][0], coords[e][1], constI32(b, loc, 0)), 0};
    } else {
      Value chunkLane = arith::ShRUIOp::create(b, loc, bases[1], constI32(b, loc, 3));
      addr =
          address(b, loc, bases[0], elems.offset(0, mi[0]), chunkLane, elems.offset(1, mi[1]) / 8);
    }
    SmallVector<Value> args{addr.base};
    for (int64_t k = 0; k < 8; k += 2)
      args.push_back(packPair(b, loc, values[e + k], values[e + k + 1]));
    emitAsmStatement(b, loc, "st.shared.v4.b32 " + addr.operand(0) + ", {$1, $2, $3, $4};", args,
                     "r,r,r,r,r");
  }
}

SmallVector<Value> SharedTile::ldmatrix(OpBuilder &b, Location loc, int count, bool trans,
                                        const Address &address) const {
  Type i32 = b.getI32Type();
  SmallVector<Type> fields(count, i32);
  auto structType = LLVM::LLVMStructType::getLiteral(b.getContext(), fields);
  std::string text = "ldmatrix.sync.aligned.m8n8.x" + std::to_string(count) +
                     (trans ? ".trans" : "") + ".shared.b16 {";
  std::string constraints;
  for (int i = 0; i < count; ++i) {
    text += (i ? ", $" : "$") + std::to_string(i);
    constraints += "=r,";
  }
  text += "}, " + address.operand(count) + ";";
  constraints += "r";
  // Side effects: it must stay after the barrier that publishes the tile.
  Value s = asmOp(b, loc, structType, ValueRange{address.base}, text, constraints, true);
  SmallVector<Value> regs;
  for (int i = 0; i < count; ++i)
    regs.push_back(LLVM::ExtractValueOp::create(b, loc, s, i));
  return regs;
}

namespace {

/// The k-major-ness of a staged operand: its tile holds k along the rows'
/// contiguous dimension (A as M x K, B as N x K), the layout ldmatrix reads
/// without .trans and wgmma without its transpose flag.
bool isKMajor(const StagedOperand &staged) {
  return (staged.operandIndex == 0) != staged.transposed;
}

/// The first coordinate, along a dot operand's outer dimension (`outer`: M of
/// A, N of B), of the block the thread's warp holds.
Value emitWarpOuterOffset(OpBuilder &b, Location loc, const tile::DimDistribution &outer,
                          Value warp) {
  if (outer.warpMask == 0)
    return constI32(b, loc, 0);
  Value warpIndex = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, warp, constI32(b, loc, outer.warpShift)),
      constI32(b, loc, outer.warpMask));
  return arith::MulIOp::create(b, loc, warpIndex, constI32(b, loc, outer.warpStride));
}

/// Reads the fragments of a dot operand (`type`, a #tile.dot_op layout) from
/// a staged tile holding it (or, `transposed`, its transpose), one k-step
/// (16 deep) at a time: registers[block] = the 32-bit registers of that
/// m-block (4: a0a1, a2a3, a4a5, a6a7) or n-block (2: b0b1, b2b3).
class FragmentReader {
public:
  FragmentReader(OpBuilder &b, Location loc, RankedTensorType type, const SharedTile &tile,
                 bool transposed)
      : tile(tile), transposed(transposed), elems(type) {
    opIdx = cast<tile::DotOperandLayoutAttr>(type.getEncoding()).getOpIdx();
    outerDim = opIdx == 0 ? 0 : 1;
    auto [lane, warp] = laneAndWarp(b, loc);
    warpOuter = emitWarpOuterOffset(b, loc, elems.distribution()[outerDim], warp);
    matrix = arith::ShRUIOp::create(b, loc, lane, constI32(b, loc, 3));
    rowInMatrix = arith::AndIOp::create(b, loc, lane, constI32(b, loc, 7));
  }

  int64_t numBlocks() const {
    return opIdx == 0 ? elems.countsPerDim()[0] / 2 : elems.countsPerDim()[1];
  }

  /// Start (without the warp's offset) of outer block `block`.
  int64_t blockStart(int64_t block) const {
    const tile::DimDistribution &outer = elems.distribution()[outerDim];
    return opIdx == 0 ? outer.offsets[2 * block] : outer.offsets[block];
  }

  SmallVector<SmallVector<Value>> read(OpBuilder &b, Location loc, int64_t kStep) const {
    SmallVector<SmallVector<Value>> regs;
    if (opIdx == 0) {
      // Matrices: (rows +0, k +0), (rows +8, k +0), (rows +0, k +8), (rows +8, k +8).
      for (int64_t block = 0; block < numBlocks(); ++block) {
        Value outerOff = arith::MulIOp::create(
            b, loc, arith::AndIOp::create(b, loc, matrix, constI32(b, loc, 1)),
            constI32(b, loc, 8));
        Value kOff = arith::MulIOp::create(
            b, loc, arith::ShRUIOp::create(b, loc, matrix, constI32(b, loc, 1)),
            constI32(b, loc, 8));
        regs.push_back(load(b, loc, 4, block, outerOff, kOff, kStep));
      }
      return regs;
    }
    // B, two n-blocks per ldmatrix.x4: (n, k +0), (n, k +8), (n+1, k +0), (n+1, k +8).
    for (int64_t block = 0; block < numBlocks(); block += 2) {
      int count = block + 1 < numBlocks() ? 4 : 2;
      Value kOff = arith::MulIOp::create(
          b, loc, arith::AndIOp::create(b, loc, matrix, constI32(b, loc, 1)), constI32(b, loc, 8));
      // The second n-block may not be adjacent (warps interleave along n).
      Value second = arith::ShRUIOp::create(b, loc, matrix, constI32(b, loc, 1));
      int64_t step = count == 4 ? blockStart(block + 1) - blockStart(block) : 0;
      Value outerOff = arith::MulIOp::create(b, loc, second, constI32(b, loc, step));
      SmallVector<Value> r = load(b, loc, count, block, outerOff, kOff, kStep);
      regs.push_back({r[0], r[1]});
      if (count == 4)
        regs.push_back({r[2], r[3]});
    }
    return regs;
  }

private:
  SmallVector<Value> load(OpBuilder &b, Location loc, int count, int64_t block, Value outerOff,
                          Value kOff, int64_t kStep) const {
    // outer = warpOuter + outerOff + blockStart and k = kOff + 16·kStep:
    // lane parts and constant parts, kept apart so that the constants go
    // into the instruction rather than into registers held across loops.
    Value outerLane = arith::AddIOp::create(b, loc, warpOuter, outerOff);
    int64_t outerConst = blockStart(block), kConst = 16 * kStep;
    // In the staged tile the operand's k runs along the rows unless the
    // tile holds the operand's outer dimension as rows.
    bool kContiguous = (opIdx == 0) != transposed;
    Value rowLane = arith::AddIOp::create(b, loc, kContiguous ? outerLane : kOff, rowInMatrix);
    Value colLane = kContiguous ? kOff : outerLane;
    int64_t rowConst = kContiguous ? outerConst : kConst,
            colConst = kContiguous ? kConst : outerConst;
    SharedTile::Address address{};
    if (elems.wraps(outerDim)) {
      // Threads hold copies: coordinates modulo the tile.
      Value row = arith::AndIOp::create(b, loc, add(b, loc, rowLane, rowConst),
                                        constI32(b, loc, tile.rows - 1));
      Value col = arith::AndIOp::create(b, loc, add(b, loc, colLane, colConst),
                                        constI32(b, loc, tile.cols - 1));
      address = {tile.address(b, loc, row, col, constI32(b, loc, 0)), 0};
    } else {
      Value chunkLane = arith::ShRUIOp::create(b, loc, colLane, constI32(b, loc, 3));
      address = tile.address(b, loc, rowLane, rowConst, chunkLane, colConst / 8);
    }
    return tile.ldmatrix(b, loc, count, /*trans=*/!kContiguous, address);
  }

  const SharedTile &tile;
  bool transposed;
  ThreadElements elems;
  unsigned opIdx, outerDim;
  Value warpOuter, matrix, rowInMatrix;
};

/// One `nvvm.mma.sync` m16n8k`kDepth` (`inType`: f16, bf16 or tf32; A's
/// four and B's two 32-bit registers per block, f32 accumulators) per m-block
/// and n-block of the accumulator `c`, in place.
void emitMmaBlocks(OpBuilder &b, Location loc, NVVM::MMATypes inType, int64_t kDepth,
                   ArrayRef<SmallVector<Value>> aRegs, ArrayRef<SmallVector<Value>> bRegs,
                   const ThreadElements &cElems, SmallVectorImpl<Value> &c) {
  Type f32 = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  // The f16 instruction reads its registers as pairs of halves; bf16 and
  // tf32 read them as 32-bit words.
  auto operand = [&](Value word) -> Value {
    if (inType != NVVM::MMATypes::f16)
      return word;
    return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, b.getF16Type()), word);
  };
  for (int64_t m = 0; m < int64_t(aRegs.size()); ++m) {
    for (int64_t n = 0; n < int64_t(bRegs.size()); ++n) {
      // c0..c3: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
      int64_t cIndex[4] = {cElems.flatten({2 * m, 2 * n}), cElems.flatten({2 * m, 2 * n + 1}),
                           cElems.flatten({2 * m + 1, 2 * n}),
                           cElems.flatten({2 * m + 1, 2 * n + 1})};
      SmallVector<Value> aOperands, bOperands, cOperands;
      for (Value word : aRegs[m])
        aOperands.push_back(operand(word));
      for (Value word : bRegs[n])
        bOperands.push_back(operand(word));
      for (int64_t i : cIndex)
        cOperands.push_back(c[i]);
      Value result = NVVM::MmaOp::create(
          b, loc, resultType, aOperands, bOperands, cOperands, {16, 8, kDepth},
          /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
          std::array<NVVM::MMATypes, 2>{inType, inType},
          std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row, NVVM::MMALayout::col});
      for (int64_t i = 0; i < 4; ++i)
        c[cIndex[i]] = LLVM::ExtractValueOp::create(b, loc, result, i);
    }
  }
}

/// Reads tf32 fragments of a dot operand (`type`, a #tile.dot_op layout of
/// f32 with kWidth 2) from its staged tile with 32-bit shared loads, one
/// m16n8k8 step at a time. The k order is that of the 16-bit layouts: the
/// instruction's k-slots t and t + 4 (PTX ISA, "Matrix Fragments for
/// mma.m16n8k8" with .tf32) take k = 2t and 2t + 1 of its 8, the columns an
/// f32 accumulator already holds in lane t. Any order works if both operands
/// agree, and this one lets P of attention feed P·V from registers.
class Tf32FragmentReader {
public:
  Tf32FragmentReader(OpBuilder &b, Location loc, RankedTensorType type, const SharedTile &tile,
                     bool transposed)
      : tile(tile), elems(type) {
    opIdx = cast<tile::DotOperandLayoutAttr>(type.getEncoding()).getOpIdx();
    outerDim = opIdx == 0 ? 0 : 1;
    kContiguous = (opIdx == 0) != transposed;
    auto [lane, warp] = laneAndWarp(b, loc);
    Value warpOuter = emitWarpOuterOffset(b, loc, elems.distribution()[outerDim], warp);
    outerLane = arith::AddIOp::create(b, loc, warpOuter,
                                      arith::ShRUIOp::create(b, loc, lane, constI32(b, loc, 2)));
    kLane = arith::ShLIOp::create(b, loc, arith::AndIOp::create(b, loc, lane, constI32(b, loc, 3)),
                                  constI32(b, loc, 1));
  }

  /// registers[block]: a0..a3 of each m-block, b0 b1 of each n-block.
  SmallVector<SmallVector<Value>> read(OpBuilder &b, Location loc, int64_t kStep) const {
    SmallVector<SmallVector<Value>> regs;
    const tile::DimDistribution &outer = elems.distribution()[outerDim];
    int64_t numBlocks = opIdx == 0 ? elems.countsPerDim()[0] / 2 : elems.countsPerDim()[1];
    for (int64_t block = 0; block < numBlocks; ++block) {
      int64_t start = opIdx == 0 ? outer.offsets[2 * block] : outer.offsets[block];
      if (opIdx == 0) {
        auto [a0, a2] = readPair(b, loc, start, kStep);
        auto [a1, a3] = readPair(b, loc, start + 8, kStep);
        regs.push_back({a0, a1, a2, a3});
      } else {
        auto [b0, b1] = readPair(b, loc, start, kStep);
        regs.push_back({b0, b1});
      }
    }
    return regs;
  }

private:
  /// Elements (outer, k) and (outer, k + 1), k = 8·kStep + 2t.
  std::pair<Value, Value> readPair(OpBuilder &b, Location loc, int64_t outerConst,
                                   int64_t kStep) const {
    Value o = add(b, loc, outerLane, outerConst), k = add(b, loc, kLane, 8 * kStep);
    Value row = kContiguous ? o : k, col = kContiguous ? k : o;
    int64_t rows = tile.rows, cols = tile.cols / 2;
    if (elems.wraps(outerDim)) {
      // Threads hold copies: coordinates modulo the tile.
      row = arith::AndIOp::create(b, loc, row, constI32(b, loc, rows - 1));
      col = arith::AndIOp::create(b, loc, col, constI32(b, loc, cols - 1));
    }
    Type i32 = b.getI32Type();
    if (kContiguous) {
      // Adjacent along the row: one 8-byte load.
      auto pair = LLVM::LLVMStructType::getLiteral(b.getContext(), {i32, i32});
      Value v = asmOp(b, loc, pair, ValueRange{tile.elementAddress(b, loc, row, col, 32)},
                      "ld.shared.v2.b32 {$0, $1}, [$2];", "=r,=r,r", true);
      return {LLVM::ExtractValueOp::create(b, loc, v, 0),
              LLVM::ExtractValueOp::create(b, loc, v, 1)};
    }
    Value next = add(b, loc, row, 1);
    auto one = [&](Value r) {
      return asmOp(b, loc, i32, ValueRange{tile.elementAddress(b, loc, r, col, 32)},
                   "ld.shared.b32 $0, [$1];", "=r,r", true);
    };
    return {one(row), one(next)};
  }

  const SharedTile &tile;
  ThreadElements elems;
  unsigned opIdx, outerDim;
  bool kContiguous;
  Value outerLane, kLane;
};

/// How a dot with K split between groups of warps synchronizes the exchange
/// of its partial sums (emitSplitKSum). `published`: the dot published its
/// tiles with a barrier, after which it touches no scratch itself.
/// `alsoPublish`: emitted before the exchange's second barrier, which then
/// publishes what it waited for (the next dot's copies, with
/// publishNext = at_exchange).
struct SplitKSync {
  bool published = false;
  std::function<void(OpBuilder &)> alsoPublish;
};

/// The partial sums `part` of the `groups` groups of `groupWarps` warps that
/// split a dot's K, added up through shared memory at offset 0 in group
/// order, so that every copy of the result holds the same bits: a barrier
/// (the scratch's last readers are done; not needed when `sync.published`),
/// each thread's partials stored element-major (consecutive threads,
/// consecutive words), `sync.alsoPublish`, a barrier, the sums read back.
/// After that barrier every thread has finished reading the dot's staged
/// tiles.
SmallVector<Value> emitSplitKSum(OpBuilder &b, Location loc, ArrayRef<Value> part, int64_t groups,
                                 unsigned groupWarps, const SplitKSync &sync) {
  auto [lane, warp] = laneAndWarp(b, loc);
  Value group = arith::DivUIOp::create(b, loc, warp, constI32(b, loc, groupWarps));
  int64_t groupThreads = int64_t(groupWarps) * tile::kWarpSize, n = part.size();
  Value scratch = sharedScratch(b, loc, b.getF32Type(), groups * n * groupThreads, 0);
  Value thread = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc,
                            arith::RemUIOp::create(b, loc, warp, constI32(b, loc, groupWarps)),
                            constI32(b, loc, tile::kWarpSize)),
      lane);
  auto slot = [&](Value g, int64_t i) {
    Value row = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, g, constI32(b, loc, n)),
                                      constI32(b, loc, i));
    return toIndex(
        b, loc,
        arith::AddIOp::create(
            b, loc, arith::MulIOp::create(b, loc, row, constI32(b, loc, groupThreads)), thread));
  };
  if (!sync.published)
    gpu::BarrierOp::create(b, loc);
  for (int64_t i = 0; i < n; ++i)
    memref::StoreOp::create(b, loc, part[i], scratch, ValueRange{slot(group, i)});
  if (sync.alsoPublish)
    sync.alsoPublish(b);
  gpu::BarrierOp::create(b, loc);
  SmallVector<Value> sum(n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      Value v = memref::LoadOp::create(b, loc, scratch, ValueRange{slot(constI32(b, loc, g), i)});
      sum[i] = g == 0 ? v : arith::AddFOp::create(b, loc, sum[i], v);
    }
  return sum;
}

/// The k-steps of an mma.sync dot, run by `step(k, acc)`. With K split
/// among `groups` groups of warps, group g runs the g-th share of them, on
/// `acc` (g = 0) or on zeros, and emitSplitKSum adds up the groups' sums.
SmallVector<Value> emitKSteps(OpBuilder &b, Location loc, int64_t kSteps, int64_t groups,
                              unsigned groupWarps, const SplitKSync &sync, SmallVector<Value> acc,
                              function_ref<void(int64_t, SmallVectorImpl<Value> &)> step) {
  if (groups == 1) {
    for (int64_t k = 0; k < kSteps; ++k)
      step(k, acc);
    return acc;
  }
  auto [lane, warp] = laneAndWarp(b, loc);
  Value group = arith::DivUIOp::create(b, loc, warp, constI32(b, loc, groupWarps));
  SmallVector<Type> types(acc.size(), b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.f));
  // if (group == 0) {...} else if (group == 1) {...} ... else {last group}
  std::function<SmallVector<Value>(int64_t)> emitGroup = [&](int64_t g) -> SmallVector<Value> {
    auto run = [&]() {
      SmallVector<Value> part = g == 0 ? acc : SmallVector<Value>(acc.size(), zero);
      for (int64_t k = g * kSteps / groups; k < (g + 1) * kSteps / groups; ++k)
        step(k, part);
      return part;
    };
    if (g + 1 == groups)
      return run();
    Value isG = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, group, constI32(b, loc, g));
    auto ifOp = scf::IfOp::create(b, loc, types, isG, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, loc, run());
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(b, loc, emitGroup(g + 1));
    return SmallVector<Value>(ifOp.getResults());
  };
  return emitSplitKSum(b, loc, emitGroup(0), groups, groupWarps, sync);
}

/// The m16n8k8 tf32 mmas of a dot: per 8-deep k-step, m-block and n-block.
/// Staged operands that both hold k along their rows are read with ldmatrix
/// in the instruction's own k order (the 16-bit reader, 8 f32 = 16 units per
/// step); otherwise every operand uses the 16-bit layouts' order (see
/// Tf32FragmentReader), registers included.
SmallVector<Value> emitTf32Mma(OpBuilder &b, Location loc, tile::DotOp op, Value aVec, Value bVec,
                               Value accVec, const StagedOperand &stagedA, const SharedTile *tileA,
                               const StagedOperand &stagedB, const SharedTile *tileB,
                               const SplitKSync &sync) {
  RankedTensorType aType = op.getA().getType(), bType = op.getB().getType(), cType = op.getType();
  ThreadElements aElems(aType), bElems(bType), cElems(cType);
  bool natural = stagedA && stagedB && isKMajor(stagedA) && isKMajor(stagedB);
  std::optional<FragmentReader> fragA, fragB;
  std::optional<Tf32FragmentReader> tf32A, tf32B;
  if (natural) {
    fragA.emplace(b, loc, aType, *tileA, stagedA.transposed);
    fragB.emplace(b, loc, bType, *tileB, stagedB.transposed);
  } else {
    if (stagedA)
      tf32A.emplace(b, loc, aType, *tileA, stagedA.transposed);
    if (stagedB)
      tf32B.emplace(b, loc, bType, *tileB, stagedB.transposed);
  }
  Type i32 = b.getI32Type();
  auto bits = [&](Value f) { return LLVM::BitcastOp::create(b, loc, i32, f).getResult(); };
  SmallVector<Value> a, bv;
  if (!stagedA)
    a = unpack(b, loc, aVec);
  if (!stagedB)
    bv = unpack(b, loc, bVec);
  int64_t mBlocks = cElems.countsPerDim()[0] / 2, nBlocks = cElems.countsPerDim()[1] / 2;
  int64_t kSteps = aType.getDimSize(1) / 8;
  auto step = [&](int64_t k, SmallVectorImpl<Value> &c) {
    // This step's pair of columns among the thread's four per 16-deep block.
    int64_t col = 4 * (k / 2) + 2 * (k % 2);
    SmallVector<SmallVector<Value>> aRegs, bRegs;
    if (fragA)
      aRegs = fragA->read(b, loc, k);
    else if (tf32A)
      aRegs = tf32A->read(b, loc, k);
    else
      for (int64_t m = 0; m < mBlocks; ++m) {
        auto at = [&](int64_t row, int64_t i) {
          return bits(a[aElems.flatten({2 * m + row, col + i})]);
        };
        aRegs.push_back({at(0, 0), at(1, 0), at(0, 1), at(1, 1)});
      }
    if (fragB)
      bRegs = fragB->read(b, loc, k);
    else if (tf32B)
      bRegs = tf32B->read(b, loc, k);
    else
      for (int64_t n = 0; n < nBlocks; ++n)
        bRegs.push_back(
            {bits(bv[bElems.flatten({col, n})]), bits(bv[bElems.flatten({col + 1, n})])});
    // The tensor cores ignore an operand's low 13 bits: truncation, which
    // biases every product toward zero (by 2^-11 on average, and the
    // log-sum-exp of attention visibly). Adding half a TF32 ulp first rounds
    // to nearest instead (CUTLASS's round-half-ulp-truncate), one integer add.
    Value halfUlp = constI32(b, loc, 0x1000);
    for (auto *regs : {&aRegs, &bRegs})
      for (SmallVector<Value> &block : *regs)
        for (Value &reg : block)
          reg = arith::AddIOp::create(b, loc, reg, halfUlp);
    emitMmaBlocks(b, loc, NVVM::MMATypes::tf32, /*kDepth=*/8, aRegs, bRegs, cElems, c);
  };
  auto mma = cast<tile::MmaLayoutAttr>(cType.getEncoding());
  return emitKSteps(b, loc, kSteps, splitKGroups(op), mma.getNumWarps(), sync,
                    unpack(b, loc, accVec), step);
}

/// How many of the most recent cp.async groups `dot` may leave in flight:
/// the copies committed in its block after the last one it reads (a V tile
/// copied after the K tile the QKᵀ dot reads keeps loading during it).
/// Copies hoisted out of the dot's loop are older than all of those.
int64_t copiesAllowedInFlight(tile::DotOp dot, ArrayRef<StagedOperand> staged) {
  auto isCopy = llvm::IsaPred<tile::AsyncCopyOp>;
  // Prefetched tiles were committed by the previous iteration's copy (just
  // before the view): every copy after it then, and every copy of this
  // iteration before the dot, may still run.
  std::optional<int64_t> prefetched;
  for (const StagedOperand &operand : staged) {
    // The copy of the tile (its buffers) in the loop's body: where the load
    // was, or after the tile's last reader (one stage).
    auto view = operand ? operand.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    tile::AsyncCopyOp copy = view ? prefetchCopyOf(view) : tile::AsyncCopyOp();
    if (!copy)
      continue;
    int64_t count = 0, perIteration = 0;
    for (Operation *op = copy->getNextNode(); op; op = op->getNextNode())
      count += isCopy(op);
    for (Operation *op = &dot->getBlock()->front(); op != dot.getOperation();
         op = op->getNextNode())
      count += isCopy(op);
    for (Operation &op : *dot->getBlock())
      perIteration += isCopy(&op);
    // The tile was copied `distance` iterations ago: the iterations between
    // issued their copies after it too.
    count += (copy.getDistance() - 1) * perIteration;
    prefetched = std::min(prefetched.value_or(count), count);
  }
  if (prefetched)
    return *prefetched;
  Operation *newestNeeded = nullptr;
  for (const StagedOperand &operand : staged) {
    auto view = operand ? operand.source.getDefiningOp<tile::SharedViewOp>() : nullptr;
    if (!view || view->getBlock() != dot->getBlock())
      continue;
    for (Operation *user : view.getBuffer().getUsers())
      if (isa<tile::AsyncCopyOp>(user) && user->getBlock() == dot->getBlock() &&
          (!newestNeeded || newestNeeded->isBeforeInBlock(user)))
        newestNeeded = user;
  }
  int64_t later = 0;
  for (Operation *op = newestNeeded ? newestNeeded->getNextNode() : &dot->getBlock()->front();
       op && op != dot.getOperation(); op = op->getNextNode()) {
    if (op->getNumRegions() != 0 &&
        op->walk([](tile::AsyncCopyOp) { return WalkResult::interrupt(); }).wasInterrupted())
      return 0; // copies in nested regions: count nothing, wait for all
    later += isCopy(op);
  }
  return later;
}

/// Whether `dot`'s wgmma group may still run while the next iteration of its
/// loop begins: every staged operand is either stored once before the loop
/// or copied in it by a copy placed after the dot into the buffer the dot of
/// two iterations back read (tile-pipeline-copies with four stages),
/// so nothing the next iteration writes before its own wgmma is a tile this
/// one reads.
bool mayRunIntoNextIteration(tile::DotOp dot) {
  if (!isa<scf::ForOp>(dot->getParentOp()))
    return false;
  for (Value operand : dot->getOperands().take_front(2)) {
    StagedOperand staged = getStagedOperand(operand);
    if (!staged || staged.hoisted)
      continue;
    auto view = staged.source.getDefiningOp<tile::SharedViewOp>();
    int64_t buffers = view ? view.getBuffer().getType().getBuffers() : 0;
    if (buffers < 4)
      return false;
    // Copied after the dot into the buffer of two iterations back.
    if (tile::AsyncCopyOp copy = prefetchCopyOf(view)) {
      if (!dot->isBeforeInBlock(copy) || copy.getDistance() != buffers - 2)
        return false;
      continue;
    }
    // Or by TMA (tile-use-tma) into that buffer after the barrier that opens
    // the body, which every warp reaches only after the previous iteration's
    // wait left at most that iteration's group running.
    tile::TmaCopyOp tma;
    for (Operation *user : view.getBuffer().getUsers())
      if (auto copy = dyn_cast<tile::TmaCopyOp>(user); copy && copy->getBlock() == dot->getBlock())
        tma = copy;
    auto opening = dyn_cast<gpu::BarrierOp>(&dot->getBlock()->front());
    if (tma && tma.getDistance() == buffers - 2 && opening)
      continue;
    // Or by a producer warpgroup (tile-warp-specialize), once this loop
    // releases the buffer two iterations later.
    bool releasedLater = false;
    for (auto arrive : dot->getBlock()->getOps<tile::MBarrierArriveOp>())
      releasedLater |= arrive->isBeforeInBlock(dot) && arrive.getDistance() == 2;
    if (tma || !releasedLater)
      return false;
  }
  return true;
}

/// Warpgroup MMA on sm_90a (PTX ISA, "Asynchronous Warpgroup Level Matrix
/// Multiply-Accumulate"): four consecutive warps issue one
/// `wgmma.mma_async.m64nNk16` (16-bit) or `m64nNk8` (tf32) per 64-row slab
/// and k-step, B (and A unless it is held in registers) read by the tensor
/// cores straight from its shared tile through a matrix descriptor. The
/// accumulator fragment of each warp is the mma.sync m16n8 fragment repeated
/// along N, and 16-bit A in registers is the m16n8k16 A fragment, so
/// `#tile.mma<[W, C]>` (W a multiple of 4) and its dot operands describe
/// wgmma's registers too. With C > 1 warp columns, warpgroup c owns the
/// column blocks c, c + C, ... (the layout's interleave): a k-major B tile
/// read with C times the usual stride between its 8-row groups.
///
/// tf32 reads staged operands k-major (wgmma has no transpose for 32-bit
/// types) and ignores their low 13 bits: the tiles hold values rounded to
/// tf32 already (SharedTile::store, emitRoundCopiedToTf32 for copied ones,
/// or the load's producer). Its A registers take k in another order than an
/// f32 accumulator holds it (emitTf32WarpgroupARegs moves them).
///
/// With K split among groups of warps (getDotMmaLayout), each group issues
/// the same instructions on its own share of the k-steps, through
/// descriptors moved by the group's offset into A and B; that needs A
/// staged and every share to start on a swizzle panel of a k-major tile.
/// Whether `dot`'s kernel keeps to mma.sync (tile::kWarpgroupMmaAttr false).
bool keepsToMmaSync(tile::DotOp dot) {
  for (Operation *op = dot->getParentOp(); op; op = op->getParentOp())
    if (auto wgmma = op->getAttrOfType<BoolAttr>(tile::kWarpgroupMmaAttr))
      return !wgmma.getValue();
  return false;
}

bool fitsWarpgroupMma(tile::DotOp op, const StagedOperand &stagedA, const StagedOperand &stagedB) {
  RankedTensorType cType = op.getType();
  auto mma = cast<tile::MmaLayoutAttr>(cType.getEncoding());
  unsigned warpsM = mma.getWarpsPerCTA()[0], warpsN = mma.getWarpsPerCTA()[1];
  int64_t m = cType.getDimSize(0), n = cType.getDimSize(1);
  if (keepsToMmaSync(op) || warpsM % 4 != 0 || m % (16 * warpsM) != 0 || n % (8 * warpsN) != 0 ||
      n / warpsN > 256 || !stagedB)
    return false;
  if (int64_t groups = splitKGroups(op); groups > 1) {
    int64_t kSteps = SharedTile::units(op.getA().getType()) / 16;
    if (!stagedA || kSteps % groups != 0)
      return false;
    int64_t shareUnits = 16 * (kSteps / groups);
    for (const StagedOperand *staged : {&stagedA, &stagedB}) {
      int64_t units = SharedTile::units(cast<RankedTensorType>(staged->source.getType()));
      if (isKMajor(*staged) && shareUnits % std::min<int64_t>(units, SharedTile::kPanelCols) != 0)
        return false;
    }
  }
  bool tf32 = op.getA().getType().getElementType().isF32();
  if (tf32 && ((stagedA && !isKMajor(stagedA)) || !isKMajor(stagedB)))
    return false;
  if (warpsN > 1 && !isKMajor(stagedB))
    return false; // an MN-major B's columns are contiguous within a panel
  // Each staged tile must be a swizzled canonical layout: panels of 16, 32
  // or 64 units, whole 8-row groups.
  for (const StagedOperand *staged : {&stagedA, &stagedB}) {
    if (!*staged)
      continue;
    auto type = cast<RankedTensorType>(staged->source.getType());
    if (type.getDimSize(0) % 8 != 0 || SharedTile::units(type) % 16 != 0)
      return false;
  }
  return true;
}

/// The descriptor (PTX ISA, "Matrix Descriptor Format") of the operand at
/// shared byte address `address` in `tile`: start address, leading- and
/// stride-dimension byte offsets and swizzle mode. Along a k-major tile's
/// rows the 8-row core-matrix groups are one swizzle period apart (SBO), or
/// `groupStride` periods for a warpgroup that reads every groupStride-th
/// group; along an MN-major tile's columns the panels are (LBO), its 8-row
/// groups along k again one period (SBO).
Value emitMatrixDescriptor(OpBuilder &b, Location loc, const SharedTile &tile, Value address,
                           int64_t groupStride = 1) {
  int64_t swizzle = tile.swizzleBytes();
  int64_t mode = swizzle == 128 ? 1 : swizzle == 64 ? 2 : 3;
  uint64_t fields = (uint64_t(tile.panelBytes() >> 4) << 16) |
                    (uint64_t((8 * swizzle * groupStride) >> 4) << 32) | (uint64_t(mode) << 62);
  Type i64 = b.getI64Type();
  Value encoded =
      arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, address, constI32(b, loc, 4)),
                            constI32(b, loc, 0x3FFF));
  return arith::OrIOp::create(
      b, loc, arith::ExtUIOp::create(b, loc, i64, encoded),
      arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(int64_t(fields))));
}

/// Byte offset, in `tile`, of the operand's k-step `kStep` (and, for A, of
/// the slab starting at row/column `outerStart` when that is constant). A
/// k-step is 16 units either way: 16 16-bit elements or 8 tf32 ones.
int64_t operandOffset(const SharedTile &tile, bool kMajor, int64_t kStep, int64_t outerStart) {
  int64_t k = 16 * kStep;
  if (kMajor)
    return outerStart * tile.swizzleBytes() + (k / tile.panelCols) * tile.panelBytes() +
           (k % tile.panelCols) * 2;
  return k * tile.swizzleBytes() + (outerStart / tile.panelCols) * tile.panelBytes() +
         (outerStart % tile.panelCols) * 2;
}

/// wgmma's tf32 A registers of k-step `k` (8 deep) and 16-row slab `slab`,
/// rounded to nearest: a0..a3 = (g, t), (g+8, t), (g, t+4), (g+8, t+4) of
/// the step, g = lane / 4, t = lane % 4 (PTX ISA, "Register Fragment" of
/// wgmma .tf32 A). The dot_op layout holds columns 2t and 2t+1 of the step
/// instead (those of an f32 accumulator), so column c of row g comes from
/// lane 4g + c / 2, register c % 2: two shuffles per wanted column.
SmallVector<Value> emitTf32WarpgroupARegs(OpBuilder &b, Location loc, ArrayRef<Value> a,
                                          const ThreadElements &aElems, int64_t k, int64_t slab) {
  auto [lane, warp] = laneAndWarp(b, loc);
  Value t = arith::AndIOp::create(b, loc, lane, constI32(b, loc, 3));
  Value srcLo =
      arith::OrIOp::create(b, loc, arith::AndIOp::create(b, loc, lane, constI32(b, loc, ~3)),
                           arith::ShRUIOp::create(b, loc, t, constI32(b, loc, 1)));
  Value srcHi = add(b, loc, srcLo, 2);
  Value odd = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                    arith::AndIOp::create(b, loc, t, constI32(b, loc, 1)),
                                    constI32(b, loc, 0));
  Value width = constI32(b, loc, tile::kWarpSize);
  int64_t col = 4 * (k / 2) + 2 * (k % 2);
  auto fetch = [&](int64_t row, Value src) {
    Value x0 = a[aElems.flatten({2 * slab + row, col})],
          x1 = a[aElems.flatten({2 * slab + row, col + 1})];
    Value v0 =
        gpu::ShuffleOp::create(b, loc, x0, src, width, gpu::ShuffleMode::IDX).getShuffleResult();
    Value v1 =
        gpu::ShuffleOp::create(b, loc, x1, src, width, gpu::ShuffleMode::IDX).getShuffleResult();
    return roundToTf32(b, loc, arith::SelectOp::create(b, loc, odd, v1, v0));
  };
  return {fetch(0, srcLo), fetch(1, srcLo), fetch(0, srcHi), fetch(1, srcHi)};
}

/// Emits the whole dot as one inline-assembly block: fence, every wgmma of
/// every k-step and slab, commit, and a wait for all of them, so that nothing
/// touches the accumulator registers while the tensor cores own them.
/// `aRegs[k][slab]` are A's registers when A is not staged.
SmallVector<Value> emitWarpgroupMma(OpBuilder &b, Location loc, tile::DotOp op,
                                    const StagedOperand &stagedA, const SharedTile *tileA,
                                    const StagedOperand &stagedB, const SharedTile &tileB,
                                    ArrayRef<SmallVector<SmallVector<Value>>> aRegs,
                                    ArrayRef<Value> acc, const SplitKSync &sync) {
  RankedTensorType cType = op.getType();
  ThreadElements cElems(cType);
  auto mma = cast<tile::MmaLayoutAttr>(cType.getEncoding());
  unsigned warpsM = mma.getWarpsPerCTA()[0], warpsN = mma.getWarpsPerCTA()[1];
  // The n of each warpgroup's instruction: its share of the columns.
  int64_t n = cType.getDimSize(1) / warpsN;
  int64_t slabs = cElems.countsPerDim()[0] / 2;
  Type inType = op.getA().getType().getElementType();
  bool tf32 = inType.isF32();
  // Split K: group g of the layout's warps runs k-steps [g·kSteps, (g+1)·kSteps).
  int64_t groups = splitKGroups(op);
  unsigned groupWarps = mma.getNumWarps();
  int64_t kSteps = SharedTile::units(op.getA().getType()) / 16 / groups;
  std::string in = tf32 ? "tf32" : inType.isBF16() ? "bf16" : "f16";
  std::string shape = "m64n" + std::to_string(n) + (tf32 ? "k8" : "k16");

  // Warp w is at row block w % W and column block w / W: slab r of the
  // warpgroup at rows 64·g (g = (w % W) / 4) starts at row 64·g + 16·W·r,
  // and warpgroup column c = w / W reads B's 8-row groups c, c + C, ...
  auto [lane, warp] = laneAndWarp(b, loc);
  Value group;
  if (groups > 1) {
    group = arith::DivUIOp::create(b, loc, warp, constI32(b, loc, groupWarps));
    warp = arith::RemUIOp::create(b, loc, warp, constI32(b, loc, groupWarps));
  }
  // The byte offset of the group's first k-step in `tile`.
  auto shareStart = [&](const SharedTile &tile, bool kMajor) {
    return arith::MulIOp::create(b, loc, group,
                                 constI32(b, loc, operandOffset(tile, kMajor, kSteps, 0)));
  };
  Value warpInColumn =
      warpsN > 1 ? arith::RemUIOp::create(b, loc, warp, constI32(b, loc, warpsM)) : warp;
  Value warpgroupRow = arith::MulIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, warpInColumn, constI32(b, loc, 2)),
      constI32(b, loc, 64));
  Value descA, descB;
  bool kMajorA = stagedA && isKMajor(stagedA), kMajorB = isKMajor(stagedB);
  Value startB = tileB.start();
  if (groups > 1)
    startB = arith::AddIOp::create(b, loc, startB, shareStart(tileB, kMajorB));
  if (warpsN > 1) {
    Value column = arith::DivUIOp::create(b, loc, warp, constI32(b, loc, warpsM));
    Value groupBytes =
        arith::MulIOp::create(b, loc, column, constI32(b, loc, 8 * tileB.swizzleBytes()));
    descB = emitMatrixDescriptor(b, loc, tileB, arith::AddIOp::create(b, loc, startB, groupBytes),
                                 warpsN);
  } else {
    descB = emitMatrixDescriptor(b, loc, tileB, startB);
  }
  if (stagedA) {
    // The warpgroup's rows (k-major) or columns (a panel per 64, MN-major).
    Value rowBytes =
        kMajorA
            ? arith::MulIOp::create(b, loc, warpgroupRow, constI32(b, loc, tileA->swizzleBytes()))
            : arith::MulIOp::create(
                  b, loc,
                  arith::DivUIOp::create(b, loc, warpgroupRow, constI32(b, loc, tileA->panelCols)),
                  constI32(b, loc, tileA->panelBytes()));
    if (groups > 1)
      rowBytes = arith::AddIOp::create(b, loc, rowBytes, shareStart(*tileA, kMajorA));
    descA = emitMatrixDescriptor(b, loc, *tileA,
                                 arith::AddIOp::create(b, loc, tileA->start(), rowBytes));
  }

  // Operands: accumulators (outputs, tied inputs at the end), the
  // descriptors, scale-d, then A's registers.
  int64_t numAcc = cElems.size();
  SmallVector<Value> args;
  std::string constraints;
  for (int64_t i = 0; i < numAcc; ++i)
    constraints += "=f,";
  int64_t next = numAcc;
  auto operand = [&](Value v, StringRef constraint) {
    args.push_back(v);
    constraints += constraint.str() + ",";
    return "$" + std::to_string(next++);
  };
  std::string descBOp = operand(descB, "l");
  std::string descAOp = stagedA ? operand(descA, "l") : "";
  // A zero accumulator is not read: the first k-step's scale-d is false,
  // and its registers come in undefined rather than zeroed one by one. With
  // K split, only group 0 starts from the accumulator.
  bool zeroAcc = matchPattern(op.getAcc(), m_AnyZeroFloat());
  Value scale = constI32(b, loc, zeroAcc ? 0 : 1);
  if (groups > 1 && !zeroAcc)
    scale = arith::ExtUIOp::create(
        b, loc, b.getI32Type(),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, group, constI32(b, loc, 0)));
  std::string scaleOp = operand(scale, "r");
  SmallVector<SmallVector<SmallVector<std::string>>> aOps(kSteps);
  if (!stagedA)
    for (int64_t k = 0; k < kSteps; ++k)
      for (int64_t r = 0; r < slabs; ++r) {
        aOps[k].emplace_back();
        for (Value reg : aRegs[k][r])
          aOps[k].back().push_back(operand(reg, "r"));
      }

  std::string text =
      "{\n.reg .pred first_d, scale_d;\n.reg .b64 desc_a, desc_b;\nsetp.ne.b32 first_d, " +
      scaleOp + ", 0;\nsetp.eq.b32 scale_d, " + scaleOp + ", " + scaleOp +
      ";\nwgmma.fence.sync.aligned;\n";
  for (int64_t k = 0; k < kSteps; ++k) {
    int64_t offB = operandOffset(tileB, kMajorB, k, 0);
    text += "add.s64 desc_b, " + descBOp + ", " + std::to_string(offB >> 4) + ";\n";
    for (int64_t r = 0; r < slabs; ++r) {
      std::string aText;
      if (stagedA) {
        int64_t offA = operandOffset(*tileA, kMajorA, k, 16 * warpsM * r);
        text += "add.s64 desc_a, " + descAOp + ", " + std::to_string(offA >> 4) + ";\n";
        aText = "desc_a";
      } else {
        aText = "{" + llvm::join(aOps[k][r], ", ") + "}";
      }
      std::string dText;
      for (int64_t j = 0; j < n / 8; ++j)
        for (int64_t half : {0, 1})
          for (int64_t col : {0, 1})
            dText += (dText.empty() ? "$" : ", $") +
                     std::to_string(cElems.flatten({2 * r + half, 2 * j + col}));
      // 16-bit types take transpose flags (A's only when A is staged).
      std::string transposes;
      if (!tf32)
        transposes = ", " + (stagedA ? std::to_string(kMajorA ? 0 : 1) + ", " : std::string()) +
                     (kMajorB ? "0" : "1");
      text += "wgmma.mma_async.sync.aligned." + shape + ".f32." + in + "." + in + " {" + dText +
              "}, " + aText + ", desc_b, " + (k == 0 ? "first_d" : "scale_d") + ", 1, 1" +
              transposes + ";\n";
    }
  }
  text += "}";
  Value undefAcc = zeroAcc ? LLVM::UndefOp::create(b, loc, b.getF32Type()) : Value();
  for (int64_t i = 0; i < numAcc; ++i) {
    args.push_back(zeroAcc ? undefAcc : acc[i]);
    constraints += std::to_string(i) + (i + 1 < numAcc ? "," : "");
  }
  SmallVector<Type> fields(numAcc, b.getF32Type());
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), fields);
  // The fence stays in the assembly with the instructions: nothing may move
  // an accumulator register between them. The commit closes the group.
  Value issued = asmOp(b, loc, resultType, args, text, constraints, /*sideEffects=*/true);
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  // The accumulators belong to the tensor cores until this wait; it returns
  // them tied to the same registers, so that nothing reads or moves them in
  // between. defer-wgmma-waits sinks it to their first use.
  SmallVector<Value> pending;
  for (int64_t i = 0; i < numAcc; ++i)
    pending.push_back(LLVM::ExtractValueOp::create(b, loc, issued, i));
  auto wait = tile::WarpgroupWaitOp::create(b, loc, TypeRange(ValueRange(pending)), pending,
                                            /*pending=*/0, mayRunIntoNextIteration(op));
  SmallVector<Value> out(wait.getResults());
  if (groups > 1)
    return emitSplitKSum(b, loc, out, groups, groupWarps, sync);
  return out;
}

/// The shared tile of a staged operand: its own, or this iteration's of the
/// two a prefetched load alternates between.
SharedTile emitStagedTile(OpBuilder &b, Location loc, const StagedOperand &staged) {
  auto type = cast<RankedTensorType>(staged.source.getType());
  if (auto view = staged.source.getDefiningOp<tile::SharedViewOp>())
    return SharedTile(b, loc, type.getDimSize(0), SharedTile::units(type),
                      emitBufferOffset(b, loc, view.getBuffer(), view.getSlot()));
  return SharedTile(b, loc, type.getDimSize(0), SharedTile::units(type), staged.offset());
}

bool isCopied(const StagedOperand &staged) {
  return bool(staged.source.getDefiningOp<tile::SharedViewOp>());
}

/// A tf32 dot that lowers to wgmma (on sm_90a).
bool isTf32WarpgroupMma(tile::DotOp dot) {
  return dot.getTf32() && dot.getA().getType().getElementType().isF32() &&
         isa<tile::MmaLayoutAttr>(dot.getType().getEncoding()) &&
         fitsWarpgroupMma(dot, getStagedOperand(dot.getA()), getStagedOperand(dot.getB()));
}

} // namespace

bool tessera::tilegpu::mustRoundCopiedToTf32(Value source) {
  auto load = source.getDefiningOp<tile::LoadOp>();
  auto view = source.getDefiningOp<tile::SharedViewOp>();
  if (!cast<RankedTensorType>(source.getType()).getElementType().isF32() ||
      (load && load.getTf32Rounded()) || (view && view.getTf32Rounded()))
    return false;
  return llvm::any_of(source.getUsers(), [](Operation *user) {
    if (user->getNumResults() != 1)
      return false;
    StagedOperand staged = getStagedOperand(user->getResult(0));
    return staged && isTf32WarpgroupMma(staged.dot);
  });
}

void tessera::tilegpu::emitRoundCopiedToTf32(OpBuilder &b, Location loc, const SharedTile &tile,
                                             RankedTensorType type) {
  ThreadElements elems(type);
  SmallVector<SmallVector<Value>> coords = elems.emitCoords(b, loc);
  bool chunks = elems.distribution().back().holdsRunsOf(4);
  for (int64_t e = 0; e < elems.size(); ++e) {
    if (chunks && elems.multiIndex(e).back() % 4 != 0)
      continue;
    Value address = tile.elementAddress(b, loc, coords[e][0], coords[e][1], 32);
    if (!chunks) {
      emitAsmStatement(b, loc,
                       "{\n.reg .b32 x;\nld.shared.b32 x, [$0];\ncvt.rna.tf32.f32 x, x;\n"
                       "st.shared.b32 [$0], x;\n}",
                       {address}, "r");
      continue;
    }
    emitAsmStatement(b, loc,
                     "{\n.reg .b32 x<4>;\nld.shared.v4.b32 {x0, x1, x2, x3}, [$0];\n"
                     "cvt.rna.tf32.f32 x0, x0;\ncvt.rna.tf32.f32 x1, x1;\n"
                     "cvt.rna.tf32.f32 x2, x2;\ncvt.rna.tf32.f32 x3, x3;\n"
                     "st.shared.v4.b32 [$0], {x0, x1, x2, x3};\n}",
                     {address}, "r");
  }
}

namespace {

struct DotOpToMMA : OpConversionPattern<tile::DotOp> {
  // Preferred over the CUDA-core lowering wherever the layouts allow it.
  DotOpToMMA(TypeConverter &converter, MLIRContext *ctx, bool warpgroupMma)
      : OpConversionPattern(converter, ctx, /*benefit=*/2), warpgroupMma(warpgroupMma) {}
  bool warpgroupMma;

  LogicalResult matchAndRewrite(tile::DotOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    RankedTensorType aType = op.getA().getType(), bType = op.getB().getType(), cType = op.getType();
    auto mma = dyn_cast<tile::MmaLayoutAttr>(cType.getEncoding());
    if (!mma || !isa<tile::DotOperandLayoutAttr>(aType.getEncoding()) ||
        !isa<tile::DotOperandLayoutAttr>(bType.getEncoding()))
      return rewriter.notifyMatchFailure(op, "expects mma and dot_op layouts");
    Type in = aType.getElementType();
    Location loc = op.getLoc();

    // Staged operands: copied asynchronously by their load, or stored here
    // from registers, each into its own shared tile.
    StagedOperand stagedA = getStagedOperand(op.getA()), stagedB = getStagedOperand(op.getB());
    std::optional<SharedTile> tileA, tileB;
    bool mustWait = false, stored = false;
    bool allReady = true;
    for (auto [staged, tile] : {std::pair{&stagedA, &tileA}, std::pair{&stagedB, &tileB}}) {
      if (!*staged)
        continue;
      auto srcType = cast<RankedTensorType>(staged->source.getType());
      // Filled and published already (#tile.staging).
      bool ready = staged->ready();
      allReady &= ready;
      tile->emplace(emitStagedTile(rewriter, loc, *staged));
      if (isCopied(*staged)) {
        mustWait |= !ready;
        continue;
      }
      if (staged->hoisted || ready)
        continue; // stored once, before the loop, or by the earlier dot
      if (!stored)
        gpu::BarrierOp::create(rewriter, loc); // the last readers of the tiles are done
      stored = true;
      (*tile)->store(rewriter, loc, rewriter.getRemappedValue(staged->source), srcType);
    }
    // The next dot's copies too, where it reads them straight after this one.
    SmallVector<StagedOperand> waitedFor = {stagedA, stagedB};
    tile::StagingAttr staging = op.getStagingAttr();
    tile::PublishNext publishNext = staging ? staging.getPublishNext() : tile::PublishNext::none;
    if (publishNext == tile::PublishNext::at_start) {
      tile::DotOp next = followingDot(op);
      assert(next && "publishNext without a next dot");
      for (Value operand : next->getOperands().take_front(2))
        if (StagedOperand staged = getStagedOperand(operand))
          waitedFor.push_back(staged);
      mustWait = true;
    }
    // The next dot's copies, waited for at this dot's exchange of partial
    // sums instead (publishNext = at_exchange): its barrier publishes them.
    SmallVector<StagedOperand> atExchange;
    if (publishNext == tile::PublishNext::at_exchange) {
      tile::DotOp next = followingDot(op);
      assert(next && "publishNext without a next dot");
      for (Value operand : next->getOperands().take_front(2))
        if (StagedOperand staged = getStagedOperand(operand); staged && isCopied(staged))
          atExchange.push_back(staged);
    }
    SplitKSync sync;
    if (!atExchange.empty())
      sync.alsoPublish = [&, atExchange](OpBuilder &b) {
        emitAsyncWait(b, loc, copiesAllowedInFlight(op, atExchange));
        if (!warpgroupMma)
          return;
        for (const StagedOperand &staged : atExchange)
          if (mustRoundCopiedToTf32(staged.source))
            emitRoundCopiedToTf32(b, loc, emitStagedTile(b, loc, staged),
                                  cast<RankedTensorType>(staged.source.getType()));
        emitAsyncProxyFence(b, loc);
      };
    bool tf32 = in.isF32();
    if (mustWait) {
      emitAsyncWait(rewriter, loc, copiesAllowedInFlight(op, waitedFor));
      // Copied f32 tiles that a tf32 wgmma reads, waited for here: rounded
      // before the barrier publishes them, unless their load promises tf32
      // values. (The next dot's tiles, waited for by this one, count as ready.)
      if (warpgroupMma)
        for (auto [i, staged] : llvm::enumerate(waitedFor)) {
          if (staged && isCopied(staged) && (i >= 2 || !staged.ready()) &&
              mustRoundCopiedToTf32(staged.source))
            emitRoundCopiedToTf32(rewriter, loc, emitStagedTile(rewriter, loc, staged),
                                  cast<RankedTensorType>(staged.source.getType()));
        }
    }
    bool warpgroup = warpgroupMma && fitsWarpgroupMma(op, stagedA, stagedB);
    // wgmma reads shared memory through the async proxy: each thread's
    // generic-proxy writes (stores, cp.async) must be fenced before the
    // barrier that publishes them. On sm_90a every publishing dot fences,
    // also an mma.sync one, since a later wgmma may find its tiles ready.
    // A wgmma whose tiles are all ready has nothing to publish.
    bool publishes = mustWait || stored || (warpgroup && !allReady);
    sync.published = publishes;
    if (publishes && warpgroupMma)
      emitAsyncProxyFence(rewriter, loc);
    if (publishes)
      gpu::BarrierOp::create(rewriter, loc);

    ThreadElements aElems(aType), bElems(bType), cElems(cType);
    if (warpgroup) {
      SmallVector<Value> a;
      SmallVector<SmallVector<SmallVector<Value>>> aRegs;
      if (!stagedA && tf32) {
        a = unpack(rewriter, loc, adaptor.getA());
        for (int64_t k = 0; k < aType.getDimSize(1) / 8; ++k) {
          aRegs.emplace_back();
          for (int64_t m = 0; m < cElems.countsPerDim()[0] / 2; ++m)
            aRegs.back().push_back(emitTf32WarpgroupARegs(rewriter, loc, a, aElems, k, m));
        }
      } else if (!stagedA) {
        a = unpack(rewriter, loc, adaptor.getA());
        for (int64_t k = 0; k < aElems.countsPerDim()[1] / 4; ++k) {
          aRegs.emplace_back();
          for (int64_t m = 0; m < cElems.countsPerDim()[0] / 2; ++m) {
            auto at = [&](int64_t row, int64_t col) {
              return a[aElems.flatten({2 * m + row, 4 * k + col})];
            };
            aRegs.back().push_back({packPair(rewriter, loc, at(0, 0), at(0, 1)),
                                    packPair(rewriter, loc, at(1, 0), at(1, 1)),
                                    packPair(rewriter, loc, at(0, 2), at(0, 3)),
                                    packPair(rewriter, loc, at(1, 2), at(1, 3))});
          }
        }
      }
      SmallVector<Value> c =
          emitWarpgroupMma(rewriter, loc, op, stagedA, tileA ? &*tileA : nullptr, stagedB, *tileB,
                           aRegs, unpack(rewriter, loc, adaptor.getAcc()), sync);
      auto vecType = cast<VectorType>(adaptor.getAcc().getType());
      rewriter.replaceOp(op, pack(rewriter, loc, vecType, c));
      return success();
    }
    if (tf32) {
      SmallVector<Value> c =
          emitTf32Mma(rewriter, loc, op, adaptor.getA(), adaptor.getB(), adaptor.getAcc(), stagedA,
                      tileA ? &*tileA : nullptr, stagedB, tileB ? &*tileB : nullptr, sync);
      auto vecType = cast<VectorType>(adaptor.getAcc().getType());
      rewriter.replaceOp(op, pack(rewriter, loc, vecType, c));
      return success();
    }
    std::optional<FragmentReader> readA, readB;
    if (stagedA)
      readA.emplace(rewriter, loc, aType, *tileA, stagedA.transposed);
    if (stagedB)
      readB.emplace(rewriter, loc, bType, *tileB, stagedB.transposed);
    SmallVector<Value> a, b;
    if (!stagedA)
      a = unpack(rewriter, loc, adaptor.getA());
    if (!stagedB)
      b = unpack(rewriter, loc, adaptor.getB());
    int64_t mBlocks = cElems.countsPerDim()[0] / 2, nBlocks = cElems.countsPerDim()[1] / 2;
    int64_t kSteps = aElems.countsPerDim()[1] / 4;

    NVVM::MMATypes inType = in.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    auto step = [&](int64_t k, SmallVectorImpl<Value> &c) {
      // a0..a7 of each m-block: rows g and g+8, k pairs at 2t and 2t+8.
      SmallVector<SmallVector<Value>> aRegs, bRegs;
      if (readA) {
        aRegs = readA->read(rewriter, loc, k);
      } else {
        for (int64_t m = 0; m < mBlocks; ++m) {
          auto at = [&](int64_t row, int64_t col) {
            return a[aElems.flatten({2 * m + row, 4 * k + col})];
          };
          aRegs.push_back({packPair(rewriter, loc, at(0, 0), at(0, 1)),
                           packPair(rewriter, loc, at(1, 0), at(1, 1)),
                           packPair(rewriter, loc, at(0, 2), at(0, 3)),
                           packPair(rewriter, loc, at(1, 2), at(1, 3))});
        }
      }
      // b0..b3 of each n-block: column g, k pairs at 2t and 2t+8.
      if (readB) {
        bRegs = readB->read(rewriter, loc, k);
      } else {
        for (int64_t n = 0; n < nBlocks; ++n) {
          auto at = [&](int64_t row) { return b[bElems.flatten({4 * k + row, n})]; };
          bRegs.push_back(
              {packPair(rewriter, loc, at(0), at(1)), packPair(rewriter, loc, at(2), at(3))});
        }
      }
      emitMmaBlocks(rewriter, loc, inType, /*kDepth=*/16, aRegs, bRegs, cElems, c);
    };
    SmallVector<Value> c = emitKSteps(rewriter, loc, kSteps, splitKGroups(op), mma.getNumWarps(),
                                      sync, unpack(rewriter, loc, adaptor.getAcc()), step);
    auto vecType = cast<VectorType>(adaptor.getAcc().getType());
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, c));
    return success();
  }
};

} // namespace

bool tessera::tilegpu::convertsThroughFragments(RankedTensorType src, RankedTensorType dst) {
  auto layout = dyn_cast<tile::DotOperandLayoutAttr>(dst.getEncoding());
  return layout && src.getElementType().getIntOrFloatBitWidth() == 16 && SharedTile::fits(src);
}

Value tessera::tilegpu::convertThroughFragments(OpBuilder &b, Location loc, Value src,
                                                RankedTensorType srcType, RankedTensorType dstType,
                                                bool transposed) {
  gpu::BarrierOp::create(b, loc);
  SharedTile tile(b, loc, srcType.getDimSize(0), srcType.getDimSize(1), 0);
  tile.store(b, loc, src, srcType);
  gpu::BarrierOp::create(b, loc);
  FragmentReader reader(b, loc, dstType, tile, transposed);
  ThreadElements elems(dstType);
  SmallVector<Value> values(elems.size());
  Type elem = dstType.getElementType();
  bool isA = cast<tile::DotOperandLayoutAttr>(dstType.getEncoding()).getOpIdx() == 0;
  int64_t kSteps = elems.countsPerDim()[isA ? 1 : 0] / 4;
  for (int64_t k = 0; k < kSteps; ++k) {
    SmallVector<SmallVector<Value>> regs = reader.read(b, loc, k);
    for (auto [block, r] : llvm::enumerate(regs)) {
      for (auto [i, reg] : llvm::enumerate(r)) {
        auto [lo, hi] = unpackPair(b, loc, reg, elem);
        // A: a0a1, a2a3, a4a5, a6a7 = (row g|g+8, k 2t|2t+8); B: b0b1, b2b3.
        int64_t e0, e1;
        if (isA) {
          int64_t row = 2 * block + i % 2, col = 4 * k + (i / 2) * 2;
          e0 = elems.flatten({row, col});
          e1 = elems.flatten({row, col + 1});
        } else {
          e0 = elems.flatten({4 * k + 2 * int64_t(i), int64_t(block)});
          e1 = elems.flatten({4 * k + 2 * int64_t(i) + 1, int64_t(block)});
        }
        values[e0] = lo;
        values[e1] = hi;
      }
    }
  }
  return pack(b, loc, VectorType::get({elems.size()}, elem), values);
}

void tessera::tilegpu::populateTensorCoreOpPatterns(TileTypeConverter &converter,
                                                    RewritePatternSet &patterns,
                                                    bool warpgroupMma) {
  patterns.add<DotOpToMMA>(converter, patterns.getContext(), warpgroupMma);
}
