//===- ElementwiseOpsTest.cpp - Math and bit operations on the interpreter ===//

#include "common/ElementwiseOps.h"
#include "tessera/runtime/Jit.h"

#include <gtest/gtest.h>

namespace {

TEST(ElementwiseOps, MatchTheReferenceOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  std::string e = tessera::test::checkElementwiseOps(1000, 3.f);
  EXPECT_EQ(e, "");
}

TEST(ElementwiseOps, CompileForEachArchWithoutSpills) {
  tessera::kernels::Kernel k = tessera::test::elementwiseOpsKernel();
  for (const char *arch : {"sm_80", "sm_90a"}) {
    tessera::CompileOptions options;
    options.arch = arch;
    tessera::CompiledKernel c = tessera::Jit::get().compile(
        [&](mlir::MLIRContext &ctx) { return k.def().build(ctx, k.config(tessera::DType::F32)); },
        options);
    EXPECT_EQ(c.usage.spillStoreBytes, 0u) << arch;
    // Range reduction, then the hardware's sine.
    EXPECT_NE(c.ptx.find("sin.approx.ftz.f32"), std::string::npos) << arch;
    EXPECT_NE(c.ptx.find("cvt.rni.f32.f32"), std::string::npos) << arch;
  }
}

} // namespace
