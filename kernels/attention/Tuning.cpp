//===- Tuning.cpp - The tuning space of attention forward -----------------===//

#include "tessera/kernels/attention.h"

#include "../lib/Launch.h"
#include "Internal.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>

using namespace tessera;
using kernels::KernelConfig;

std::string attention::detail::currentArch() {
  return gpuAvailable() ? currentDevice().arch() : "sm_90a";
}

namespace {
int64_t bucket(int64_t n) {
  int64_t p = 64;
  while (p < n)
    p <<= 1;
  return p;
}
} // namespace

std::string attention::forwardProblem(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                      int64_t qLen, int64_t kLen, Fp32Precision precision) {
  std::string dtypeName(name(dtype));
  if (dtype == DType::F32)
    dtypeName += precision == Fp32Precision::tf32 ? "-tf32" : "-ieee";
  return "attention_forward:dtype=" + dtypeName + ",d=" + std::to_string(headDim) +
         ",causal=" + std::to_string(causal) + ",mask=" + std::to_string(hasMask) +
         ",q=" + std::to_string(bucket(qLen)) + ",k=" + std::to_string(bucket(kLen));
}

std::vector<KernelConfig> attention::forwardTuningSpace(DType dtype, int64_t headDim, bool causal,
                                                        bool hasMask, int64_t qLen, int64_t kLen,
                                                        Fp32Precision precision) {
  KernelConfig heuristic =
      forwardConfig(dtype, headDim, causal, hasMask, detail::currentArch(), precision);
  std::vector<KernelConfig> space{heuristic};
  std::set<std::string> seen{heuristic.key()};
  for (int64_t bm : {16, 32, 64, 128})
    for (int64_t bn : {16, 32, 64, 128})
      for (unsigned warps : {4u, 8u}) {
        // Blocks far longer than the sequence only compute padding.
        if (bm > std::max<int64_t>(16, bucket(qLen)) || bn > std::max<int64_t>(16, bucket(kLen)))
          continue;
        KernelConfig c = heuristic;
        c.numWarps = warps;
        c.constants["BLOCK_M"] = bm;
        c.constants["BLOCK_N"] = bn;
        if (seen.insert(c.key()).second)
          space.push_back(c);
      }
  return space;
}

KernelConfig attention::chooseForwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                            int64_t qLen, int64_t kLen, Fp32Precision precision) {
  std::string problem = forwardProblem(dtype, headDim, causal, hasMask, qLen, kLen, precision);
  std::optional<std::string> tuned = TuningDatabase::get().best(problem);
  KernelConfig config = tuned ? KernelConfig::parse(*tuned)
                              : forwardConfig(dtype, headDim, causal, hasMask,
                                              detail::currentArch(), precision);
  static const bool print = [] {
    const char *env = std::getenv("TESSERA_PRINT_AUTOTUNING");
    return env && std::string(env) == "1";
  }();
  if (print) {
    static std::mutex mutex;
    static std::set<std::string> printed;
    std::lock_guard<std::mutex> lock(mutex);
    if (printed.insert(problem).second)
      std::fprintf(stderr, "tessera: %s -> %s (%s)\n", problem.c_str(), config.key().c_str(),
                   tuned ? "tuned" : "heuristic");
  }
  return config;
}

std::vector<CandidateResult> attention::tuneForward(const DeviceTensor &q, const DeviceTensor &k,
                                                    const DeviceTensor &v, const Options &options,
                                                    const TuneOptions &tuneOptions,
                                                    TuningDatabase &db) {
  const auto &s = q.shape();
  bool hasMask = options.keyMask != nullptr;
  int64_t kLen = k.shape().size() == 4 ? k.shape()[2] : 0;
  std::string problem =
      forwardProblem(q.dtype(), s[3], options.causal, hasMask, s[2], kLen, options.fp32Precision);

  // The reference once, then each candidate's output against it.
  DeviceTensor refOut = DeviceTensor::empty(s, DType::F32);
  DeviceTensor refLse = DeviceTensor::empty({s[0], s[1], s[2]}, DType::F32);
  detail::referenceForward(q, k, v, options, refOut, refLse);
  std::vector<float> expected = refOut.toFloat(), expectedLse = refLse.toFloat();
  DeviceTensor out = DeviceTensor::empty(s, q.dtype());
  DeviceTensor lse = DeviceTensor::empty({s[0], s[1], s[2]}, DType::F32);
  bool tf32 = detail::usesTf32(q.dtype(), options.fp32Precision);
  double bound = q.dtype() == DType::F32 && !tf32 ? 1e-4 : q.dtype() != DType::BF16 ? 5e-3 : 2e-2;

  std::vector<TuneCandidate> candidates;
  for (const KernelConfig &config :
       forwardTuningSpace(q.dtype(), s[3], options.causal, hasMask, s[2], kLen,
                          options.fp32Precision)) {
    const kernels::KernelDef &def = kernels::lookup("attention_forward");
    candidates.push_back({config.key(), [&def, config](mlir::MLIRContext &ctx) {
                            return def.build(ctx, config);
                          }});
  }
  auto run = [&](const JitKernel &kernel) {
    out.fillBytes(0xff);
    detail::launchForward(kernel, q, k, v, out, lse, options);
  };
  auto check = [&]() -> std::string {
    std::vector<float> got = out.toFloat(), gotLse = lse.toFloat();
    double num = 0, den = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(got[i]))
        return "wrong: NaN in the output";
      num += double(got[i] - expected[i]) * (got[i] - expected[i]);
      den += double(expected[i]) * expected[i];
    }
    double err = std::sqrt(num / std::max(den, 1e-300));
    for (size_t i = 0; i < gotLse.size(); ++i)
      if (!(std::abs(gotLse[i] - expectedLse[i]) <= 1e-2 + 1e-3 * std::abs(expectedLse[i])) &&
          !(std::isinf(gotLse[i]) && std::isinf(expectedLse[i])))
        return "wrong: lse differs at row " + std::to_string(i);
    if (!(err <= bound)) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "wrong: relative error %.2e", err);
      return buf;
    }
    return "";
  };
  return autotune(problem, candidates, run, check, db, tuneOptions);
}
