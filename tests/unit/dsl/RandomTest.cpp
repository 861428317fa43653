//===- RandomTest.cpp - dsl::randint and dsl::rand on the interpreter -----===//
//
// Philox4x32-10 against Random123's known answer and against the host's
// tessera::testkit::philox, bit for bit, on fresh seeds.
//
//===----------------------------------------------------------------------===//

#include "common/RandomNumbers.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <gtest/gtest.h>

using namespace tessera;
using namespace tessera::kernels;

namespace {

TEST(Random, PhiloxMatchesTheKnownAnswer) {
  // Random123's kat_vectors: philox4x32_10, counter 0, key 0 -> 6627e8d5 ...
  EXPECT_EQ(testkit::philox(0, 0), 0x6627e8d5u);
}

TEST(Random, RandintAndRandMatchTheHostBitForBit) {
  test::InterpretedScope scope;
  double mean = 0;
  EXPECT_EQ(test::checkRandomNumbers(1000, &mean), "");
  // 1000 uniforms: the mean is 0.5 within a few standard deviations (0.009).
  EXPECT_NEAR(mean, 0.5, 0.05);
}

TEST(Random, RejectsNonI32Offsets) {
  test::InterpretedScope scope;
  mlir::MLIRContext ctx;
  dsl::KernelBuilder kb(ctx, "bad_random");
  std::string e = test::errorOf([&] { dsl::rand(dsl::Scalar(1), dsl::zeros({16}, DType::F32)); });
  EXPECT_TRUE(test::contains(e, "randint: expects i32 offsets")) << e;
}

} // namespace
