//===- SharedMemoryOpToGPU.cpp - Ops that move data between threads -------===//
//
// Reductions, layout conversions and transposes exchange elements
// between threads through the kernel's dynamic shared memory: every thread
// stores what it holds at the element's row-major position, a barrier, and
// every thread reads what it needs. A barrier before the stores keeps the
// previous user of the scratch space from being overwritten while it reads.
//
// This is the general path that works for any pair of layouts; the mma
// layouts and warp-shuffle reductions of the tensor-core path replace it
// where they apply.
//
//===----------------------------------------------------------------------===//

#include "Utility.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace tessera;
using namespace tessera::tilegpu;

void tessera::tilegpu::storeTile(OpBuilder &b, Location loc, Value vec, RankedTensorType type,
                                 Value scratch) {
  SmallVector<Value> values = unpack(b, loc, vec);
  SmallVector<SmallVector<Value>> coords = ThreadElements(type).emitCoords(b, loc);
  for (auto [v, c] : llvm::zip(values, coords)) {
    Value idx = toIndex(b, loc, linearIndex(b, loc, c, type.getShape()));
    memref::StoreOp::create(b, loc, toMemory(b, loc, v), scratch, ValueRange{idx});
  }
}

namespace {

Value loadScalar(OpBuilder &b, Location loc, Value scratch, Value idx, Type elementType) {
  Value v = memref::LoadOp::create(b, loc, scratch, ValueRange{idx});
  return fromMemory(b, loc, v, elementType);
}

void barrier(OpBuilder &b, Location loc) { gpu::BarrierOp::create(b, loc); }

/// A conversion or transpose (`result`, of `source` converted to `vecType`)
/// into a tensor-core operand layout: nothing when the dot reads the source
/// from its staged tile (tile-publish-stagings stores it), else the whole
/// operand through a swizzled shared tile and ldmatrix. Null when neither
/// applies (the generic path does).
Value lowerToDotOperand(OpBuilder &b, Location loc, Value result, Value source, VectorType vecType,
                        bool transposed) {
  if (getStagedOperand(result))
    return LLVM::PoisonOp::create(b, loc, vecType);
  Value src = result.getDefiningOp()->getOperand(0);
  auto srcType = cast<RankedTensorType>(src.getType());
  auto dstType = cast<RankedTensorType>(result.getType());
  if (convertsThroughFragments(srcType, dstType))
    return convertThroughFragments(b, loc, source, srcType, dstType, transposed);
  return {};
}

struct ConvertLayoutOpToGPU : OpConversionPattern<tile::ConvertLayoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::ConvertLayoutOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType srcType = op.getSrc().getType(), dstType = op.getType();
    // Same elements in the same places (an mma accumulator read as the A
    // operand of the next dot, say): nothing moves.
    if (tile::isSameDistribution(srcType, dstType)) {
      rewriter.replaceOp(op, adaptor.getSrc());
      return success();
    }
    auto vecType = cast<VectorType>(getTypeConverter()->convertType(dstType));
    if (Value v = lowerToDotOperand(rewriter, loc, op.getResult(), adaptor.getSrc(), vecType,
                                    /*transposed=*/false)) {
      rewriter.replaceOp(op, v);
      return success();
    }
    Type elem = srcType.getElementType();
    Value scratch = sharedScratch(rewriter, loc, elem, srcType.getNumElements(), 0);
    barrier(rewriter, loc);
    storeTile(rewriter, loc, adaptor.getSrc(), srcType, scratch);
    barrier(rewriter, loc);
    SmallVector<Value> values;
    for (const SmallVector<Value> &c : ThreadElements(dstType).emitCoords(rewriter, loc)) {
      Value idx = toIndex(rewriter, loc, linearIndex(rewriter, loc, c, dstType.getShape()));
      values.push_back(loadScalar(rewriter, loc, scratch, idx, elem));
    }
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, values));
    return success();
  }
};

struct TransOpToGPU : OpConversionPattern<tile::TransOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::TransOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType srcType = op.getSrc().getType(), dstType = op.getType();
    auto vecType = cast<VectorType>(getTypeConverter()->convertType(dstType));
    if (Value v = lowerToDotOperand(rewriter, loc, op.getResult(), adaptor.getSrc(), vecType,
                                    /*transposed=*/true)) {
      rewriter.replaceOp(op, v);
      return success();
    }
    Type elem = srcType.getElementType();
    Value scratch = sharedScratch(rewriter, loc, elem, srcType.getNumElements(), 0);
    barrier(rewriter, loc);
    storeTile(rewriter, loc, adaptor.getSrc(), srcType, scratch);
    barrier(rewriter, loc);
    SmallVector<Value> values;
    for (const SmallVector<Value> &c : ThreadElements(dstType).emitCoords(rewriter, loc)) {
      // result[i][j] = src[j][i]
      Value idx = linearIndex(rewriter, loc, {c[1], c[0]}, srcType.getShape());
      values.push_back(loadScalar(rewriter, loc, scratch, toIndex(rewriter, loc, idx), elem));
    }
    rewriter.replaceOp(op, pack(rewriter, loc, vecType, values));
    return success();
  }
};

} // namespace

namespace {

/// x ⊕ y of a reduction or scan, one value per combined tile each.
using CombineFn = std::function<SmallVector<Value>(OpBuilder &, Location, ValueRange, ValueRange)>;

CombineFn combinerOf(tile::ReduceOp op) {
  tile::ReduceKind kind = op.getKind();
  return [kind](OpBuilder &b, Location loc, ValueRange xs, ValueRange ys) -> SmallVector<Value> {
    Value x = xs.front(), y = ys.front();
    bool isFloat = isa<FloatType>(x.getType());
    switch (kind) {
    case tile::ReduceKind::sum:
      return {isFloat ? Value(arith::AddFOp::create(b, loc, x, y))
                      : Value(arith::AddIOp::create(b, loc, x, y))};
    case tile::ReduceKind::max:
      return {isFloat ? Value(arith::MaximumFOp::create(b, loc, x, y))
                      : Value(arith::MaxSIOp::create(b, loc, x, y))};
    case tile::ReduceKind::min:
      return {isFloat ? Value(arith::MinimumFOp::create(b, loc, x, y))
                      : Value(arith::MinSIOp::create(b, loc, x, y))};
    }
    llvm_unreachable("unknown reduce kind");
  };
}

/// The combine region's ops cloned wherever elements meet, its arguments
/// bound to them (the left ones, then the right ones).
CombineFn combinerOfRegion(Region &region) {
  return [&region](OpBuilder &b, Location, ValueRange xs, ValueRange ys) -> SmallVector<Value> {
    Block &body = region.front();
    IRMapping map;
    map.map(body.getArguments().take_front(xs.size()), xs);
    map.map(body.getArguments().drop_front(xs.size()), ys);
    for (Operation &op : body.without_terminator())
      b.clone(op, map);
    SmallVector<Value> results;
    for (Value v : cast<tile::YieldOp>(body.getTerminator()).getValues())
      results.push_back(map.lookupOrDefault(v));
    return results;
  };
}
CombineFn combinerOf(tile::ReduceCombineOp op) { return combinerOfRegion(op.getCombine()); }

SmallVector<Value> sourcesOf(tile::ReduceOp::Adaptor a) { return {a.getSrc()}; }
SmallVector<Value> sourcesOf(tile::ReduceCombineOp::Adaptor a) {
  return llvm::to_vector(a.getSrcs());
}

/// The scratch array of each combined tile, laid out by scratchOffsets.
SmallVector<Value> scratchPerTile(OpBuilder &b, Location loc, TypeRange elems,
                                  function_ref<int64_t(unsigned)> elements) {
  SmallVector<int64_t> offsets = scratchOffsets(elems, elements);
  SmallVector<Value> scratch;
  for (auto [i, elem] : llvm::enumerate(elems))
    scratch.push_back(sharedScratch(b, loc, elem, elements(i), offsets[i]));
  return scratch;
}

/// Element `idx` of each scratch array, and the stores of `values` there.
SmallVector<Value> loadEach(OpBuilder &b, Location loc, ArrayRef<Value> scratch, TypeRange elems,
                            Value idx) {
  SmallVector<Value> values;
  for (auto [s, elem] : llvm::zip(scratch, elems))
    values.push_back(loadScalar(b, loc, s, idx, elem));
  return values;
}
void storeEach(OpBuilder &b, Location loc, ValueRange values, ArrayRef<Value> scratch, Value idx) {
  for (auto [v, s] : llvm::zip(values, scratch))
    memref::StoreOp::create(b, loc, toMemory(b, loc, v), s, ValueRange{idx});
}

/// Value k of each list.
SmallVector<Value> column(ArrayRef<SmallVector<Value>> lists, int64_t k) {
  SmallVector<Value> values;
  for (const SmallVector<Value> &l : lists)
    values.push_back(l[k]);
  return values;
}

/// A reduction along rows whose elements each lie in one thread (the mma
/// layout's rows, and blocked ones without copies): each thread combines its
/// own elements, then log2(lanes) butterfly shuffles combine across lanes,
/// leaving every lane with its warp's part of the row. Within one warp that
/// is the result: no shared memory, no barrier. When the row spans W warps,
/// one lane per warp writes its part (W words per result element), a
/// barrier, and every thread combines the W parts in warp order, so that
/// every copy of a result holds the same bits: O(W) reads per thread, not a
/// pass over the row. For tile.reduce and tile.reduce_combine (each of the
/// tiles reduced together moves alike).
template <typename ReduceOpT> struct ReduceOpToShuffles : OpConversionPattern<ReduceOpT> {
  using Adaptor = typename ReduceOpT::Adaptor;
  ReduceOpToShuffles(TypeConverter &converter, MLIRContext *ctx)
      : OpConversionPattern<ReduceOpT>(converter, ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(ReduceOpT op, Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    std::optional<int64_t> warps = shuffleReductionWarps(op);
    if (!warps)
      return rewriter.notifyMatchFailure(op, "the reduced dimension repeats, or is not 32-bit");
    Location loc = op.getLoc();
    auto srcType = cast<RankedTensorType>(op->getOperand(0).getType());
    auto dstType = cast<RankedTensorType>(op->getResult(0).getType());
    unsigned axis = op.getAxis();
    CombineFn combine = combinerOf(op);
    ThreadElements src(srcType), dst(dstType);
    SmallVector<SmallVector<Value>> elems;
    for (Value s : sourcesOf(adaptor))
      elems.push_back(unpack(rewriter, loc, s));
    const tile::DimDistribution &along = src.distribution()[axis];
    // values[t][e]: tile t's part of the thread's result element e.
    SmallVector<SmallVector<Value>> values(elems.size());
    for (int64_t e = 0; e < dst.size(); ++e) {
      SmallVector<int64_t> mi = dst.multiIndex(e);
      mi.insert(mi.begin() + axis, 0);
      SmallVector<Value> acc = column(elems, src.flatten(mi));
      for (int64_t i = 1; i < along.count(); ++i) {
        mi[axis] = i;
        acc = combine(rewriter, loc, acc, column(elems, src.flatten(mi)));
      }
      for (unsigned bit = 0; (1u << bit) <= along.laneMask; ++bit) {
        Value offset = constI32(rewriter, loc, 1 << (along.laneShift + bit));
        SmallVector<Value> other;
        for (Value a : acc)
          other.push_back(gpu::ShuffleOp::create(rewriter, loc, a, offset,
                                                 constI32(rewriter, loc, tile::kWarpSize),
                                                 gpu::ShuffleMode::XOR)
                              .getShuffleResult());
        acc = combine(rewriter, loc, acc, other);
      }
      for (auto [t, a] : llvm::enumerate(acc))
        values[t].push_back(a);
    }
    if (*warps > 1)
      values = combineAcrossWarps(rewriter, loc, op, combine, values, *warps);
    SmallVector<Value> results;
    for (auto [t, result] : llvm::enumerate(op->getResults())) {
      auto vecType = cast<VectorType>(this->getTypeConverter()->convertType(result.getType()));
      results.push_back(pack(rewriter, loc, vecType, values[t]));
    }
    rewriter.replaceOp(op, results);
    return success();
  }

  /// The results of `parts` (each tile's part of each of the thread's
  /// result elements, from this warp) combined over the `warps` warps that
  /// share the reduced dimension, through W words per result element and
  /// tile.
  static SmallVector<SmallVector<Value>> combineAcrossWarps(OpBuilder &b, Location loc,
                                                            ReduceOpT op, const CombineFn &combine,
                                                            ArrayRef<SmallVector<Value>> parts,
                                                            int64_t warps) {
    auto srcType = cast<RankedTensorType>(op->getOperand(0).getType());
    auto dstType = cast<RankedTensorType>(op->getResult(0).getType());
    // Named, not a temporary: `along` refers into its distribution (a
    // reference into a destroyed temporary read garbage shifts and masks,
    // which LLVM turned into an unreachable reduction loop).
    ThreadElements srcElements(srcType);
    const tile::DimDistribution &along = srcElements.distribution()[op.getAxis()];
    SmallVector<Type> elems = elementTypesOf(op->getOperandTypes());
    int64_t elements = reductionScratchElements(op);
    SmallVector<Value> scratch = scratchPerTile(b, loc, elems, [&](unsigned) { return elements; });
    auto [lane, warp] = laneAndWarp(b, loc);
    auto bits = [&](Value id, unsigned shift, unsigned mask) -> Value {
      Value shifted = arith::ShRUIOp::create(b, loc, id, constI32(b, loc, shift));
      return arith::AndIOp::create(b, loc, shifted, constI32(b, loc, mask));
    };
    // This warp's position along the reduced dimension, and whether this
    // thread is the one of its warp that writes (the lanes along the
    // dimension hold the same part after the butterfly; copies of a result
    // element in other lanes or warps write the same word with the same bits).
    Value warpPos = bits(warp, along.warpShift, along.warpMask);
    Value writes =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                              bits(lane, along.laneShift, along.laneMask), constI32(b, loc, 0));
    Value width = constI32(b, loc, warps);
    SmallVector<SmallVector<Value>> coords = ThreadElements(dstType).emitCoords(b, loc);
    SmallVector<Value> rowStarts;
    barrier(b, loc);
    for (auto [e, c] : llvm::enumerate(coords)) {
      Value rowStart =
          arith::MulIOp::create(b, loc, linearIndex(b, loc, c, dstType.getShape()), width);
      rowStarts.push_back(rowStart);
      Value idx = toIndex(b, loc, arith::AddIOp::create(b, loc, rowStart, warpPos));
      auto ifWrites = scf::IfOp::create(b, loc, writes, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifWrites.thenBlock());
      storeEach(b, loc, column(parts, e), scratch, idx);
    }
    barrier(b, loc);
    SmallVector<SmallVector<Value>> results(scratch.size());
    for (Value rowStart : rowStarts) {
      Value start = toIndex(b, loc, rowStart);
      SmallVector<Value> acc = loadEach(b, loc, scratch, elems, start);
      for (int64_t w = 1; w < warps; ++w) {
        Value idx = arith::AddIOp::create(b, loc, start, constIndex(b, loc, w));
        acc = combine(b, loc, acc, loadEach(b, loc, scratch, elems, idx));
      }
      for (auto [t, a] : llvm::enumerate(acc))
        results[t].push_back(a);
    }
    return results;
  }
};

/// Any reduction: the tiles through shared memory, each thread combining
/// the line of each of its result elements in order.
template <typename ReduceOpT> struct ReduceOpToGPU : OpConversionPattern<ReduceOpT> {
  using OpConversionPattern<ReduceOpT>::OpConversionPattern;
  using Adaptor = typename ReduceOpT::Adaptor;
  LogicalResult matchAndRewrite(ReduceOpT op, Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto srcType = cast<RankedTensorType>(op->getOperand(0).getType());
    auto dstType = cast<RankedTensorType>(op->getResult(0).getType());
    SmallVector<Type> elems = elementTypesOf(op->getOperandTypes());
    unsigned axis = op.getAxis();
    CombineFn combine = combinerOf(op);
    ArrayRef<int64_t> shape = srcType.getShape();
    int64_t axisStride = 1;
    for (unsigned d = axis + 1; d < shape.size(); ++d)
      axisStride *= shape[d];

    int64_t elements = reductionScratchElements(op);
    SmallVector<Value> scratch =
        scratchPerTile(rewriter, loc, elems, [&](unsigned) { return elements; });
    barrier(rewriter, loc);
    for (auto [s, src] : llvm::zip(scratch, sourcesOf(adaptor)))
      storeTile(rewriter, loc, src, srcType, s);
    barrier(rewriter, loc);

    auto loadAll = [&](Value idx) { return loadEach(rewriter, loc, scratch, elems, idx); };
    Value stride = constIndex(rewriter, loc, axisStride);
    SmallVector<SmallVector<Value>> values(scratch.size());
    for (SmallVector<Value> c : ThreadElements(dstType).emitCoords(rewriter, loc)) {
      c.insert(c.begin() + axis, constI32(rewriter, loc, 0));
      Value rowStart = toIndex(rewriter, loc, linearIndex(rewriter, loc, c, shape));
      auto loop = scf::ForOp::create(rewriter, loc, constIndex(rewriter, loc, 1),
                                     constIndex(rewriter, loc, shape[axis]),
                                     constIndex(rewriter, loc, 1), loadAll(rowStart));
      {
        OpBuilder::InsertionGuard guard(rewriter);
        rewriter.setInsertionPointToStart(loop.getBody());
        Value k = loop.getInductionVar();
        Value idx = arith::AddIOp::create(rewriter, loc, rowStart,
                                          arith::MulIOp::create(rewriter, loc, k, stride));
        scf::YieldOp::create(rewriter, loc,
                             combine(rewriter, loc, loop.getRegionIterArgs(), loadAll(idx)));
      }
      for (auto [t, r] : llvm::enumerate(loop.getResults()))
        values[t].push_back(r);
    }
    SmallVector<Value> results;
    for (auto [t, result] : llvm::enumerate(op->getResults())) {
      auto vecType = cast<VectorType>(this->getTypeConverter()->convertType(result.getType()));
      results.push_back(pack(rewriter, loc, vecType, values[t]));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

namespace {

/// The inclusive scan of each line of the tiles, through shared memory:
///   1. every thread stores its elements (ScanPlan's padded positions);
///   2. job j (a segment of a line) scans its segment in place, in order
///      (from the end for `reverse`), and stores the segment's total;
///   3. job j combines the totals of the segments before it into a prefix
///      and applies it to its segment: prefix ⊕ x, order kept;
///   4. every thread reads its elements back.
/// Jobs take consecutive lines (or, along the innermost dimension,
/// consecutive segments) in consecutive threads: adjacent words.
/// O(segmentLength + segments) steps per thread. Tiles scanned together
/// have a data array and totals each.
struct ScanOpToGPU : OpConversionPattern<tile::ScanOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(tile::ScanOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getSrcs().front().getType());
    SmallVector<Type> elems = elementTypesOf(op.getSrcs().getTypes());
    unsigned n = elems.size();
    ScanPlan plan = planScan(op);
    CombineFn combine = combinerOfRegion(op.getCombine());
    // data[0..n) then totals[0..n), as scanSharedMemoryBytes counts them.
    SmallVector<Value> scratch =
        scratchPerTile(b, loc, scanScratchTypes(op, plan),
                       [&](unsigned i) { return scanScratchElements(op, plan, i); });
    ArrayRef<Value> data = ArrayRef<Value>(scratch).take_front(n);
    ArrayRef<Value> totals = ArrayRef<Value>(scratch).drop_front(n);
    auto cIdx = [&](int64_t v) { return constIndex(b, loc, v); };
    auto add = [&](Value x, Value y) -> Value { return arith::AddIOp::create(b, loc, x, y); };
    auto mul = [&](Value x, Value y) -> Value { return arith::MulIOp::create(b, loc, x, y); };
    // The word of row-major position `pos` (index).
    auto word = [&](Value pos) -> Value {
      if (!plan.padded)
        return pos;
      return add(pos, arith::DivUIOp::create(b, loc, pos, cIdx(plan.segmentLength)));
    };
    auto loadAll = [&](ArrayRef<Value> mem, Value w) { return loadEach(b, loc, mem, elems, w); };
    auto storeAll = [&](ValueRange values, ArrayRef<Value> mem, Value w) {
      storeEach(b, loc, values, mem, w);
    };

    SmallVector<SmallVector<Value>> srcElems;
    for (Value s : adaptor.getSrcs())
      srcElems.push_back(unpack(b, loc, s));
    SmallVector<SmallVector<Value>> coords = ThreadElements(type).emitCoords(b, loc);
    SmallVector<Value> words;
    for (const SmallVector<Value> &c : coords)
      words.push_back(word(toIndex(b, loc, linearIndex(b, loc, c, type.getShape()))));
    barrier(b, loc);
    for (auto [e, w] : llvm::enumerate(words))
      storeAll(column(srcElems, e), data, w);
    barrier(b, loc);

    Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    int64_t threads =
        int64_t(tile::kWarpSize) * tile::getNumWarps(op->getParentOfType<FunctionOpInterface>());
    int64_t jobs = plan.lines * plan.segments;
    // Job j's line and segment, and the word of its segment's step t.
    struct Job {
      Value line, segment;
    };
    auto jobOf = [&](Value j) -> Job {
      if (plan.inner == 1)
        return {arith::DivUIOp::create(b, loc, j, cIdx(plan.segments)),
                arith::RemUIOp::create(b, loc, j, cIdx(plan.segments))};
      return {arith::RemUIOp::create(b, loc, j, cIdx(plan.lines)),
              arith::DivUIOp::create(b, loc, j, cIdx(plan.lines))};
    };
    auto stepWord = [&](const Job &job, Value t) -> Value {
      Value outer = arith::DivUIOp::create(b, loc, job.line, cIdx(plan.inner));
      Value within = arith::RemUIOp::create(b, loc, job.line, cIdx(plan.inner));
      Value k = add(mul(job.segment, cIdx(plan.segmentLength)), t);
      if (op.getReverse())
        k = arith::SubIOp::create(b, loc, cIdx(plan.length - 1), k);
      Value pos = add(mul(add(mul(outer, cIdx(plan.length)), k), cIdx(plan.inner)), within);
      return word(pos);
    };
    auto forEachJob = [&](function_ref<void(const Job &)> body) {
      auto loop = scf::ForOp::create(b, loc, tid, cIdx(jobs), cIdx(threads));
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      body(jobOf(loop.getInductionVar()));
    };

    // 2. Each segment in place.
    forEachJob([&](const Job &job) {
      auto steps = scf::ForOp::create(b, loc, cIdx(1), cIdx(plan.segmentLength), cIdx(1),
                                      loadAll(data, stepWord(job, cIdx(0))));
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(steps.getBody());
        Value w = stepWord(job, steps.getInductionVar());
        SmallVector<Value> acc = combine(b, loc, steps.getRegionIterArgs(), loadAll(data, w));
        storeAll(acc, data, w);
        scf::YieldOp::create(b, loc, acc);
      }
      if (!totals.empty())
        storeAll(steps.getResults(), totals, add(mul(job.line, cIdx(plan.segments)), job.segment));
    });

    // 3. The totals of the segments before each one.
    if (!totals.empty()) {
      barrier(b, loc);
      forEachJob([&](const Job &job) {
        Value later =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, job.segment, cIdx(0));
        auto ifLater = scf::IfOp::create(b, loc, later, /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifLater.thenBlock());
        Value lineStart = mul(job.line, cIdx(plan.segments));
        auto before =
            scf::ForOp::create(b, loc, cIdx(1), job.segment, cIdx(1), loadAll(totals, lineStart));
        {
          OpBuilder::InsertionGuard inner(b);
          b.setInsertionPointToStart(before.getBody());
          SmallVector<Value> total = loadAll(totals, add(lineStart, before.getInductionVar()));
          scf::YieldOp::create(b, loc, combine(b, loc, before.getRegionIterArgs(), total));
        }
        SmallVector<Value> prefix(before.getResults().begin(), before.getResults().end());
        auto steps = scf::ForOp::create(b, loc, cIdx(0), cIdx(plan.segmentLength), cIdx(1));
        b.setInsertionPointToStart(steps.getBody());
        Value w = stepWord(job, steps.getInductionVar());
        storeAll(combine(b, loc, prefix, loadAll(data, w)), data, w);
      });
    }

    barrier(b, loc);
    SmallVector<SmallVector<Value>> values(n);
    for (Value w : words)
      for (auto [t, v] : llvm::enumerate(loadAll(data, w)))
        values[t].push_back(v);
    SmallVector<Value> results;
    for (auto [t, result] : llvm::enumerate(op.getResults())) {
      auto vecType = cast<VectorType>(getTypeConverter()->convertType(result.getType()));
      results.push_back(pack(b, loc, vecType, values[t]));
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void tessera::tilegpu::populateSharedMemoryOpPatterns(TileTypeConverter &converter,
                                                      RewritePatternSet &patterns) {
  patterns.add<ConvertLayoutOpToGPU, TransOpToGPU, ReduceOpToShuffles<tile::ReduceOp>,
               ReduceOpToShuffles<tile::ReduceCombineOp>, ReduceOpToGPU<tile::ReduceOp>,
               ReduceOpToGPU<tile::ReduceCombineOp>, ScanOpToGPU>(converter, patterns.getContext());
}
