//===- tessera-seed-example.cpp - flash-attention-jax's README in C++ -----===//
//
// The seed's README example: q, k, v of (1, 2, 131072, 512) in fp32 with a
// random key mask through flash_attention, timed; then its sanity check,
// value_and_grad_difference(plain_attention, flash_attention), printing the
// largest differences of out, dq, dk and dv.
//
// The check's plain attention runs on the CPU in float64, so by default it
// uses (2, 4, 1024, 2048, 128) instead of the seed's (2, 4, 4096, 8192, 512),
// which takes many minutes there; --seed-sizes asks for the seed's. Without
// a GPU the example runs a tiny problem on the interpreter and says so.
//
// --fp32-floor [batch heads q_len k_len dim] (CPU only) answers whether the
// seed's 1e-6 on dq, dk, dv is within fp32's reach: the check's inputs
// (its seed, its distributions) through plain attention in float arithmetic
// against the same in float64.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/seed.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Interpret.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

using namespace tessera;
using namespace tessera::attention;

namespace {

struct Sizes {
  int64_t batch, heads, qLen, kLen, dim;
};

double seconds(const std::chrono::steady_clock::time_point &start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void readmeExample(const Sizes &s) {
  std::mt19937 gen(0);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random = [&] {
    std::vector<float> values(s.batch * s.heads * s.qLen * s.dim);
    for (float &x : values)
      x = normal(gen);
    return DeviceTensor::fromFloat(values, {s.batch, s.heads, s.qLen, s.dim}, DType::F32);
  };
  DeviceTensor q = random(), k = random(), v = random();
  std::bernoulli_distribution keep(0.5);
  std::vector<uint8_t> m(s.batch * s.kLen);
  for (uint8_t &x : m)
    x = keep(gen);
  DeviceTensor mask = DeviceTensor::fromHost(m.data(), {s.batch, s.kLen}, DType::I1);

  auto start = std::chrono::steady_clock::now();
  ForwardResult r = flash_attention(q, k, v, mask);
  Stream::defaultStream().synchronize();
  double first = seconds(start);
  start = std::chrono::steady_clock::now();
  r = flash_attention(q, k, v, mask);
  Stream::defaultStream().synchronize();
  double again = seconds(start);
  int64_t kept = 0;
  for (uint8_t x : m)
    kept += x;
  // FLOP/s of the attention as posed (every key), and of the kept keys alone.
  double flops = 4.0 * s.batch * s.heads * double(s.qLen) * s.kLen * s.dim;
  std::printf("flash_attention q, k, v (%lld, %lld, %lld, %lld) f32 (TF32 tensor cores), key mask "
              "keeping %lld of %lld keys: out (%lld, %lld, %lld, %lld)\n"
              "  first call (compile + run) %.3f s; forward %.3f s (masked keys dropped first, "
              "Options::compactKeyMask), %.3g GFLOP/s as posed, %.3g on the kept keys\n",
              (long long)s.batch, (long long)s.heads, (long long)s.qLen, (long long)s.dim,
              (long long)kept, (long long)(s.batch * s.kLen), (long long)r.out.shape()[0],
              (long long)r.out.shape()[1], (long long)r.out.shape()[2], (long long)r.out.shape()[3],
              first, again, flops / again / 1e9,
              flops * kept / double(s.batch * s.kLen) / again / 1e9);
  // The same without dropping them: the kernel masks them block by block.
  Options options;
  options.keyMask = &mask;
  forward(q, k, v, r.out, r.lse, options);
  Stream::defaultStream().synchronize();
  start = std::chrono::steady_clock::now();
  forward(q, k, v, r.out, r.lse, options);
  Stream::defaultStream().synchronize();
  double masked = seconds(start);
  std::printf("  attention::forward keeping every key and masking in the kernel: %.3f s, %.3g "
              "GFLOP/s\n",
              masked, flops / masked / 1e9);
}

void sanityCheck(const Sizes &s) {
  auto start = std::chrono::steady_clock::now();
  Difference d =
      value_and_grad_difference(plain_attention_value_and_grad, flash_attention_value_and_grad, 42,
                                s.batch, s.heads, s.qLen, s.kLen, true, s.dim);
  std::printf("value_and_grad_difference(plain_attention, flash_attention) at (%lld, %lld, q %lld, "
              "k %lld, d %lld), key mask, %.1f s:\n  out %.3g  dq %.3g  dk %.3g  dv %.3g\n",
              (long long)s.batch, (long long)s.heads, (long long)s.qLen, (long long)s.kLen,
              (long long)s.dim, seconds(start), d.out, d.dq, d.dk, d.dv);
}

/// The sanity check's inputs (value_and_grad_difference's generator and
/// order) through plain attention in fp32 and in float64, on the CPU.
void fp32Floor(const Sizes &s) {
  std::mt19937_64 gen(42);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto random = [&](int64_t len) {
    std::vector<float> values(s.batch * s.heads * len * s.dim);
    for (float &x : values)
      x = normal(gen);
    return values;
  };
  std::vector<float> q = random(s.qLen), k = random(s.kLen), v = random(s.kLen),
                     dout = random(s.qLen);
  std::bernoulli_distribution keep(0.5);
  std::vector<uint8_t> mask(s.batch * s.kLen);
  for (uint8_t &x : mask)
    x = keep(gen);
  AttentionShape shape{s.batch, s.heads, s.heads, s.qLen, s.kLen, s.dim};
  double scale = 1.0 / std::sqrt(double(s.dim));
  auto start = std::chrono::steady_clock::now();
  PlainAttentionResult exact = plain_attention_cpu(shape, q, k, v, &mask, false, scale, &dout);
  PlainAttentionResult fp32 =
      plain_attention_cpu(shape, q, k, v, &mask, false, scale, &dout, /*fp32Arithmetic=*/true);
  auto worst = [](const std::vector<double> &a, const std::vector<double> &b, double &largest) {
    double m = 0;
    largest = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      // The float64 result rounded to f32, as value_and_grad_difference sees it.
      m = std::max(m, std::abs(double(float(a[i])) - b[i]));
      largest = std::max(largest, std::abs(a[i]));
    }
    return m;
  };
  double big[4];
  double out = worst(exact.out, fp32.out, big[0]), dq = worst(exact.dq, fp32.dq, big[1]),
         dk = worst(exact.dk, fp32.dk, big[2]), dv = worst(exact.dv, fp32.dv, big[3]);
  std::printf(
      "plain attention in fp32 vs float64 at (%lld, %lld, q %lld, k %lld, d %lld), key mask, "
      "%.1f s:\n  max |difference|: out %.3g  dq %.3g  dk %.3g  dv %.3g\n"
      "  max |value|:      out %.3g  dq %.3g  dk %.3g  dv %.3g\n",
      (long long)s.batch, (long long)s.heads, (long long)s.qLen, (long long)s.kLen,
      (long long)s.dim, seconds(start), out, dq, dk, dv, big[0], big[1], big[2], big[3]);
}

} // namespace

int main(int argc, char **argv) {
  bool seedSizes = argc > 1 && std::strcmp(argv[1], "--seed-sizes") == 0;
  if (argc > 1 && std::strcmp(argv[1], "--fp32-floor") == 0) {
    Sizes s{2, 4, 4096, 8192, 512};
    if (argc == 7)
      s = {std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), std::atoll(argv[5]),
           std::atoll(argv[6])};
    else if (argc != 2) {
      std::fprintf(stderr,
                   "usage: tessera-seed-example --fp32-floor [batch heads q_len k_len dim]\n");
      return 2;
    }
    try {
      fp32Floor(s);
      return 0;
    } catch (const std::exception &e) {
      std::fprintf(stderr, "tessera-seed-example: %s\n", e.what());
      return 1;
    }
  }
  try {
    if (!gpuAvailable()) {
      std::printf("no GPU (%s): running a tiny problem on the CPU interpreter instead\n",
                  Driver::get().unavailableReason().c_str());
      setInterpreted(true);
      readmeExample({1, 2, 64, 64, 64});
      sanityCheck({1, 2, 32, 48, 32});
      return 0;
    }
    readmeExample({1, 2, 131072, 131072, 512});
    sanityCheck(seedSizes ? Sizes{2, 4, 4096, 8192, 512} : Sizes{2, 4, 1024, 2048, 128});
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tessera-seed-example: %s\n", e.what());
    return 1;
  }
}
