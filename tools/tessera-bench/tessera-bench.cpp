//===- tessera-bench.cpp - Time Tessera's attention on the GPU ------------===//
//
//   tessera-bench attention [--shapes "b,h,s,d,causal;..."] [--dtype bf16] [--json FILE]
//
// Times attention::forward with CUDA events: warm-up, then the median of runs
// (each on the same inputs after an L2 flush), and prints TFLOP/s in the
// FlashAttention convention (4·b·h·s·s·d, halved for causal), the same
// convention as ../shared/anchors/bench_anchors.py.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace tessera;

namespace {

struct Shape {
  int64_t b, h, s, d;
  bool causal;
};

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
               std::strcmp(causal, "causal") == 0;
    out.push_back(s);
  }
  return out;
}

double medianMs(const std::function<void()> &run, DeviceTensor &flush, int reps) {
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

int usage() {
  std::fprintf(stderr, "usage: tessera-bench attention [--shapes \"b,h,s,d,causal;...\"] "
                       "[--dtype bf16|f16|f32] [--reps N] [--json FILE]\n");
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2 || std::string(argv[1]) != "attention")
    return usage();
  std::string shapeSpec = "4,16,4096,128,0;4,16,4096,128,1;1,16,16384,128,0;1,16,16384,128,1;"
                          "4,32,4096,64,0;4,32,4096,64,1";
  std::string dtypeName = "bf16", jsonPath;
  int reps = 10;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      return usage();
    if (a == "--shapes")
      shapeSpec = argv[++i];
    else if (a == "--dtype")
      dtypeName = argv[++i];
    else if (a == "--json")
      jsonPath = argv[++i];
    else if (a == "--reps")
      reps = std::max(1, std::atoi(argv[++i]));
    else
      return usage();
  }
  try {
    if (!gpuAvailable()) {
      std::fprintf(stderr, "tessera-bench: no GPU: %s\n", Driver::get().unavailableReason().c_str());
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
          x = dist(gen);
        return DeviceTensor::fromFloat(host, {s.b, s.h, s.s, s.d}, *dtype);
      };
      DeviceTensor q = make(), k = make(), v = make();
      attention::Options options;
      options.causal = s.causal;
      attention::ForwardResult r = attention::forward(q, k, v, options); // compile + warm up
      Stream::defaultStream().synchronize();
      double ms = medianMs([&] { attention::forward(q, k, v, r.out, r.lse, options); }, flush, reps);
      double flops = 4.0 * s.b * s.h * s.s * s.s * s.d / (s.causal ? 2 : 1);
      double tflops = flops / (ms * 1e-3) / 1e12;
      kernels::KernelConfig config = attention::forwardConfig(*dtype, s.d, s.causal, false);
      std::printf("%-28s fwd %-5s b%-3ld h%-3ld s%-6ld d%-4ld %s %9.3f ms %7.1f TFLOP/s  [%s]\n",
                  "tessera", dtypeName.c_str(), s.b, s.h, s.s, s.d, s.causal ? "causal" : "full  ",
                  ms, tflops, config.key().c_str());
      std::fflush(stdout);
      results.push_back(llvm::json::Object{{"system", "tessera"}, {"mode", "fwd"},
                                           {"dtype", dtypeName}, {"b", s.b}, {"h", s.h},
                                           {"s", s.s}, {"d", s.d}, {"causal", s.causal},
                                           {"ms", ms}, {"tflops", tflops},
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
