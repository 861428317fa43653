//===- Asserts.h - device_assert, checked --------------------*- C++ -*-===//
//
// A copy kernel that asserts each element is below a limit (a tile
// condition) and its program id in range (a scalar one). The unit tests
// run it on the interpreter and compile it, the GPU tests run it on the GPU
// (a failing assert in a child process of its own: it loses the context).
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_ASSERTS_H
#define TESSERA_TESTS_COMMON_ASSERTS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"

#include <string>
#include <vector>

namespace tessera::test {

/// device_assert's checks on (or off) for the scope.
class DebugScope {
public:
  explicit DebugScope(bool on) : previous(dsl::debugEnabled()) { dsl::setDebug(on); }
  ~DebugScope() { dsl::setDebug(previous); }
  DebugScope(const DebugScope &) = delete;
  DebugScope &operator=(const DebugScope &) = delete;

private:
  bool previous;
};

inline void assertsBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t block = c.get("BLOCK");
  TensorArg x = kb.tensor("x", DType::F32, 1), out = kb.tensor("out", DType::F32, 1);
  Scalar limit = kb.scalarF32("limit");
  Scalar start = program_id(0) * Scalar(block);
  Tile t = load(x, {start}, {block});
  device_assert(t < limit, "x below the limit");
  device_assert(program_id(0) < num_programs(0), "program id in range");
  store(out, {start}, t);
}

inline kernels::Kernel assertsKernel() {
  return kernels::Kernel("asserts", assertsBody)
      .constants({{"BLOCK", 256}})
      .dtypes({DType::F32})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BLOCK"))};
      });
}

/// Copies n values in [0, 1) (element `tooLarge`, when given, set to 2) with
/// the limit 1.5 and returns "" or what differs; throws what the launch
/// throws.
inline std::string checkAsserts(int64_t n, int64_t tooLarge = -1) {
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i)
    x[i] = float(i % 1000) / 1000.f;
  if (tooLarge >= 0)
    x[tooLarge] = 2.f;
  DeviceTensor dx = DeviceTensor::fromFloat(x, {n}, DType::F32),
               out = DeviceTensor::empty({n}, DType::F32);
  out.fillBytes(0xff);
  assertsKernel()(std::vector<kernels::Arg>{dx, out, 1.5f});
  std::vector<float> got = out.toFloat();
  for (int64_t i = 0; i < n; ++i)
    if (got[i] != x[i])
      return "element " + std::to_string(i) + ": " + std::to_string(got[i]) + ", expected " +
             std::to_string(x[i]);
  return "";
}

} // namespace tessera::test

#endif
