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

/// The rows of a JSON array of records; fails naming the file and the entry.
llvm::Expected<std::vector<Row>> readRows(const std::string &path) {
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
  std::vector<Row> rows;
  for (auto [i, value] : llvm::enumerate(*records)) {
    const llvm::json::Object *o = value.getAsObject();
    Row r;
    auto str = [&](const char *k, std::string &out) {
      std::optional<llvm::StringRef> v = o ? o->getString(k) : std::nullopt;
      return v && (out = v->str(), true);
    };
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
    // A peer that failed or does not support the case records ms: null.
    std::optional<double> ms = o->getNumber("ms");
    if (!ms || *ms <= 0)
      continue;
    r.ms = *ms;
    r.tflops = o->getNumber("tflops");
    rows.push_back(std::move(r));
  }
  return rows;
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

} // namespace

int tessera::bench::printMarkdown(const std::vector<std::string> &tesseraFiles,
                                  const std::vector<std::string> &peerFiles) {
  std::vector<Row> ours, peers;
  auto load = [](const std::string &path, std::vector<Row> &into) {
    llvm::Expected<std::vector<Row>> rows = readRows(path);
    if (!rows) {
      std::fprintf(stderr, "tessera-bench: %s\n", llvm::toString(rows.takeError()).c_str());
      return false;
    }
    for (Row &r : *rows)
      into.push_back(std::move(r));
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
  if (ours.empty()) {
    std::fprintf(stderr, "tessera-bench: markdown: no Tessera rows in the files given\n");
    return 1;
  }
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
  for (auto [i, table] : llvm::enumerate(tables)) {
    const auto &[dtype, mode] = table;
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
    std::printf("%s### %s %s\n\n%s\n%s\n", i ? "\n" : "", dtype.c_str(),
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
  }
  return 0;
}
