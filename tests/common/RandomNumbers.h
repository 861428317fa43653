//===- RandomNumbers.h - dsl::randint and dsl::rand, checked ----*- C++ -*-===//
//
// A kernel that writes randint(seed, i) and rand(seed, i) for every i, and
// its bit-for-bit check against the host's Philox (tessera::testkit): the
// unit tests run it on the interpreter, the GPU tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_RANDOMNUMBERS_H
#define TESSERA_TESTS_COMMON_RANDOMNUMBERS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <string>
#include <vector>

namespace tessera::test {

// bits[i] = randint(seed, i), u[i] = rand(seed, i); BLOCK elements a program.
inline void randomNumbersBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  int64_t block = c.get("BLOCK");
  dsl::TensorArg bits = kb.tensor("bits", DType::I32, 1), u = kb.tensor("u", DType::F32, 1);
  dsl::Scalar seed = kb.scalarI32("seed");
  dsl::Scalar start = dsl::program_id(0) * dsl::Scalar(block);
  dsl::Tile offsets = dsl::arange(block) + start;
  dsl::store(bits, {start}, dsl::randint(seed, offsets));
  dsl::store(u, {start}, dsl::rand(seed, offsets));
}

/// Runs the kernel on n offsets under a fresh seed; "" when every number is
/// the host's, bit for bit, else the first that is not. `mean` receives the
/// uniforms' mean.
inline std::string checkRandomNumbers(int64_t n, double *mean = nullptr) {
  kernels::Kernel k =
      kernels::Kernel("random_numbers", randomNumbersBody)
          .constants({{"BLOCK", 1024}})
          .dtypes({DType::F32})
          .grid([](const kernels::Args &a, const kernels::KernelConfig &c) {
            return kernels::Grid{kernels::cdiv(a.tensor("bits").shape()[0], c.get("BLOCK"))};
          });
  uint32_t seed = uint32_t(rng()());
  DeviceTensor bits = DeviceTensor::empty({n}, DType::I32),
               u = DeviceTensor::empty({n}, DType::F32);
  bits.fillBytes(0xff);
  u.fillBytes(0xff);
  k.launch(k.config(DType::F32), {bits, u, int32_t(seed)});
  std::vector<int32_t> got(n);
  bits.copyToHost(got.data());
  std::vector<float> uniform = u.toFloat();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t want = testkit::philox(seed, uint32_t(i));
    if (uint32_t(got[i]) != want)
      return "randint(" + std::to_string(seed) + ", " + std::to_string(i) +
             ") = " + std::to_string(uint32_t(got[i])) + ", expected " + std::to_string(want);
    if (uniform[i] != testkit::uniform(seed, uint32_t(i)) || !(uniform[i] >= 0 && uniform[i] < 1))
      return "rand(" + std::to_string(seed) + ", " + std::to_string(i) +
             ") = " + std::to_string(uniform[i]);
    sum += uniform[i];
  }
  if (mean)
    *mean = sum / double(n);
  return "";
}

} // namespace tessera::test

#endif
