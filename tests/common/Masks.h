//===- Masks.h - Masked loads and stores, checked ---------------*- C++ -*-===//
//
// One kernel with a masked load (masked-off elements read `other`) and a
// masked store (masked-off elements keep what the tensor held), and its
// exact check. The unit tests run it on the interpreter, the GPU tests on
// the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_MASKS_H
#define TESSERA_TESTS_COMMON_MASKS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <string>
#include <vector>

namespace tessera::test {

/// y[i] = 2 · (i % 3 != 0 ? x[i] : -7), written only where i % 16 < 5: runs
/// of a thread's elements all written (one vector store), partly written
/// and not written at all.
inline void masksBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t block = c.get("BLOCK");
  TensorArg x = kb.tensor("x", c.dtype, 1), y = kb.tensor("y", c.dtype, 1);
  Scalar start = program_id(0) * Scalar(block);
  Tile i = arange(block) + start;
  auto constant = [&](int v) { return full({block}, v, DType::I32); };
  Tile t = load(x, {start}, {block}, i % constant(3) != constant(0), -7.0);
  store(y, {start}, t + t, i % constant(16) < constant(5));
}

inline kernels::Kernel masksKernel() {
  return kernels::Kernel("masks", masksBody)
      .constants({{"BLOCK", 256}})
      .dtypes({DType::F32, DType::BF16})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BLOCK"))};
      });
}

/// Runs the kernel on n elements and returns "" or the first wrong element.
inline std::string checkMasks(int64_t n, DType dtype) {
  std::vector<float> x, before;
  DeviceTensor dx = testkit::randomTensor({n}, dtype, &x);
  DeviceTensor dy = testkit::randomTensor({n}, dtype, &before);
  masksKernel()(std::vector<kernels::Arg>{dx, dy});
  std::vector<float> y = dy.toFloat();
  for (int64_t i = 0; i < n; ++i) {
    float loaded = i % 3 != 0 ? x[i] : -7.f;
    float want = i % 16 < 5 ? roundTo(dtype, loaded + loaded) : before[i];
    if (y[i] != want)
      return "y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + ", expected " +
             std::to_string(want);
  }
  return "";
}

/// Branches on scalars: program p doubles its block of x into y where p is
/// even and subtracts 1 where odd; program 0 alone also writes 42 to flag.
inline void branchesBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t block = c.get("BLOCK");
  TensorArg x = kb.tensor("x", DType::F32, 1), y = kb.tensor("y", DType::F32, 1),
            flag = kb.tensor("flag", DType::I32, 1);
  Scalar p = program_id(0), start = p * Scalar(block);
  if_(
      p % Scalar(2) == Scalar(0),
      [&] {
        Tile t = load(x, {start}, {block});
        store(y, {start}, t + t);
      },
      [&] { store(y, {start}, load(x, {start}, {block}) - 1.0); });
  if_(p == Scalar(0), [&] { store(flag, {Scalar(0)}, full({1}, 42, DType::I32)); });
}

inline kernels::Kernel branchesKernel() {
  return kernels::Kernel("branches", branchesBody)
      .constants({{"BLOCK", 128}})
      .dtypes({DType::F32})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BLOCK"))};
      });
}

/// Runs the kernel on n elements and returns "" or the first wrong element.
inline std::string checkBranches(int64_t n) {
  std::vector<float> x;
  DeviceTensor dx = testkit::randomTensor({n}, DType::F32, &x);
  DeviceTensor dy = DeviceTensor::empty({n}, DType::F32);
  dy.fillBytes(0xff);
  std::vector<int32_t> flagInit = {-1, -1};
  DeviceTensor flag = DeviceTensor::fromHost(flagInit.data(), {2}, DType::I32);
  branchesKernel()(std::vector<kernels::Arg>{dx, dy, flag});
  std::vector<float> y = dy.toFloat();
  std::vector<int32_t> flags(2);
  flag.copyToHost(flags.data());
  for (int64_t i = 0; i < n; ++i) {
    float want = (i / 128) % 2 == 0 ? x[i] + x[i] : x[i] - 1.f;
    if (y[i] != want)
      return "y[" + std::to_string(i) + "] = " + std::to_string(y[i]) + ", expected " +
             std::to_string(want);
  }
  if (flags[0] != 42 || flags[1] != -1)
    return "flag holds " + std::to_string(flags[0]) + ", " + std::to_string(flags[1]) +
           "; expected 42, -1";
  return "";
}

} // namespace tessera::test

#endif
