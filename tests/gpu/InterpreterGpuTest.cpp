//===- InterpreterGpuTest.cpp - The interpreter and the GPU agree ---------===//
//
// The same kernels on the same inputs, compiled for the GPU and interpreted
// on the CPU. The CUDA-core dot does one fp32 FMA per k in order, as the
// interpreter does, so matmul in f32 must agree bit for bit; attention uses
// the GPU's approximate exp2, so it agrees to rounding.
//
//===----------------------------------------------------------------------===//

#include "common/Testing.h"
#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Interpret.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace tessera;

namespace {

using test::randomValues;

/// Runs `body` on the GPU, then on the interpreter, returning both outputs.
template <typename Body> std::pair<std::vector<float>, std::vector<float>> onBoth(Body body) {
  std::vector<float> gpu = body();
  setInterpreted(true);
  std::vector<float> cpu = body();
  setInterpreted(false);
  return {gpu, cpu};
}

TEST(InterpreterAgreesWithGpu, MatmulF32BitForBit) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  int64_t m = 150, k = 70, n = 90;
  auto a = randomValues(m * k, DType::F32), b = randomValues(k * n, DType::F32);
  auto [gpu, cpu] = onBoth([&] {
    DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, DType::F32);
    DeviceTensor db = DeviceTensor::fromFloat(b, {k, n}, DType::F32);
    return kernels::matmul(da, db).toFloat();
  });
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < gpu.size(); ++i)
    ASSERT_EQ(gpu[i], cpu[i]) << "element " << i;
}

TEST(InterpreterAgreesWithGpu, AttentionForwardBf16CausalMasked) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  int64_t b = 2, h = 4, hk = 2, s = 100, d = 64;
  auto q = randomValues(b * h * s * d, DType::BF16), kv = randomValues(b * hk * s * d, DType::BF16);
  std::vector<uint8_t> mask(b * s);
  for (size_t i = 0; i < mask.size(); ++i)
    mask[i] = (i * 7) % 5 != 0;
  auto [gpu, cpu] = onBoth([&] {
    DeviceTensor dq = DeviceTensor::fromFloat(q, {b, h, s, d}, DType::BF16);
    DeviceTensor dkv = DeviceTensor::fromFloat(kv, {b, hk, s, d}, DType::BF16);
    DeviceTensor dm = DeviceTensor::fromHost(mask.data(), {b, s}, DType::I1);
    attention::Options options;
    options.causal = true;
    options.keyMask = &dm;
    return attention::forward(dq, dkv, dkv, options).out.toFloat();
  });
  double num = 0, den = 0;
  size_t equal = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    num += double(gpu[i] - cpu[i]) * (gpu[i] - cpu[i]);
    den += double(cpu[i]) * cpu[i];
    equal += gpu[i] == cpu[i];
  }
  EXPECT_LE(std::sqrt(num / den), 4e-3);
  EXPECT_GE(double(equal) / gpu.size(), 0.9) << "most bf16 outputs should be identical";
}

} // namespace
