//===- AttentionTesting.h - Shared by the attention tests -------*- C++ -*-===//
//
// Random inputs and one backward run against float64 gradients, for the
// unit tests (interpreter) and the GPU tests alike.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TESTS_COMMON_ATTENTIONTESTING_H
#define TESSERA_TESTS_COMMON_ATTENTIONTESTING_H

#include "common/Testing.h"
#include "tessera/kernels/attention.h"
#include "tessera/kernels/seed.h"
#include "tessera/runtime/Device.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace tessera::attention_testing {

using test::randomValues;
using test::rng;

// Gradients that vanish analytically (dq and dk of rows that see a single
// key: dS = P ∘ (dP - rowsum(P ∘ dP)) = 0) are float64 round-off in the
// reference, so errors are measured against magnitudes of at least 0.1.
constexpr double kMinScale = 0.1;

/// max |got - ref| / max(max |ref|, 0.1); NaN (an unwritten, poisoned
/// element) is infinite.
inline double relativeMaxError(const std::vector<float> &got, const std::vector<double> &ref) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]))
      return INFINITY;
    err = std::max(err, std::abs(got[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return err / std::max(scale, kMinScale);
}

/// sqrt(Σ(got - ref)² / max(Σ ref², n·0.1²)); NaN is infinite.
inline double relativeRmsError(const std::vector<float> &got, const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]))
      return INFINITY;
    num += (got[i] - ref[i]) * (got[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, double(got.size()) * kMinScale * kMinScale));
}

/// A (b, h, s, d) tensor stored as (b, s, h, d): strides that are not
/// row-major, as a q sliced out of a packed projection would have.
inline DeviceTensor stridedTensor(const std::vector<float> &values,
                                  const std::vector<int64_t> &shape, DType dtype) {
  int64_t b = shape[0], h = shape[1], s = shape[2], d = shape[3];
  std::vector<float> packed(values.size());
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < h; ++j)
      for (int64_t k = 0; k < s; ++k)
        for (int64_t e = 0; e < d; ++e)
          packed[((i * s + k) * h + j) * d + e] = values[((i * h + j) * s + k) * d + e];
  DeviceTensor t = DeviceTensor::fromFloat(packed, {b, s, h, d}, dtype);
  return t.view(shape, {s * h * d, d, h * d, 1});
}

struct BackwardCase {
  attention::AttentionShape shape;
  DType dtype;
  bool causal, mask, strided;
  /// f32 only: TF32 tensor cores instead of the accurate mode.
  bool tf32 = false;
  /// The deterministic backward (dQ in a pass of its own, no atomics).
  bool deterministic = false;
  /// dQ by atomic adds from the dK/dV programs (DQ_ATOMIC), at the blocks
  /// backward() would pick, whichever path those pick by default.
  bool atomicDq = false;
  /// The backward kernels' blocks by TMA (TMA = 1; sm_90a), at the blocks
  /// backward() would pick.
  bool tma = false;
  /// With `tma`: dK, dV and dQ stored by TMA too (TMA_STORE = 1).
  bool tmaStore = false;
  /// q, k, v and dout in misalignedTensor's layout.
  bool misaligned = false;
  /// Forward and backward by forwardWithConfig and backwardWithConfig at
  /// the heuristic's configurations: the kernels take the tensors as given
  /// (forward() and backward() copy those no 16-byte vector fits first).
  bool withConfig = false;
  /// Other blocks than backward()'s (with `atomicDq` or `tma`): BLOCK_M x
  /// BLOCK_N of the dK/dV kernel on `warps` warps; 0: the heuristic's.
  int64_t blockM = 0, blockN = 0;
  unsigned warps = 0;
  /// With `tma`: both programs' copies from a producer warpgroup
  /// (WARP_SPECIALIZE = 1; the dK/dV program's heads and query blocks in
  /// one loop), `ctasPerSm` of their CTAs per SM (CTAS_PER_SM).
  bool producer = false;
  int64_t ctasPerSm = 1;
  /// With `producer` on 8 warps: the consumer warpgroups issue each block's
  /// first products in turns (PING_PONG).
  bool pingPong = false;
  /// With `atomicDq`: dQᵀ's product issued before dK's (DQ_FIRST).
  bool dqFirst = false;
};

/// One backward run's gradients (read back as floats) and the float64 ones.
struct BackwardRun {
  std::vector<float> dq, dk, dv;
  attention::PlainAttentionResult ref;
};

/// Random q, k, v, dout (and a key mask keeping 70% of the keys, with every
/// key of the last batch row masked when batch > 1); attention::forward, then
/// attention::backward into poisoned gradients; float64 gradients of the same
/// inputs by plain_attention_cpu.
/// A (b, h, s, d) tensor whose base lies one element past a 16-byte boundary
/// and whose rows are d + 1 elements apart: no 16-byte vector fits anywhere,
/// so the kernels are compiled for any alignment and every tile copy takes
/// its element-by-element path.
inline DeviceTensor misalignedTensor(const std::vector<float> &values,
                                     const std::vector<int64_t> &shape, DType dtype) {
  int64_t b = shape[0], h = shape[1], s = shape[2], d = shape[3], pitch = d + 1;
  std::vector<float> padded(1 + b * h * s * pitch, 0.0f);
  for (int64_t row = 0; row < b * h * s; ++row)
    std::copy_n(values.begin() + row * d, d, padded.begin() + 1 + row * pitch);
  DeviceTensor t = DeviceTensor::fromFloat(padded, {int64_t(padded.size())}, dtype);
  return t.view(shape, {h * s * pitch, s * pitch, pitch, 1}, 1);
}

/// The forward's tensors for a shape (any struct with AttentionShape's
/// fields) from host values: q, k, v, and out and lse poisoned.
struct ForwardTensors {
  DeviceTensor q, k, v, out, lse;
};
template <typename Shape>
ForwardTensors forwardTensors(const Shape &s, DType dtype, const std::vector<float> &q,
                              const std::vector<float> &k, const std::vector<float> &v) {
  ForwardTensors t{DeviceTensor::fromFloat(q, {s.batch, s.heads, s.qLen, s.dim}, dtype),
                   DeviceTensor::fromFloat(k, {s.batch, s.kvHeads, s.kLen, s.dim}, dtype),
                   DeviceTensor::fromFloat(v, {s.batch, s.kvHeads, s.kLen, s.dim}, dtype),
                   DeviceTensor::empty({s.batch, s.heads, s.qLen, s.dim}, dtype),
                   DeviceTensor::empty({s.batch, s.heads, s.qLen}, DType::F32)};
  t.out.fillBytes(0xff);
  t.lse.fillBytes(0xff);
  return t;
}

/// forward() into an O that is a view of a larger poisoned buffer (its base
/// one element off, rows d + 1 apart: no 16-byte vector fits): O matches
/// the float64 reference within `bound`, and every element of the buffer
/// outside the view keeps its poison (nothing written out of bounds, on
/// the in-place path and through the padded copy alike).
inline void expectForwardIntoView(const attention::AttentionShape &s, DType dtype, bool causal,
                                  double bound) {
  auto q = randomValues(s.batch * s.heads * s.qLen * s.dim, dtype);
  auto k = randomValues(s.batch * s.kvHeads * s.kLen * s.dim, dtype);
  auto v = randomValues(k.size(), dtype);
  ForwardTensors t = forwardTensors(s, dtype, q, k, v);
  int64_t rows = s.batch * s.heads * s.qLen, pitch = s.dim + 1;
  DeviceTensor buffer = DeviceTensor::empty({1 + rows * pitch}, dtype);
  buffer.fillBytes(0xff);
  DeviceTensor out = buffer.view({s.batch, s.heads, s.qLen, s.dim},
                                 {s.heads * s.qLen * pitch, s.qLen * pitch, pitch, 1}, 1);
  attention::Options options;
  options.causal = causal;
  attention::forward(t.q, t.k, t.v, out, t.lse, options);
  std::vector<float> all = buffer.toFloat(), got(rows * s.dim);
  EXPECT_TRUE(std::isnan(all[0])) << "the element before the view was written";
  for (int64_t row = 0; row < rows; ++row) {
    std::copy_n(all.begin() + 1 + row * pitch, s.dim, got.begin() + row * s.dim);
    ASSERT_TRUE(std::isnan(all[1 + row * pitch + s.dim]))
        << "the element after row " << row << " of the view was written";
  }
  attention::PlainAttentionResult ref =
      attention::plain_attention_cpu(s, q, k, v, nullptr, causal, 1.0 / std::sqrt(double(s.dim)));
  EXPECT_LE(relativeRmsError(got, ref.out), bound);
}

inline BackwardRun runBackward(const BackwardCase &c) {
  const attention::AttentionShape &s = c.shape;
  std::vector<int64_t> qShape{s.batch, s.heads, s.qLen, s.dim},
      kShape{s.batch, s.kvHeads, s.kLen, s.dim};
  auto q = randomValues(s.batch * s.heads * s.qLen * s.dim, c.dtype);
  auto k = randomValues(s.batch * s.kvHeads * s.kLen * s.dim, c.dtype);
  auto v = randomValues(k.size(), c.dtype), dout = randomValues(q.size(), c.dtype);
  std::vector<uint8_t> mask(s.batch * s.kLen);
  std::bernoulli_distribution keep(0.7);
  for (auto &m : mask)
    m = keep(rng());
  mask[0] = 1;
  if (s.batch > 1)
    std::fill(mask.end() - s.kLen, mask.end(), 0);

  auto make = [&](const std::vector<float> &x, const std::vector<int64_t> &shape) {
    return c.misaligned ? misalignedTensor(x, shape, c.dtype)
           : c.strided  ? stridedTensor(x, shape, c.dtype)
                        : DeviceTensor::fromFloat(x, shape, c.dtype);
  };
  DeviceTensor tq = make(q, qShape), tk = make(k, kShape), tv = make(v, kShape);
  DeviceTensor tdout = make(dout, qShape);
  DeviceTensor tmask = DeviceTensor::fromHost(mask.data(), {s.batch, s.kLen}, DType::I1);
  attention::Options options;
  options.causal = c.causal;
  options.keyMask = c.mask ? &tmask : nullptr;
  options.fp32Precision = c.tf32 ? attention::Fp32Precision::tf32 : attention::Fp32Precision::ieee;
  options.deterministic = c.deterministic;
  attention::ForwardResult f;
  if (c.withConfig) {
    f = {DeviceTensor::empty(qShape, c.dtype),
         DeviceTensor::empty({s.batch, s.heads, s.qLen}, DType::F32)};
    attention::forwardWithConfig(tq, tk, tv, f.out, f.lse, options,
                                 attention::forwardConfig(c.dtype, s.dim, c.causal, c.mask,
                                                          currentDevice().arch(),
                                                          options.fp32Precision, s.kLen));
  } else {
    f = attention::forward(tq, tk, tv, options);
  }
  DeviceTensor dq = DeviceTensor::empty(qShape, c.dtype), dk = DeviceTensor::empty(kShape, c.dtype),
               dv = DeviceTensor::empty(kShape, c.dtype);
  dq.fillBytes(0xff);
  dk.fillBytes(0xff);
  dv.fillBytes(0xff);
  if (c.withConfig) {
    attention::backwardWithConfig(
        tq, tk, tv, f.out, f.lse, tdout, dq, dk, dv, options,
        attention::backwardConfig(c.dtype, s.dim, c.causal, c.mask, currentDevice().arch(),
                                  options.fp32Precision, c.deterministic));
  } else if (c.atomicDq || c.tma) {
    kernels::KernelConfig config = attention::backwardConfig(
        c.dtype, s.dim, c.causal, c.mask, currentDevice().arch(), options.fp32Precision);
    config.constants["DQ_ATOMIC"] = c.atomicDq;
    config.constants["TMA"] = c.tma;
    config.constants["TMA_STORE"] = c.tmaStore;
    config.constants["WARP_SPECIALIZE"] = c.producer;
    config.constants["CTAS_PER_SM"] = c.ctasPerSm;
    config.constants["PING_PONG"] = c.pingPong;
    config.constants["DQ_FIRST"] = c.dqFirst;
    if (c.blockM) {
      config.constants["BLOCK_M"] = c.blockM;
      config.constants["BLOCK_N"] = c.blockN;
      config.numWarps = c.warps;
    }
    attention::backwardWithConfig(tq, tk, tv, f.out, f.lse, tdout, dq, dk, dv, options, config);
  } else {
    attention::backward(tq, tk, tv, f.out, f.lse, tdout, dq, dk, dv, options);
  }
  return {dq.toFloat(), dk.toFloat(), dv.toFloat(),
          attention::plain_attention_cpu(s, q, k, v, c.mask ? &mask : nullptr, c.causal,
                                         1.0 / std::sqrt(double(s.dim)), &dout)};
}

/// Expects `metric` of dq, dk and dv against the float64 ones within `bound`.
inline void expectGradients(const BackwardRun &r,
                            double (*metric)(const std::vector<float> &,
                                             const std::vector<double> &),
                            double bound) {
  EXPECT_LE(metric(r.dq, r.ref.dq), bound) << "dq";
  EXPECT_LE(metric(r.dk, r.ref.dk), bound) << "dk";
  EXPECT_LE(metric(r.dv, r.ref.dv), bound) << "dv";
}

inline std::string shapeName(const attention::AttentionShape &s) {
  return std::to_string(s.batch) + "x" + std::to_string(s.heads) + "_" + std::to_string(s.kvHeads) +
         "kv_q" + std::to_string(s.qLen) + "_k" + std::to_string(s.kLen) + "_d" +
         std::to_string(s.dim);
}

} // namespace tessera::attention_testing

#endif
