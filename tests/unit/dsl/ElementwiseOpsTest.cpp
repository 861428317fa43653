//===- ElementwiseOpsTest.cpp - The DSL's operations on the interpreter ----===//
//
// Each kernel of tests/common run on the interpreter against its reference,
// and compiled for the GPU here (the GPU tests run it there).
//
//===----------------------------------------------------------------------===//

#include "common/ElementwiseOps.h"
#include "common/ArgReduce.h"
#include "common/Asserts.h"
#include "common/Atomics.h"
#include "common/Masks.h"
#include "common/Print.h"
#include "common/Scans.h"
#include "tessera/runtime/Jit.h"

#include <gtest/gtest.h>

namespace {

using tessera::DType;

/// `k` compiled for `arch` in `dtype`, to PTX and cubin.
/// `aligned`: as a launch on contiguous tensors compiles it; else for any
/// strides.
tessera::CompiledKernel compile(const tessera::kernels::Kernel &k, DType dtype, const char *arch,
                                bool aligned = false) {
  tessera::CompileOptions options;
  options.arch = arch;
  tessera::kernels::KernelConfig config = k.config(dtype);
  if (aligned)
    config.alignedTensors = ~uint64_t(0);
  return tessera::Jit::get().compile(
      [&](mlir::MLIRContext &ctx) { return k.def().build(ctx, config); }, options);
}

TEST(ElementwiseOps, MatchTheReferenceOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  std::string e = tessera::test::checkElementwiseOps(1000, 3.f);
  EXPECT_EQ(e, "");
}

TEST(ElementwiseOps, CompileForEachArchWithoutSpills) {
  tessera::kernels::Kernel k = tessera::test::elementwiseOpsKernel();
  for (const char *arch : {"sm_80", "sm_90a"}) {
    tessera::CompiledKernel c = compile(k, DType::F32, arch);
    EXPECT_EQ(c.usage.spillStoreBytes, 0u) << arch;
    // Range reduction, then the hardware's sine.
    EXPECT_NE(c.ptx.find("sin.approx.ftz.f32"), std::string::npos) << arch;
    EXPECT_NE(c.ptx.find("cvt.rni.f32.f32"), std::string::npos) << arch;
  }
}

TEST(ArgReduce, FirstIndexOfTheExtremeOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  for (tessera::DType dtype : {DType::F32, DType::BF16})
    EXPECT_EQ(tessera::test::checkArgReduce(64, dtype), "") << tessera::name(dtype);
  tessera::CompiledKernel c = compile(tessera::test::argReduceKernel(), DType::BF16, "sm_90a");
  EXPECT_EQ(c.usage.spillStoreBytes, 0u);
}

TEST(Scans, ScansAndCombinesOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  for (tessera::DType dtype : {DType::F32, DType::BF16})
    EXPECT_EQ(tessera::test::checkScans(32, dtype), "") << tessera::name(dtype);
  for (const char *arch : {"sm_80", "sm_90a"}) {
    tessera::CompiledKernel c = compile(tessera::test::scansKernel(), DType::BF16, arch);
    EXPECT_EQ(c.usage.spillStoreBytes, 0u) << arch;
  }
}

TEST(DeviceAssert, StopsAtAFalseElementOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  tessera::test::DebugScope debug(true);
  EXPECT_EQ(tessera::test::checkAsserts(1000), "");
  try {
    tessera::test::checkAsserts(1000, 777);
    ADD_FAILURE() << "a false assert did not stop the kernel";
  } catch (const tessera::Error &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("device_assert failed: x below the limit"), std::string::npos) << what;
    EXPECT_NE(what.find("program (3, 0, 0), element (9)"), std::string::npos) << what;
    EXPECT_NE(what.find("Asserts.h"), std::string::npos) << what; // the call's location
  }
}

/// Emitted only with TESSERA_DEBUG=1: one __assertfail call per condition.
TEST(DeviceAssert, OnlyInDebugBuilds) {
  for (bool on : {true, false}) {
    tessera::test::DebugScope debug(on);
    tessera::CompiledKernel c = compile(tessera::test::assertsKernel(), DType::F32, "sm_90a");
    EXPECT_EQ(c.ptx.find("__assertfail") != std::string::npos, on) << on;
  }
  tessera::test::InterpretedScope scope;
  tessera::test::DebugScope debug(false);
  EXPECT_EQ(tessera::test::checkAsserts(1000, 777), ""); // no check: 2 is copied
}

TEST(Branches, IfOnScalarsOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  EXPECT_EQ(tessera::test::checkBranches(1000), "");
  for (const char *arch : {"sm_80", "sm_90a"}) {
    tessera::CompiledKernel c = compile(tessera::test::branchesKernel(), DType::F32, arch);
    EXPECT_NE(c.ptx.find("ld.global.v4.b32"), std::string::npos) << arch; // in the branches
  }
}

TEST(DevicePrint, EachElementOnceOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  EXPECT_EQ(tessera::test::checkPrint(), "");
  tessera::CompiledKernel c = compile(tessera::test::printKernel(), DType::I32, "sm_90a");
  EXPECT_NE(c.ptx.find("call.uni (retval0), vprintf"), std::string::npos) << c.ptx;
}

TEST(Masks, LoadOtherAndSkipStoresOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  for (tessera::DType dtype : {DType::F32, DType::BF16})
    EXPECT_EQ(tessera::test::checkMasks(1000, dtype), "") << tessera::name(dtype);
}

/// Seven programs on one block of 128 (100 elements inside the targets).
TEST(Atomics, ReturnOldValuesOnTheInterpreter) {
  tessera::test::InterpretedScope scope;
  EXPECT_EQ(tessera::test::checkAtomics(7, 128, 100), "");
}

/// Atomics whose tile other threads hold copies of (64 elements, 128
/// threads) hand the old values out through shared memory; the others use
/// none (on contiguous tensors: stores of rows that take no vectors may
/// stage through shared memory, shiftedStores). Typed llvm.atomicrmw and
/// cmpxchg (f32 max and min become compare-and-swap loops: PTX has no
/// atom.max.f32).
TEST(Atomics, CompileWithSharedMemoryOnlyForCopies) {
  for (int64_t block : {64, 512}) {
    tessera::CompiledKernel c =
        compile(tessera::test::atomicsKernel(block), DType::F32, "sm_90a", /*aligned=*/true);
    EXPECT_EQ(c.usage.spillStoreBytes, 0u) << block;
    EXPECT_EQ(c.sharedBytes, block == 64 ? 256u : 0u) << block; // 64 f32
    EXPECT_NE(c.ptx.find("atom.relaxed.gpu.global.cas.b32"), std::string::npos);
    EXPECT_NE(c.ptx.find("atom.global.exch.b32"), std::string::npos);
    EXPECT_NE(c.ptx.find("atom.global.min.s32"), std::string::npos);
    EXPECT_NE(c.ptx.find("atom.global.add.f32"), std::string::npos);
  }
}

} // namespace
