//===- ElementwiseOps.h - The DSL's math and bit operations, checked -*- C++ -*-===//
//
// One kernel that applies each math and integer operation of the DSL to
// fresh random inputs, and its float64 (or exact integer) check: the unit
// tests run it on the interpreter, the GPU tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_ELEMENTWISEOPS_H
#define TESSERA_TESTS_COMMON_ELEMENTWISEOPS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <cmath>
#include <string>
#include <vector>

namespace tessera::test {

/// out[op][i] = op(x[i]) for the float operations; bits[op][i] = op(a[i], b[i])
/// for the integer ones.
inline void elementwiseOpsBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t block = c.get("BLOCK");
  TensorArg x = kb.tensor("x", DType::F32, 1), out = kb.tensor("out", DType::F32, 2);
  TensorArg a = kb.tensor("a", DType::I32, 1), b = kb.tensor("b", DType::I32, 1);
  TensorArg bits = kb.tensor("bits", DType::I32, 2);
  Scalar start = program_id(0) * Scalar(block);
  Tile t = load(x, {start}, {block});
  Tile results[] = {sin(t),  cos(t),     erf(t),       floor(t),
                    ceil(t), sigmoid(t), fma(t, t, t), t % (t * 0.25 + 2.0)};
  for (int op = 0; op < 8; ++op)
    store(out, {Scalar(op), start}, expand_dims(results[op], 0));
  Tile ai = load(a, {start}, {block}), bi = load(b, {start}, {block});
  Tile ints[] = {ai ^ bi, ai << bi, ai >> bi, ai % (bi + 1)};
  for (int op = 0; op < 4; ++op)
    store(bits, {Scalar(op), start}, expand_dims(ints[op], 0));
}

inline kernels::Kernel elementwiseOpsKernel() {
  return kernels::Kernel("elementwise_ops", elementwiseOpsBody)
      .constants({{"BLOCK", 256}})
      .dtypes({DType::F32})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BLOCK"))};
      });
}

/// Runs the kernel on n elements (x of magnitude up to `scale`) and returns
/// "" or the first operation that misses its bound.
inline std::string checkElementwiseOps(int64_t n, float scale) {
  std::vector<float> x = testkit::randomValues(size_t(n), DType::F32, scale);
  std::vector<int32_t> a(n), b(n);
  for (int64_t i = 0; i < n; ++i) {
    a[i] = int32_t(rng()());
    b[i] = int32_t(rng()() % 40); // shifts of 32 and more too
  }
  DeviceTensor dx = DeviceTensor::fromFloat(x, {n}, DType::F32);
  DeviceTensor da = DeviceTensor::fromHost(a.data(), {n}, DType::I32);
  DeviceTensor db = DeviceTensor::fromHost(b.data(), {n}, DType::I32);
  DeviceTensor out = DeviceTensor::empty({8, n}, DType::F32),
               bits = DeviceTensor::empty({4, n}, DType::I32);
  out.fillBytes(0xff);
  bits.fillBytes(0xff);
  kernels::Kernel k = elementwiseOpsKernel();
  k(std::vector<kernels::Arg>{dx, out, da, db, bits});
  std::vector<float> got = out.toFloat();
  std::vector<int32_t> gotBits(4 * n);
  bits.copyToHost(gotBits.data());
  const char *names[] = {"sin", "cos", "erf", "floor", "ceil", "sigmoid", "fma", "fmod"};
  // Absolute bounds for sin, cos, erf; relative to max(1, |result|) for
  // sigmoid and fma; fmod (x - y·trunc(x/y) on the GPU) to max(1, |x|).
  const double bounds[] = {4e-6, 4e-6, 2e-6, 0, 0, 2e-6, 1e-6, 1e-6};
  for (int op = 0; op < 8; ++op)
    for (int64_t i = 0; i < n; ++i) {
      double v = x[i], want;
      switch (op) {
      case 0:
        want = std::sin(v);
        break;
      case 1:
        want = std::cos(v);
        break;
      case 2:
        want = std::erf(v);
        break;
      case 3:
        want = std::floor(v);
        break;
      case 4:
        want = std::ceil(v);
        break;
      case 5:
        want = 1 / (1 + std::exp(-v));
        break;
      case 6:
        want = v * v + v;
        break;
      default:
        want = std::fmod(v, double(float(float(v * 0.25) + 2.0f)));
        break;
      }
      double g = got[op * n + i];
      double scaleOf = op == 7   ? std::max(1.0, std::abs(v))
                       : op >= 5 ? std::max(1.0, std::abs(want))
                                 : 1.0;
      double err = std::abs(g - want) / scaleOf;
      if (!(err <= bounds[op]))
        return std::string(names[op]) + "(" + std::to_string(v) + ") = " + std::to_string(g) +
               ", expected " + std::to_string(want);
    }
  const char *intNames[] = {"^", "<<", ">>", "%"};
  for (int op = 0; op < 4; ++op)
    for (int64_t i = 0; i < n; ++i) {
      int32_t want;
      switch (op) {
      case 0:
        want = a[i] ^ b[i];
        break;
      case 1:
        want = int32_t(uint32_t(a[i]) << (b[i] & 31));
        break;
      case 2:
        want = a[i] >> (b[i] & 31);
        break;
      default:
        want = a[i] % (b[i] + 1);
        break;
      }
      if (gotBits[op * n + i] != want)
        return std::to_string(a[i]) + " " + intNames[op] + " " + std::to_string(b[i]) + " = " +
               std::to_string(gotBits[op * n + i]) + ", expected " + std::to_string(want);
    }
  return "";
}

} // namespace tessera::test

#endif
