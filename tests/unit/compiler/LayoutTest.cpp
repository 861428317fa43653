//===- LayoutTest.cpp - Thread distributions of the tensor-core layouts ---===//
//
// The coordinates `getDistribution` gives each lane must be the ones the PTX
// ISA's "Matrix Fragments for mma.m16n8k16" figures give it: evaluated here
// on the CPU for every lane and warp, element by element.
//
//===----------------------------------------------------------------------===//

#include "tessera/Dialect/Tile/IR/Layout.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <set>

using namespace mlir;
using namespace tessera::tile;

namespace {

/// The coordinates of thread (lane, warp)'s element `index` along each dim.
std::vector<int64_t> coordinate(const llvm::SmallVector<DimDistribution> &dims,
                                llvm::ArrayRef<int64_t> shape, unsigned lane, unsigned warp,
                                llvm::ArrayRef<int64_t> index) {
  std::vector<int64_t> c;
  for (size_t d = 0; d < dims.size(); ++d) {
    const DimDistribution &x = dims[d];
    int64_t v = int64_t((lane >> x.laneShift) & x.laneMask) * x.laneStride +
                int64_t((warp >> x.warpShift) & x.warpMask) * x.warpStride + x.offsets[index[d]];
    c.push_back(v % shape[d]);
  }
  return c;
}

struct Layouts : ::testing::Test {
  Layouts() { ctx.loadDialect<TileDialect>(); }
  MLIRContext ctx;
};

TEST_F(Layouts, MmaAccumulatorMatchesThePtxFragments) {
  // 64 x 32 on 4 warps stacked along M: warp w owns rows 16w..16w+15.
  MmaLayoutAttr mma = getDefaultMmaLayout(&ctx, 64, 32, 4);
  ASSERT_EQ(mma.getWarpsPerCTA()[0], 4u);
  auto dims = getDistribution(mma, {64, 32});
  ASSERT_EQ(dims[0].count(), 2); // rows g and g + 8
  ASSERT_EQ(dims[1].count(), 8); // 2 columns in each of 4 n-blocks
  for (unsigned warp = 0; warp < 4; ++warp)
    for (unsigned lane = 0; lane < 32; ++lane)
      for (int64_t n = 0; n < 4; ++n) {
        // c0, c1: (g, 2t), (g, 2t + 1); c2, c3: (g + 8, ...).
        unsigned g = lane / 4, t = lane % 4;
        EXPECT_EQ(coordinate(dims, {64, 32}, lane, warp, {0, 2 * n}),
                  (std::vector<int64_t>{16 * warp + g, 8 * n + 2 * t}));
        EXPECT_EQ(coordinate(dims, {64, 32}, lane, warp, {1, 2 * n + 1}),
                  (std::vector<int64_t>{16 * warp + g + 8, 8 * n + 2 * t + 1}));
      }
}

/// A deep product whose default layout leaves each warp one n8 block takes
/// the warps along M only (the other warps split K); shallow or wider ones
/// keep the default. The split accumulator of Q·Kᵀ and the A operand of the
/// next P·V then hold the same elements in every warp: no data moves.
TEST_F(Layouts, DeepNarrowDotsSplitK) {
  auto warps = [](MmaLayoutAttr m) {
    return std::vector<unsigned>(m.getWarpsPerCTA().begin(), m.getWarpsPerCTA().end());
  };
  EXPECT_EQ(warps(getDotMmaLayout(&ctx, 64, 16, 512, 8)), (std::vector<unsigned>{4, 1}));
  EXPECT_EQ(warps(getDotMmaLayout(&ctx, 32, 16, 128, 4)), (std::vector<unsigned>{2, 1}));
  // The GPU test AttentionForwardSplitK's Q·Kᵀ (64 x 16 blocks, d 256, 8 warps).
  EXPECT_EQ(warps(getDotMmaLayout(&ctx, 64, 16, 256, 8)), (std::vector<unsigned>{4, 1}));
  EXPECT_EQ(warps(getDotMmaLayout(&ctx, 64, 16, 32, 8)), (std::vector<unsigned>{4, 2}));
  EXPECT_EQ(warps(getDotMmaLayout(&ctx, 64, 32, 512, 8)), (std::vector<unsigned>{4, 2}));
  EXPECT_EQ(warps(getDotMmaLayout(&ctx, 16, 16, 512, 4)), (std::vector<unsigned>{1, 4}));
  MmaLayoutAttr split = getDotMmaLayout(&ctx, 64, 16, 512, 8);
  MmaLayoutAttr pv = getDotMmaLayout(&ctx, 64, 512, 16, 8);
  auto acc = RankedTensorType::get({64, 16}, Float32Type::get(&ctx), split);
  auto operand = RankedTensorType::get({64, 16}, Float32Type::get(&ctx),
                                       DotOperandLayoutAttr::get(&ctx, 0, pv, 2));
  EXPECT_TRUE(isSameDistribution(acc, operand));
}

TEST_F(Layouts, OperandsMatchThePtxFragments) {
  MmaLayoutAttr mma = getDefaultMmaLayout(&ctx, 16, 8, 1);
  auto a = getDistribution(DotOperandLayoutAttr::get(&ctx, 0, mma, 2), {16, 16});
  auto b = getDistribution(DotOperandLayoutAttr::get(&ctx, 1, mma, 2), {16, 8});
  for (unsigned lane = 0; lane < 32; ++lane) {
    unsigned g = lane / 4, t = lane % 4;
    // a0..a7: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1), (g, 2t+8), ...
    EXPECT_EQ(coordinate(a, {16, 16}, lane, 0, {0, 0}), (std::vector<int64_t>{g, 2 * t}));
    EXPECT_EQ(coordinate(a, {16, 16}, lane, 0, {1, 1}), (std::vector<int64_t>{g + 8, 2 * t + 1}));
    EXPECT_EQ(coordinate(a, {16, 16}, lane, 0, {0, 2}), (std::vector<int64_t>{g, 2 * t + 8}));
    EXPECT_EQ(coordinate(a, {16, 16}, lane, 0, {1, 3}), (std::vector<int64_t>{g + 8, 2 * t + 9}));
    // b0..b3: (2t, g), (2t+1, g), (2t+8, g), (2t+9, g).
    EXPECT_EQ(coordinate(b, {16, 8}, lane, 0, {0, 0}), (std::vector<int64_t>{2 * t, g}));
    EXPECT_EQ(coordinate(b, {16, 8}, lane, 0, {3, 0}), (std::vector<int64_t>{2 * t + 9, g}));
  }
}

TEST_F(Layouts, EveryElementOnceAndAccumulatorIsTheNextAOperand) {
  // 8 warps over 128 x 64: each element held by exactly one (thread, index).
  MmaLayoutAttr mma = getDefaultMmaLayout(&ctx, 128, 64, 8);
  auto dims = getDistribution(mma, {128, 64});
  std::set<std::vector<int64_t>> seen;
  for (unsigned warp = 0; warp < 8; ++warp)
    for (unsigned lane = 0; lane < 32; ++lane)
      for (int64_t i = 0; i < dims[0].count(); ++i)
        for (int64_t j = 0; j < dims[1].count(); ++j)
          EXPECT_TRUE(seen.insert(coordinate(dims, {128, 64}, lane, warp, {i, j})).second);
  EXPECT_EQ(seen.size(), 128u * 64u);
  // With warps only along M, P (mma) is already in the A-operand layout of P·V.
  auto p = RankedTensorType::get({128, 64}, Float16Type::get(&ctx), mma);
  auto a = RankedTensorType::get({128, 64}, Float16Type::get(&ctx),
                                 DotOperandLayoutAttr::get(&ctx, 0, mma, 2));
  EXPECT_TRUE(isSameDistribution(p, a));
  // Not so when warps split N: then columns of P belong to other warps.
  MmaLayoutAttr split = MmaLayoutAttr::get(&ctx, {2, 4});
  EXPECT_FALSE(
      isSameDistribution(RankedTensorType::get({32, 64}, Float16Type::get(&ctx), split),
                         RankedTensorType::get({32, 64}, Float16Type::get(&ctx),
                                               DotOperandLayoutAttr::get(&ctx, 0, split, 2))));
}

} // namespace
