//===- main.cpp - The GEMM + bias + GELU example: check, then time ---------===//
//
//   gemm_bias_gelu          checks against float64 on fresh random inputs (on
//                           the interpreter without a GPU)
//   gemm_bias_gelu --bench  then times it on the GPU, bf16, M=N=K 4096 and
//                           8192 (TFLOP/s of the matmul, 2·M·N·K, as
//                           bench_general.py counts torch's unfused version)
//
//===----------------------------------------------------------------------===//

#include "GemmBiasGelu.h"

#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Interpret.h"
#include "tessera/runtime/Testing.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace tessera;

namespace {

bool check(int64_t m, int64_t n, int64_t k, DType dtype) {
  std::vector<float> a, b, bias;
  DeviceTensor da = testkit::randomTensor({m, k}, dtype, &a);
  DeviceTensor db = testkit::randomTensor({k, n}, dtype, &b);
  DeviceTensor dbias = testkit::randomTensor({n}, dtype, &bias);
  DeviceTensor out = gemm_bias_gelu::run(da, db, dbias);
  std::vector<double> want(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j)
        want[i * n + j] += double(a[i * k + p]) * b[p * n + j];
    for (int64_t j = 0; j < n; ++j)
      want[i * n + j] = gemm_bias_gelu::gelu(want[i * n + j] + bias[j]);
  }
  // A sum of k products: its error grows with sqrt(k).
  double e = testkit::maxRelativeError(out.toFloat(), want, std::sqrt(double(k)));
  bool ok = e <= testkit::tolerance(dtype);
  std::printf("%-4s %5lld x %5lld x %5lld  error %.1e  %s\n", name(dtype).data(), (long long)m,
              (long long)n, (long long)k, e, ok ? "ok" : "FAILED");
  return ok;
}

void bench(int64_t n) {
  DeviceTensor a = testkit::randomTensor({n, n}, DType::BF16);
  DeviceTensor b = testkit::randomTensor({n, n}, DType::BF16);
  DeviceTensor bias = testkit::randomTensor({n}, DType::BF16);
  DeviceTensor out = DeviceTensor::empty({n, n}, DType::BF16);
  double ms = testkit::benchMs([&] { gemm_bias_gelu::run(a, b, bias, out); });
  std::printf("gemm_bias_gelu bf16 %lldx%lldx%lld  %.4f ms %.1f TFLOP/s\n", (long long)n,
              (long long)n, (long long)n, ms, 2.0 * n * n * n / ms * 1e-9);
}

} // namespace

int main(int argc, char **argv) {
  // --bench: time on the GPU too; --small: only the small shapes (for
  // compute-sanitizer).
  bool timing = false, small = false;
  for (int i = 1; i < argc; ++i) {
    timing |= std::strcmp(argv[i], "--bench") == 0;
    small |= std::strcmp(argv[i], "--small") == 0;
  }
  if (!gpuAvailable()) {
    std::printf("no GPU (%s): running on Tessera's interpreter\n",
                Driver::get().unavailableReason().c_str());
    setInterpreted(true);
  }
  bool ok = true;
  for (DType dtype : {DType::F32, DType::BF16}) {
    ok &= check(70, 50, 40, dtype);   // partial blocks everywhere
    ok &= check(128, 192, 96, dtype); // whole blocks
  }
  if (!interpreted() && !small) {
    ok &= check(1000, 1100, 1200, DType::BF16);
    ok &= check(512, 512, 4096, DType::F16);
  }
  if (ok && timing && !interpreted()) {
    bench(4096);
    bench(8192);
  }
  std::printf("gemm_bias_gelu: %s\n", ok ? "all checks passed" : "FAILED");
  return ok ? 0 : 1;
}
