//===- RandomTest.cpp - dsl::randint and dsl::rand on the interpreter -----===//
//
// Philox4x32-10 against Random123's known answer and against the host's
// tessera::testkit::philox, bit for bit, on fresh seeds.
//
//===----------------------------------------------------------------------===//

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace tessera;
using namespace tessera::kernels;

namespace {

// bits[i] = randint(seed, i), u[i] = rand(seed, i); BLOCK elements a program.
void randomBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  int64_t block = c.get("BLOCK");
  dsl::TensorArg bits = kb.tensor("bits", DType::I32, 1), u = kb.tensor("u", DType::F32, 1);
  dsl::Scalar seed = kb.scalarI32("seed");
  dsl::Scalar start = dsl::program_id(0) * dsl::Scalar(block);
  dsl::Tile offsets = dsl::arange(block) + start;
  dsl::store(bits, {start}, dsl::randint(seed, offsets));
  dsl::store(u, {start}, dsl::rand(seed, offsets));
}

Kernel randomKernel() {
  return Kernel("random_test", randomBody)
      .constants({{"BLOCK", 256}})
      .dtypes({DType::F32})
      .grid([](const Args &a, const KernelConfig &c) {
        return Grid{cdiv(a.tensor("bits").shape()[0], c.get("BLOCK"))};
      });
}

TEST(Random, PhiloxMatchesTheKnownAnswer) {
  // Random123's kat_vectors: philox4x32_10, counter 0, key 0 -> 6627e8d5 ...
  EXPECT_EQ(testkit::philox(0, 0), 0x6627e8d5u);
}

TEST(Random, RandintAndRandMatchTheHostBitForBit) {
  test::InterpretedScope scope;
  Kernel k = randomKernel();
  int64_t n = 1000;
  uint32_t seed = uint32_t(test::rng()());
  DeviceTensor bits = DeviceTensor::empty({n}, DType::I32),
               u = DeviceTensor::empty({n}, DType::F32);
  bits.fillBytes(0xff);
  u.fillBytes(0xff);
  k.launch(k.config(DType::F32), {bits, u, int32_t(seed)});
  std::vector<int32_t> got(n);
  bits.copyToHost(got.data());
  std::vector<float> uniform = u.toFloat();
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(uint32_t(got[i]), testkit::philox(seed, uint32_t(i))) << "element " << i;
    ASSERT_EQ(uniform[i], testkit::uniform(seed, uint32_t(i))) << "element " << i;
    ASSERT_GE(uniform[i], 0.f);
    ASSERT_LT(uniform[i], 1.f);
    mean += uniform[i] / double(n);
  }
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
