//===- MmaSync.cpp - tile.dot on mma.sync ---------------------------------===//
//
// A dot whose operands are in `#tile.dot_op` layouts and whose accumulator is
// in `#tile.mma` becomes one `mma.sync.m16n8k16` (16-bit) or two
// `m16n8k8.tf32` per (16-row block, 8-column block, 16-deep slice) a warp
// owns, upstream's typed `nvvm.mma.sync`. Fragment positions follow the PTX
// ISA's "Matrix Fragments for mma.m16n8k16 with floating point type".
// Operands in registers are used in place; staged ones are read a k-step at a
// time from their shared tile with `ldmatrix` (16-bit) or 32-bit shared loads
// (tf32). With K split between groups of warps, the partial sums meet in
// shared memory (emitSplitKSum).
//
//===----------------------------------------------------------------------===//

#include "DotOpToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

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
      Value row = arith::AndIOp::create(b, loc, addI32(b, loc, rowLane, rowConst),
                                        constI32(b, loc, tile.rows - 1));
      Value col = arith::AndIOp::create(b, loc, addI32(b, loc, colLane, colConst),
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
    Value o = addI32(b, loc, outerLane, outerConst), k = addI32(b, loc, kLane, 8 * kStep);
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
    Value next = addI32(b, loc, row, 1);
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

} // namespace

namespace tessera::tilegpu {

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

SmallVector<Value> emitMmaSyncDot(OpBuilder &b, Location loc, tile::DotOp op, Value aVec,
                                  Value bVec, Value accVec, const StagedOperand &stagedA,
                                  const SharedTile *tileA, const StagedOperand &stagedB,
                                  const SharedTile *tileB, const SplitKSync &sync) {
  RankedTensorType aType = op.getA().getType(), bType = op.getB().getType(), cType = op.getType();
  ThreadElements aElems(aType), bElems(bType), cElems(cType);
  std::optional<FragmentReader> readA, readB;
  if (stagedA)
    readA.emplace(b, loc, aType, *tileA, stagedA.transposed);
  if (stagedB)
    readB.emplace(b, loc, bType, *tileB, stagedB.transposed);
  SmallVector<Value> a, bv;
  if (!stagedA)
    a = unpack(b, loc, aVec);
  if (!stagedB)
    bv = unpack(b, loc, bVec);
  int64_t mBlocks = cElems.countsPerDim()[0] / 2, nBlocks = cElems.countsPerDim()[1] / 2;
  int64_t kSteps = aElems.countsPerDim()[1] / 4;

  NVVM::MMATypes inType =
      aType.getElementType().isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  auto step = [&](int64_t k, SmallVectorImpl<Value> &c) {
    // a0..a7 of each m-block: rows g and g+8, k pairs at 2t and 2t+8.
    SmallVector<SmallVector<Value>> aRegs, bRegs;
    if (readA) {
      aRegs = readA->read(b, loc, k);
    } else {
      for (int64_t m = 0; m < mBlocks; ++m) {
        auto at = [&](int64_t row, int64_t col) {
          return a[aElems.flatten({2 * m + row, 4 * k + col})];
        };
        aRegs.push_back({packPair(b, loc, at(0, 0), at(0, 1)), packPair(b, loc, at(1, 0), at(1, 1)),
                         packPair(b, loc, at(0, 2), at(0, 3)),
                         packPair(b, loc, at(1, 2), at(1, 3))});
      }
    }
    // b0..b3 of each n-block: column g, k pairs at 2t and 2t+8.
    if (readB) {
      bRegs = readB->read(b, loc, k);
    } else {
      for (int64_t n = 0; n < nBlocks; ++n) {
        auto at = [&](int64_t row) { return bv[bElems.flatten({4 * k + row, n})]; };
        bRegs.push_back({packPair(b, loc, at(0), at(1)), packPair(b, loc, at(2), at(3))});
      }
    }
    emitMmaBlocks(b, loc, inType, /*kDepth=*/16, aRegs, bRegs, cElems, c);
  };
  auto mma = cast<tile::MmaLayoutAttr>(cType.getEncoding());
  return emitKSteps(b, loc, kSteps, splitKGroups(op), mma.getNumWarps(), sync,
                    unpack(b, loc, accVec), step);
}

} // namespace tessera::tilegpu

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
