//===- Testing.h - Random inputs, error bounds and timing -------*- C++ -*-===//
//
// What a kernel's author needs around a kernel (Triton's triton.testing;
// `testkit`, not `testing`, so that it never meets GoogleTest's namespace):
// fresh random inputs that are never zero, the relative error of a result
// against a float64 reference, a bound that fits a dtype, and the median
// time of a launch with L2 flushed before every run.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_TESTING_H
#define TESSERA_RUNTIME_TESTING_H

#include "tessera/runtime/Tensor.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::testkit {

/// Normal values (mean 0, deviation `sigma`) from a generator seeded afresh
/// per process, never zero, each exactly representable in `dtype`.
std::vector<float> randomValues(size_t n, DType dtype, float sigma = 1.f);

/// A new contiguous tensor of randomValues(); `values` receives them when
/// given (for the reference).
DeviceTensor randomTensor(const std::vector<int64_t> &shape, DType dtype,
                          std::vector<float> *values = nullptr);

/// max over i of |got_i - want_i| / (|want_i| + floor); a NaN counts as
/// infinitely wrong.
double maxRelativeError(const std::vector<float> &got, const std::vector<double> &want,
                        double floor = 1);

/// The error a result computed in f32 and rounded to `dtype` may have: a few
/// of `dtype`'s ulps (bf16 2e-2, f16 3e-3, f32 1e-5).
double tolerance(DType dtype);

/// dsl::randint's number for (seed, offset), computed on the host: the first
/// word of Philox4x32-10 of the counter (offset, 0, 0, 0) under the key
/// (seed, 0).
uint32_t philox(uint32_t seed, uint32_t offset);
/// dsl::rand's: philox's top 24 bits times 2^-24, in [0, 1).
float uniform(uint32_t seed, uint32_t offset);

/// Median milliseconds of `run` (queued on `stream`): three warm-up runs,
/// then runs each after a write of twice the L2 size, until `budgetMs` is
/// spent (at least 10, at most 500 runs). Needs a GPU.
double benchMs(const std::function<void()> &run, double budgetMs = 100,
               Stream &stream = Stream::defaultStream());

} // namespace tessera::testkit

#endif
