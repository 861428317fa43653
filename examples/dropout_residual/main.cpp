//===- main.cpp - The dropout + residual example: check, then time --------===//
//
//   dropout_residual          checks forward and backward against float64 on
//                             fresh inputs and seeds (on the interpreter
//                             without a GPU)
//   dropout_residual --bench  then times the forward on the GPU, bf16,
//                             8192x8192 and 32768x4096 (GB/s: x and residual
//                             read, out written), beside peer.py's torch
//
//===----------------------------------------------------------------------===//

#include "DropoutResidual.h"

#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Interpret.h"
#include "tessera/runtime/Testing.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace tessera;

namespace {

bool check(int64_t rows, int64_t cols, DType dtype, float p) {
  std::vector<float> x, r, dout;
  DeviceTensor dx = testkit::randomTensor({rows, cols}, dtype, &x);
  DeviceTensor dr = testkit::randomTensor({rows, cols}, dtype, &r);
  DeviceTensor ddout = testkit::randomTensor({rows, cols}, dtype, &dout);
  uint32_t seed = uint32_t(std::abs(testkit::randomValues(1, DType::F32)[0]) * 1e9f);
  DeviceTensor out = dropout_residual::forward(dx, dr, p, seed);
  DeviceTensor gx = dropout_residual::backward(ddout, p, seed);
  std::vector<double> want(x.size()), wantGx(x.size());
  int64_t kept = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    bool keep = dropout_residual::kept(seed, uint32_t(i), p);
    kept += keep;
    want[i] = r[i] + (keep ? double(x[i]) / (1 - p) : 0.0);
    wantGx[i] = keep ? double(dout[i]) / (1 - p) : 0.0;
  }
  double e = testkit::maxRelativeError(out.toFloat(), want);
  double eg = testkit::maxRelativeError(gx.toFloat(), wantGx);
  // The kept fraction is 1 - p within 5 standard deviations.
  double n = double(x.size()), fraction = double(kept) / n;
  bool fair = std::abs(fraction - (1 - p)) <= 5 * std::sqrt(p * (1 - p) / n) + 1e-9;
  bool ok = e <= testkit::tolerance(dtype) && eg <= testkit::tolerance(dtype) && fair;
  std::printf("%-4s %6lld x %-6lld p %.2f  out %.1e  dx %.1e  kept %.4f  %s\n", name(dtype).data(),
              (long long)rows, (long long)cols, p, e, eg, fraction, ok ? "ok" : "FAILED");
  return ok;
}

void bench(int64_t rows, int64_t cols) {
  DeviceTensor x = testkit::randomTensor({rows, cols}, DType::BF16);
  DeviceTensor r = testkit::randomTensor({rows, cols}, DType::BF16);
  DeviceTensor out = DeviceTensor::empty({rows, cols}, DType::BF16);
  double ms = testkit::benchMs([&] { dropout_residual::forward(x, r, 0.1f, 1234, out); });
  std::printf("dropout_residual bf16 %lldx%lld  %.4f ms %.1f GB/s\n", (long long)rows,
              (long long)cols, ms, 3.0 * double(x.nbytes()) / ms * 1e-6);
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
    ok &= check(37, 300, dtype, 0.1f);
    ok &= check(64, 1024, dtype, 0.5f);
    ok &= check(3, 5000, dtype, 0.0f);
  }
  if (!interpreted() && !small)
    ok &= check(4096, 4096, DType::BF16, 0.2f);
  if (ok && timing && !interpreted()) {
    bench(8192, 8192);
    bench(32768, 4096);
  }
  std::printf("dropout_residual: %s\n", ok ? "all checks passed" : "FAILED");
  return ok ? 0 : 1;
}
