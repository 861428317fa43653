//===- Wgmma.cpp - tile.dot on sm_90a warpgroup MMA -----------------------===//
//
// Warpgroup MMA on sm_90a (PTX ISA, "Asynchronous Warpgroup Level Matrix
// Multiply-Accumulate"): four consecutive warps issue one
// `wgmma.mma_async.m64nNk16` (16-bit) or `m64nNk8` (tf32) per 64-row slab
// and k-step, B (and A unless it is held in registers) read by the tensor
// cores straight from its shared tile through a matrix descriptor. The
// accumulator fragment of each warp is the mma.sync m16n8 fragment repeated
// along N, and 16-bit A in registers is the m16n8k16 A fragment, so
// `#tile.mma<[W, C]>` (W a multiple of 4) and its dot operands describe
// wgmma's registers too. With C > 1 warp columns, warpgroup c owns either
// one contiguous share of the columns (columnBlock = N / C, what
// tile-assign-layouts gives on sm_90a): B's descriptor starts at its first
// row (k-major) or panel (MN-major); or the n8 blocks c, c + C, ...
// (columnBlock 8): a k-major B tile read with C times the usual stride
// between its 8-row groups.
//
// tf32 reads staged operands k-major (wgmma has no transpose for 32-bit
// types) and ignores their low 13 bits: the tiles hold values rounded to
// tf32 already (SharedTile::store, emitRoundCopiedToTf32 for copied ones,
// or the load's producer). Its A registers take k in another order than an
// f32 accumulator holds it (emitTf32WarpgroupARegs moves them).
//
// With K split among groups of warps (getDotMmaLayout), each group issues
// the same instructions on its own share of the k-steps, through
// descriptors moved by the group's offset into A and B; that needs A
// staged and every share to start on a swizzle panel of a k-major tile.
//
// A group whose operands are both staged is upstream's NVVM ops
// (nvvm.wgmma.fence.aligned, nvvm.wgmma.mma_async, the commit); one with A
// in registers, or K split, is one inline PTX statement (upstream's op takes
// A only by descriptor and scale-d only as an attribute: docs/COMPILER.md §4).
//
//===----------------------------------------------------------------------===//

#include "DotOpToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

namespace {

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
    // the body (the CTA's or, for multicast copies, the cluster's), which
    // every warp reaches only after the previous iteration's wait left at
    // most that iteration's group running.
    tile::TmaCopyOp tma;
    for (Operation *user : view.getBuffer().getUsers())
      if (auto copy = dyn_cast<tile::TmaCopyOp>(user); copy && copy->getBlock() == dot->getBlock())
        tma = copy;
    // (A cluster barrier may be lowered already: its arrive opens the body.)
    bool opening = isa<gpu::BarrierOp, tile::ClusterBarrierOp, NVVM::ClusterArriveOp>(
        &dot->getBlock()->front());
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

} // namespace

namespace {

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
  Value srcHi = addI32(b, loc, srcLo, 2);
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

/// Emits the whole dot as one wgmma group: fence, every wgmma of every k-step
/// and slab, commit, and a wait for all of them, so that nothing touches the
/// accumulator registers while the tensor cores own them. `typed` (the
/// default) and both operands staged, K not split: upstream's ops, one per
/// instruction; otherwise (A in registers, K split among groups of warps, or
/// TESSERA_INLINE_WGMMA) one inline-assembly statement. `aRegs[k][slab]` are
/// A's registers when A is not staged.
SmallVector<Value> emitWarpgroupMma(OpBuilder &b, Location loc, tile::DotOp op,
                                    const StagedOperand &stagedA, const SharedTile *tileA,
                                    const StagedOperand &stagedB, const SharedTile &tileB,
                                    ArrayRef<SmallVector<SmallVector<Value>>> aRegs,
                                    ArrayRef<Value> acc, const SplitKSync &sync, bool typed) {
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
  if (warpsN > 1 && mma.getColumnBlock() == n) {
    // Warpgroup c's columns [c·n, (c+1)·n): n rows of a k-major tile, n /
    // panelCols panels of an MN-major one (fitsWarpgroupMma).
    Value column = arith::DivUIOp::create(b, loc, warp, constI32(b, loc, warpsM));
    Value shareBytes = arith::MulIOp::create(
        b, loc, column, constI32(b, loc, operandOffset(tileB, kMajorB, /*kStep=*/0, n)));
    descB = emitMatrixDescriptor(b, loc, tileB, arith::AddIOp::create(b, loc, startB, shareBytes));
  } else if (warpsN > 1) {
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

  int64_t numAcc = cElems.size();
  bool zeroAcc = matchPattern(op.getAcc(), m_AnyZeroFloat());
  SmallVector<Value> pending;
  if (typed && stagedA && groups == 1) {
    // Element i of the accumulators is register `place[i].second` of slab
    // `place[i].first`'s m64nN fragment, in the order PTX lists them: per n8
    // block, row g then g + 8, two columns each.
    SmallVector<std::pair<int64_t, int64_t>> place(numAcc);
    for (int64_t r = 0; r < slabs; ++r)
      for (int64_t j = 0, reg = 0; j < n / 8; ++j)
        for (int64_t half : {0, 1})
          for (int64_t col : {0, 1})
            place[cElems.flatten({2 * r + half, 2 * j + col})] = {r, reg++};
    // Upstream's ops (which become inline PTX one instruction each in
    // convert-nvvm-to-llvm): the fence, then one nvvm.wgmma.mma_async per
    // k-step and slab, each slab's accumulators a struct threaded through
    // its k-steps; a zero accumulator is not read (scale-d zero at k-step 0).
    NVVM::WgmmaFenceAlignedOp::create(b, loc);
    MLIRContext *ctx = b.getContext();
    auto slabType = LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(n / 2, b.getF32Type()));
    SmallVector<Value> slabAcc(slabs);
    for (int64_t r = 0; r < slabs; ++r)
      slabAcc[r] = LLVM::UndefOp::create(b, loc, slabType);
    if (!zeroAcc)
      for (int64_t i = 0; i < numAcc; ++i)
        slabAcc[place[i].first] =
            LLVM::InsertValueOp::create(b, loc, slabAcc[place[i].first], acc[i], place[i].second);
    NVVM::WGMMATypes type = tf32              ? NVVM::WGMMATypes::tf32
                            : inType.isBF16() ? NVVM::WGMMATypes::bf16
                                              : NVVM::WGMMATypes::f16;
    // PTX's A is row-major and B column-major when not transposed: both
    // k-major (tf32 takes only those).
    auto layoutA = kMajorA ? NVVM::MMALayout::row : NVVM::MMALayout::col;
    auto layoutB = kMajorB ? NVVM::MMALayout::col : NVVM::MMALayout::row;
    auto shapeAttr = NVVM::MMAShapeAttr::get(ctx, 64, n, tf32 ? 8 : 16);
    auto descPlus = [&](Value desc, int64_t bytes) {
      return arith::AddIOp::create(
          b, loc, desc, arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(bytes >> 4)));
    };
    // Each k-step's descriptor is the base plus a constant. From a base LLVM
    // sees as loop-invariant (a tile staged before the loop) it would hoist
    // them all, one 64-bit register each held across the loop (the d 128
    // dK/dV kernel: 237 -> 253 registers); an opaque move pins the bases
    // where the group is issued.
    auto pinned = [&](Value desc) {
      return asmOp(b, loc, b.getI64Type(), desc, kPinnedDescriptorAsm, "=l,l",
                   /*sideEffects=*/true);
    };
    descA = pinned(descA);
    descB = pinned(descB);
    for (int64_t k = 0; k < kSteps; ++k) {
      Value descBk = descPlus(descB, operandOffset(tileB, kMajorB, k, 0));
      for (int64_t r = 0; r < slabs; ++r) {
        Value descAk = descPlus(descA, operandOffset(*tileA, kMajorA, k, 16 * warpsM * r));
        auto scaleD = k == 0 && zeroAcc ? NVVM::WGMMAScaleOut::zero : NVVM::WGMMAScaleOut::one;
        slabAcc[r] = NVVM::WgmmaMmaAsyncOp::create(
            b, loc, slabType, slabAcc[r], descAk, descBk, shapeAttr, type, type,
            NVVM::WGMMATypes::f32, scaleD, NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
            layoutA, layoutB, /*satfinite=*/NVVM::MMAIntOverflowAttr());
      }
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
    for (int64_t i = 0; i < numAcc; ++i)
      pending.push_back(
          LLVM::ExtractValueOp::create(b, loc, slabAcc[place[i].first], place[i].second));
    auto wait = tile::WarpgroupWaitOp::create(b, loc, TypeRange(ValueRange(pending)), pending,
                                              /*pending=*/0, mayRunIntoNextIteration(op),
                                              schedule::nothingAfterWritesWhatItReads(op));
    return SmallVector<Value>(wait.getResults());
  }

  // Operands: accumulators (outputs, tied inputs at the end), the
  // descriptors, scale-d, then A's registers.
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
  for (int64_t i = 0; i < numAcc; ++i)
    pending.push_back(LLVM::ExtractValueOp::create(b, loc, issued, i));
  auto wait = tile::WarpgroupWaitOp::create(b, loc, TypeRange(ValueRange(pending)), pending,
                                            /*pending=*/0, mayRunIntoNextIteration(op),
                                            schedule::nothingAfterWritesWhatItReads(op));
  SmallVector<Value> out(wait.getResults());
  if (groups > 1)
    return emitSplitKSum(b, loc, out, groups, groupWarps, sync);
  return out;
}

} // namespace

SmallVector<Value>
tessera::tilegpu::emitWarpgroupMmaDot(OpBuilder &b, Location loc, tile::DotOp op, Value aVec,
                                      Value accVec, const StagedOperand &stagedA,
                                      const SharedTile *tileA, const StagedOperand &stagedB,
                                      const SharedTile &tileB, const SplitKSync &sync, bool typed) {
  RankedTensorType aType = op.getA().getType();
  ThreadElements aElems(aType), cElems(op.getType());
  SmallVector<Value> a;
  SmallVector<SmallVector<SmallVector<Value>>> aRegs;
  if (!stagedA && aType.getElementType().isF32()) {
    a = unpack(b, loc, aVec);
    for (int64_t k = 0; k < aType.getDimSize(1) / 8; ++k) {
      aRegs.emplace_back();
      for (int64_t m = 0; m < cElems.countsPerDim()[0] / 2; ++m)
        aRegs.back().push_back(emitTf32WarpgroupARegs(b, loc, a, aElems, k, m));
    }
  } else if (!stagedA) {
    a = unpack(b, loc, aVec);
    for (int64_t k = 0; k < aElems.countsPerDim()[1] / 4; ++k) {
      aRegs.emplace_back();
      for (int64_t m = 0; m < cElems.countsPerDim()[0] / 2; ++m) {
        auto at = [&](int64_t row, int64_t col) {
          return a[aElems.flatten({2 * m + row, 4 * k + col})];
        };
        aRegs.back().push_back(
            {packPair(b, loc, at(0, 0), at(0, 1)), packPair(b, loc, at(1, 0), at(1, 1)),
             packPair(b, loc, at(0, 2), at(0, 3)), packPair(b, loc, at(1, 2), at(1, 3))});
      }
    }
  }
  return emitWarpgroupMma(b, loc, op, stagedA, tileA, stagedB, tileB, aRegs, unpack(b, loc, accVec),
                          sync, typed);
}
