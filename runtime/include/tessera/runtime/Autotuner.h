//===- Autotuner.h - Search a kernel's tuning space on the GPU --*- C++ -*-===//
//
// autotune() compiles every candidate of a tuning space in parallel on the
// CPU (a thread pool, one MLIR context per task, through the disk cache),
// drops those that fail to compile or spill, then times the rest on the GPU
// with events: warm-up, an L2 flush before every run, and the median of the
// runs that fill a time budget. A candidate may win only if its output
// matches the reference. Every timing is kept in a TuningDatabase (one JSON
// file per device and toolchain), so adding a candidate to a space times only
// that candidate.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_AUTOTUNER_H
#define TESSERA_RUNTIME_AUTOTUNER_H

#include "tessera/runtime/Jit.h"

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

struct TuneCandidate {
  /// Identifies the configuration ("dtype=bf16,num_warps=8,BLOCK_M=64,...").
  std::string config;
  IRBuilderFn build;
};

struct CandidateResult {
  std::string config;
  /// Median milliseconds of one run (valid candidates only).
  double ms = 0;
  /// "ok", or why the candidate may not win.
  std::string verdict;
  unsigned registers = 0, sharedBytes = 0;
  /// Taken from the database rather than timed now.
  bool cached = false;
  bool ok() const { return verdict == "ok"; }
};

/// Every candidate's timing per problem, and the winner, for one device and
/// toolchain. Saved atomically (write a temporary file, rename).
class TuningDatabase {
public:
  /// $TESSERA_TUNING_DB, or <cache dir>/tuning/<device>-<toolchain hash>.json
  /// for the current device; memory-only when no path can be had.
  static TuningDatabase &get();
  explicit TuningDatabase(std::string path);

  const std::string &path() const { return file; }
  std::optional<std::string> best(const std::string &problem) const;
  std::optional<CandidateResult> timing(const std::string &problem,
                                        const std::string &config) const;
  void record(const std::string &problem, const CandidateResult &result);
  void setBest(const std::string &problem, const std::string &config);
  /// Writes the file; returns false (with a warning) when it cannot.
  bool save() const;
  /// Changes with every setBest: a choice made from best() stays valid while
  /// it does not.
  uint64_t generation() const { return winnerChanges.load(std::memory_order_acquire); }

private:
  void loadFile();
  std::string file;
  std::atomic<uint64_t> winnerChanges{0};
  mutable std::mutex mutex;
  std::map<std::string, std::map<std::string, CandidateResult>> timings;
  std::map<std::string, std::string> winners;
};

struct TuneOptions {
  /// Time spent running each candidate (after warm-up), in milliseconds.
  double budgetMs = 200;
  int warmupRuns = 2;
  int minRuns = 3, maxRuns = 50;
  /// Time again candidates the database already has.
  bool retime = false;
  /// Candidates whose kernel spills more than this (stores or loads) are
  /// dropped untimed. 0 by default; a space may allow what a shipped
  /// configuration measured fastest with (attention's backward at d 128).
  unsigned maxSpillBytes = 0;
  /// Called as each candidate is compiled and timed: (done, total, what).
  std::function<void(size_t, size_t, const std::string &)> progress;
};

/// Tunes `problem`: `run` launches a loaded candidate on the problem's inputs
/// (on the default stream); `check` returns "" when the last run's output
/// matches the reference, else the reason. Returns every candidate's result,
/// fastest valid first, and records them and the winner in `db`.
std::vector<CandidateResult> autotune(const std::string &problem,
                                      const std::vector<TuneCandidate> &candidates,
                                      const std::function<void(const JitKernel &)> &run,
                                      const std::function<std::string()> &check, TuningDatabase &db,
                                      const TuneOptions &options = {});

} // namespace tessera

#endif
