//===- tessera-tune.cpp - Autotune a kernel for a shape on this GPU -------===//
//
//   tessera-tune attention --batch 4 --heads 16 --seq 4096 --dim 128 --dtype bf16
//                [--kv-heads N] [--kv-seq N] [--causal] [--mask] [--retime]
//                [--backward [--deterministic]] [--budget-ms N] [--json FILE]
//   tessera-tune [--load libmykernels.so] KERNEL --sizes 4096,8192 [--dtype bf16]
//                [--retime] [--budget-ms N] [--json FILE]
//   tessera-tune [--load ...] --list
//
// Compiles the tuning space in parallel, times every candidate that compiles
// without spilling and matches the reference (attention's forward: the NVRTC
// kernel; --backward: backwardConfig's gradients; any other kernel: its own
// Tuning::check), prints them ranked, and writes the winner into the tuning
// database that the next launch of the same problem reads. Any kernel defined
// through kernels::Kernel with a tuning space and a problem factory can be
// tuned, also one a shared library registers (--load, as MLIR tools load
// plugins: the library links nothing of Tessera, this tool exports it all).
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/Kernel.h"
#include "tessera/kernels/attention.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include "llvm/Support/DynamicLibrary.h"
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
    "       tessera-tune [--load LIB.so]... KERNEL --sizes N[,N...] [--dtype bf16|f16|f32]\n"
    "                    [--retime] [--budget-ms N] [--json FILE]\n"
    "       tessera-tune [--load LIB.so]... --list\n"
    "Tunes a kernel's configuration for one problem on the GPU: every candidate of its tuning\n"
    "space is compiled in parallel, checked against the reference and timed; the winner goes\n"
    "into the tuning database ($TESSERA_TUNING_DB, else under $TESSERA_CACHE_DIR), where the\n"
    "next run of the same problem finds it.\n";

int usage(const char *why) {
  std::fprintf(stderr, "tessera-tune: %s\n%s", why, kUsage);
  return 2;
}

/// Progress on stderr: a bar on a terminal, a line per step otherwise.
void showProgress(size_t done, size_t total, const std::string &what) {
  static const bool tty = isatty(fileno(stderr));
  if (tty) {
    int width = 30, filled = int(width * done / std::max<size_t>(total, 1));
    std::fprintf(stderr, "\r[%s%s] %3zu/%zu %-60.60s", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), done, total, what.c_str());
    if (done == total)
      std::fprintf(stderr, "\n");
  } else {
    std::fprintf(stderr, "tune %zu/%zu: %s\n", done, total, what.c_str());
  }
}

/// Prints the ranked candidates with `unit` (TFLOP/s, GB/s) computed from
/// each time by `rate`, and writes them to `jsonPath` when given. Returns the
/// exit status: 0 when some candidate is valid.
int report(const std::string &problem, const std::vector<CandidateResult> &results, double wall,
           const char *unit, const std::function<double(double ms)> &rate,
           const std::string &jsonPath) {
  std::printf("\n%4s  %-72s %10s %9s  %s\n", "rank", "config", "ms", unit, "verdict");
  llvm::json::Array json;
  int rank = 0;
  for (const CandidateResult &r : results) {
    double value = r.ok() ? rate(r.ms) : 0;
    std::printf("%4s  %-72s %10s %9s  %s%s\n", r.ok() ? std::to_string(++rank).c_str() : "-",
                r.config.c_str(), r.ok() ? llvm::formatv("{0:f3}", r.ms).str().c_str() : "",
                r.ok() ? llvm::formatv("{0:f1}", value).str().c_str() : "", r.verdict.c_str(),
                r.cached ? " (database)" : "");
    json.push_back(llvm::json::Object{{"config", r.config},
                                      {"ms", r.ms},
                                      {unit, value},
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
                                                             {"device", currentDevice().name},
                                                             {"sweep_seconds", wall},
                                                             {"candidates", std::move(json)}}))
       << "\n";
  }
  return rank ? 0 : 1;
}

bool requireGpu() {
  if (gpuAvailable())
    return true;
  std::fprintf(stderr, "tessera-tune: no GPU: %s; tuning times kernels on a GPU\n",
               Driver::get().unavailableReason().c_str());
  return false;
}

} // namespace

/// tessera-tune attention ...: argv[0] is "attention".
static int tuneAttention(int argc, char **argv) {
  int64_t batch = 0, heads = 0, seq = 0, dim = 0, kvHeads = 0, kvSeq = 0;
  bool causal = false, mask = false, backward = false, deterministic = false, retime = false;
  double budgetMs = 200;
  std::string dtypeName = "bf16", jsonPath;
  for (int i = 1; i < argc; ++i) {
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
  if (!requireGpu())
    return 1;
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
    TuneOptions tuneOptions;
    tuneOptions.budgetMs = budgetMs;
    tuneOptions.retime = retime;
    tuneOptions.progress = showProgress;
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
    return report(
        problem, results, wall, "TFLOP/s", [&](double ms) { return flops / (ms * 1e-3) / 1e12; },
        jsonPath);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tessera-tune: %s\n", e.what());
    return 1;
  }
}

/// tessera-tune KERNEL --sizes ...: any kernel registered with a tuning
/// space and a problem factory (kernels::Kernel).
static int tuneKernel(int argc, char **argv) {
  std::string kernelName = argv[0], dtypeName = "bf16", jsonPath;
  std::vector<int64_t> sizes;
  bool retime = false;
  double budgetMs = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--retime") {
      retime = true;
      continue;
    }
    if (!v)
      return usage(("'" + a + "' needs a value").c_str());
    ++i;
    if (a == "--sizes") {
      for (llvm::StringRef rest = v; !rest.empty();) {
        auto [item, tail] = rest.split(',');
        int64_t n = 0;
        if (item.getAsInteger(10, n) || n <= 0)
          return usage("--sizes: expected positive integers separated by commas");
        sizes.push_back(n);
        rest = tail;
      }
    } else if (a == "--dtype") {
      dtypeName = v;
    } else if (a == "--json") {
      jsonPath = v;
    } else if (a == "--budget-ms") {
      if (llvm::StringRef(v).getAsDouble(budgetMs) || budgetMs <= 0)
        return usage("--budget-ms: expected a positive number");
    } else {
      return usage(("unknown argument '" + a + "'").c_str());
    }
  }
  const kernels::Kernel *kernel = kernels::findKernel(kernelName);
  if (!kernel || !kernel->tunable()) {
    std::string known = "attention";
    for (const std::string &n : kernels::registeredKernels())
      if (kernels::findKernel(n)->tunable())
        known += ", " + n;
    return usage(("kernel '" + kernelName + "' has no tuning space; tunable kernels: " + known +
                  " (a library's own: --load)")
                     .c_str());
  }
  if (sizes.empty())
    return usage("--sizes is required");
  std::optional<DType> dtype = parseDType(dtypeName);
  if (!dtype)
    return usage("--dtype: expected bf16, f16, f32 or i32");
  // Under the interpreter (TESSERA_INTERPRET=1) the flow runs on the CPU:
  // checks and the database are real, the timings are the interpreter's.
  if (!interpreted() && !requireGpu())
    return 1;
  try {
    kernels::Problem inputs = kernel->makeProblem(*dtype, sizes);
    const std::vector<kernels::Arg> &args = inputs.args;
    std::string problem = kernel->problemKey(args);
    std::printf("tuning %s on %s (database %s)\n", problem.c_str(), currentDevice().name.c_str(),
                TuningDatabase::get().path().empty() ? "in memory"
                                                     : TuningDatabase::get().path().c_str());
    std::fflush(stdout);
    TuneOptions options = kernel->tuning()->options;
    options.budgetMs = budgetMs;
    options.retime = retime;
    options.progress = showProgress;
    auto start = std::chrono::steady_clock::now();
    std::vector<CandidateResult> results =
        kernel->tune(args, TuningDatabase::get(), &options, inputs.check);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (inputs.flops > 0)
      return report(
          problem, results, wall, "TFLOP/s", [&](double ms) { return inputs.flops / ms * 1e-9; },
          jsonPath);
    // Every tensor argument read or written once: the memory-bound rate.
    double bytes = 0;
    for (const kernels::Arg &a : args)
      if (a.kind() == kernels::Arg::Kind::Tensor)
        bytes += double(a.tensor().nbytes());
    return report(
        problem, results, wall, "GB/s", [&](double ms) { return bytes / ms * 1e-6; }, jsonPath);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tessera-tune: %s\n", e.what());
    return 1;
  }
}

int main(int argc, char **argv) {
  // --load LIB anywhere: a shared library whose static initializers register
  // kernels (kernels::registerKernel).
  std::vector<char *> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--load") != 0) {
      rest.push_back(argv[i]);
      continue;
    }
    if (i + 1 >= argc)
      return usage("--load needs a shared library");
    std::string error;
    if (llvm::sys::DynamicLibrary::getPermanentLibrary(argv[++i], &error).isValid())
      continue;
    std::fprintf(stderr, "tessera-tune: --load %s: %s\n", argv[i], error.c_str());
    return 1;
  }
  int n = int(rest.size());
  if (n == 2 && (std::strcmp(rest[1], "--help") == 0 || std::strcmp(rest[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (n == 2 && std::strcmp(rest[1], "--list") == 0) {
    std::printf("attention: tessera-tune attention --batch B --heads H --seq S --dim D ...\n");
    for (const std::string &name : kernels::registeredKernels()) {
      const kernels::Kernel *k = kernels::findKernel(name);
      if (k->tunable())
        std::printf("%s: %s\n", name.c_str(), k->def().summary.c_str());
    }
    return 0;
  }
  if (n < 2 || rest[1][0] == '-')
    return usage("the first argument names the kernel to tune (--list shows them)");
  if (std::strcmp(rest[1], "attention") == 0)
    return tuneAttention(n - 1, rest.data() + 1);
  return tuneKernel(n - 1, rest.data() + 1);
}
