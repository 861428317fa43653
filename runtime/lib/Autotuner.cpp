//===- Autotuner.cpp - Search a kernel's tuning space on the GPU ----------===//

#include "tessera/runtime/Autotuner.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"
#include "tessera/runtime/Tensor.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

using namespace tessera;
namespace fs = llvm::sys::fs;

// --- Database ------------------------------------------------------------------

TuningDatabase &TuningDatabase::get() {
  static TuningDatabase db = [] {
    if (const char *env = std::getenv("TESSERA_TUNING_DB"))
      return TuningDatabase(env);
    DiskCache &cache = DiskCache::get();
    if (cache.root().empty() || !gpuAvailable())
      return TuningDatabase("");
    std::string device = currentDevice().name;
    for (char &c : device)
      if (!llvm::isAlnum(c))
        c = '_';
    std::string toolchain = llvm::utohexstr(
        llvm::xxh3_64bits(llvm::arrayRefFromStringRef(toolchainFingerprint())), true);
    llvm::SmallString<256> p(cache.root());
    llvm::sys::path::append(p, "tuning", device + "-" + toolchain + ".json");
    return TuningDatabase(std::string(p));
  }();
  return db;
}

TuningDatabase::TuningDatabase(std::string path) : file(std::move(path)) { loadFile(); }

void TuningDatabase::loadFile() {
  if (file.empty())
    return;
  auto buffer = llvm::MemoryBuffer::getFile(file);
  if (!buffer)
    return;
  llvm::Expected<llvm::json::Value> json = llvm::json::parse((*buffer)->getBuffer());
  if (!json) {
    llvm::errs() << "tessera: warning: ignoring unreadable tuning database " << file << ": "
                 << llvm::toString(json.takeError()) << "\n";
    return;
  }
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return;
  if (const llvm::json::Object *problems = root->getObject("problems"))
    for (const auto &[problem, value] : *problems) {
      const llvm::json::Object *p = value.getAsObject();
      if (!p)
        continue;
      if (auto best = p->getString("best"))
        winners[problem.str()] = best->str();
      if (const llvm::json::Object *cands = p->getObject("candidates"))
        for (const auto &[config, c] : *cands) {
          const llvm::json::Object *o = c.getAsObject();
          if (!o)
            continue;
          CandidateResult r;
          r.config = config.str();
          r.ms = o->getNumber("ms").value_or(0);
          r.verdict = o->getString("verdict").value_or("").str();
          r.registers = o->getInteger("registers").value_or(0);
          r.sharedBytes = o->getInteger("shared_bytes").value_or(0);
          r.cached = true;
          timings[problem.str()][r.config] = r;
        }
    }
}

std::optional<std::string> TuningDatabase::best(const std::string &problem) const {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = winners.find(problem);
  if (it == winners.end())
    return std::nullopt;
  return it->second;
}

std::optional<CandidateResult> TuningDatabase::timing(const std::string &problem,
                                                      const std::string &config) const {
  std::lock_guard<std::mutex> lock(mutex);
  auto p = timings.find(problem);
  if (p == timings.end())
    return std::nullopt;
  auto c = p->second.find(config);
  if (c == p->second.end())
    return std::nullopt;
  return c->second;
}

void TuningDatabase::record(const std::string &problem, const CandidateResult &result) {
  std::lock_guard<std::mutex> lock(mutex);
  timings[problem][result.config] = result;
}

void TuningDatabase::setBest(const std::string &problem, const std::string &config) {
  std::lock_guard<std::mutex> lock(mutex);
  winners[problem] = config;
  winnerChanges.fetch_add(1, std::memory_order_release);
}

bool TuningDatabase::save() const {
  if (file.empty())
    return false;
  llvm::json::Object problems;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto &[problem, cands] : timings) {
      llvm::json::Object c;
      for (const auto &[config, r] : cands)
        c[config] = llvm::json::Object{{"ms", r.ms},
                                       {"verdict", r.verdict},
                                       {"registers", r.registers},
                                       {"shared_bytes", r.sharedBytes}};
      llvm::json::Object p{{"candidates", std::move(c)}};
      auto w = winners.find(problem);
      if (w != winners.end())
        p["best"] = w->second;
      problems[problem] = std::move(p);
    }
  }
  llvm::json::Object root{{"toolchain", toolchainFingerprint()}, {"problems", std::move(problems)}};
  fs::create_directories(llvm::sys::path::parent_path(file));
  llvm::SmallString<256> temp;
  int fd = -1;
  if (fs::createUniqueFile(file + ".tmp-%%%%%%", fd, temp)) {
    llvm::errs() << "tessera: warning: cannot write tuning database " << file << "\n";
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  }
  if (fs::rename(temp, file)) {
    fs::remove(temp);
    llvm::errs() << "tessera: warning: cannot publish tuning database " << file << "\n";
    return false;
  }
  return true;
}

// --- Tuning ----------------------------------------------------------------------

std::vector<CandidateResult> tessera::autotune(const std::string &problem,
                                               const std::vector<TuneCandidate> &candidates,
                                               const std::function<void(const JitKernel &)> &run,
                                               const std::function<std::string()> &check,
                                               TuningDatabase &db, const TuneOptions &options) {
  const DeviceInfo &device = currentDevice();
  size_t total = candidates.size() * 2, done = 0;
  auto progress = [&](const std::string &what) {
    if (options.progress)
      options.progress(++done, total, what);
  };

  // Only candidates the database has not timed are compiled and run.
  std::vector<CandidateResult> results;
  std::vector<const TuneCandidate *> fresh;
  for (const TuneCandidate &c : candidates) {
    std::optional<CandidateResult> known =
        options.retime ? std::nullopt : db.timing(problem, c.config);
    if (known) {
      results.push_back(*known);
      results.back().cached = true;
      progress(c.config + " (from the database)");
      progress(c.config + " (from the database)");
    } else {
      fresh.push_back(&c);
    }
  }

  CompileOptions compileOptions;
  compileOptions.arch = device.arch();
  std::vector<IRBuilderFn> builds;
  for (const TuneCandidate *c : fresh)
    builds.push_back(c->build);
  // Under the interpreter nothing is compiled: each candidate's IR runs on
  // the CPU (which tests the tuning flow; its timings mean nothing for a GPU).
  std::vector<Jit::CompileResult> compiled =
      interpreted() ? std::vector<Jit::CompileResult>(fresh.size())
                    : Jit::get().compileAll(builds, compileOptions, DiskCache::get());

  DeviceTensor flush =
      DeviceTensor::empty({int64_t(std::max<size_t>(device.l2Bytes, 1) * 2)}, DType::I1);
  Stream &stream = Stream::defaultStream();
  for (size_t i = 0; i < fresh.size(); ++i) {
    CandidateResult r;
    r.config = fresh[i]->config;
    progress(r.config + " compiled");
    Jit::CompileResult &c = compiled[i];
    std::unique_ptr<JitKernel> kernel;
    if (interpreted()) {
      try {
        kernel = Jit::get().interpretable(fresh[i]->build);
      } catch (const std::exception &e) {
        r.verdict = std::string("build error: ") + e.what();
      }
    } else if (!c.kernel) {
      r.verdict = "compile error: " + c.error.substr(0, c.error.find('\n'));
    } else if (c.kernel->usage.spillStoreBytes > options.maxSpillBytes ||
               c.kernel->usage.spillLoadBytes > options.maxSpillBytes) {
      r.verdict = "spills " + std::to_string(c.kernel->usage.spillStoreBytes) + " bytes";
    } else if (c.kernel->sharedBytes > device.sharedPerBlockOptin) {
      r.verdict = "needs " + std::to_string(c.kernel->sharedBytes) + " bytes of shared memory";
    }
    if (c.kernel) {
      r.registers = c.kernel->usage.registers;
      r.sharedBytes = c.kernel->sharedBytes;
    }
    if (r.verdict.empty()) {
      try {
        if (!kernel)
          kernel = Jit::load(std::move(*c.kernel));
        run(*kernel);
        stream.synchronize();
        r.verdict = check();
        if (r.verdict.empty()) {
          for (int w = 0; w < options.warmupRuns; ++w)
            run(*kernel);
          std::vector<float> times;
          double spent = 0;
          while ((spent < options.budgetMs || int(times.size()) < options.minRuns) &&
                 int(times.size()) < options.maxRuns) {
            flush.fillBytes(uint8_t(times.size()));
            Event start, stop;
            start.record(stream);
            run(*kernel);
            stop.record(stream);
            stop.synchronize();
            times.push_back(Event::elapsedMs(start, stop));
            spent += times.back();
          }
          std::sort(times.begin(), times.end());
          r.ms = times[times.size() / 2];
          r.verdict = "ok";
        }
      } catch (const std::exception &e) {
        r.verdict = std::string("launch error: ") + e.what();
      }
    }
    progress(r.config + ": " + r.verdict);
    db.record(problem, r);
    results.push_back(r);
  }

  std::stable_sort(results.begin(), results.end(),
                   [](const CandidateResult &a, const CandidateResult &b) {
                     if (a.ok() != b.ok())
                       return a.ok();
                     return a.ok() ? a.ms < b.ms : a.config < b.config;
                   });
  if (!results.empty() && results.front().ok())
    db.setBest(problem, results.front().config);
  db.save();
  return results;
}
