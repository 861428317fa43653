//===- Testing.h - Helpers shared by every test executable ------*- C++ -*-===//
//
// Random inputs that are never zero, and the message of an expected
// tessera::Error, for the unit tests (CPU) and the GPU tests alike.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_TESTING_H
#define TESSERA_TESTS_COMMON_TESTING_H

#include "tessera/Support/DType.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tessera::test {

/// One generator per test process, seeded afresh on every run: each run
/// checks new inputs.
inline std::mt19937 &rng() {
  static std::mt19937 gen(std::random_device{}());
  return gen;
}

/// Normal values with standard deviation `sigma`, never zero, representable
/// in `dtype`.
inline std::vector<float> randomValues(size_t n, DType dtype = DType::F32, float sigma = 1.f) {
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> v(n);
  for (float &x : v) {
    do
      x = roundTo(dtype, dist(rng()));
    while (x == 0.f);
  }
  return v;
}

/// The message of the tessera::Error that `fn` throws; fails the test when it
/// throws nothing.
template <typename Fn> std::string errorOf(Fn fn) {
  try {
    fn();
  } catch (const Error &e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a tessera::Error";
  return "";
}

/// Runs the kernels of one scope on the interpreter (TESSERA_INTERPRET).
struct InterpretedScope {
  InterpretedScope() { setInterpreted(true); }
  ~InterpretedScope() { setInterpreted(false); }
  InterpretedScope(const InterpretedScope &) = delete;
  InterpretedScope &operator=(const InterpretedScope &) = delete;
};

inline bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace tessera::test

#endif
