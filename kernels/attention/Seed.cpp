//===- Seed.cpp - flash-attention-jax's API on Tessera's kernels ----------===//
//
// flash_attention, causal_flash_attention, cosine_sim_flash_attention (with
// the DSL kernels l2norm_rows and l2norm_rows_backward), plain_attention and
// value_and_grad_difference, as the seed names them.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/seed.h"

#include "Internal.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Error.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

using namespace tessera;
using namespace tessera::dsl;
using kernels::KernelConfig;
using kernels::KernelDef;

namespace {

constexpr double kL2Eps = 1e-12;

/// The rows of a (batch, heads, seq, dim) block, BLOCK_M per program:
/// program (m-block, batch·head) gets its (BM, BD) tile of `t` in f32.
struct RowBlock {
  Scalar b, h, startM;
  Tile load(const TensorArg &t, int64_t BM, int64_t BD) const {
    return cast(dsl::load(t.at({b, h}), {startM, Scalar(0)}, {BM, BD}), DType::F32);
  }
  void store(const TensorArg &t, const Tile &value) const {
    dsl::store(t.at({b, h}), {startM, Scalar(0)}, cast(value, t.dtype()));
  }
};

RowBlock rowBlock(const TensorArg &t, int64_t BM) {
  Scalar bh = program_id(1), heads = t.size(1);
  return {bh / heads, bh % heads, program_id(0) * Scalar(BM)};
}

/// 1 / max(‖x_i‖, eps) per row of an f32 (BM, BD) tile (zero padded).
Tile inverseNorm(const Tile &x, int64_t BM) {
  Tile n2 = reduce_sum(x * x, 1);
  return rsqrt(maximum(n2, full({BM}, kL2Eps * kL2Eps, DType::F32)));
}

// y_i = x_i / max(‖x_i‖₂, eps), one row per query or key vector.
void l2normRowsKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  TensorArg x = kb.tensor("x", config.dtype, 4), y = kb.tensor("y", config.dtype, 4);
  RowBlock rows = rowBlock(x, BM);
  Tile xi = rows.load(x, BM, BD);
  rows.store(y, xi * expand_dims(inverseNorm(xi, BM), 1));
}

// dx_i = (dy_i - y_i·(y_i · dy_i)) / ‖x_i‖ with y_i = x_i / ‖x_i‖; where the
// norm is clamped to eps the clamp's derivative is 0 and dx_i = dy_i / eps.
void l2normRowsBackwardKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  TensorArg x = kb.tensor("x", config.dtype, 4), dy = kb.tensor("dy", config.dtype, 4);
  TensorArg dx = kb.tensor("dx", config.dtype, 4);
  RowBlock rows = rowBlock(x, BM);
  Tile xi = rows.load(x, BM, BD), dyi = rows.load(dy, BM, BD);
  Tile inv = inverseNorm(xi, BM);
  Tile clamped = reduce_sum(xi * xi, 1) < full({BM}, kL2Eps * kL2Eps, DType::F32);
  Tile yi = xi * expand_dims(inv, 1);
  Tile proj = where(clamped, zeros({BM}, DType::F32), reduce_sum(yi * dyi, 1));
  rows.store(dx, (dyi - yi * expand_dims(proj, 1)) * expand_dims(inv, 1));
}

/// `t` (..., rows, dim) of rank 2 to 4 as a rank-4 view, size-1 dimensions
/// in front.
DeviceTensor asRank4(const DeviceTensor &t, const char *argName) {
  if (t.rank() < 2 || t.rank() > 4)
    throw tessera::Error(std::string(argName) + ": expected a tensor of rank 2 to 4, got rank " +
                         std::to_string(t.rank()));
  std::vector<int64_t> shape = t.shape(), strides = t.strides();
  while (shape.size() < 4) {
    shape.insert(shape.begin(), 1);
    strides.insert(strides.begin(), 0);
  }
  return t.view(shape, strides);
}

/// Launches l2norm_rows or l2norm_rows_backward over the rows of rank-4 views.
void launchRows(const char *kernelName,
                const std::vector<std::pair<DeviceTensor, const char *>> &ts, Stream &stream) {
  const DeviceTensor &x = ts.front().first;
  int64_t d = x.shape()[3];
  if (d < 1 || d > 512)
    throw tessera::Error(std::string(ts.front().second) +
                         ": expected a last dimension of 1 to 512, got " + std::to_string(d));
  int64_t blockD = attention::detail::nextPowerOf2(d),
          blockM = std::min<int64_t>(64, 4096 / blockD);
  KernelConfig config = kernels::makeConfig(kernels::lookup(kernelName), x.dtype(), 4,
                                            {{"BLOCK_M", blockM}, {"BLOCK_D", blockD}});
  KernelArgs args;
  for (auto &[t, argName] : ts)
    kernels::detail::addTensor(args, t, argName);
  const JitKernel &kernel = kernels::detail::jitKernel(kernelName, config, args);
  const auto &s = x.shape();
  if (s[0] * s[1] > 65535)
    throw tessera::Error(std::string(ts.front().second) +
                         ": more than 65535 leading rows of blocks");
  launch(kernel, unsigned(std::max<int64_t>((s[2] + blockM - 1) / blockM, 1)),
         unsigned(std::max<int64_t>(s[0] * s[1], 1)), 1, args, stream);
}

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;)
    strides[d - 1] = strides[d] * shape[d];
  return strides;
}

/// (..., seq, dim) as (prod(...), 1, seq, dim), through strides.
DeviceTensor mergeLeading(const DeviceTensor &t, const char *argName) {
  if (t.rank() < 2)
    throw tessera::Error(std::string(argName) + ": expected (..., seq, dim), got rank " +
                         std::to_string(t.rank()));
  const auto &shape = t.shape(), &strides = t.strides();
  size_t lead = shape.size() - 2;
  int64_t prod = 1, stride = shape[lead] * strides[lead], expected = -1;
  for (size_t d = lead; d-- > 0;) {
    if (shape[d] == 1)
      continue;
    if (expected >= 0 && strides[d] != expected)
      throw tessera::Error(
          std::string(argName) +
          ": its leading dimensions cannot be viewed as one (strides do not nest); "
          "pass a contiguous tensor");
    if (expected < 0)
      stride = strides[d];
    prod *= shape[d];
    expected = strides[d] * shape[d];
  }
  return t.view({prod, 1, shape[lead], shape[lead + 1]},
                {stride, stride, strides[lead], strides[lead + 1]});
}

std::vector<float> hostValues(const DeviceTensor &t, const char *argName) {
  if (!t.isContiguous())
    throw tessera::Error(std::string(argName) +
                         ": plain attention on the CPU expects a contiguous tensor");
  return t.toFloat();
}

attention::AttentionShape shapeOf(const DeviceTensor &q, const DeviceTensor &k) {
  const auto &qs = q.shape(), &ks = k.shape();
  return {qs[0], qs[1], ks[1], qs[2], ks[2], qs[3]};
}

DeviceTensor toDevice(const std::vector<double> &values, std::vector<int64_t> shape) {
  return DeviceTensor::fromFloat(std::vector<float>(values.begin(), values.end()), std::move(shape),
                                 DType::F32);
}

attention::Options optionsWithMask(const DeviceTensor &key_mask, bool causal) {
  attention::Options options;
  options.causal = causal;
  options.keyMask = key_mask.defined() ? &key_mask : nullptr;
  // The seed's functions return new tensors and wait for them anyway, so the
  // host read of the mask costs them nothing; its masks are random halves.
  options.compactKeyMask = true;
  return options;
}

double maxAbsDifference(const DeviceTensor &a, const DeviceTensor &b, const char *what) {
  std::vector<float> x = a.toFloat(), y = b.toFloat();
  if (x.size() != y.size())
    throw tessera::Error(std::string("value_and_grad_difference: the two functions' ") + what +
                         " differ in size");
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double d = std::abs(double(x[i]) - double(y[i]));
    m = std::isnan(d) ? d : std::max(m, d);
    if (std::isnan(m))
      break;
  }
  return m;
}

} // namespace

void attention::detail::registerSeedKernels(std::map<std::string, KernelDef> &r) {
  using kernels::detail::defineKernel;
  const std::vector<DType> dtypes{DType::F32, DType::F16, DType::BF16};
  r["l2norm_rows"] = defineKernel("l2norm_rows", "y = x / max(|x|, eps) per row",
                                  {{"BLOCK_M", 16}, {"BLOCK_D", 64}}, dtypes, l2normRowsKernel);
  r["l2norm_rows_backward"] =
      defineKernel("l2norm_rows_backward", "dx of l2norm_rows given dy",
                   {{"BLOCK_M", 16}, {"BLOCK_D", 64}}, dtypes, l2normRowsBackwardKernel);
}

attention::ForwardResult attention::flash_attention(const DeviceTensor &q, const DeviceTensor &k,
                                                    const DeviceTensor &v,
                                                    const DeviceTensor &key_mask) {
  return forward(q, k, v, optionsWithMask(key_mask, false));
}

attention::ForwardResult attention::causal_flash_attention(const DeviceTensor &q,
                                                           const DeviceTensor &k,
                                                           const DeviceTensor &v) {
  DeviceTensor q4 = mergeLeading(q, "q"), k4 = mergeLeading(k, "k"), v4 = mergeLeading(v, "v");
  Options options;
  options.causal = true;
  ForwardResult r = forward(q4, k4, v4, options);
  std::vector<int64_t> lseShape(q.shape().begin(), q.shape().end() - 1);
  return {r.out.view(q.shape(), contiguousStrides(q.shape())),
          r.lse.view(lseShape, contiguousStrides(lseShape))};
}

DeviceTensor attention::l2norm_rows(const DeviceTensor &x, Stream &stream) {
  kernels::detail::requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  DeviceTensor y = DeviceTensor::empty(x.shape(), x.dtype());
  launchRows("l2norm_rows", {{asRank4(x, "x"), "x"}, {asRank4(y, "y"), "y"}}, stream);
  return y;
}

DeviceTensor attention::l2norm_rows_backward(const DeviceTensor &x, const DeviceTensor &dy,
                                             Stream &stream) {
  kernels::detail::requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  if (dy.shape() != x.shape() || dy.dtype() != x.dtype())
    throw tessera::Error("dy: expected a tensor of x's shape and dtype");
  DeviceTensor dx = DeviceTensor::empty(x.shape(), x.dtype());
  launchRows("l2norm_rows_backward",
             {{asRank4(x, "x"), "x"}, {asRank4(dy, "dy"), "dy"}, {asRank4(dx, "dx"), "dx"}},
             stream);
  return dx;
}

attention::ForwardResult attention::cosine_sim_flash_attention(const DeviceTensor &q,
                                                               const DeviceTensor &k,
                                                               const DeviceTensor &v,
                                                               const DeviceTensor &key_mask,
                                                               float scale) {
  Options options = optionsWithMask(key_mask, false);
  options.scale = scale;
  return forward(l2norm_rows(q), l2norm_rows(k), v, options);
}

attention::ForwardResult attention::plain_attention(const DeviceTensor &q, const DeviceTensor &k,
                                                    const DeviceTensor &v,
                                                    const DeviceTensor &key_mask, bool causal) {
  Options options = optionsWithMask(key_mask, causal);
  detail::checkInputs(q, k, v, options);
  const auto &qs = q.shape();
  if (!q.onHost()) {
    ForwardResult r{DeviceTensor::empty(qs, DType::F32),
                    DeviceTensor::empty({qs[0], qs[1], qs[2]}, DType::F32)};
    detail::referenceForward(q, k, v, options, r.out, r.lse);
    return r;
  }
  std::vector<uint8_t> mask;
  if (key_mask.defined())
    for (float m : hostValues(key_mask, "key_mask"))
      mask.push_back(m != 0);
  PlainAttentionResult r = plain_attention_cpu(
      shapeOf(q, k), hostValues(q, "q"), hostValues(k, "k"), hostValues(v, "v"),
      key_mask.defined() ? &mask : nullptr, causal, 1.0 / std::sqrt(double(qs[3])));
  return {toDevice(r.out, qs), toDevice(r.lse, {qs[0], qs[1], qs[2]})};
}

namespace {

/// plain_attention_cpu with every intermediate and sum in `T`.
template <typename T>
attention::PlainAttentionResult
plainAttention(const attention::AttentionShape &s, const std::vector<float> &q,
               const std::vector<float> &k, const std::vector<float> &v,
               const std::vector<uint8_t> *keyMask, bool causal, T scale,
               const std::vector<float> *dout) {
  if (s.kvHeads < 1 || s.heads % s.kvHeads != 0)
    throw tessera::Error("plain_attention_cpu: kv_heads must divide heads");
  int64_t qSize = s.batch * s.heads * s.qLen * s.dim, kSize = s.batch * s.kvHeads * s.kLen * s.dim;
  if (int64_t(q.size()) != qSize || int64_t(k.size()) != kSize || int64_t(v.size()) != kSize ||
      (dout && int64_t(dout->size()) != qSize) ||
      (keyMask && int64_t(keyMask->size()) != s.batch * s.kLen))
    throw tessera::Error("plain_attention_cpu: an array's size does not match the shape");
  std::vector<T> out(qSize, T(0)), lse(s.batch * s.heads * s.qLen, -INFINITY), dq, dk, dv;
  if (dout) {
    dq.assign(qSize, T(0));
    dk.assign(kSize, T(0));
    dv.assign(kSize, T(0));
  }
  const int64_t group = s.heads / s.kvHeads, D = s.dim;
  // One (batch, kv head) per task: its q heads are the only writers of its dK, dV.
  auto task = [&](int64_t b, int64_t hk) {
    std::vector<T> p(s.kLen), dp(s.kLen);
    const float *K = &k[(b * s.kvHeads + hk) * s.kLen * D];
    const float *V = &v[(b * s.kvHeads + hk) * s.kLen * D];
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      int64_t row0 = (b * s.heads + h) * s.qLen;
      for (int64_t i = 0; i < s.qLen; ++i) {
        const float *Q = &q[(row0 + i) * D];
        T m = -INFINITY;
        for (int64_t j = 0; j < s.kLen; ++j) {
          bool visible =
              (!keyMask || (*keyMask)[b * s.kLen + j]) && (!causal || j <= i + (s.kLen - s.qLen));
          T dot = 0;
          for (int64_t d = 0; visible && d < D; ++d)
            dot += T(Q[d]) * K[j * D + d];
          p[j] = visible ? dot * scale : -INFINITY;
          m = std::max(m, p[j]);
        }
        if (m == -INFINITY)
          continue; // nothing visible: out 0, lse -inf, no gradient
        T z = 0;
        for (int64_t j = 0; j < s.kLen; ++j)
          z += p[j] = std::exp(p[j] - m);
        T *O = &out[(row0 + i) * D];
        for (int64_t j = 0; j < s.kLen; ++j) {
          p[j] /= z;
          for (int64_t d = 0; p[j] != 0 && d < D; ++d)
            O[d] += p[j] * V[j * D + d];
        }
        lse[row0 + i] = m + std::log(z);
        if (!dout)
          continue;
        // dP = dO Vᵀ;  dS = P ∘ (dP - rowsum(P ∘ dP))
        const float *dO = &(*dout)[(row0 + i) * D];
        T delta = 0;
        for (int64_t j = 0; j < s.kLen; ++j) {
          dp[j] = 0;
          for (int64_t d = 0; p[j] != 0 && d < D; ++d)
            dp[j] += T(dO[d]) * V[j * D + d];
          delta += p[j] * dp[j];
        }
        T *dQ = &dq[(row0 + i) * D];
        T *dK = &dk[(b * s.kvHeads + hk) * s.kLen * D];
        T *dV = &dv[(b * s.kvHeads + hk) * s.kLen * D];
        for (int64_t j = 0; j < s.kLen; ++j) {
          if (p[j] == 0)
            continue;
          T ds = p[j] * (dp[j] - delta) * scale;
          for (int64_t d = 0; d < D; ++d) {
            dQ[d] += ds * K[j * D + d];
            dK[j * D + d] += ds * Q[d];
            dV[j * D + d] += p[j] * dO[d];
          }
        }
      }
    }
  };
  int64_t tasks = s.batch * s.kvHeads;
  unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), tasks));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < tasks; i += threads)
        task(i / s.kvHeads, i % s.kvHeads);
    });
  for (std::thread &t : pool)
    t.join();
  auto widen = [](const std::vector<T> &x) { return std::vector<double>(x.begin(), x.end()); };
  return {widen(out), widen(lse), widen(dq), widen(dk), widen(dv)};
}

} // namespace

attention::PlainAttentionResult
attention::plain_attention_cpu(const AttentionShape &s, const std::vector<float> &q,
                               const std::vector<float> &k, const std::vector<float> &v,
                               const std::vector<uint8_t> *keyMask, bool causal, double scale,
                               const std::vector<float> *dout, bool fp32Arithmetic) {
  return fp32Arithmetic ? plainAttention<float>(s, q, k, v, keyMask, causal, float(scale), dout)
                        : plainAttention<double>(s, q, k, v, keyMask, causal, scale, dout);
}

attention::ValueAndGrad attention::flash_attention_value_and_grad(const DeviceTensor &q,
                                                                  const DeviceTensor &k,
                                                                  const DeviceTensor &v,
                                                                  const DeviceTensor &key_mask,
                                                                  const DeviceTensor &dout) {
  // The seed's sanity check compares in the accurate f32 mode.
  Options options = optionsWithMask(key_mask, false);
  options.fp32Precision = Fp32Precision::ieee;
  ForwardResult f = forward(q, k, v, options);
  BackwardResult g = backward(q, k, v, f.out, f.lse, dout, options);
  return {f.out, g.dq, g.dk, g.dv};
}

attention::ValueAndGrad attention::cosine_sim_flash_attention_value_and_grad(
    const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
    const DeviceTensor &key_mask, const DeviceTensor &dout) {
  Options options = optionsWithMask(key_mask, false);
  options.scale = 16.f;
  options.fp32Precision = Fp32Precision::ieee;
  DeviceTensor qn = l2norm_rows(q), kn = l2norm_rows(k);
  ForwardResult f = forward(qn, kn, v, options);
  BackwardResult g = backward(qn, kn, v, f.out, f.lse, dout, options);
  return {f.out, l2norm_rows_backward(q, g.dq), l2norm_rows_backward(k, g.dk), g.dv};
}

attention::ValueAndGrad attention::plain_attention_value_and_grad(const DeviceTensor &q,
                                                                  const DeviceTensor &k,
                                                                  const DeviceTensor &v,
                                                                  const DeviceTensor &key_mask,
                                                                  const DeviceTensor &dout) {
  detail::checkInputs(q, k, v, optionsWithMask(key_mask, false));
  detail::checkOutput(dout, q.shape(), q.dtype(), "dout", "(batch, heads, q_len, dim) like q");
  std::vector<uint8_t> mask;
  if (key_mask.defined())
    for (float m : hostValues(key_mask, "key_mask"))
      mask.push_back(m != 0);
  std::vector<float> dO = hostValues(dout, "dout");
  PlainAttentionResult r = plain_attention_cpu(
      shapeOf(q, k), hostValues(q, "q"), hostValues(k, "k"), hostValues(v, "v"),
      key_mask.defined() ? &mask : nullptr, false, 1.0 / std::sqrt(double(q.shape()[3])), &dO);
  return {toDevice(r.out, q.shape()), toDevice(r.dq, q.shape()), toDevice(r.dk, k.shape()),
          toDevice(r.dv, v.shape())};
}

attention::ValueAndGrad attention::plain_attention_value_and_grad_gpu(const DeviceTensor &q,
                                                                      const DeviceTensor &k,
                                                                      const DeviceTensor &v,
                                                                      const DeviceTensor &key_mask,
                                                                      const DeviceTensor &dout) {
  Options options = optionsWithMask(key_mask, false);
  detail::checkInputs(q, k, v, options);
  detail::checkOutput(dout, q.shape(), q.dtype(), "dout", "(batch, heads, q_len, dim) like q");
  if (q.onHost())
    throw Error("q: plain_attention_value_and_grad_gpu needs GPU tensors");
  const auto &qs = q.shape();
  ValueAndGrad r{DeviceTensor::empty(qs, DType::F32), DeviceTensor::empty(qs, DType::F32),
                 DeviceTensor::empty(k.shape(), DType::F32),
                 DeviceTensor::empty(k.shape(), DType::F32)};
  DeviceTensor lse = DeviceTensor::empty({qs[0], qs[1], qs[2]}, DType::F32);
  detail::referenceForward(q, k, v, options, r.out, lse);
  // The backward reference reads out in q's dtype, as backward() does.
  DeviceTensor out =
      q.dtype() == DType::F32 ? r.out : DeviceTensor::fromFloat(r.out.toFloat(), qs, q.dtype());
  detail::referenceBackward(q, k, v, out, lse, dout, options, r.dq, r.dk, r.dv);
  return r;
}

attention::Difference attention::value_and_grad_difference(
    const AttentionValueAndGradFn &fn_a, const AttentionValueAndGradFn &fn_b, uint64_t seed,
    int64_t batch, int64_t heads, int64_t q_len, int64_t k_len, bool key_mask, int64_t dim) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random = [&](std::vector<int64_t> shape) {
    std::vector<float> values(shape[0] * shape[1] * shape[2] * shape[3]);
    for (float &x : values)
      x = normal(gen);
    return DeviceTensor::fromFloat(values, std::move(shape), DType::F32);
  };
  DeviceTensor q = random({batch, heads, q_len, dim}), k = random({batch, heads, k_len, dim}),
               v = random({batch, heads, k_len, dim}), dout = random({batch, heads, q_len, dim});
  DeviceTensor mask;
  if (key_mask) {
    std::bernoulli_distribution keep(0.5);
    std::vector<uint8_t> m(batch * k_len);
    for (uint8_t &x : m)
      x = keep(gen);
    mask = DeviceTensor::fromHost(m.data(), {batch, k_len}, DType::I1);
  }
  ValueAndGrad a = fn_a(q, k, v, mask, dout), b = fn_b(q, k, v, mask, dout);
  return {maxAbsDifference(a.out, b.out, "out"), maxAbsDifference(a.dq, b.dq, "dq"),
          maxAbsDifference(a.dk, b.dk, "dk"), maxAbsDifference(a.dv, b.dv, "dv")};
}
