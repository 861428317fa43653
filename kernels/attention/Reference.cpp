//===- Reference.cpp - Naive attention in CUDA C++ through NVRTC ----------===//
//
// The GPU references the autotuner checks candidates against: the forward
// with one thread per query row, scores and an online softmax in fp32; the
// backward as two passes, one thread per query row (dQ, D) and one per key
// row (dK, dV). No tiling, nothing shared with the DSL kernels but the math.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Module.h"
#include "tessera/runtime/Nvrtc.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>

using namespace tessera;

namespace {

const char *kSource = R"(
#if defined(DTYPE_F32)
typedef float T;
__device__ float ld(const T *p, long long i) { return p[i]; }
#else
typedef unsigned short T;
__device__ float ld(const T *p, long long i) {
  unsigned short u = p[i];
#if defined(DTYPE_F16)
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(u));
  return f;
#else
  return __uint_as_float(((unsigned)u) << 16);
#endif
}
#endif

struct Strides { long long s[4]; };

// Batch b, head h and position i of query row `row` (rows ordered b, h, i),
// and the kv head hk that h reads.
__device__ void queryRow(long long row, int H, int Hkv, int Sq, int &b, int &h, int &i, int &hk) {
  i = row % Sq;
  h = (row / Sq) % H;
  b = row / ((long long)Sq * H);
  hk = h / (H / Hkv);
}

extern "C" __global__ void attention_reference(
    const T *q, Strides qs, const T *k, Strides ks, const T *v, Strides vs,
    const unsigned char *mask, long long maskStride, float *out, float *lse,
    int B, int H, int Hkv, int Sq, int Sk, int D, float scale, int causal) {
  long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= (long long)B * H * Sq) return;
  int b, h, i, hk;
  queryRow(row, H, Hkv, Sq, b, h, i, hk);
  float acc[512];
  for (int d = 0; d < D; ++d) acc[d] = 0.f;
  float m = __int_as_float(0xff800000), l = 0.f; // -inf: NVRTC has no math.h
  for (int j = 0; j < Sk; ++j) {
    if (mask && !mask[b * maskStride + j]) continue;
    if (causal && j > i + (Sk - Sq)) continue;
    float s = 0.f;
    for (int d = 0; d < D; ++d)
      s = fmaf(ld(q, b * qs.s[0] + h * qs.s[1] + i * qs.s[2] + d * qs.s[3]),
               ld(k, b * ks.s[0] + hk * ks.s[1] + j * ks.s[2] + d * ks.s[3]), s);
    s *= scale;
    float mNew = fmaxf(m, s);
    float alpha = expf(m - mNew), p = expf(s - mNew);
    l = l * alpha + p;
    for (int d = 0; d < D; ++d)
      acc[d] = acc[d] * alpha + p * ld(v, b * vs.s[0] + hk * vs.s[1] + j * vs.s[2] + d * vs.s[3]);
    m = mNew;
  }
  for (int d = 0; d < D; ++d) out[row * D + d] = l > 0.f ? acc[d] / l : 0.f;
  lse[row] = l > 0.f ? m + logf(l) : __int_as_float(0xff800000);
}

// The gradients of L = sum(out ∘ dout), from the forward's out and lse:
// P_ij = exp(S_ij - L_i), D_i = dO_i · O_i, dS_ij = P_ij (dO_i · V_j - D_i);
// dQ_i = scale Σ_j dS_ij K_j here (one thread per query row, which also
// writes D_i), dK_j = scale Σ_i dS_ij Q_i and dV_j = Σ_i P_ij dO_i in the
// next kernel (one thread per key row, over the q heads of its group).
__device__ bool visible(const unsigned char *mask, long long maskStride, int b, int i, int j,
                        int Sq, int Sk, int causal) {
  return (!mask || mask[b * maskStride + j]) && !(causal && j > i + (Sk - Sq));
}

extern "C" __global__ void attention_reference_backward_dq(
    const T *q, Strides qs, const T *k, Strides ks, const T *v, Strides vs,
    const T *o, Strides os, const T *dO, Strides dos, const float *lse,
    const unsigned char *mask, long long maskStride, float *dq, float *delta,
    int B, int H, int Hkv, int Sq, int Sk, int D, float scale, int causal) {
  long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= (long long)B * H * Sq) return;
  int b, h, i, hk;
  queryRow(row, H, Hkv, Sq, b, h, i, hk);
  long long qi = b * qs.s[0] + h * qs.s[1] + i * qs.s[2];
  long long oi = b * os.s[0] + h * os.s[1] + i * os.s[2];
  long long di = b * dos.s[0] + h * dos.s[1] + i * dos.s[2];
  float dlt = 0.f;
  for (int d = 0; d < D; ++d)
    dlt = fmaf(ld(dO, di + d * dos.s[3]), ld(o, oi + d * os.s[3]), dlt);
  delta[row] = dlt;
  float acc[512];
  for (int d = 0; d < D; ++d) acc[d] = 0.f;
  float L = lse[row];
  for (int j = 0; j < Sk && L > -3.0e38f; ++j) {
    if (!visible(mask, maskStride, b, i, j, Sq, Sk, causal)) continue;
    long long kj = b * ks.s[0] + hk * ks.s[1] + j * ks.s[2];
    long long vj = b * vs.s[0] + hk * vs.s[1] + j * vs.s[2];
    float s = 0.f, dp = 0.f;
    for (int d = 0; d < D; ++d) {
      s = fmaf(ld(q, qi + d * qs.s[3]), ld(k, kj + d * ks.s[3]), s);
      dp = fmaf(ld(dO, di + d * dos.s[3]), ld(v, vj + d * vs.s[3]), dp);
    }
    float ds = expf(s * scale - L) * (dp - dlt);
    for (int d = 0; d < D; ++d) acc[d] = fmaf(ds, ld(k, kj + d * ks.s[3]), acc[d]);
  }
  for (int d = 0; d < D; ++d) dq[row * D + d] = acc[d] * scale;
}

extern "C" __global__ void attention_reference_backward_dkdv(
    const T *q, Strides qs, const T *k, Strides ks, const T *v, Strides vs,
    const T *dO, Strides dos, const float *lse, const float *delta,
    const unsigned char *mask, long long maskStride, float *dk, float *dv,
    int B, int H, int Hkv, int Sq, int Sk, int D, float scale, int causal) {
  long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= (long long)B * Hkv * Sk) return;
  int j = row % Sk, hk = (row / Sk) % Hkv, b = row / ((long long)Sk * Hkv);
  long long kj = b * ks.s[0] + hk * ks.s[1] + j * ks.s[2];
  long long vj = b * vs.s[0] + hk * vs.s[1] + j * vs.s[2];
  float accK[512], accV[512];
  for (int d = 0; d < D; ++d) accK[d] = accV[d] = 0.f;
  int group = H / Hkv;
  for (int h = hk * group; h < (hk + 1) * group; ++h)
    for (int i = 0; i < Sq; ++i) {
      long long r = ((long long)b * H + h) * Sq + i;
      if (!visible(mask, maskStride, b, i, j, Sq, Sk, causal) || !(lse[r] > -3.0e38f)) continue;
      long long qi = b * qs.s[0] + h * qs.s[1] + i * qs.s[2];
      long long di = b * dos.s[0] + h * dos.s[1] + i * dos.s[2];
      float s = 0.f, dp = 0.f;
      for (int d = 0; d < D; ++d) {
        s = fmaf(ld(q, qi + d * qs.s[3]), ld(k, kj + d * ks.s[3]), s);
        dp = fmaf(ld(dO, di + d * dos.s[3]), ld(v, vj + d * vs.s[3]), dp);
      }
      float p = expf(s * scale - lse[r]), ds = p * (dp - delta[r]);
      for (int d = 0; d < D; ++d) {
        accV[d] = fmaf(p, ld(dO, di + d * dos.s[3]), accV[d]);
        accK[d] = fmaf(ds, ld(q, qi + d * qs.s[3]), accK[d]);
      }
    }
  for (int d = 0; d < D; ++d) {
    dk[row * D + d] = accK[d] * scale;
    dv[row * D + d] = accV[d];
  }
}
)";

struct Strides {
  long long s[4];
};

Strides stridesOf(const DeviceTensor &t) {
  Strides s{};
  for (int d = 0; d < 4; ++d)
    s.s[d] = t.strides()[d];
  return s;
}

/// The reference kernels for `dtype` on the current device, compiled once.
Module &referenceModule(DType dtype) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Module>> modules;
  std::string arch = currentDevice().arch();
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<Module> &m = modules[arch + std::string(name(dtype))];
  if (!m) {
    std::string define = dtype == DType::F32   ? "-DDTYPE_F32"
                         : dtype == DType::F16 ? "-DDTYPE_F16"
                                               : "-DDTYPE_BF16";
    m = std::make_unique<Module>(
        Module::loadData(compileCudaToPtx(kSource, "attention_reference.cu", arch, {define})));
  }
  return *m;
}

} // namespace

void attention::detail::referenceForward(const DeviceTensor &q, const DeviceTensor &k,
                                         const DeviceTensor &v, const Options &options,
                                         DeviceTensor &out, DeviceTensor &lse) {
  Module *module = &referenceModule(q.dtype());
  const auto &s = q.shape();
  int64_t rows = s[0] * s[1] * s[2];
  if (s[3] > 512)
    throw Error("q: the reference handles head dims up to 512");
  const DeviceTensor *mask = options.keyMask;
  KernelArgs args;
  args.add(q.data())
      .add(stridesOf(q))
      .add(k.data())
      .add(stridesOf(k))
      .add(v.data())
      .add(stridesOf(v));
  args.add(mask ? mask->data() : CUdeviceptr(0)).add((long long)(mask ? mask->strides()[0] : 0));
  args.add(out.data()).add(lse.data());
  args.add(int(s[0])).add(int(s[1])).add(int(k.shape()[1])).add(int(s[2])).add(int(k.shape()[2]));
  args.add(int(s[3]));
  args.add(options.scale.value_or(float(1.0 / std::sqrt(double(s[3])))));
  args.add(int(options.causal));
  LaunchConfig config;
  config.grid[0] = unsigned((rows + 127) / 128);
  config.block[0] = 128;
  launch(module->function("attention_reference"), config, args, Stream::defaultStream());
}

void attention::detail::referenceBackward(const DeviceTensor &q, const DeviceTensor &k,
                                          const DeviceTensor &v, const DeviceTensor &out,
                                          const DeviceTensor &lse, const DeviceTensor &dout,
                                          const Options &options, DeviceTensor &dq,
                                          DeviceTensor &dk, DeviceTensor &dv) {
  Module &module = referenceModule(q.dtype());
  const auto &s = q.shape(), &ks = k.shape();
  if (s[3] > 512)
    throw Error("q: the reference handles head dims up to 512");
  if (!lse.isContiguous() || lse.dtype() != DType::F32)
    throw Error("lse: the reference expects a contiguous f32 (batch, heads, q_len) tensor");
  DeviceTensor delta = DeviceTensor::empty({s[0], s[1], s[2]}, DType::F32);
  const DeviceTensor *mask = options.keyMask;
  float scale = options.scale.value_or(float(1.0 / std::sqrt(double(s[3]))));
  auto tail = [&](KernelArgs &args) {
    args.add(int(s[0])).add(int(s[1])).add(int(ks[1])).add(int(s[2])).add(int(ks[2]));
    args.add(int(s[3])).add(scale).add(int(options.causal));
  };
  auto maskArgs = [&](KernelArgs &args) {
    args.add(mask ? mask->data() : CUdeviceptr(0)).add((long long)(mask ? mask->strides()[0] : 0));
  };
  KernelArgs dqArgs;
  dqArgs.add(q.data())
      .add(stridesOf(q))
      .add(k.data())
      .add(stridesOf(k))
      .add(v.data())
      .add(stridesOf(v));
  dqArgs.add(out.data()).add(stridesOf(out)).add(dout.data()).add(stridesOf(dout)).add(lse.data());
  maskArgs(dqArgs);
  dqArgs.add(dq.data()).add(delta.data());
  tail(dqArgs);
  LaunchConfig config;
  config.block[0] = 128;
  config.grid[0] = unsigned((s[0] * s[1] * s[2] + 127) / 128);
  launch(module.function("attention_reference_backward_dq"), config, dqArgs,
         Stream::defaultStream());
  KernelArgs kvArgs;
  kvArgs.add(q.data())
      .add(stridesOf(q))
      .add(k.data())
      .add(stridesOf(k))
      .add(v.data())
      .add(stridesOf(v));
  kvArgs.add(dout.data()).add(stridesOf(dout)).add(lse.data()).add(delta.data());
  maskArgs(kvArgs);
  kvArgs.add(dk.data()).add(dv.data());
  tail(kvArgs);
  config.grid[0] = unsigned((ks[0] * ks[1] * ks[2] + 127) / 128);
  launch(module.function("attention_reference_backward_dkdv"), config, kvArgs,
         Stream::defaultStream());
  // delta is freed here: wait for the kernels that read it.
  Stream::defaultStream().synchronize();
}
