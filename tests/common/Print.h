//===- Print.h - device_print, checked --------------------------*- C++ -*-===//
//
// A kernel that prints a tile (whose elements the threads hold copies of)
// and a scalar, and the check of the captured lines: each element once, in
// the documented format. The unit tests run it on the interpreter, the GPU
// tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_PRINT_H
#define TESSERA_TESTS_COMMON_PRINT_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace tessera::test {

/// Program p prints row = [10p, 10p + 1, 10p + 2, 10p + 3] and scale = 1.5,
/// then stores row into out (so that reading out waits for the prints).
inline void printBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &) {
  using namespace dsl;
  TensorArg out = kb.tensor("out", DType::I32, 1);
  Scalar p = program_id(0);
  Tile row = arange(4) + p * Scalar(10);
  device_print("row", row);
  device_print("scale", f32(1.5));
  store(out, {p * Scalar(4)}, row);
}

inline kernels::Kernel printKernel() {
  return kernels::Kernel("print_test", printBody)
      .dtypes({DType::I32})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &) {
        return kernels::Grid{unsigned(args.tensor("out").shape()[0] / 4)};
      });
}

/// Runs two programs, capturing stdout; "" or what is wrong with the lines.
inline std::string checkPrint() {
  kernels::Kernel k = printKernel();
  DeviceTensor out = DeviceTensor::empty({8}, DType::I32);
  testing::internal::CaptureStdout();
  k(std::vector<kernels::Arg>{out});
  std::vector<int32_t> got(8);
  out.copyToHost(got.data()); // waits for the kernel, and so for its prints
  std::string text = testing::internal::GetCapturedStdout();
  std::vector<std::string> lines, want;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("row ", 0) == 0 || line.rfind("scale ", 0) == 0)
      lines.push_back(line);
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < 4; ++i)
      want.push_back("row pid (" + std::to_string(p) + ", 0, 0) idx (" + std::to_string(i) +
                     "): " + std::to_string(10 * p + i));
    want.push_back("scale pid (" + std::to_string(p) + ", 0, 0) idx (): 1.500000");
  }
  std::sort(lines.begin(), lines.end());
  std::sort(want.begin(), want.end());
  if (lines != want)
    return "printed:\n" + text;
  return "";
}

} // namespace tessera::test

#endif
