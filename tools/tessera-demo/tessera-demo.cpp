//===- tessera-demo.cpp - The foundation kernels, end to end --------------===//
//
// Builds vector_add, softmax and matmul from the DSL, compiles them through
// Tessera's MLIR pipeline and, on a GPU, runs them on random inputs and
// compares with a float64 CPU reference. Without a GPU it compiles them for
// sm_80 and sm_90a and prints what ptxas reports.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Interpret.h"
#include "tessera/runtime/Jit.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

using namespace tessera;

namespace {

std::vector<float> randomValues(size_t n, DType dtype) {
  static std::mt19937 gen(std::random_device{}());
  std::uniform_real_distribution<float> dist(-2.f, 2.f);
  std::vector<float> v(n);
  for (float &x : v)
    x = roundTo(dtype, dist(gen));
  return v;
}

double relError(const std::vector<float> &out, const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i]))
      return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

void compileOnly() {
  std::printf("no GPU (%s): compiling the kernels only\n\n",
              Driver::get().unavailableReason().c_str());
  for (const char *arch : {"sm_80", "sm_90a"})
    for (auto &[name, def] : kernels::registry()) {
      // Attention with the configurations forward() and backward() pick for d = 64.
      bool backwardPass = name == "attention_backward_dkdv" || name == "attention_backward_dq";
      kernels::KernelConfig config =
          name == "attention_forward" ? attention::forwardConfig(DType::F16, 64, false, false)
          : backwardPass              ? attention::backwardConfig(DType::F16, 64, false, false)
                                      : kernels::makeConfig(def, DType::F16, 4, {});
      CompileOptions options;
      options.arch = arch;
      auto t0 = std::chrono::steady_clock::now();
      CompiledKernel k = Jit::get().compile(
          [&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%-10s f16 %-6s  %3u registers, %u bytes spilled, %5u bytes shared, "
                  "PTX %6zu bytes, cubin %6zu bytes, compiled in %.0f ms\n",
                  name.c_str(), arch, k.usage.registers, k.usage.spillStoreBytes, k.sharedBytes,
                  k.ptx.size(), k.cubin.size(), ms);
    }
}

template <typename Run> double timeMs(Run run) {
  run(); // compile and warm up
  Stream::defaultStream().synchronize();
  Event start, stop;
  start.record(Stream::defaultStream());
  const int reps = 20;
  for (int i = 0; i < reps; ++i)
    run();
  stop.record(Stream::defaultStream());
  stop.synchronize();
  return Event::elapsedMs(start, stop) / reps;
}

void runOnGpu() {
  const DeviceInfo &dev = currentDevice();
  std::printf("GPU: %s (%s)\n\n", dev.name.c_str(), dev.arch().c_str());
  bool ok = true;
  auto report = [&](const char *what, double err, double tol, double ms) {
    bool pass = err <= tol;
    ok &= pass;
    std::printf("%-34s rel. error %.2e (bound %.0e) %s   %.3f ms\n", what, err, tol,
                pass ? "ok  " : "FAIL", ms);
  };

  int64_t n = 10'000'019;
  auto x = randomValues(n, DType::F32), y = randomValues(n, DType::F32);
  DeviceTensor dx = DeviceTensor::fromFloat(x, {n}, DType::F32),
               dy = DeviceTensor::fromFloat(y, {n}, DType::F32);
  DeviceTensor sum = DeviceTensor::empty({n}, DType::F32);
  sum.fillBytes(0xff);
  double ms = timeMs([&] { kernels::vector_add(dx, dy, sum); });
  std::vector<double> ref(n);
  for (int64_t i = 0; i < n; ++i)
    ref[i] = double(x[i]) + y[i];
  report("vector_add f32 [10000019]", relError(sum.toFloat(), ref), 1e-6, ms);

  int64_t rows = 4097, cols = 1000;
  auto s = randomValues(rows * cols, DType::BF16);
  DeviceTensor ds = DeviceTensor::fromFloat(s, {rows, cols}, DType::BF16);
  DeviceTensor soft = DeviceTensor::empty({rows, cols}, DType::BF16);
  soft.fillBytes(0xff);
  ms = timeMs([&] { kernels::softmax(ds, soft); });
  std::vector<double> sref(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, z = 0;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, double(s[r * cols + c]));
    for (int64_t c = 0; c < cols; ++c)
      z += std::exp(s[r * cols + c] - m);
    for (int64_t c = 0; c < cols; ++c)
      sref[r * cols + c] = std::exp(s[r * cols + c] - m) / z;
  }
  report("softmax bf16 [4097 x 1000]", relError(soft.toFloat(), sref), 1e-2, ms);

  int64_t m = 1000, k = 777, nn = 513;
  auto a = randomValues(m * k, DType::F16), b = randomValues(k * nn, DType::F16);
  DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, DType::F16),
               db = DeviceTensor::fromFloat(b, {k, nn}, DType::F16);
  DeviceTensor c = DeviceTensor::empty({m, nn}, DType::F16);
  c.fillBytes(0xff);
  ms = timeMs([&] { kernels::matmul(da, db, c); });
  std::vector<double> cref(m * nn, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < nn; ++j)
        cref[i * nn + j] += double(a[i * k + p]) * b[p * nn + j];
  report("matmul f16 [1000 x 777 x 513]", relError(c.toFloat(), cref), 2e-3, ms);
  std::printf("\n%s\n", ok ? "all kernels match their references" : "MISMATCH");
  if (!ok)
    std::exit(1);
}

} // namespace

int main() {
  try {
    if (gpuAvailable() || interpreted())
      runOnGpu();
    else
      compileOnly();
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tessera-demo: %s\n", e.what());
    return 1;
  }
}
