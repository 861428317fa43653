//===- DSLTest.cpp - The C++ DSL builds the tile IR it should -------------===//

#include "tessera/dsl.h"
#include "common/Testing.h"

#include "tessera/InitAll.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace tessera;
using namespace tessera::dsl;

namespace {

class DSLTest : public ::testing::Test {
protected:
  DSLTest() {
    mlir::DialectRegistry registry;
    registerTesseraDialects(registry);
    ctx.appendDialectRegistry(registry);
  }
  static std::string print(mlir::ModuleOp m) {
    std::string s;
    llvm::raw_string_ostream os(s);
    m->print(os);
    return s;
  }
  mlir::MLIRContext ctx;
};

TEST_F(DSLTest, VectorAddBuildsParamsLoadsAndStore) {
  KernelBuilder kb(ctx, "vadd", 8);
  TensorArg x = kb.tensor("x", DType::F16, 1);
  TensorArg out = kb.tensor("out", DType::F16, 1);
  Scalar start = program_id(0) * Scalar(256);
  store(out, {start}, load(x, {start}, {256}) * 2.0);
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  std::string ir = print(*m);
  // ptr, size, stride for each tensor, in declaration order.
  EXPECT_NE(ir.find("func.func @vadd(%arg0: !tile.ptr<f16>, %arg1: i32, %arg2: i32, "
                    "%arg3: !tile.ptr<f16>, %arg4: i32, %arg5: i32)"),
            std::string::npos)
      << ir;
  EXPECT_NE(ir.find("tile.num_warps = 8 : i32"), std::string::npos) << ir;
  EXPECT_NE(ir.find("tile.load"), std::string::npos);
  EXPECT_NE(ir.find("arith.mulf"), std::string::npos);
  EXPECT_NE(ir.find("tile.store"), std::string::npos);
}

/// The launch's alignment specialisation reaches the descriptors: tensor 0
/// is aligned (and its sub-tensors), tensor 1 is not, and a transposed view
/// never is (its last stride is not 1).
TEST_F(DSLTest, AlignedTensorsMarkTheirDescriptors) {
  KernelBuilder kb(ctx, "aligned");
  kb.setAlignedTensors(0b01);
  TensorArg x = kb.tensor("x", DType::F16, 3), y = kb.tensor("y", DType::F16, 2);
  EXPECT_TRUE(x.aligned());
  EXPECT_FALSE(y.aligned());
  TensorArg xs = x.at({program_id(0)});
  EXPECT_TRUE(xs.aligned());
  EXPECT_FALSE(xs.transposed().aligned());
  Scalar zero(0);
  store(y, {zero, zero}, load(xs, {zero, zero}, {16, 16}));
  store(y, {zero, zero}, load(xs.transposed(), {zero, zero}, {16, 16}));
  std::string ir = print(*kb.finish());
  size_t first = ir.find("{aligned}");
  ASSERT_NE(first, std::string::npos) << ir;
  EXPECT_EQ(ir.find("{aligned}", first + 1), std::string::npos) << ir;
}

TEST_F(DSLTest, AlignedTensorsComeBeforeTheParameters) {
  KernelBuilder kb(ctx, "late");
  kb.tensor("x", DType::F32, 1);
  EXPECT_THROW(kb.setAlignedTensors(1), dsl::Error);
}

/// Cluster sizes and CTAs per SM: kernel attributes where not 1, a named
/// error outside their ranges.
TEST_F(DSLTest, CtaCountsAreKernelAttributes) {
  KernelBuilder kb(ctx, "counts");
  kb.setCtasPerSm(2);
  kb.setClusterSize(4);
  try {
    kb.setCtasPerSm(5);
    ADD_FAILURE() << "setCtasPerSm(5) accepted";
  } catch (const dsl::Error &e) {
    EXPECT_NE(std::string(e.what()).find("setCtasPerSm(5): expected 1 to 4"), std::string::npos)
        << e.what();
  }
  try {
    kb.setClusterSize(3);
    ADD_FAILURE() << "setClusterSize(3) accepted";
  } catch (const dsl::Error &e) {
    EXPECT_NE(std::string(e.what()).find("setClusterSize(3): expected a power of two from 1 to 8"),
              std::string::npos)
        << e.what();
  }
  std::string ir = print(*kb.finish());
  EXPECT_NE(ir.find("tile.ctas_per_sm = 2 : i32"), std::string::npos) << ir;
  EXPECT_NE(ir.find("tile.cluster_size = 4 : i32"), std::string::npos) << ir;
}

TEST_F(DSLTest, AtomicAddTakesF32TilesIntoF32Tensors) {
  KernelBuilder kb(ctx, "acc");
  TensorArg acc = kb.tensor("acc", DType::F32, 2), half = kb.tensor("half", DType::F16, 2);
  atomic_add(acc.transposed(), {Scalar(0), Scalar(0)}, zeros({16, 32}, DType::F32));
  EXPECT_THROW(atomic_add(half, {Scalar(0), Scalar(0)}, zeros({16, 32}, DType::F32)), dsl::Error);
  EXPECT_THROW(atomic_add(acc, {Scalar(0), Scalar(0)}, zeros({16, 32}, DType::F16)), dsl::Error);
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  std::string ir = print(*m);
  // The transposed view swaps sizes and strides: [size1, size0], [stride1, stride0].
  EXPECT_NE(ir.find("tile.make_desc %arg0, [%arg2, %arg1], [%arg4, %arg3]"), std::string::npos)
      << ir;
  EXPECT_NE(ir.find("tile.atomic_add"), std::string::npos) << ir;
}

TEST_F(DSLTest, AtomicsWithOldValuesCheckTheirDtypes) {
  KernelBuilder kb(ctx, "atomics");
  TensorArg f = kb.tensor("f", DType::F32, 1), i = kb.tensor("i", DType::I32, 1);
  TensorArg h = kb.tensor("h", DType::F16, 1);
  Tile old = atomic_max(f, {Scalar(0)}, zeros({64}, DType::F32));
  EXPECT_TRUE(old.type().getElementType().isF32());
  atomic_cas(i, {Scalar(0)}, zeros({64}, DType::I32), zeros({64}, DType::I32));
  EXPECT_THROW(atomic_min(h, {Scalar(0)}, zeros({64}, DType::F16)), dsl::Error);
  EXPECT_THROW(atomic_xchg(i, {Scalar(0)}, zeros({64}, DType::F32)), dsl::Error);
  std::string e = test::errorOf(
      [&] { atomic_cas(f, {Scalar(0)}, zeros({64}, DType::F32), zeros({64}, DType::F32)); });
  EXPECT_TRUE(test::contains(e, "atomic_cas: takes i32 tiles into tensors of the same dtype; "
                                "tensor 'f' holds f32"))
      << e;
  std::string ir = print(*kb.finish());
  EXPECT_NE(ir.find("tile.atomic_rmw"), std::string::npos) << ir;
  EXPECT_NE(ir.find("tile.atomic_cas"), std::string::npos) << ir;
}

TEST_F(DSLTest, IfTakesBooleanScalars) {
  KernelBuilder kb(ctx, "branch");
  TensorArg x = kb.tensor("x", DType::F32, 1);
  Scalar p = program_id(0);
  if_(p < Scalar(4), [&] { store(x, {p}, zeros({1}, DType::F32)); });
  std::string e = test::errorOf([&] { if_(p, [] {}); });
  EXPECT_TRUE(test::contains(e, "if_: expects a boolean condition (a comparison of scalars)")) << e;
  EXPECT_TRUE(test::contains(test::errorOf([&] { (p < Scalar(1)) < Scalar(2); }),
                             "expects i32 or f32 scalars, got a boolean"));
  std::string ir = print(*kb.finish());
  EXPECT_NE(ir.find("arith.cmpi slt"), std::string::npos) << ir;
  EXPECT_NE(ir.find("scf.if"), std::string::npos) << ir;
}

// A tensor promised to hold tf32 values marks the loads of it, and of its
// sub-tensors and transposed views, tf32_rounded; other loads stay unmarked.
// Only f32 tensors and tiles take the promise or round_to_tf32.
TEST_F(DSLTest, Tf32RoundedTensorsMarkTheirLoads) {
  KernelBuilder kb(ctx, "tf32");
  TensorArg k = kb.tensor("k", DType::F32, 3), v = kb.tensor("v", DType::F32, 3);
  TensorArg out = kb.tensor("out", DType::F32, 2), half = kb.tensor("half", DType::F16, 2);
  k.assumeRoundedToTf32();
  EXPECT_THROW(half.assumeRoundedToTf32(), dsl::Error);
  EXPECT_THROW(round_to_tf32(zeros({16, 16}, DType::F16)), dsl::Error);
  Tile a = load(k.at({Scalar(0)}).transposed(), {Scalar(0), Scalar(0)}, {16, 16});
  Tile b = load(v.at({Scalar(0)}), {Scalar(0), Scalar(0)}, {16, 16});
  store(out, {Scalar(0), Scalar(0)}, round_to_tf32(a + b));
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  std::string ir = print(*m);
  size_t first = ir.find("tile.load"), second = ir.find("tile.load", first + 1);
  ASSERT_NE(second, std::string::npos) << ir;
  EXPECT_NE(ir.substr(first, ir.find('\n', first) - first).find("{tf32_rounded}"),
            std::string::npos)
      << ir;
  EXPECT_EQ(ir.substr(second, ir.find('\n', second) - second).find("tf32_rounded"),
            std::string::npos)
      << ir;
  // round_to_tf32: bits + 0x1000, low 13 bits cleared (-8192 = ~0x1fff).
  EXPECT_NE(ir.find("arith.bitcast"), std::string::npos) << ir;
  EXPECT_NE(ir.find("dense<4096>"), std::string::npos) << ir;
  EXPECT_NE(ir.find("dense<-8192>"), std::string::npos) << ir;
}

TEST_F(DSLTest, RescaleRowsMarksItsMultiply) {
  KernelBuilder kb(ctx, "rescale");
  Tile x = zeros({16, 32}, DType::F32), f = zeros({16}, DType::F32);
  EXPECT_THROW(rescale_rows(x, zeros({32}, DType::F32)), dsl::Error);
  EXPECT_THROW(rescale_rows(x, zeros({16}, DType::F16)), dsl::Error);
  EXPECT_THROW(rescale_rows(zeros({16}, DType::F32), f), dsl::Error);
  Tile y = rescale_rows(x, f);
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{16, 32}));
  Tile z = x * expand_dims(f, 1);
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  std::string ir = print(*m);
  // Only rescale_rows's multiply carries the hint; both are x * broadcast(f).
  size_t first = ir.find("arith.mulf"), second = ir.find("arith.mulf", first + 1);
  ASSERT_NE(second, std::string::npos) << ir;
  EXPECT_NE(ir.substr(first, ir.find('\n', first) - first).find("{tile.skip_unit_factor}"),
            std::string::npos)
      << ir;
  EXPECT_EQ(ir.substr(second, ir.find('\n', second) - second).find("skip_unit_factor"),
            std::string::npos)
      << ir;
}

TEST_F(DSLTest, ReciprocalIsAnApproximateDivision) {
  KernelBuilder kb(ctx, "recip");
  EXPECT_THROW(reciprocal(zeros({16}, DType::F16)), dsl::Error);
  Tile r = reciprocal(zeros({16}, DType::F32) + 2.0);
  EXPECT_EQ(r.shape(), (std::vector<int64_t>{16}));
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  std::string ir = print(*m);
  // 1 / t with fastmath afn, which NVPTX lowers to rcp.approx, not div.rn.
  EXPECT_NE(ir.find("arith.divf"), std::string::npos) << ir;
  EXPECT_NE(ir.find("fastmath<afn>"), std::string::npos) << ir;
}

TEST_F(DSLTest, BinaryOpsBroadcastSizeOneDimensions) {
  KernelBuilder kb(ctx, "bcast");
  Tile col = zeros({16, 1}, DType::F32);
  Tile row = zeros({1, 32}, DType::F32);
  Tile sum = col + row;
  EXPECT_EQ(sum.shape(), (std::vector<int64_t>{16, 32}));
  kb.finish();
}

TEST_F(DSLTest, ReduceOfOneDimensionalTileKeepsAOneElementTile) {
  KernelBuilder kb(ctx, "r");
  Tile t = reduce_max(arange(64), 0);
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{1}));
  kb.finish();
}

TEST_F(DSLTest, DotShapeMismatchNamesTheOp) {
  KernelBuilder kb(ctx, "bad_dot");
  Tile a = zeros({16, 32}, DType::F16), b = zeros({16, 16}, DType::F16);
  try {
    dot(a, b);
    FAIL() << "dot of 16x32 by 16x16 was accepted";
  } catch (const dsl::Error &e) {
    EXPECT_NE(std::string(e.what()).find("dot: lhs columns (32) must equal rhs rows (16)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(DSLTest, MixedDtypesAreRejected) {
  KernelBuilder kb(ctx, "mixed");
  Tile a = zeros({16}, DType::F16), b = zeros({16}, DType::F32);
  EXPECT_THROW(a + b, dsl::Error);
  Tile c = cast(a, DType::F32) + b;
  EXPECT_EQ(c.dtype(), DType::F32);
}

TEST_F(DSLTest, IncompatibleShapesAreRejected) {
  KernelBuilder kb(ctx, "shapes");
  Tile a = zeros({16, 8}, DType::F32), b = zeros({16, 4}, DType::F32);
  try {
    (void)(a * b);
    FAIL() << "broadcast of [16, 8] with [16, 4] was accepted";
  } catch (const dsl::Error &e) {
    EXPECT_NE(std::string(e.what()).find("shapes [16, 8] and [16, 4] do not broadcast"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(DSLTest, StoreOfTheWrongDtypeIsRejected) {
  KernelBuilder kb(ctx, "st");
  TensorArg out = kb.tensor("out", DType::BF16, 1);
  EXPECT_THROW(store(out, {Scalar(0)}, zeros({64}, DType::F32)), dsl::Error);
}

TEST_F(DSLTest, ForRangeCarriesTiles) {
  KernelBuilder kb(ctx, "loop");
  Tile acc = zeros({32}, DType::F32);
  std::vector<Tile> r =
      for_range(Scalar(0), Scalar(10), Scalar(1), {acc},
                [](Scalar, const std::vector<Tile> &c) { return std::vector<Tile>{c[0] + 1.0}; });
  ASSERT_EQ(r.size(), 1u);
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  EXPECT_NE(print(*m).find("scf.for"), std::string::npos);
}

/// A loop that carries nothing (a persistent kernel's loop over its tiles):
/// its body's ops come before the one yield, and the module verifies.
TEST_F(DSLTest, ForRangeCarryingNothingWrapsItsBody) {
  KernelBuilder kb(ctx, "tiles");
  TensorArg out = kb.tensor("out", DType::F32, 1);
  std::vector<Tile> r = for_range(program_id(0), Scalar(8), num_programs(0), {},
                                  [&](Scalar t, const std::vector<Tile> &) {
                                    store(out, {t * Scalar(32)}, zeros({32}, DType::F32) + 1.0);
                                    return std::vector<Tile>{};
                                  });
  EXPECT_TRUE(r.empty());
  mlir::OwningOpRef<mlir::ModuleOp> m = kb.finish();
  ASSERT_TRUE(succeeded(mlir::verify(*m))) << print(*m);
  std::string ir = print(*m);
  size_t loop = ir.find("scf.for"), store = ir.find("tile.store");
  ASSERT_NE(loop, std::string::npos) << ir;
  EXPECT_GT(store, loop) << ir;
  EXPECT_LT(store, ir.find("}", store)) << ir;
}

TEST_F(DSLTest, ForRangeBodyMustKeepTypes) {
  KernelBuilder kb(ctx, "loop_bad");
  Tile acc = zeros({32}, DType::F32);
  EXPECT_THROW(for_range(Scalar(0), Scalar(4), Scalar(1), {acc},
                         [](Scalar, const std::vector<Tile> &c) {
                           return std::vector<Tile>{cast(c[0], DType::F16)};
                         }),
               dsl::Error);
}

TEST_F(DSLTest, NoActiveBuilderIsAClearError) { EXPECT_THROW(arange(16), dsl::Error); }

TEST_F(DSLTest, OpsCarryTheUsersSourceLocation) {
  KernelBuilder kb(ctx, "loc");
  Tile t = arange(16); // this line's number appears in the IR's locations
  mlir::Location loc = t.getValue().getLoc();
  std::string s;
  llvm::raw_string_ostream os(s);
  os << loc;
  EXPECT_NE(s.find("DSLTest.cpp"), std::string::npos) << s;
  kb.finish();
}

TEST(DTypeTest, HalfAndBFloat16RoundToNearestEven) {
  EXPECT_EQ(f16ToFloat(floatToF16(1.0f)), 1.0f);
  EXPECT_EQ(f16ToFloat(floatToF16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16ToFloat(floatToF16(70000.0f))));
  EXPECT_EQ(floatToF16(1.0f + 1.0f / 2048), 0x3c00); // tie rounds to even
  EXPECT_EQ(floatToF16(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(f16ToFloat(floatToF16(5.960464477539063e-08f)), 5.960464477539063e-08f);
  EXPECT_EQ(bf16ToFloat(floatToBF16(1.0f)), 1.0f);
  EXPECT_EQ(floatToBF16(1.0f + 1.0f / 256), 0x3f80); // tie rounds to even
  EXPECT_EQ(floatToBF16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBF16(NAN))));
}

} // namespace
