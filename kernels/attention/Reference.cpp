//===- Reference.cpp - Naive attention in CUDA C++ through NVRTC ----------===//
//
// The GPU reference the autotuner checks candidates against: one thread per
// query row, scores and an online softmax in fp32, no tiling, nothing shared
// with the DSL kernel but the math.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"

#include "../lib/Launch.h"
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

extern "C" __global__ void attention_reference(
    const T *q, Strides qs, const T *k, Strides ks, const T *v, Strides vs,
    const unsigned char *mask, long long maskStride, float *out, float *lse,
    int B, int H, int Hkv, int Sq, int Sk, int D, float scale, int causal) {
  long long row = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= (long long)B * H * Sq) return;
  int i = row % Sq, h = (row / Sq) % H, b = row / ((long long)Sq * H);
  int hk = h / (H / Hkv);
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

} // namespace

void attention::detail::referenceForward(const DeviceTensor &q, const DeviceTensor &k,
                                         const DeviceTensor &v, const Options &options,
                                         DeviceTensor &out, DeviceTensor &lse) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Module>> modules;
  std::string arch = currentDevice().arch();
  std::string key = arch + std::string(name(q.dtype()));
  Module *module;
  {
    std::lock_guard<std::mutex> lock(mutex);
    std::unique_ptr<Module> &m = modules[key];
    if (!m) {
      std::string define = q.dtype() == DType::F32   ? "-DDTYPE_F32"
                           : q.dtype() == DType::F16 ? "-DDTYPE_F16"
                                                     : "-DDTYPE_BF16";
      m = std::make_unique<Module>(
          Module::loadData(compileCudaToPtx(kSource, "attention_reference.cu", arch, {define})));
    }
    module = m.get();
  }
  const auto &s = q.shape();
  int64_t rows = s[0] * s[1] * s[2];
  if (s[3] > 512)
    throw Error("q: the reference handles head dims up to 512");
  const DeviceTensor *mask = options.keyMask;
  KernelArgs args;
  args.add(q.data()).add(stridesOf(q)).add(k.data()).add(stridesOf(k)).add(v.data()).add(stridesOf(v));
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
