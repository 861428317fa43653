//===- Atomics.h - The DSL's atomics with old values, checked ---*- C++ -*-===//
//
// One kernel in which every program applies atomic_max, atomic_min,
// atomic_xchg, atomic_cas and atomic_fetch_add to the same n elements and
// records the old values it got back, and its check: the final values
// against a float64 / exact reference, the old values against what any
// order of the programs allows. The unit tests run it on the interpreter,
// the GPU tests on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_ATOMICS_H
#define TESSERA_TESTS_COMMON_ATOMICS_H

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Testing.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace tessera::test {

/// Program p: its BLOCK values x[p·BLOCK ..], k[p·BLOCK ..] into the shared
/// targets (n elements); the old values into the same columns of one row of
/// `old_f` / `old_i` per operation (the block's elements past n read 0).
inline void atomicsBody(dsl::KernelBuilder &kb, const kernels::KernelConfig &c) {
  using namespace dsl;
  int64_t block = c.get("BLOCK");
  TensorArg x = kb.tensor("x", DType::F32, 1), k = kb.tensor("k", DType::I32, 1);
  TensorArg maxOut = kb.tensor("max_out", DType::F32, 1),
            minOut = kb.tensor("min_out", DType::I32, 1);
  TensorArg xchgOut = kb.tensor("xchg_out", DType::I32, 1),
            casOut = kb.tensor("cas_out", DType::I32, 1),
            addOut = kb.tensor("add_out", DType::F32, 1);
  TensorArg oldF = kb.tensor("old_f", DType::F32, 2), oldI = kb.tensor("old_i", DType::I32, 2);
  Scalar p = program_id(0), start = p * Scalar(block);
  Tile xs = load(x, {start}, {block}), ks = load(k, {start}, {block});
  Tile me = full({block}, 0, DType::I32) + p;
  auto record = [&](const TensorArg &t, int which, const Tile &old) {
    store(t, {Scalar(which), start}, expand_dims(old, 0));
  };
  record(oldF, 0, atomic_max(maxOut, {Scalar(0)}, xs));
  record(oldF, 1, atomic_fetch_add(addOut, {Scalar(0)}, xs));
  record(oldI, 0, atomic_min(minOut, {Scalar(0)}, ks));
  record(oldI, 1, atomic_xchg(xchgOut, {Scalar(0)}, me));
  record(oldI, 2, atomic_cas(casOut, {Scalar(0)}, full({block}, -1, DType::I32), me));
}

inline kernels::Kernel atomicsKernel(int64_t block) {
  return kernels::Kernel("atomics_" + std::to_string(block), atomicsBody)
      .constants({{"BLOCK", block}})
      .dtypes({DType::F32})
      .grid([](const kernels::Args &args, const kernels::KernelConfig &c) {
        return kernels::Grid{kernels::cdiv(args.tensor("x").shape()[0], c.get("BLOCK"))};
      });
}

/// Runs `programs` programs of BLOCK `block` on n <= block elements and
/// returns "" or the first check that fails.
inline std::string checkAtomics(int64_t programs, int64_t block, int64_t n) {
  int64_t P = programs, B = block;
  std::vector<float> x = testkit::randomValues(size_t(P * B), DType::F32, 4.f);
  std::vector<int32_t> k(P * B);
  for (int32_t &v : k)
    v = int32_t(rng()() % 2001) - 1000;
  std::vector<float> maxInit = testkit::randomValues(size_t(n), DType::F32, 4.f),
                     addInit = testkit::randomValues(size_t(n), DType::F32, 4.f);
  std::vector<int32_t> minInit(n), xchgInit(n, 1000000), casInit(n, -1);
  for (int32_t &v : minInit)
    v = int32_t(rng()() % 2001) - 1000;
  DeviceTensor dx = DeviceTensor::fromFloat(x, {P * B}, DType::F32);
  DeviceTensor dk = DeviceTensor::fromHost(k.data(), {P * B}, DType::I32);
  DeviceTensor maxOut = DeviceTensor::fromFloat(maxInit, {n}, DType::F32),
               addOut = DeviceTensor::fromFloat(addInit, {n}, DType::F32);
  DeviceTensor minOut = DeviceTensor::fromHost(minInit.data(), {n}, DType::I32),
               xchgOut = DeviceTensor::fromHost(xchgInit.data(), {n}, DType::I32),
               casOut = DeviceTensor::fromHost(casInit.data(), {n}, DType::I32);
  DeviceTensor oldF = DeviceTensor::empty({2, P * B}, DType::F32),
               oldI = DeviceTensor::empty({3, P * B}, DType::I32);
  oldF.fillBytes(0xff);
  oldI.fillBytes(0xff);
  atomicsKernel(B)(
      std::vector<kernels::Arg>{dx, dk, maxOut, minOut, xchgOut, casOut, addOut, oldF, oldI});
  std::vector<float> gotMax = maxOut.toFloat(), gotAdd = addOut.toFloat(), olds = oldF.toFloat();
  std::vector<int32_t> gotMin(n), gotXchg(n), gotCas(n), oldInts(3 * P * B);
  minOut.copyToHost(gotMin.data());
  xchgOut.copyToHost(gotXchg.data());
  casOut.copyToHost(gotCas.data());
  oldI.copyToHost(oldInts.data());
  auto oldOf = [&](auto &all, int which, int64_t p, int64_t i) {
    return all[(which * P + p) * B + i];
  };
  auto at = [](int64_t i) { return " at element " + std::to_string(i); };
  for (int64_t i = 0; i < B; ++i) {
    if (i >= n) {
      // Past the tensor: nothing touched, zeros read.
      for (int64_t p = 0; p < P; ++p)
        if (oldOf(olds, 0, p, i) != 0 || oldOf(olds, 1, p, i) != 0 ||
            oldOf(oldInts, 0, p, i) != 0 || oldOf(oldInts, 1, p, i) != 0 ||
            oldOf(oldInts, 2, p, i) != 0)
          return "an old value past the tensor is not 0" + at(i);
      continue;
    }
    // max, min: the final value, and every old value one the element held.
    float wantMax = maxInit[i];
    int32_t wantMin = minInit[i];
    double wantSum = addInit[i];
    for (int64_t p = 0; p < P; ++p) {
      wantMax = std::max(wantMax, x[p * B + i]);
      wantMin = std::min(wantMin, k[p * B + i]);
      wantSum += x[p * B + i];
    }
    if (gotMax[i] != wantMax)
      return "atomic_max: " + std::to_string(gotMax[i]) + ", expected " + std::to_string(wantMax) +
             at(i);
    if (gotMin[i] != wantMin)
      return "atomic_min: " + std::to_string(gotMin[i]) + ", expected " + std::to_string(wantMin) +
             at(i);
    for (int64_t p = 0; p < P; ++p) {
      float old = oldOf(olds, 0, p, i);
      bool held = old == maxInit[i];
      for (int64_t q = 0; q < P; ++q)
        held |= old == x[q * B + i];
      if (!held || old > wantMax)
        return "atomic_max returned " + std::to_string(old) + ", a value never held" + at(i);
      int32_t oldMin = oldOf(oldInts, 0, p, i);
      if (oldMin < wantMin || oldMin > minInit[i])
        return "atomic_min returned " + std::to_string(oldMin) + at(i);
    }
    // fetch_add: the sum (f32, any order), and exactly one program saw the
    // initial value.
    double bound = 1e-5 * (std::abs(wantSum) + P * 4.0);
    if (!(std::abs(gotAdd[i] - wantSum) <= bound))
      return "atomic_fetch_add: " + std::to_string(gotAdd[i]) + ", expected " +
             std::to_string(wantSum) + at(i);
    int firstAdds = 0;
    for (int64_t p = 0; p < P; ++p)
      firstAdds += oldOf(olds, 1, p, i) == addInit[i];
    if (firstAdds != 1)
      return std::to_string(firstAdds) + " programs saw the initial value of atomic_fetch_add" +
             at(i);
    // xchg: the old values and the final one are the initial value and the
    // program ids, each once.
    std::vector<int32_t> seen = {gotXchg[i]}, want = {xchgInit[i]};
    for (int64_t p = 0; p < P; ++p) {
      seen.push_back(oldOf(oldInts, 1, p, i));
      want.push_back(int32_t(p));
    }
    std::sort(seen.begin(), seen.end());
    std::sort(want.begin(), want.end());
    if (seen != want)
      return "atomic_xchg: old and final values are not a permutation of the values" + at(i);
    // cas: exactly one program swapped (saw -1), and the element holds its id;
    // every other program saw that id.
    int winners = 0;
    for (int64_t p = 0; p < P; ++p) {
      int32_t old = oldOf(oldInts, 2, p, i);
      if (old == -1) {
        ++winners;
        if (gotCas[i] != p)
          return "atomic_cas: the winner " + std::to_string(p) + " is not the final value" + at(i);
      } else if (old != gotCas[i]) {
        return "atomic_cas: a loser saw " + std::to_string(old) + at(i);
      }
    }
    if (winners != 1)
      return "atomic_cas: " + std::to_string(winners) + " winners" + at(i);
  }
  return "";
}

} // namespace tessera::test

#endif
