//===- SharedTile.cpp - Swizzled shared tiles of tensor-core operands -----===//
//
// The shared tile a tensor-core operand is staged in: column panels of up to
// 64 16-bit elements (128 bytes), each row-major with its 16-byte chunks
// XOR-swizzled by row, which is the 128-, 64- or 32-byte canonical layout
// wgmma's matrix descriptors and TMA's SWIZZLE modes describe, and
// conflict-free for ldmatrix. Addresses are a register plus a constant the
// instruction carries (SharedTile::Address).
//
//===----------------------------------------------------------------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

std::pair<Value, Value> tessera::tilegpu::unpackPair(OpBuilder &b, Location loc, Value reg,
                                                     Type elem) {
  Value pair = LLVM::BitcastOp::create(b, loc, VectorType::get({2}, elem), reg);
  return {vector::ExtractOp::create(b, loc, pair, 0), vector::ExtractOp::create(b, loc, pair, 1)};
}

Value tessera::tilegpu::addI32(OpBuilder &b, Location loc, Value x, int64_t c) {
  return c ? arith::AddIOp::create(b, loc, x, constI32(b, loc, c)) : x;
}

SharedTile::SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, int64_t byteOffset,
                       int64_t swizzleBytes)
    : rows(rows), cols(cols) {
  Value view = sharedScratch(b, loc, b.getI16Type(), rows * cols, byteOffset);
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, view);
  base = arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  panelCols = swizzleBytes ? swizzleBytes / 2 : std::min<int64_t>(cols, kPanelCols);
  chunksPerPanel = panelCols / 8;
  phases = std::min<int64_t>(8, chunksPerPanel);
  rowsPerPhase = std::max<int64_t>(1, 8 / chunksPerPanel);
}

int64_t SharedTile::swizzleBytes() const { return panelCols * 2; }

SharedTile::SharedTile(OpBuilder &b, Location loc, int64_t rows, int64_t cols, Value byteOffset)
    : SharedTile(b, loc, rows, cols, int64_t(0)) {
  base = arith::AddIOp::create(b, loc, base, byteOffset);
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
    // Panel chunk / chunksPerPanel, chunk chunk % chunksPerPanel within it.
    int64_t shift = llvm::Log2_64(chunksPerPanel);
    Value panel = arith::ShRUIOp::create(b, loc, chunk, constI32(b, loc, shift));
    tileBase = arith::AddIOp::create(
        b, loc, base, arith::MulIOp::create(b, loc, panel, constI32(b, loc, panelBytes())));
    chunk = arith::AndIOp::create(b, loc, chunk, constI32(b, loc, chunksPerPanel - 1));
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
    rowLane = addI32(b, loc, rowLane, rowConst);
    rowConst = 0;
  }
  // chunk ^ phase = (v ^ phase) + high for chunk = v + high, high a multiple
  // of the phase count: only v (lane part plus the low constant) is swizzled.
  int64_t low = chunkConst % phases, high = chunkConst - low;
  Value v = addI32(b, loc, chunkLane, low);
  Value phase = arith::AndIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, rowLane, constI32(b, loc, rowsPerPhase)),
      constI32(b, loc, phases - 1));
  Value tileBase = base;
  int64_t highBytes = high * 16;
  if (cols > panelCols) {
    // Whole panels of the constant part go into the instruction (high is
    // a multiple of phases == chunksPerPanel); the lane part may still
    // cross into the next panel.
    highBytes = (high / chunksPerPanel) * panelBytes();
    int64_t shift = llvm::Log2_64(chunksPerPanel);
    Value panel = arith::ShRUIOp::create(b, loc, v, constI32(b, loc, shift));
    tileBase = arith::AddIOp::create(
        b, loc, base, arith::MulIOp::create(b, loc, panel, constI32(b, loc, panelBytes())));
    v = arith::AndIOp::create(b, loc, v, constI32(b, loc, chunksPerPanel - 1));
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
Value tessera::tilegpu::roundToTf32(OpBuilder &b, Location loc, Value value) {
  return asmOp(b, loc, b.getI32Type(), ValueRange{value}, "cvt.rna.tf32.f32 $0, $1;", "=r,f",
               /*sideEffects=*/false);
}

bool SharedTile::storeMatrices(OpBuilder &b, Location loc, ArrayRef<Value> values,
                               const ThreadElements &elems) const {
  // An mma accumulator's fragments (holdsMmaFragments): lane l holds the
  // pair at row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 of each 8 x 8
  // matrix of its warp's rows and columns, which is what stmatrix stores
  // from a register. Rows come in pairs r, r + 8 and
  // column pairs in 8-column blocks c, c + 8: one x4 stores those four.
  const tile::DimDistribution &rows = elems.distribution()[0], &cols = elems.distribution()[1];
  if (!elems.holdsMmaFragments() || rows.warpStride % 16 != 0 || cols.warpStride % 16 != 0 ||
      elems.wraps(0) || elems.wraps(1))
    return false;
  auto pairsAtEight = [](ArrayRef<int64_t> starts) {
    if (starts.size() % 2 != 0)
      return false;
    for (size_t i = 0; i < starts.size(); i += 2)
      if (starts[i] % 16 != 0 || starts[i + 1] != starts[i] + 8)
        return false;
    return true;
  };
  SmallVector<int64_t> colStarts;
  for (int64_t i = 0; i < cols.count(); i += 2)
    colStarts.push_back(cols.offsets[i]);
  if (!pairsAtEight(rows.offsets) || !pairsAtEight(colStarts))
    return false;
  // Lane l gives the address of row l % 8 of matrix l / 8: matrices 0..3
  // are (r, c), (r + 8, c), (r, c + 8), (r + 8, c + 8), so its row is
  // r + l % 16 and its chunk c / 8 + l / 16, plus the warp's share. The
  // lane is read anew (opaque) so that the addresses are computed here, not
  // hoisted out of a loop and held (spilled, in the backward's consumers)
  // across it.
  auto [lane, warp] = laneAndWarp(b, loc, /*opaque=*/true);
  auto warpPart = [&](const tile::DimDistribution &d) {
    Value bits = arith::AndIOp::create(
        b, loc, arith::ShRUIOp::create(b, loc, warp, constI32(b, loc, d.warpShift)),
        constI32(b, loc, d.warpMask));
    return arith::MulIOp::create(b, loc, bits, constI32(b, loc, d.warpStride)).getResult();
  };
  Value rowLane = arith::AddIOp::create(b, loc, warpPart(rows),
                                        arith::AndIOp::create(b, loc, lane, constI32(b, loc, 15)));
  Value chunkLane = arith::AddIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, warpPart(cols), constI32(b, loc, 3)),
      arith::ShRUIOp::create(b, loc, lane, constI32(b, loc, 4)));
  for (int64_t r = 0; r < rows.count(); r += 2) {
    for (int64_t c = 0; c < cols.count(); c += 4) {
      Address at = address(b, loc, rowLane, rows.offsets[r], chunkLane, cols.offsets[c] / 8);
      SmallVector<Value> args{at.base};
      for (auto [dr, dc] : {std::pair{0, 0}, {1, 0}, {0, 2}, {1, 2}}) {
        int64_t e = elems.flatten({r + dr, c + dc});
        args.push_back(packPair(b, loc, values[e], values[e + 1]));
      }
      emitAsmStatement(b, loc,
                       "stmatrix.sync.aligned.m8n8.x4.shared.b16 " + at.operand(0) +
                           ", {$1, $2, $3, $4};",
                       args, "r,r,r,r,r");
    }
  }
  return true;
}

void SharedTile::store(OpBuilder &b, Location loc, Value vec, RankedTensorType type, bool exact,
                       bool matrices) const {
  ThreadElements elems(type);
  SmallVector<Value> values = unpack(b, loc, vec);
  if (matrices && type.getElementType().getIntOrFloatBitWidth() == 16 &&
      storeMatrices(b, loc, values, elems))
    return;
  SmallVector<SmallVector<Value>> coords = elems.emitCoords(b, loc);
  if (type.getElementType().getIntOrFloatBitWidth() == 32 && exact) {
    // As they are (a TMA add's block): pairs along the row (an mma
    // accumulator's) as one 8-byte store, within one 16-byte chunk.
    bool paired = elems.distribution()[1].holdsRunsOf(2);
    for (int64_t e = 0; e < elems.size(); ++e) {
      Value at = elementAddress(b, loc, coords[e][0], coords[e][1], 32);
      if (!paired) {
        emitAsmStatement(b, loc, "st.shared.f32 [$0], $1;", {at, values[e]}, "r,f");
        continue;
      }
      if (elems.multiIndex(e)[1] % 2 != 0)
        continue;
      emitAsmStatement(b, loc, "st.shared.v2.f32 [$0], {$1, $2};", {at, values[e], values[e + 1]},
                       "r,f,f");
    }
    return;
  }
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
