//===- tessera-bench.cpp - Time Tessera's attention on the GPU ------------===//
//
//   tessera-bench attention [--shapes "b,h,s,d,causal;..."] [--dtype bf16] [--json FILE]
//   tessera-bench markdown TESSERA.json... [--peers anchors.json]...
//
// Times attention::forward with CUDA events: warm-up, then the median of runs
// (each on the same inputs after an L2 flush), and prints TFLOP/s in the
// FlashAttention convention (4·b·h·s·s·d, halved for causal), the same
// convention as ../shared/anchors/bench_anchors.py.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"
#include "Markdown.h"
#include "tessera/kernels/Launch.h"
#include "tessera/kernels/attention.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace tessera;
using bench::medianMs;

namespace {

struct Shape {
  int64_t b, h, s, d;
  bool causal;
  bool mask = false; // a key mask keeping 9 keys in 10 (the last field "mask" or "causal_mask")
};

/// The shape's masks as the tables print them.
const char *maskLabel(const Shape &s) {
  return s.mask ? (s.causal ? "c+mask" : "mask  ") : (s.causal ? "causal" : "full  ");
}

std::vector<Shape> parseShapes(const std::string &spec) {
  std::vector<Shape> out;
  std::stringstream items(spec);
  std::string item;
  while (std::getline(items, item, ';')) {
    Shape s{};
    char causal[16] = {};
    if (std::sscanf(item.c_str(), "%ld,%ld,%ld,%ld,%15s", &s.b, &s.h, &s.s, &s.d, causal) < 4)
      throw Error("--shapes: expected b,h,s,d,causal items separated by ';', got '" + item + "'");
    s.causal = std::strcmp(causal, "1") == 0 || std::strcmp(causal, "true") == 0 ||
               std::strcmp(causal, "causal") == 0 || std::strcmp(causal, "causal_mask") == 0;
    s.mask = std::strstr(causal, "mask") != nullptr;
    out.push_back(s);
  }
  return out;
}

/// One item of --forward-configs (BMxBNwWsS then flags) or --backward-configs
/// (BMxBNwW then flags): blocks, warps, stages (0 without), the flags.
struct ConfigItem {
  long blockM = 0, blockN = 0, warps = 0, stages = 0;
  std::string flags;
  bool has(char flag) const { return flags.find(flag) != std::string::npos; }
};

std::optional<ConfigItem> parseConfigItem(const std::string &item, bool withStages,
                                          const char *allowedFlags) {
  ConfigItem c;
  int used = 0;
  int fields = withStages ? std::sscanf(item.c_str(), "%ldx%ldw%lds%ld%n", &c.blockM, &c.blockN,
                                        &c.warps, &c.stages, &used)
                          : std::sscanf(item.c_str(), "%ldx%ldw%ld%n", &c.blockM, &c.blockN,
                                        &c.warps, &used);
  if (fields != (withStages ? 4 : 3))
    return std::nullopt;
  c.flags = item.substr(used);
  if (c.flags.find_first_not_of(allowedFlags) != std::string::npos)
    return std::nullopt;
  return c;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: tessera-bench attention [--shapes \"b,h,s,d,causal|full|mask|causal_mask;...\"] "
      "[--dtype bf16|f16|f32] [--reps N] [--compare-heuristic] [--backward] [--bf16-values]\n"
      "       (--bf16-values: inputs rounded to bf16's 8 significant bits, whatever --dtype)\n"
      "       [--backward-configs BMxBNwW[d][m][t][o][w][c][g];...]  (also times the backward with "
      "each:\n"
      "                                       d: deterministic, m: mma.sync only,\n"
      "                                       t: blocks copied by TMA, o: causal dQ blocks\n"
      "                                       in index order, w: copies from a producer\n"
      "                                       warpgroup, c: two CTAs per SM,\n"
      "                                       g: consumer warpgroups in turns (with w))\n"
      "       [--forward-configs BMxBNwWsS[v][m][r][u][t][w][o][s][p][d][g][c][l];...]  (also "
      "times "
      "the "
      "forward with "
      "each: "
      "S stages,\n"
      "                                       v: V read transposed, m: mma.sync only,\n"
      "                                       r: K and V rounded to tf32 first,\n"
      "                                       u: rescale skipped in warps whose max held,\n"
      "                                       t: K and V copied by TMA,\n"
      "                                       w: by a producer warpgroup,\n"
      "                                       o: causal blocks in index order,\n"
      "                                       s: O stored by TMA,\n"
      "                                       p: next scores before the softmax,\n"
      "                                       d: P·V a block behind, beside the\n"
      "                                          scores (FlashAttention-3's order),\n"
      "                                       g: consumer warpgroups in turns (with w),\n"
      "                                       c: two CTAs per SM,\n"
      "                                       l: persistent programs (whole key blocks, or\n"
      "                                          any with w))\n"
      "                         [--set NAME=VALUE]...  (a kernel constant of each of those\n"
      "                                                 configurations; the item heuristic\n"
      "                                                 is the chosen one with them set)\n"
      "                         [--json FILE]\n"
      "       tessera-bench runtime [--sweep \"b,h,s,d,causal\"] [--json FILE]\n"
      "       tessera-bench kernels [--softmax \"MxN;...\"] [--cumsum \"MxN;...\"] "
      "[--rms-norm \"MxN;...\"] "
      "[--rms-norm-backward \"MxN;...\"]\n"
      "                         [--matmul \"MxNxK;...\"] [--batched-matmul \"BxMxNxK;...\"] "
      "[--dtype bf16|f16|f32] [--reps N]\n"
      "                         [--softmax-configs BMwW;...] "
      "[--matmul-configs BMxBNxBKwWsS[g][m][t][w][p][c][s];...]\n"
      "                         [--batched-matmul-configs BMxBNxBKwWsS[g][m][t];...] [--json "
      "FILE]\n"
      "       tessera-bench markdown TESSERA.json... [--peers PEERS.json]...\n"
      "                         (a markdown table of saved runs, each row beside its peers;\n"
      "                          no GPU needed)\n");
  return 2;
}

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

/// Cold compile, cache-hit load, launch overhead and a tuning sweep.
int benchRuntime(const std::string &sweepSpec, const std::string &jsonPath) {
  const DeviceInfo &dev = currentDevice();
  std::printf("tessera runtime on %s\n", dev.name.c_str());
  kernels::KernelConfig config = attention::forwardConfig(DType::BF16, 128, false, false);
  // What attention::forward compiles for contiguous q, k, v, out and lse and
  // keys a whole number of blocks (the benchmark shapes': EVEN_N).
  config.constants["EVEN_N"] = 1;
  const uint64_t contiguousForward = 0b11111;
  config.alignedTensors = contiguousForward;
  const kernels::KernelDef &def = kernels::lookup("attention_forward");
  IRBuilderFn build = [&](mlir::MLIRContext &ctx) { return def.build(ctx, config); };
  CompileOptions options;
  options.arch = dev.arch();

  // Cold: the whole pipeline, DSL to cubin, nothing cached (first compile of
  // the process pays LLVM's one-time set-up too, so it is measured twice).
  llvm::SmallString<128> dir;
  llvm::sys::fs::createUniqueDirectory("tessera-bench-cache", dir);
  std::vector<double> cold;
  // The split of the first cold compile (LLVM's set-up included) and of the
  // last one.
  std::vector<std::pair<std::string, double>> firstStages, stages;
  // Each compile under a name no process compiled before: the driver's
  // compute cache (which nvJitLink uses) would otherwise hand back the cubin
  // of PTX some earlier run produced, and the cubin stage would cost 1 ms.
  std::string nonce = std::to_string(std::random_device{}());
  for (int i = 0; i < 3; ++i) {
    IRBuilderFn unseen = [&](mlir::MLIRContext &ctx) {
      mlir::OwningOpRef<mlir::ModuleOp> module = build(ctx);
      module->walk([&](mlir::func::FuncOp func) {
        func.setSymName((func.getSymName() + "_cold_" + nonce + "_" + std::to_string(i)).str());
      });
      return module;
    };
    auto t0 = std::chrono::steady_clock::now();
    stages = Jit::get().compile(unseen, options).stageMs;
    cold.push_back(msSince(t0));
    if (i == 0)
      firstStages = stages;
  }
  // The backward's three kernels (bf16 d 128, the heuristic's), cold: one
  // after another, then side by side as its first call compiles them
  // (kernels::detail::jitKernels), under names no cache has seen.
  kernels::KernelConfig dkdvConfig = attention::backwardConfig(DType::BF16, 128, false, false);
  dkdvConfig.alignedTensors = ~uint64_t(0);
  kernels::KernelConfig dqConfig = dkdvConfig;
  std::swap(dqConfig.constants["BLOCK_M"], dqConfig.constants["BLOCK_N"]);
  kernels::KernelConfig preConfig =
      kernels::makeConfig(kernels::lookup("attention_backward_preprocess"), DType::BF16, 4,
                          {{"BLOCK_M", 64}, {"BLOCK_D", 128}});
  preConfig.alignedTensors = ~uint64_t(0);
  auto backwardBuilds = [&](const std::string &tag) {
    std::vector<IRBuilderFn> builds;
    for (auto [name, config] : {std::pair{"attention_backward_preprocess", &preConfig},
                                std::pair{"attention_backward_dkdv", &dkdvConfig},
                                std::pair{"attention_backward_dq", &dqConfig}})
      builds.push_back([name, config, tag](mlir::MLIRContext &ctx) {
        mlir::OwningOpRef<mlir::ModuleOp> module = kernels::lookup(name).build(ctx, *config);
        module->walk([&](mlir::func::FuncOp func) {
          func.setSymName((func.getSymName() + "_cold_" + tag).str());
        });
        return module;
      });
    return builds;
  };
  auto backwardSerialStart = std::chrono::steady_clock::now();
  for (const IRBuilderFn &b : backwardBuilds(nonce + "_serial"))
    Jit::get().compile(b, options);
  double backwardSerialMs = msSince(backwardSerialStart);
  DiskCache none("");
  auto backwardTogetherStart = std::chrono::steady_clock::now();
  Jit::get().compileAll(backwardBuilds(nonce + "_together"), options, none);
  double backwardTogetherMs = msSince(backwardTogetherStart);

  // Cache hit, as a process's first launch finds it: by the source key
  // (Tessera's kernels: name, config, sources' hash), read and verify the
  // entry, load the module; and as a kernel without a version does: build
  // the IR and hash its text first.
  DiskCache cache(std::string(dir.str()));
  std::string sourceKey = kernels::detail::jitKeys(def, config, config.alignedTensors,
                                                   /*debug=*/false)
                              .source;
  Jit::get().compileCached(build, options, cache, sourceKey);
  auto medianHitMs = [&](const std::string &key) {
    std::vector<double> hit;
    for (int i = 0; i < 5; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      std::unique_ptr<JitKernel> k =
          Jit::load(Jit::get().compileCached(build, options, cache, key));
      hit.push_back(msSince(t0));
    }
    std::sort(hit.begin(), hit.end());
    return hit[2];
  };
  double hitMs = medianHitMs(sourceKey), irHitMs = medianHitMs("");
  llvm::sys::fs::remove_directories(dir);

  // Launch overhead: attention::forward on a tiny problem against raw
  // cuLaunchKernel of the same function with the same arguments (host time).
  std::vector<float> host(1 * 1 * 64 * 64, 0.5f);
  DeviceTensor q = DeviceTensor::fromFloat(host, {1, 1, 64, 64}, DType::BF16);
  attention::ForwardResult r = attention::forward(q, q, q);
  Stream::defaultStream().synchronize();
  kernels::KernelConfig small =
      attention::chooseForwardConfig(DType::BF16, 64, false, false, 64, 64);
  small.alignedTensors = contiguousForward;
  const JitKernel &kernel =
      Jit::get().kernel("attention_forward[" + small.key() + "]", [&](mlir::MLIRContext &ctx) {
        return kernels::lookup("attention_forward").build(ctx, small);
      });
  const int n = 200;
  auto apiStart = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i)
    attention::forward(q, q, q, r.out, r.lse);
  double apiMs = msSince(apiStart);
  Stream::defaultStream().synchronize();
  KernelArgs args;
  for (const DeviceTensor *t : {&q, &q, &q, &r.out, &r.lse}) {
    args.add(t->data());
    for (int64_t s : t->shape())
      args.add(int32_t(s));
    for (int64_t s : t->strides())
      args.add(int32_t(s));
  }
  args.add(0.125f);
  // The kernel's tensor maps after them, as launch() passes them (the
  // heuristic copies K and V by TMA at this head dim).
  KernelArgs launched = withTensorMaps(kernel, args);
  void **params = launched.pointers();
  auto rawStart = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i)
    TESSERA_CU_CHECK(
        Driver::get().cuLaunchKernel(kernel.function, 1, 1, 1, kernel.compiled.numWarps * 32, 1, 1,
                                     kernel.compiled.sharedBytes, nullptr, params, nullptr));
  double rawMs = msSince(rawStart);
  Stream::defaultStream().synchronize();
  double overheadUs = (apiMs - rawMs) / n * 1e3;

  std::printf("cold compile (attention_forward bf16 d128, whole key blocks, a name no cache has "
              "seen): first %.0f "
              "ms, then %.0f ms, %.0f ms\n",
              cold[0], cold[1], cold[2]);
  // What the stages leave out is building the IR.
  auto printSplit = [](const char *which, const std::vector<std::pair<std::string, double>> &s,
                       double total) {
    std::string split;
    double staged = 0;
    for (const auto &[stage, ms] : s) {
      split += llvm::formatv("{0}{1} {2:F0}", split.empty() ? "" : ", ", stage, ms).str();
      staged += ms;
    }
    std::printf("  %s split: %s, DSL build %.0f ms\n", which, split.c_str(), total - staged);
  };
  printSplit("first", firstStages, cold[0]);
  printSplit("last", stages, cold[2]);
  std::printf("cold compile of the backward's three kernels (bf16 d128): one after another %.0f "
              "ms, side by side %.0f ms\n",
              backwardSerialMs, backwardTogetherMs);
  std::printf("cache-hit load (source key, read and verify, cuModuleLoadData): median %.2f ms; "
              "keyed on the IR (build, print, hash first): %.2f ms\n",
              hitMs, irHitMs);
  std::printf("launch: attention::forward %.2f us/call, raw cuLaunchKernel %.2f us/call, "
              "overhead %.2f us\n",
              apiMs / n * 1e3, rawMs / n * 1e3, overheadUs);

  // A full tuning sweep, compile to winner, timed from outside.
  std::vector<Shape> sweep = parseShapes(sweepSpec);
  const Shape &s = sweep.front();
  std::vector<float> data(s.b * s.h * s.s * s.d);
  std::mt19937 gen(5);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (float &x : data)
    x = dist(gen);
  DeviceTensor sq = DeviceTensor::fromFloat(data, {s.b, s.h, s.s, s.d}, DType::BF16);
  attention::Options opts;
  opts.causal = s.causal;
  TuningDatabase scratch("");
  TuneOptions tune;
  tune.budgetMs = 100;
  auto sweepStart = std::chrono::steady_clock::now();
  std::vector<CandidateResult> results = attention::tuneForward(sq, sq, sq, opts, tune, scratch);
  double sweepS = msSince(sweepStart) / 1e3;
  size_t valid = std::count_if(results.begin(), results.end(), [](auto &c) { return c.ok(); });
  std::printf("tuning sweep b%ld h%ld s%ld d%ld %s: %zu configs (%zu valid) in %.1f s; winner %s\n",
              s.b, s.h, s.s, s.d, s.causal ? "causal" : "full", results.size(), valid, sweepS,
              valid ? results.front().config.c_str() : "none");
  if (!jsonPath.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream os(jsonPath, ec);
    auto stageJson = [](const std::vector<std::pair<std::string, double>> &s) {
      llvm::json::Object o;
      for (const auto &[stage, ms] : s)
        o[stage] = ms;
      return o;
    };
    os << llvm::formatv("{0:2}",
                        llvm::json::Value(llvm::json::Object{
                            {"device", dev.name},
                            {"cold_compile_ms", llvm::json::Array{cold[0], cold[1], cold[2]}},
                            {"first_compile_stage_ms", stageJson(firstStages)},
                            {"last_compile_stage_ms", stageJson(stages)},
                            {"backward_cold_serial_ms", backwardSerialMs},
                            {"backward_cold_together_ms", backwardTogetherMs},
                            {"cache_hit_ms", hitMs},
                            {"cache_hit_ir_keyed_ms", irHitMs},
                            {"launch_api_us", apiMs / n * 1e3},
                            {"launch_raw_us", rawMs / n * 1e3},
                            {"launch_overhead_us", overheadUs},
                            {"sweep_configs", int64_t(results.size())},
                            {"sweep_valid", int64_t(valid)},
                            {"sweep_seconds", sweepS}}))
       << "\n";
  }
  return 0;
}

} // namespace

double tessera::bench::medianMs(const std::function<void()> &run, DeviceTensor &flush, int reps) {
  std::vector<float> times;
  Stream &stream = Stream::defaultStream();
  for (int i = 0; i < reps; ++i) {
    flush.fillBytes(uint8_t(i)); // evict the inputs from L2
    Event start, stop;
    start.record(stream);
    run();
    stop.record(stream);
    stop.synchronize();
    times.push_back(Event::elapsedMs(start, stop));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

int main(int argc, char **argv) {
  // A crash prints its stack (addresses into the stripped bundle's binary:
  // llvm-symbolizer --obj=build-static/bin/tessera-bench on this machine).
  llvm::sys::PrintStackTraceOnErrorSignal(argv[0]);
  if (argc >= 2 && std::string(argv[1]) == "markdown") {
    std::vector<std::string> ours, peers;
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) == "--peers") {
        if (++i == argc)
          return usage();
        peers.push_back(argv[i]);
      } else {
        ours.push_back(argv[i]);
      }
    }
    if (ours.empty() && peers.empty())
      return usage();
    return bench::printMarkdown(ours, peers);
  }
  if (argc >= 2 && std::string(argv[1]) == "kernels") {
    bench::KernelsOptions o;
    for (int i = 2; i < argc; i += 2) {
      std::string a = argv[i];
      if (i + 1 >= argc)
        return usage();
      std::string v = argv[i + 1];
      if (a == "--softmax")
        o.softmaxShapes = v;
      else if (a == "--matmul")
        o.matmulSizes = v;
      else if (a == "--cumsum")
        o.cumsumShapes = v;
      else if (a == "--rms-norm")
        o.rmsNormShapes = v;
      else if (a == "--rms-norm-backward")
        o.rmsNormBackwardShapes = v;
      else if (a == "--batched-matmul")
        o.batchedMatmulSizes = v;
      else if (a == "--dtype")
        o.dtype = v;
      else if (a == "--reps")
        o.reps = std::max(1, std::atoi(v.c_str()));
      else if (a == "--softmax-configs")
        o.softmaxConfigs = v;
      else if (a == "--matmul-configs")
        o.matmulConfigs = v;
      else if (a == "--batched-matmul-configs")
        o.batchedMatmulConfigs = v;
      else if (a == "--json")
        o.jsonPath = v;
      else
        return usage();
    }
    try {
      if (!gpuAvailable()) {
        std::fprintf(stderr, "tessera-bench: no GPU: %s\n",
                     Driver::get().unavailableReason().c_str());
        return 1;
      }
      return bench::benchKernels(o);
    } catch (const std::exception &e) {
      std::fprintf(stderr, "tessera-bench: %s\n", e.what());
      return 1;
    }
  }
  if (argc >= 2 && std::string(argv[1]) == "runtime") {
    std::string sweep = "2,16,4096,64,0", json;
    for (int i = 2; i + 1 < argc; i += 2) {
      if (std::string(argv[i]) == "--sweep")
        sweep = argv[i + 1];
      else if (std::string(argv[i]) == "--json")
        json = argv[i + 1];
      else
        return usage();
    }
    try {
      if (!gpuAvailable()) {
        std::fprintf(stderr, "tessera-bench: no GPU: %s\n",
                     Driver::get().unavailableReason().c_str());
        return 1;
      }
      return benchRuntime(sweep, json);
    } catch (const std::exception &e) {
      std::fprintf(stderr, "tessera-bench: %s\n", e.what());
      return 1;
    }
  }
  if (argc < 2 || std::string(argv[1]) != "attention")
    return usage();
  std::string shapeSpec = "4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;"
                          "4,32,4096,64,0;4,32,4096,64,1";
  std::string dtypeName = "bf16", jsonPath;
  int reps = 10;
  bool compareHeuristic = false, backward = false, bf16Values = false;
  std::string backwardConfigs; // "BMxBNwW;..." timed besides backward()'s own
  std::string forwardConfigs;  // "BMxBNwWsS;..." timed besides forward()'s own
  // --set NAME=V (repeatable): a kernel constant of every configuration of
  // --forward-configs and --backward-configs (BLOCK_D_TAIL, say).
  std::map<std::string, int64_t> setConstants;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--compare-heuristic" || a == "--backward") {
      (a == "--backward" ? backward : compareHeuristic) = true;
      continue;
    }
    if (a == "--bf16-values") {
      bf16Values = true;
      continue;
    }
    if (i + 1 >= argc)
      return usage();
    if (a == "--shapes")
      shapeSpec = argv[++i];
    else if (a == "--dtype")
      dtypeName = argv[++i];
    else if (a == "--json")
      jsonPath = argv[++i];
    else if (a == "--backward-configs")
      backwardConfigs = argv[++i], backward = true;
    else if (a == "--forward-configs")
      forwardConfigs = argv[++i];
    else if (a == "--reps")
      reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--set") {
      std::string item = argv[++i];
      size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "tessera-bench: --set: expected NAME=VALUE, got '%s'\n", item.c_str());
        return 2;
      }
      setConstants[item.substr(0, eq)] = std::atoll(item.c_str() + eq + 1);
    } else
      return usage();
  }
  try {
    if (!gpuAvailable()) {
      std::fprintf(stderr, "tessera-bench: no GPU: %s\n",
                   Driver::get().unavailableReason().c_str());
      return 1;
    }
    std::optional<DType> dtype = parseDType(dtypeName);
    if (!dtype || !isFloat(*dtype)) {
      std::fprintf(stderr, "tessera-bench: --dtype: expected bf16, f16 or f32\n");
      return 2;
    }
    const DeviceInfo &dev = currentDevice();
    std::printf("tessera %s on %s\n", dtypeName.c_str(), dev.name.c_str());
    DeviceTensor flush = DeviceTensor::empty({int64_t(2 * dev.l2Bytes)}, DType::I1);
    llvm::json::Array results;
    std::mt19937 gen(1234);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (const Shape &s : parseShapes(shapeSpec)) {
      std::vector<float> host(s.b * s.h * s.s * s.d);
      auto make = [&] {
        for (float &x : host)
          // --bf16-values: an f16 tensor of bf16's values tells the format's
          // cost from its values' (the tensor cores' power follows the bits
          // that toggle).
          x = bf16Values ? bf16ToFloat(floatToBF16(dist(gen))) : dist(gen);
        return DeviceTensor::fromFloat(host, {s.b, s.h, s.s, s.d}, *dtype);
      };
      DeviceTensor q = make(), k = make(), v = make();
      attention::Options options;
      options.causal = s.causal;
      std::optional<DeviceTensor> keyMask;
      if (s.mask) {
        std::vector<uint8_t> keep(s.b * s.s);
        for (size_t i = 0; i < keep.size(); ++i)
          keep[i] = (i * 7 + 3) % 10 < 9;
        keyMask = DeviceTensor::fromHost(keep.data(), {s.b, s.s}, DType::I1);
        options.keyMask = &*keyMask;
      }
      attention::ForwardResult r = attention::forward(q, k, v, options); // compile + warm up
      Stream::defaultStream().synchronize();
      double ms =
          medianMs([&] { attention::forward(q, k, v, r.out, r.lse, options); }, flush, reps);
      double flops = 4.0 * s.b * s.h * s.s * s.s * s.d / (s.causal ? 2 : 1);
      double tflops = flops / (ms * 1e-3) / 1e12;
      kernels::KernelConfig config =
          attention::chooseForwardConfig(*dtype, s.d, s.causal, s.mask, s.s, s.s);
      std::printf("%-28s fwd %-5s b%-3ld h%-3ld s%-6ld d%-4ld %s %9.3f ms %7.1f TFLOP/s  [%s]\n",
                  "tessera", dtypeName.c_str(), s.b, s.h, s.s, s.d, maskLabel(s), ms, tflops,
                  config.key().c_str());
      std::fflush(stdout);
      // One alternative configuration: run once (reporting a failure), then
      // the median time and a row of the table.
      auto timeConfig = [&](const char *mode, const kernels::KernelConfig &c, double work,
                            const std::function<void()> &run) {
        try {
          run();
          Stream::defaultStream().synchronize();
        } catch (const std::exception &e) {
          std::printf("%-28s %s [%s] failed: %s\n", "tessera-config", mode, c.key().c_str(),
                      e.what());
          return;
        }
        double cms = medianMs(run, flush, reps);
        std::printf("%-28s %s %-5s b%-3ld h%-3ld s%-6ld d%-4ld %s %9.3f ms %7.1f TFLOP/s  [%s]\n",
                    "tessera-config", mode, dtypeName.c_str(), s.b, s.h, s.s, s.d, maskLabel(s),
                    cms, work / (cms * 1e-3) / 1e12, c.key().c_str());
        std::fflush(stdout);
      };
      // A configuration with --set's constants.
      auto withSet = [&](kernels::KernelConfig c) {
        for (const auto &[name, value] : setConstants)
          c.constants[name] = value;
        return c;
      };
      std::stringstream forwardList(forwardConfigs);
      for (std::string item; std::getline(forwardList, item, ';');) {
        if (item == "heuristic") {
          // The chosen configuration with --set's constants: an A/B of one constant.
          kernels::KernelConfig c = withSet(config);
          timeConfig("fwd", c, flops,
                     [&] { attention::forwardWithConfig(q, k, v, r.out, r.lse, options, c); });
          continue;
        }
        std::optional<ConfigItem> parsed =
            parseConfigItem(item, /*withStages=*/true, "vmrutwospdgcl");
        if (!parsed) {
          std::fprintf(stderr,
                       "tessera-bench: --forward-configs: expected "
                       "BMxBNwWsS[v][m][r][u][t][w][o][s][p][d][g][c][l], "
                       "got '%s'\n",
                       item.c_str());
          return 2;
        }
        kernels::KernelConfig c = config;
        c.numWarps = unsigned(parsed->warps);
        c.constants["BLOCK_M"] = parsed->blockM;
        c.constants["BLOCK_N"] = parsed->blockN;
        c.constants["NUM_STAGES"] = parsed->stages;
        // v: V read transposed; m: mma.sync only (no wgmma); r: K and V
        // rounded to tf32 before the kernel; u: rescale skipped where 1;
        // t: K and V copied by TMA (sm_90a, 16-bit); w: by a producer
        // warpgroup (with t).
        c.constants["TMA"] = parsed->has('t') || parsed->has('w');
        c.constants["WARP_SPECIALIZE"] = parsed->has('w');
        // o: causal query blocks in index order (not the longest first);
        // s: O stored by TMA (with t).
        c.constants["LONGEST_FIRST"] = !parsed->has('o');
        c.constants["TMA_STORE"] = parsed->has('s');
        // p: the next block's scores issued before the softmax (PIPELINE_QK);
        // d: FlashAttention-3's order, P·V a block behind (PIPELINE_QK = 2).
        c.constants["PIPELINE_QK"] = parsed->has('d') ? 2 : parsed->has('p');
        // g: the consumer warpgroups issue in turns (PING_PONG, with w).
        c.constants["PING_PONG"] = parsed->has('g');
        // c: two programs per SM (CTAS_PER_SM); l: programs that
        // loop over the tiles (PERSISTENT, on whole key blocks).
        c.constants["CTAS_PER_SM"] = parsed->has('c') ? 2 : 1;
        c.constants["PERSISTENT"] = parsed->has('l');
        c.constants["V_TRANSPOSED"] = parsed->has('v');
        c.constants["TF32_ROUNDED_KV"] = parsed->has('r');
        c.constants["SKIP_UNIT_RESCALE"] = parsed->has('u');
        c.constants["WGMMA"] = !parsed->has('m');
        c = withSet(c);
        timeConfig("fwd", c, flops,
                   [&] { attention::forwardWithConfig(q, k, v, r.out, r.lse, options, c); });
      }
      if (compareHeuristic) {
        // The heuristic's configuration, launched directly, for comparison with
        // whatever the tuning database chose.
        kernels::KernelConfig h =
            attention::forwardConfig(*dtype, s.d, s.causal, s.mask, dev.arch());
        attention::forwardWithConfig(q, k, v, r.out, r.lse, options, h); // compile, warm up
        double hms = medianMs(
            [&] { attention::forwardWithConfig(q, k, v, r.out, r.lse, options, h); }, flush, reps);
        std::printf("%-28s fwd %-5s b%-3ld h%-3ld s%-6ld d%-4ld %s %9.3f ms %7.1f TFLOP/s  [%s]  "
                    "tuned/heuristic speed %.2fx\n",
                    "tessera-heuristic", dtypeName.c_str(), s.b, s.h, s.s, s.d, maskLabel(s), hms,
                    flops / (hms * 1e-3) / 1e12, h.key().c_str(), hms / ms);
      }
      if (backward) {
        // dq, dk, dv from the forward's out and lse: delta, dK/dV and dQ
        // passes; FLOPs 2.5x the forward's (FlashAttention's convention).
        DeviceTensor dout = make();
        attention::BackwardResult g = attention::backward(q, k, v, r.out, r.lse, dout, options);
        Stream::defaultStream().synchronize();
        double bms = medianMs(
            [&] { attention::backward(q, k, v, r.out, r.lse, dout, g.dq, g.dk, g.dv, options); },
            flush, reps);
        double btflops = 2.5 * flops / (bms * 1e-3) / 1e12;
        kernels::KernelConfig bconfig =
            attention::backwardConfig(*dtype, s.d, s.causal, s.mask, dev.arch());
        std::printf("%-28s bwd %-5s b%-3ld h%-3ld s%-6ld d%-4ld %s %9.3f ms %7.1f TFLOP/s  [%s]\n",
                    "tessera", dtypeName.c_str(), s.b, s.h, s.s, s.d, maskLabel(s), bms, btflops,
                    bconfig.key().c_str());
        std::fflush(stdout);
        std::stringstream list(backwardConfigs);
        for (std::string item; std::getline(list, item, ';');) {
          if (item == "heuristic") {
            kernels::KernelConfig c = withSet(bconfig);
            timeConfig("bwd", c, 2.5 * flops, [&] {
              attention::backwardWithConfig(q, k, v, r.out, r.lse, dout, g.dq, g.dk, g.dv, options,
                                            c);
            });
            continue;
          }
          std::optional<ConfigItem> parsed = parseConfigItem(item, /*withStages=*/false, "dmtowcg");
          if (!parsed) {
            std::fprintf(stderr,
                         "tessera-bench: --backward-configs: expected BMxBNwW[d][m][t][o][w][c][g] "
                         "(d: deterministic, m: mma.sync only, t: TMA copies, o: causal dQ "
                         "blocks in index order, w: copies from a producer warpgroup, c: two "
                         "CTAs per SM, g: consumer warpgroups in turns), got '%s'\n",
                         item.c_str());
            return 2;
          }
          kernels::KernelConfig c = bconfig;
          c.numWarps = unsigned(parsed->warps);
          c.constants["BLOCK_M"] = parsed->blockM;
          c.constants["BLOCK_N"] = parsed->blockN;
          c.constants["DQ_ATOMIC"] = !parsed->has('d');
          c.constants["WGMMA"] = !parsed->has('m');
          c.constants["TMA"] = parsed->has('t');
          c.constants["LONGEST_FIRST"] = !parsed->has('o');
          c.constants["WARP_SPECIALIZE"] = parsed->has('w');
          c.constants["CTAS_PER_SM"] = parsed->has('c') ? 2 : 1;
          c.constants["PING_PONG"] = parsed->has('g');
          c = withSet(c);
          timeConfig("bwd", c, 2.5 * flops, [&] {
            attention::backwardWithConfig(q, k, v, r.out, r.lse, dout, g.dq, g.dk, g.dv, options,
                                          c);
          });
        }
        results.push_back(llvm::json::Object{{"system", "tessera"},
                                             {"mode", "bwd"},
                                             {"dtype", dtypeName},
                                             {"b", s.b},
                                             {"h", s.h},
                                             {"s", s.s},
                                             {"d", s.d},
                                             {"causal", s.causal},
                                             {"mask", s.mask},
                                             {"ms", bms},
                                             {"tflops", btflops},
                                             {"config", bconfig.key()}});
      }
      results.push_back(llvm::json::Object{{"system", "tessera"},
                                           {"mode", "fwd"},
                                           {"dtype", dtypeName},
                                           {"b", s.b},
                                           {"h", s.h},
                                           {"s", s.s},
                                           {"d", s.d},
                                           {"causal", s.causal},
                                           {"mask", s.mask},
                                           {"ms", ms},
                                           {"tflops", tflops},
                                           {"config", config.key()}});
    }
    if (!jsonPath.empty()) {
      std::error_code ec;
      llvm::raw_fd_ostream os(jsonPath, ec);
      if (ec) {
        std::fprintf(stderr, "tessera-bench: cannot write %s: %s\n", jsonPath.c_str(),
                     ec.message().c_str());
        return 1;
      }
      os << llvm::formatv("{0:2}", llvm::json::Value(std::move(results))) << "\n";
    }
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tessera-bench: %s\n", e.what());
    return 1;
  }
}
