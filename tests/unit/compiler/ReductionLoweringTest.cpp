//===- ReductionLoweringTest.cpp - Reductions across warps, compiled ------===//
//
// Column sums (a reduction along axis 0 whose rows lie in different warps,
// no lanes along it) compiled for sm_90a: the cross-warp exchange once read
// the reduced dimension's distribution through a reference into a destroyed
// temporary; the garbage shift made the writer test poison, and LLVM
// replaced the whole loop with `exit`. The GPU test RowSumsStoredAsOne-
// DimensionalTiles checks the numbers.
//
//===----------------------------------------------------------------------===//

#include "tessera/dsl.h"
#include "tessera/runtime/Jit.h"

#include <gtest/gtest.h>

using namespace tessera;

namespace {

TEST(ReductionLowering, ColumnSumsAcrossWarpsKeepTheirLoop) {
  CompileOptions options;
  options.arch = "sm_90a";
  CompiledKernel k = Jit::get().compile(
      [](mlir::MLIRContext &ctx) {
        using namespace dsl;
        KernelBuilder kb(ctx, "column_sums", 4);
        TensorArg partial = kb.tensor("partial", DType::F32, 2),
                  out = kb.tensor("out", DType::F32, 1);
        Scalar col = program_id(0) * Scalar(128);
        Tile sum = for_range(Scalar(0), partial.size(0), Scalar(32), {zeros({128}, DType::F32)},
                             [&](Scalar i, const std::vector<Tile> &acc) {
                               Tile block = load(partial, {i, col}, {32, 128});
                               return std::vector<Tile>{acc[0] + reduce_sum(block, 0)};
                             })[0];
        store(out, {col}, sum);
        return kb.finish();
      },
      options);
  EXPECT_EQ(k.ptx.find("exit;"), std::string::npos) << k.ptx;
  EXPECT_NE(k.ptx.find("st.shared"), std::string::npos);
  EXPECT_NE(k.ptx.find("ld.global"), std::string::npos);
}

} // namespace
