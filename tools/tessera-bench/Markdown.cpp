//===- Markdown.cpp - tessera-bench markdown: the tables of PERFORMANCE.md -===//
//
// Reads the JSON that one device call wrote (tessera-bench --json, and the
// peers' bench_anchors.py $OUT/anchors.json) and prints one markdown table
// per dtype and pass: Tessera's rows, each beside every peer that timed the
// same (pass, dtype, shape, causal), with the ratio peer time / Tessera time
// (above 1: Tessera is faster). It runs without a GPU, so docs are regenerated from saved runs.
//
//===----------------------------------------------------------------------===//

#include "Markdown.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>

namespace {

/// One timed case of one system.
struct Row {
  std::string system, mode, dtype;
  int64_t b = 0, h = 0, s = 0, d = 0;
  bool causal = false;
  double ms = 0;
  std::optional<double> tflops;

  using Key = std::tuple<std::string, std::string, int64_t, int64_t, int64_t, int64_t, bool>;
  Key key() const { return {mode, dtype, b, h, s, d, causal}; }
};

/// One timed case of a general kernel (bench_general.py's records, and
/// tessera-bench kernels'): "torch-softmax", "tessera-softmax",
/// "device-copy", ... on a shape, in ms and in `unit` (GB/s, TFLOP/s).
struct KernelRow {
  std::string kernel, dtype, shape, unit;
  double ms = 0, value = 0;

  /// What is computed, without who computed it: "softmax" of
  /// "torch-softmax", "matmul" of "cublas-matmul".
  std::string what() const { return llvm::StringRef(kernel).split('-').second.str(); }
  bool isTessera() const { return llvm::StringRef(kernel).starts_with("tessera-"); }
};

struct Records {
  std::vector<Row> attention;
  std::vector<KernelRow> kernels;
};

/// The records of a JSON array: attention cases (system, mode, b, h, s, d,
/// causal) and general kernels (kernel, shape, value, unit). Fails naming the
/// file and the entry.
llvm::Expected<Records> readRecords(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return llvm::createStringError(buffer.getError(), "%s: %s", path.c_str(),
                                   buffer.getError().message().c_str());
  llvm::Expected<llvm::json::Value> json = llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return llvm::createStringError(llvm::inconvertibleErrorCode(), "%s: %s", path.c_str(),
                                   llvm::toString(json.takeError()).c_str());
  const llvm::json::Array *records = json->getAsArray();
  if (!records)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: expected a JSON array of records", path.c_str());
  Records out;
  for (auto [i, value] : llvm::enumerate(*records)) {
    const llvm::json::Object *o = value.getAsObject();
    Row r;
    auto str = [&](const char *k, std::string &out) {
      std::optional<llvm::StringRef> v = o ? o->getString(k) : std::nullopt;
      return v && (out = v->str(), true);
    };
    // A peer that failed or does not support the case records ms: null.
    std::optional<double> ms = o ? o->getNumber("ms") : std::nullopt;
    if (o && o->get("kernel")) {
      KernelRow k;
      std::optional<double> v = o->getNumber("value");
      if (!str("kernel", k.kernel) || !str("dtype", k.dtype) || !str("shape", k.shape) ||
          !str("unit", k.unit) || (ms && !v))
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "%s: record %zu: expected kernel, dtype, shape, ms, "
                                       "value and unit",
                                       path.c_str(), i);
      if (!ms || *ms <= 0)
        continue;
      k.ms = *ms;
      k.value = *v;
      out.kernels.push_back(std::move(k));
      continue;
    }
    auto num = [&](const char *k, int64_t &out) {
      std::optional<int64_t> v = o ? o->getInteger(k) : std::nullopt;
      return v && (out = *v, true);
    };
    std::optional<bool> causal = o ? o->getBoolean("causal") : std::nullopt;
    if (!str("system", r.system) || !str("mode", r.mode) || !str("dtype", r.dtype) ||
        !num("b", r.b) || !num("h", r.h) || !num("s", r.s) || !num("d", r.d) || !causal)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "%s: record %zu: expected system, mode, dtype, b, h, s, d "
                                     "and causal",
                                     path.c_str(), i);
    r.causal = *causal;
    // Rows under a key mask have no peers beside them (the anchors time
    // unmasked attention): not in the tables.
    if (!ms || *ms <= 0 || o->getBoolean("mask").value_or(false))
      continue;
    r.ms = *ms;
    r.tflops = o->getNumber("tflops");
    out.attention.push_back(std::move(r));
  }
  return out;
}

/// The column name of a peer system: bench_anchors.py's names, shortened.
std::string peerName(const std::string &system) {
  static const std::map<std::string, std::string> names{{"torch-sdpa-cudnn", "cuDNN"},
                                                        {"torch-sdpa-flash(FA2)", "FA2"},
                                                        {"torch-sdpa-efficient", "SDPA efficient"},
                                                        {"torch-flex(Triton)", "FlexAttention"},
                                                        {"jax-cudnn", "JAX cuDNN"}};
  auto it = names.find(system);
  return it == names.end() ? system : it->second;
}

/// One table per general kernel and dtype (softmax bf16, matmul f16, ...):
/// Tessera's rows beside the peers that computed the same on the same shape;
/// for bandwidths also the share of the device copy's bandwidth of the run.
void printKernelTables(const std::vector<KernelRow> &rows, bool first) {
  std::optional<double> copyGBs;
  for (const KernelRow &k : rows)
    if (k.kernel == "device-copy" && k.unit == "GB/s")
      copyGBs = k.value;
  std::vector<std::pair<std::string, std::string>> tables;
  for (const KernelRow &k : rows)
    if (k.isTessera() && !llvm::is_contained(tables, std::make_pair(k.what(), k.dtype)))
      tables.emplace_back(k.what(), k.dtype);
  for (const auto &[what, dtype] : tables) {
    std::vector<const KernelRow *> ours;
    std::vector<std::string> columns;
    for (const KernelRow &k : rows) {
      if (k.what() != what || k.dtype != dtype)
        continue;
      if (k.isTessera())
        ours.push_back(&k);
      else if (!llvm::is_contained(columns, k.kernel))
        columns.push_back(k.kernel);
    }
    const std::string &unit = ours.front()->unit;
    bool bandwidth = unit == "GB/s" && copyGBs;
    std::string header = "| shape | Tessera ms | " + unit + " |";
    std::string rule = "|---|---:|---:|";
    for (const std::string &c : columns) {
      header += " " + c + " ms | × " + c + " |";
      rule += "---:|---:|";
    }
    if (bandwidth) {
      header += " of copy bandwidth |";
      rule += "---:|";
    }
    std::printf("%s### %s %s\n\n%s\n%s\n", first ? "" : "\n", what.c_str(), dtype.c_str(),
                header.c_str(), rule.c_str());
    first = false;
    for (const KernelRow *r : ours) {
      std::string line =
          llvm::formatv("| {0} | {1:F3} | {2:F0} |", r->shape, r->ms, r->value).str();
      for (const std::string &c : columns) {
        auto peer = llvm::find_if(rows, [&](const KernelRow &k) {
          return k.kernel == c && k.dtype == dtype && k.shape == r->shape;
        });
        line += peer != rows.end()
                    ? llvm::formatv(" {0:F3} | {1:F2} |", peer->ms, peer->ms / r->ms).str()
                    : " — | — |";
      }
      if (bandwidth)
        line += llvm::formatv(" {0:F2} |", r->value / *copyGBs).str();
      std::printf("%s\n", line.c_str());
    }
  }
}

} // namespace

int tessera::bench::printMarkdown(const std::vector<std::string> &tesseraFiles,
                                  const std::vector<std::string> &peerFiles) {
  std::vector<Row> ours, peers;
  std::vector<KernelRow> kernels;
  auto load = [&](const std::string &path, std::vector<Row> &into) {
    llvm::Expected<Records> records = readRecords(path);
    if (!records) {
      std::fprintf(stderr, "tessera-bench: %s\n", llvm::toString(records.takeError()).c_str());
      return false;
    }
    for (Row &r : records->attention)
      into.push_back(std::move(r));
    for (KernelRow &k : records->kernels)
      kernels.push_back(std::move(k));
    return true;
  };
  for (const std::string &f : tesseraFiles)
    if (!load(f, ours))
      return 1;
  for (const std::string &f : peerFiles)
    if (!load(f, peers))
      return 1;
  // Tessera's own rows may sit in a peers file too (one JSON for the call).
  auto peersEnd = std::stable_partition(peers.begin(), peers.end(),
                                        [](const Row &r) { return r.system != "tessera"; });
  ours.insert(ours.end(), peersEnd, peers.end());
  peers.erase(peersEnd, peers.end());
  if (ours.empty() && llvm::none_of(kernels, [](const KernelRow &k) { return k.isTessera(); })) {
    std::fprintf(stderr, "tessera-bench: markdown: no Tessera rows in the files given\n");
    return 1;
  }
  bool first = true;
  // One table per (dtype, pass): dtypes in order of first appearance, the
  // forward before the backward, rows in the order they were timed.
  std::vector<std::pair<std::string, std::string>> tables;
  for (const char *mode : {"fwd", "bwd"})
    for (const Row &r : ours)
      if (r.mode == mode && !llvm::is_contained(tables, std::make_pair(r.dtype, r.mode)))
        tables.emplace_back(r.dtype, r.mode);
  llvm::stable_sort(tables, [&](const auto &a, const auto &b) {
    auto firstOf = [&](const std::string &dtype) {
      return llvm::find_if(ours, [&](const Row &r) { return r.dtype == dtype; }) - ours.begin();
    };
    return firstOf(a.first) < firstOf(b.first);
  });
  for (const auto &[dtype, mode] : tables) {
    std::vector<const Row *> rows;
    for (const Row &r : ours)
      if (r.dtype == dtype && r.mode == mode)
        rows.push_back(&r);
    // The peers that timed at least one of the table's cases, in order of
    // first appearance.
    std::vector<std::string> columns;
    std::map<std::pair<Row::Key, std::string>, double> peerMs;
    for (const Row &p : peers) {
      if (llvm::none_of(rows, [&](const Row *r) { return r->key() == p.key(); }))
        continue;
      if (!llvm::is_contained(columns, p.system))
        columns.push_back(p.system);
      peerMs[{p.key(), p.system}] = p.ms;
    }
    std::string header = "| b, h, s, d | causal | Tessera ms | TFLOP/s |";
    std::string rule = "|---|---|---:|---:|";
    for (const std::string &c : columns) {
      header += " " + peerName(c) + " ms | × " + peerName(c) + " |";
      rule += "---:|---:|";
    }
    std::printf("%s### %s %s\n\n%s\n%s\n", first ? "" : "\n", dtype.c_str(),
                mode == "fwd" ? "forward" : "backward", header.c_str(), rule.c_str());
    for (const Row *r : rows) {
      std::string line = llvm::formatv("| {0}, {1}, {2}, {3} | {4} | {5:F3} | {6} |", r->b, r->h,
                                       r->s, r->d, r->causal ? "yes" : "no", r->ms,
                                       r->tflops ? llvm::formatv("{0:F0}", *r->tflops).str() : "")
                             .str();
      for (const std::string &c : columns) {
        auto it = peerMs.find({r->key(), c});
        line += it != peerMs.end()
                    ? llvm::formatv(" {0:F3} | {1:F2} |", it->second, it->second / r->ms).str()
                    : " — | — |";
      }
      std::printf("%s\n", line.c_str());
    }
    first = false;
  }
  printKernelTables(kernels, first);
  return 0;
}
