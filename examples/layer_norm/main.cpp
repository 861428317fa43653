//===- main.cpp - The LayerNorm example: check, then time ------------------===//
//
//   layer_norm           checks forward and backward against float64 on fresh
//                        random inputs (on the interpreter without a GPU)
//   layer_norm --bench   then times them on the GPU, bf16, 4096x8192 and
//                        32768x1024 (GB/s: x read and y written, as torch's
//                        layer_norm is counted by bench_general.py)
//
// The forward runs the tuning database's winner where tessera-tune has made
// one (tessera-tune --load liblayer_norm_kernels.so layer_norm_forward
// --sizes 4096,8192 --dtype bf16); TESSERA_PRINT_AUTOTUNING=1 shows it.
//
//===----------------------------------------------------------------------===//

#include "LayerNorm.h"

#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Interpret.h"
#include "tessera/runtime/Testing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace tessera;

namespace {

/// Forward and backward of one shape against float64; true when within the
/// dtype's bound.
bool check(int64_t rows, int64_t cols, DType dtype) {
  std::vector<float> x, w, b, dy;
  DeviceTensor dx = testkit::randomTensor({rows, cols}, dtype, &x);
  DeviceTensor dw = testkit::randomTensor({cols}, dtype, &w);
  DeviceTensor db = testkit::randomTensor({cols}, dtype, &b);
  DeviceTensor ddy = testkit::randomTensor({rows, cols}, dtype, &dy);
  const float eps = 1e-5f;
  layer_norm::Forward f = layer_norm::forward(dx, dw, db, eps);
  layer_norm::Gradients g = layer_norm::backward(ddy, dx, dw, f);

  std::vector<double> y(rows * cols), gx(rows * cols), gw(cols, 0.0), gb(cols, 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    const float *xi = &x[i * cols], *dyi = &dy[i * cols];
    double mu = 0, var = 0, c1 = 0, c2 = 0;
    for (int64_t j = 0; j < cols; ++j)
      mu += xi[j];
    mu /= double(cols);
    for (int64_t j = 0; j < cols; ++j)
      var += (xi[j] - mu) * (xi[j] - mu);
    double r = 1 / std::sqrt(var / double(cols) + eps);
    for (int64_t j = 0; j < cols; ++j) {
      double xhat = (xi[j] - mu) * r, gj = double(dyi[j]) * w[j];
      y[i * cols + j] = xhat * w[j] + b[j];
      c1 += xhat * gj;
      c2 += gj;
      gw[j] += double(dyi[j]) * xhat;
      gb[j] += dyi[j];
    }
    for (int64_t j = 0; j < cols; ++j) {
      double xhat = (xi[j] - mu) * r, gj = double(dyi[j]) * w[j];
      gx[i * cols + j] = r * (gj - (xhat * c1 + c2) / double(cols));
    }
  }
  // dw and db sum `rows` terms: their error grows with sqrt(rows).
  double bound = testkit::tolerance(dtype), sumBound = bound * std::sqrt(double(rows));
  double ey = testkit::maxRelativeError(f.y.toFloat(), y),
         edx = testkit::maxRelativeError(g.dx.toFloat(), gx),
         edw = testkit::maxRelativeError(g.dw.toFloat(), gw),
         edb = testkit::maxRelativeError(g.db.toFloat(), gb);
  bool ok = ey <= bound && edx <= bound && edw <= sumBound && edb <= sumBound;
  std::printf("%-4s %6lld x %-6lld  y %.1e  dx %.1e  dw %.1e  db %.1e  %s\n", name(dtype).data(),
              (long long)rows, (long long)cols, ey, edx, edw, edb, ok ? "ok" : "FAILED");
  return ok;
}

void bench(int64_t rows, int64_t cols) {
  DType dtype = DType::BF16;
  DeviceTensor x = testkit::randomTensor({rows, cols}, dtype);
  DeviceTensor w = testkit::randomTensor({cols}, dtype), b = testkit::randomTensor({cols}, dtype);
  DeviceTensor dy = testkit::randomTensor({rows, cols}, dtype);
  // Outputs and the backward's workspace made once: the loop times the
  // kernels, not allocations.
  layer_norm::Forward f = layer_norm::forward(x, w, b);
  layer_norm::Gradients g = layer_norm::backward(dy, x, w, f);
  layer_norm::Workspace workspace = layer_norm::makeWorkspace(rows, cols);
  double bytes = 2.0 * double(x.nbytes());
  double fwd = testkit::benchMs([&] { layer_norm::forward(x, w, b, f); });
  // The backward reads dy and x and writes dx.
  double bwd = testkit::benchMs([&] { layer_norm::backward(dy, x, w, f, g, workspace); });
  std::printf("layer_norm bf16 %lldx%lld  forward %.4f ms %.1f GB/s  backward %.4f ms %.1f GB/s\n",
              (long long)rows, (long long)cols, fwd, bytes / fwd * 1e-6, bwd,
              1.5 * bytes / bwd * 1e-6);
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
  for (DType dtype : {DType::F32, DType::BF16})
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 300}, {64, 1024}, {5, 3000}})
      ok &= check(rows, cols, dtype);
  if (!interpreted() && !small)
    ok &= check(4096, 8192, DType::BF16);
  if (ok && timing && !interpreted()) {
    bench(4096, 8192);
    bench(32768, 1024);
  }
  std::printf("layer_norm: %s\n", ok ? "all checks passed" : "FAILED");
  return ok ? 0 : 1;
}
