//===- tessera-tune.cpp - Autotune a kernel for a shape on this GPU -------===//
//
//   tessera-tune attention --batch 4 --heads 16 --seq 4096 --dim 128 --dtype bf16
//                [--kv-heads N] [--kv-seq N] [--causal] [--mask] [--retime]
//                [--backward [--deterministic]] [--budget-ms N] [--json FILE]
//
// Compiles the tuning space in parallel, times every candidate that compiles
// without spilling and matches the reference (forward: the NVRTC kernel;
// --backward: backwardConfig's gradients), prints them ranked, and writes the
// winner into the tuning database that attention::forward (or backward) reads.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>

using namespace tessera;

namespace {

constexpr const char *kUsage =
    "usage: tessera-tune attention --batch B --heads H --seq S --dim D [--dtype bf16|f16|f32]\n"
    "                    [--kv-heads H] [--kv-seq S] [--causal] [--mask]\n"
    "                    [--backward [--deterministic]] [--retime] [--budget-ms N] [--json FILE]\n"
    "Tunes a kernel's configuration for one problem on the GPU: every candidate of its tuning\n"
    "space is compiled in parallel, checked against the reference and timed; the winner goes\n"
    "into the tuning database ($TESSERA_TUNING_DB, else under $TESSERA_CACHE_DIR), where the\n"
    "next run of the same problem finds it.\n";

int usage(const char *why) {
  std::fprintf(stderr, "tessera-tune: %s\n%s", why, kUsage);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (argc < 2 || std::strcmp(argv[1], "attention") != 0)
    return usage("the first argument names the kernel to tune: attention");
  int64_t batch = 0, heads = 0, seq = 0, dim = 0, kvHeads = 0, kvSeq = 0;
  bool causal = false, mask = false, backward = false, deterministic = false, retime = false;
  double budgetMs = 200;
  std::string dtypeName = "bf16", jsonPath;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        return nullptr;
      return argv[++i];
    };
    auto number = [&](int64_t &out) {
      const char *v = value();
      char *end = nullptr;
      out = v ? std::strtoll(v, &end, 10) : 0;
      return v && *end == 0 && out > 0;
    };
    bool ok = true;
    if (a == "--batch")
      ok = number(batch);
    else if (a == "--heads")
      ok = number(heads);
    else if (a == "--seq")
      ok = number(seq);
    else if (a == "--dim")
      ok = number(dim);
    else if (a == "--kv-heads")
      ok = number(kvHeads);
    else if (a == "--kv-seq")
      ok = number(kvSeq);
    else if (a == "--dtype") {
      const char *v = value();
      ok = v != nullptr;
      if (v)
        dtypeName = v;
    } else if (a == "--json") {
      const char *v = value();
      ok = v != nullptr;
      if (v)
        jsonPath = v;
    } else if (a == "--budget-ms") {
      int64_t ms = 0;
      ok = number(ms);
      budgetMs = double(ms);
    } else if (a == "--causal")
      causal = true;
    else if (a == "--mask")
      mask = true;
    else if (a == "--backward")
      backward = true;
    else if (a == "--deterministic")
      deterministic = true;
    else if (a == "--retime")
      retime = true;
    else
      return usage(("unknown argument '" + a + "'").c_str());
    if (!ok)
      return usage(("'" + a + "' needs a positive value").c_str());
  }
  if (!batch || !heads || !seq || !dim)
    return usage("--batch, --heads, --seq and --dim are required");
  if (deterministic && !backward)
    return usage("--deterministic: only with --backward");
  std::optional<DType> dtype = parseDType(dtypeName);
  if (!dtype || !isFloat(*dtype))
    return usage("--dtype: expected bf16, f16 or f32");
  if (!gpuAvailable()) {
    std::fprintf(stderr, "tessera-tune: no GPU: %s; tuning times kernels on a GPU\n",
                 Driver::get().unavailableReason().c_str());
    return 1;
  }
  kvHeads = kvHeads ? kvHeads : heads;
  kvSeq = kvSeq ? kvSeq : seq;
  try {
    const DeviceInfo &device = currentDevice();
    std::mt19937 gen(7);
    std::normal_distribution<float> dist(0.f, 1.f);
    auto random = [&](std::vector<int64_t> shape) {
      std::vector<float> host(shape[0] * shape[1] * shape[2] * shape[3]);
      for (float &x : host)
        x = dist(gen);
      return DeviceTensor::fromFloat(host, shape, *dtype);
    };
    DeviceTensor q = random({batch, heads, seq, dim});
    DeviceTensor k = random({batch, kvHeads, kvSeq, dim});
    DeviceTensor v = random({batch, kvHeads, kvSeq, dim});
    std::vector<uint8_t> maskHost(batch * kvSeq);
    std::bernoulli_distribution keep(0.9);
    for (auto &m : maskHost)
      m = keep(gen);
    DeviceTensor maskTensor = DeviceTensor::fromHost(maskHost.data(), {batch, kvSeq}, DType::I1);
    attention::Options options;
    options.causal = causal;
    options.keyMask = mask ? &maskTensor : nullptr;
    options.deterministic = deterministic;

    std::string problem = backward
                              ? attention::backwardProblem(*dtype, dim, causal, mask, seq, kvSeq,
                                                           options.fp32Precision, deterministic)
                              : attention::forwardProblem(*dtype, dim, causal, mask, seq, kvSeq);
    std::printf("tuning %s on %s (database %s)\n", problem.c_str(), device.name.c_str(),
                TuningDatabase::get().path().empty() ? "in memory"
                                                     : TuningDatabase::get().path().c_str());
    bool tty = isatty(fileno(stderr));
    TuneOptions tuneOptions;
    tuneOptions.budgetMs = budgetMs;
    tuneOptions.retime = retime;
    tuneOptions.progress = [&](size_t done, size_t total, const std::string &what) {
      if (tty) {
        int width = 30, filled = int(width * done / std::max<size_t>(total, 1));
        std::fprintf(stderr, "\r[%s%s] %3zu/%zu %-60.60s", std::string(filled, '#').c_str(),
                     std::string(width - filled, '.').c_str(), done, total, what.c_str());
        if (done == total)
          std::fprintf(stderr, "\n");
      } else {
        std::fprintf(stderr, "tune %zu/%zu: %s\n", done, total, what.c_str());
      }
    };
    auto start = std::chrono::steady_clock::now();
    std::vector<CandidateResult> results;
    if (backward) {
      attention::ForwardResult f = attention::forward(q, k, v, options);
      DeviceTensor dout = random({batch, heads, seq, dim});
      results = attention::tuneBackward(q, k, v, f.out, f.lse, dout, options, tuneOptions);
    } else {
      results = attention::tuneForward(q, k, v, options, tuneOptions);
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // FlashAttention's convention: the backward counts 2.5x the forward.
    double flops =
        (backward ? 2.5 : 1.0) * 4.0 * batch * heads * seq * kvSeq * dim / (causal ? 2 : 1);
    std::printf("\n%4s  %-72s %10s %9s  %s\n", "rank", "config", "ms", "TFLOP/s", "verdict");
    llvm::json::Array json;
    int rank = 0;
    for (const CandidateResult &r : results) {
      double tflops = r.ok() ? flops / (r.ms * 1e-3) / 1e12 : 0;
      std::printf("%4s  %-72s %10s %9s  %s%s\n", r.ok() ? std::to_string(++rank).c_str() : "-",
                  r.config.c_str(), r.ok() ? llvm::formatv("{0:f3}", r.ms).str().c_str() : "",
                  r.ok() ? llvm::formatv("{0:f1}", tflops).str().c_str() : "", r.verdict.c_str(),
                  r.cached ? " (database)" : "");
      json.push_back(llvm::json::Object{{"config", r.config},
                                        {"ms", r.ms},
                                        {"tflops", tflops},
                                        {"verdict", r.verdict},
                                        {"cached", r.cached},
                                        {"registers", r.registers},
                                        {"shared_bytes", r.sharedBytes}});
    }
    std::printf("\n%zu candidates in %.1f s; winner %s\n", results.size(), wall,
                rank ? results.front().config.c_str() : "(none valid)");
    if (!jsonPath.empty()) {
      std::error_code ec;
      llvm::raw_fd_ostream os(jsonPath, ec);
      if (ec) {
        std::fprintf(stderr, "tessera-tune: cannot write %s: %s\n", jsonPath.c_str(),
                     ec.message().c_str());
        return 1;
      }
      os << llvm::formatv("{0:2}",
                          llvm::json::Value(llvm::json::Object{{"problem", problem},
                                                               {"device", device.name},
                                                               {"sweep_seconds", wall},
                                                               {"candidates", std::move(json)}}))
         << "\n";
    }
    return rank ? 0 : 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tessera-tune: %s\n", e.what());
    return 1;
  }
}
