//===- Kernels.cpp - tessera-bench kernels: softmax and matmul ------------===//
//
// Times kernels::softmax, kernels::cumsum and kernels::rms_norm (GB/s, one
// read and one write of every element), rms_norm_backward (GB/s, reads of x and dy, the write of
// dx), kernels::matmul (TFLOP/s, 2·M·N·K) and batched_matmul (2·B·M·N·K) as
// ../shared/anchors/bench_general.py and scripts/device-general-peers.py time
// their peers, with the heuristic's configuration and with any listed
// beside it, and writes records in bench_general.py's form (kernel, dtype,
// shape, ms, value, unit) for `tessera-bench markdown`.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include "tessera/kernels/basic.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Stream.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdio>
#include <random>

using namespace tessera;

namespace {

/// The integers of "AxBxC", or nothing when `item` is not that.
std::optional<std::vector<int64_t>> parseDims(llvm::StringRef item, size_t count) {
  llvm::SmallVector<llvm::StringRef> parts;
  item.trim().split(parts, 'x');
  if (parts.size() != count)
    return std::nullopt;
  std::vector<int64_t> dims;
  for (llvm::StringRef p : parts) {
    int64_t v = 0;
    if (p.getAsInteger(10, v) || v < 1)
      return std::nullopt;
    dims.push_back(v);
  }
  return dims;
}

/// The shapes of a ';'-separated list of items of `count` sizes ("AxB", ...);
/// nothing, after saying why, when an item is not that.
std::optional<std::vector<std::vector<int64_t>>> parseShapeList(const std::string &spec,
                                                                size_t count, const char *flag) {
  llvm::SmallVector<llvm::StringRef> items;
  llvm::StringRef(spec).split(items, ';', -1, false);
  std::vector<std::vector<int64_t>> shapes;
  for (llvm::StringRef item : items) {
    std::optional<std::vector<int64_t>> dims = parseDims(item, count);
    if (!dims) {
      std::fprintf(stderr, "tessera-bench: %s: expected %s items, got '%s'\n", flag,
                   count == 2   ? "MxN"
                   : count == 3 ? "MxNxK"
                                : "BxMxNxK",
                   item.str().c_str());
      return std::nullopt;
    }
    shapes.push_back(std::move(*dims));
  }
  return shapes;
}

/// A configuration of --softmax-configs: "BMwW" (rows per program, warps).
std::optional<kernels::KernelConfig> parseSoftmaxConfig(llvm::StringRef item, DType dtype,
                                                        int64_t cols) {
  auto [rows, warps] = item.trim().split('w');
  int64_t blockM = 0, numWarps = 0;
  if (rows.getAsInteger(10, blockM) || warps.getAsInteger(10, numWarps) || blockM < 1 ||
      numWarps < 1)
    return std::nullopt;
  kernels::KernelConfig c = kernels::softmaxConfig(dtype, 1, cols);
  c.numWarps = unsigned(numWarps);
  c.constants["BLOCK_M"] = blockM;
  return c;
}

/// A configuration of --matmul-configs: "BMxBNxBKwWsS" then flags, g: no
/// grouped order (GROUP_M 1), m: mma.sync only, t: TMA copies, w: TMA copies
/// issued by a producer warpgroup, p: persistent programs (one per SM),
/// c: two-CTA clusters multicasting B (CLUSTER_M 2, with t), s: C stored
/// through shared memory by TMA (TMA_STORE 1, with t).
std::optional<kernels::KernelConfig> parseMatmulConfig(llvm::StringRef item, DType dtype) {
  int64_t bm = 0, bn = 0, bk = 0, warps = 0, stages = 0;
  int used = 0;
  std::string text = item.trim().str();
  if (std::sscanf(text.c_str(), "%ldx%ldx%ldw%lds%ld%n", &bm, &bn, &bk, &warps, &stages, &used) !=
      5)
    return std::nullopt;
  llvm::StringRef flags = llvm::StringRef(text).drop_front(used);
  if (flags.find_first_not_of("gmtwpcs") != llvm::StringRef::npos)
    return std::nullopt;
  kernels::KernelConfig c = kernels::matmulConfig(dtype, 1, 1, 1);
  c.numWarps = unsigned(warps);
  c.constants["BLOCK_M"] = bm;
  c.constants["BLOCK_N"] = bn;
  c.constants["BLOCK_K"] = bk;
  c.constants["NUM_STAGES"] = stages;
  if (flags.contains('g'))
    c.constants["GROUP_M"] = 1;
  if (flags.contains('m'))
    c.constants["WGMMA"] = 0;
  if (flags.contains('t') || flags.contains('w'))
    c.constants["TMA"] = 1;
  if (flags.contains('w'))
    c.constants["WARP_SPECIALIZE"] = 1;
  if (flags.contains('c'))
    c.constants["CLUSTER_M"] = 2;
  if (flags.contains('s'))
    c.constants["TMA_STORE"] = 1;
  if (flags.contains('p'))
    c.constants["PERSISTENT"] = 1;
  return c;
}

} // namespace

int tessera::bench::benchKernels(const KernelsOptions &o) {
  std::optional<DType> dtype = parseDType(o.dtype);
  if (!dtype || !isFloat(*dtype)) {
    std::fprintf(stderr, "tessera-bench: --dtype: expected bf16, f16 or f32\n");
    return 2;
  }
  const DeviceInfo &dev = currentDevice();
  std::printf("tessera kernels %s on %s\n", o.dtype.c_str(), dev.name.c_str());
  DeviceTensor flush = DeviceTensor::empty({int64_t(2 * dev.l2Bytes)}, DType::I1);
  llvm::json::Array records;
  std::mt19937 gen(1234);
  std::normal_distribution<float> dist(0.f, 1.f);
  auto random = [&](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape)
      n *= s;
    std::vector<float> host(n);
    for (float &x : host)
      x = dist(gen);
    return DeviceTensor::fromFloat(host, shape, *dtype);
  };
  auto report = [&](const char *kernel, const std::string &shape, double ms, double value,
                    const char *unit, const kernels::KernelConfig &config, bool heuristic) {
    std::printf("%-16s %-5s %-16s %9.4f ms %8.1f %-7s [%s]%s\n", kernel, o.dtype.c_str(),
                shape.c_str(), ms, value, unit, config.key().c_str(),
                heuristic ? "" : "  (listed)");
    if (heuristic)
      records.push_back(llvm::json::Object{{"system", "tessera"},
                                           {"kernel", kernel},
                                           {"dtype", o.dtype},
                                           {"shape", shape},
                                           {"ms", ms},
                                           {"value", value},
                                           {"unit", unit},
                                           {"config", config.key()}});
  };
  auto softmaxShapes = parseShapeList(o.softmaxShapes, 2, "--softmax");
  auto cumsumShapes = parseShapeList(o.cumsumShapes, 2, "--cumsum");
  auto rmsNormShapes = parseShapeList(o.rmsNormShapes, 2, "--rms-norm");
  auto rmsNormBackwardShapes = parseShapeList(o.rmsNormBackwardShapes, 2, "--rms-norm-backward");
  auto matmulShapes = parseShapeList(o.matmulSizes, 3, "--matmul");
  auto batchedShapes = parseShapeList(o.batchedMatmulSizes, 4, "--batched-matmul");
  if (!softmaxShapes || !rmsNormShapes || !rmsNormBackwardShapes || !matmulShapes || !batchedShapes)
    return 2;
  auto timeIt = [&](const std::function<void()> &run) {
    run(); // compile and warm up
    Stream::defaultStream().synchronize();
    return medianMs(run, flush, o.reps);
  };

  for (const std::vector<int64_t> &dims : *softmaxShapes) {
    int64_t m = dims[0], n = dims[1];
    DeviceTensor x = random({m, n}), out = DeviceTensor::empty({m, n}, *dtype);
    std::string shape = llvm::formatv("{0}x{1}", m, n).str();
    double bytes = 2.0 * m * n * byteSize(*dtype);
    std::vector<std::pair<kernels::KernelConfig, bool>> configs{
        {kernels::softmaxConfig(*dtype, m, n), true}};
    llvm::SmallVector<llvm::StringRef> listed;
    llvm::StringRef(o.softmaxConfigs).split(listed, ';', -1, false);
    for (llvm::StringRef c : listed) {
      std::optional<kernels::KernelConfig> config = parseSoftmaxConfig(c, *dtype, n);
      if (!config) {
        std::fprintf(stderr, "tessera-bench: --softmax-configs: expected BMwW, got '%s'\n",
                     c.str().c_str());
        return 2;
      }
      configs.emplace_back(*config, false);
    }
    for (const auto &[config, heuristic] : configs) {
      try {
        double ms = timeIt([&] { kernels::softmaxWithConfig(x, out, config); });
        report("tessera-softmax", shape, ms, bytes / ms / 1e6, "GB/s", config, heuristic);
      } catch (const Error &e) {
        // A listed configuration may not fit (shared memory, registers).
        std::printf("%-16s %-5s %-16s [%s] failed: %s\n", "tessera-softmax", o.dtype.c_str(),
                    shape.c_str(), config.key().c_str(), e.what());
        if (heuristic)
          return 1;
      }
    }
  }

  for (const std::vector<int64_t> &dims : *cumsumShapes) {
    int64_t m = dims[0], n = dims[1];
    DeviceTensor x = random({m, n}), out = DeviceTensor::empty({m, n}, *dtype);
    std::string shape = llvm::formatv("{0}x{1}", m, n).str();
    double bytes = 2.0 * m * n * byteSize(*dtype);
    kernels::KernelConfig config = kernels::cumsumConfig(*dtype, m, n);
    double ms = timeIt([&] { kernels::cumsumWithConfig(x, out, config); });
    report("tessera-cumsum", shape, ms, bytes / ms / 1e6, "GB/s", config, true);
  }

  for (const std::vector<int64_t> &dims : *rmsNormShapes) {
    int64_t m = dims[0], n = dims[1];
    DeviceTensor x = random({m, n}), w = random({n}), out = DeviceTensor::empty({m, n}, *dtype);
    std::string shape = llvm::formatv("{0}x{1}", m, n).str();
    // As bench_general.py counts it: one read of x and one write of y.
    double bytes = 2.0 * m * n * byteSize(*dtype);
    kernels::KernelConfig config = kernels::rmsNormConfig(*dtype, m, n);
    double ms = timeIt([&] { kernels::rmsNormWithConfig(x, w, out, 1e-6f, config); });
    report("tessera-rms_norm", shape, ms, bytes / ms / 1e6, "GB/s", config, true);
  }

  for (const std::vector<int64_t> &dims : *rmsNormBackwardShapes) {
    int64_t m = dims[0], n = dims[1];
    DeviceTensor x = random({m, n}), dy = random({m, n}), w = random({n});
    std::string shape = llvm::formatv("{0}x{1}", m, n).str();
    // Reads of x and dy, the write of dx (dweight and the partial sums are
    // small beside them).
    double bytes = 3.0 * m * n * byteSize(*dtype);
    kernels::KernelConfig config = kernels::rmsNormBackwardConfig(*dtype, m, n);
    double ms = timeIt([&] { kernels::rms_norm_backward(dy, x, w); });
    report("tessera-rms_norm_backward", shape, ms, bytes / ms / 1e6, "GB/s", config, true);
  }

  // --batched-matmul-configs: matmul's syntax, the flags batched_matmul has.
  std::vector<kernels::KernelConfig> batchedConfigs;
  llvm::SmallVector<llvm::StringRef> batchedListed;
  llvm::StringRef(o.batchedMatmulConfigs).split(batchedListed, ';', -1, false);
  for (llvm::StringRef text : batchedListed) {
    std::optional<kernels::KernelConfig> parsed = parseMatmulConfig(text, *dtype);
    // Flags w, p, c and s are matmul's own.
    if (!parsed || parsed->get("WARP_SPECIALIZE") || parsed->get("PERSISTENT") ||
        parsed->get("CLUSTER_M") > 1 || parsed->get("TMA_STORE")) {
      std::fprintf(stderr,
                   "tessera-bench: --batched-matmul-configs: expected BMxBNxBKwWsS[g][m][t], "
                   "got '%s'\n",
                   text.str().c_str());
      return 2;
    }
    kernels::KernelConfig config = kernels::batchedMatmulConfig(*dtype, 1, 1, 1, 1);
    for (auto &[name, value] : config.constants)
      value = parsed->get(name);
    config.numWarps = parsed->numWarps;
    batchedConfigs.push_back(config);
  }

  for (const std::vector<int64_t> &dims : *batchedShapes) {
    int64_t batch = dims[0], m = dims[1], n = dims[2], k = dims[3];
    DeviceTensor a = random({batch, m, k}), b = random({batch, k, n});
    DeviceTensor c = DeviceTensor::empty({batch, m, n}, *dtype);
    std::string shape = llvm::formatv("{0}x{1}x{2}x{3}", batch, m, n, k).str();
    double flops = 2.0 * batch * m * n * k;
    kernels::KernelConfig heuristic = kernels::batchedMatmulConfig(*dtype, batch, m, n, k);
    double ms = timeIt([&] { kernels::batchedMatmulWithConfig(a, b, c, heuristic); });
    report("tessera-batched_matmul", shape, ms, flops / ms / 1e9, "TFLOP/s", heuristic, true);
    for (const kernels::KernelConfig &config : batchedConfigs) {
      try {
        double cms = timeIt([&] { kernels::batchedMatmulWithConfig(a, b, c, config); });
        report("tessera-batched_matmul", shape, cms, flops / cms / 1e9, "TFLOP/s", config, false);
      } catch (const Error &e) {
        std::printf("%-16s %-5s %-16s [%s] failed: %s\n", "tessera-batched_matmul", o.dtype.c_str(),
                    shape.c_str(), config.key().c_str(), e.what());
      }
    }
  }

  for (const std::vector<int64_t> &dims : *matmulShapes) {
    int64_t m = dims[0], n = dims[1], k = dims[2];
    DeviceTensor a = random({m, k}), b = random({k, n}), c = DeviceTensor::empty({m, n}, *dtype);
    std::string shape = llvm::formatv("{0}x{1}x{2}", m, n, k).str();
    double flops = 2.0 * m * n * k;
    std::vector<std::pair<kernels::KernelConfig, bool>> configs{
        {kernels::matmulConfig(*dtype, m, n, k), true}};
    llvm::SmallVector<llvm::StringRef> listed;
    llvm::StringRef(o.matmulConfigs).split(listed, ';', -1, false);
    for (llvm::StringRef text : listed) {
      std::optional<kernels::KernelConfig> config = parseMatmulConfig(text, *dtype);
      if (!config) {
        std::fprintf(
            stderr,
            "tessera-bench: --matmul-configs: expected BMxBNxBKwWsS[g][m][t][w][p], got '%s'\n",
            text.str().c_str());
        return 2;
      }
      configs.emplace_back(*config, false);
    }
    for (const auto &[config, heuristic] : configs) {
      try {
        double ms = timeIt([&] { kernels::matmulWithConfig(a, b, c, config); });
        report("tessera-matmul", shape, ms, flops / ms / 1e9, "TFLOP/s", config, heuristic);
      } catch (const Error &e) {
        // A listed configuration may not compile (shared memory, registers).
        std::printf("%-16s %-5s %-16s [%s] failed: %s\n", "tessera-matmul", o.dtype.c_str(),
                    shape.c_str(), config.key().c_str(), e.what());
        if (heuristic)
          return 1;
      }
    }
  }

  if (!o.jsonPath.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream os(o.jsonPath, ec);
    if (ec) {
      std::fprintf(stderr, "tessera-bench: cannot write %s: %s\n", o.jsonPath.c_str(),
                   ec.message().c_str());
      return 1;
    }
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(records))) << "\n";
  }
  return 0;
}
