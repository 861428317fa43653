//===- Tuning.cpp - The tuning space of attention forward -----------------===//

#include "tessera/kernels/attention.h"

#include "Internal.h"
#include "tessera/Support/Env.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

using namespace tessera;
using kernels::KernelConfig;

namespace {

/// The alignment mask (KernelArgs::alignedTensors) of a launch whose tensor
/// parameters are `tensors` in order: null for one the launch allocates
/// itself (aligned); a trailing null (no key mask) is no parameter.
uint64_t alignmentOf(std::vector<const DeviceTensor *> tensors) {
  if (!tensors.empty() && !tensors.back())
    tensors.pop_back();
  uint64_t mask = 0;
  for (size_t i = 0; i < tensors.size() && i < 64; ++i)
    if (!tensors[i] || kernels::detail::vectorAligned(*tensors[i]))
      mask |= uint64_t(1) << i;
  return mask;
}
int64_t bucket(int64_t n) {
  int64_t p = 64;
  while (p < n)
    p <<= 1;
  return p;
}

/// A tuning space in the making: the heuristic's configuration first, then
/// each candidate not seen yet.
class TuningSpace {
public:
  explicit TuningSpace(KernelConfig heuristic) : heuristic(std::move(heuristic)) {
    seen.insert(this->heuristic.key());
    space.push_back(this->heuristic);
  }

  /// The heuristic's configuration on `warps` warps and BLOCK_M x BLOCK_N
  /// blocks, with `constants` set.
  void add(unsigned warps, int64_t blockM, int64_t blockN,
           std::initializer_list<std::pair<const char *, int64_t>> constants) {
    KernelConfig c = heuristic;
    c.numWarps = warps;
    c.constants["BLOCK_M"] = blockM;
    c.constants["BLOCK_N"] = blockN;
    for (const auto &[name, value] : constants)
      c.constants[name] = value;
    if (seen.insert(c.key()).second)
      space.push_back(std::move(c));
  }
  void add(unsigned warps, int64_t blockM, int64_t blockN, const char *name, int64_t value) {
    add(warps, blockM, blockN, {{name, value}});
  }

  /// The heuristic's configuration with 0/1 constant `name` the other way.
  void addFlipped(const char *name) {
    add(heuristic.numWarps, heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N"), name,
        !heuristic.get(name));
  }

  const KernelConfig heuristic;
  std::vector<KernelConfig> space;

private:
  std::set<std::string> seen;
};
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
      forwardConfig(dtype, headDim, causal, hasMask, detail::currentArch(), precision, kLen);
  TuningSpace space(heuristic);
  // Head dims that split into two pieces (16-bit, sm_90a) try both: which
  // one is faster depends on the blocks (docs/PERFORMANCE.md, "Head dims in
  // two pieces").
  std::vector<int64_t> tails{heuristic.get("BLOCK_D_TAIL")};
  int64_t split = detail::headDimTail(headDim, heuristic.get("BLOCK_D"));
  if (dtype != DType::F32 && detail::currentArch() == "sm_90a" && split != 0)
    tails.push_back(tails.front() ? 0 : split);
  // Blocks far longer than the sequence only compute padding.
  auto fits = [&](int64_t bm, int64_t bn) {
    return bm <= std::max<int64_t>(16, bucket(qLen)) && bn <= std::max<int64_t>(16, bucket(kLen));
  };
  // The block sweep keeps the next-scores-first order where the heuristic
  // runs FlashAttention-3's beside the producer (its turns need two consumer
  // warpgroups), the plain order elsewhere.
  const bool besideProducer = heuristic.get("WARP_SPECIALIZE") && heuristic.numWarps == 8;
  const int64_t sweepOrder =
      besideProducer ? std::min<int64_t>(heuristic.get("PIPELINE_QK"), 1) : 0;
  for (int64_t bm : {16, 32, 64, 128})
    for (int64_t bn : {16, 32, 64, 128})
      for (unsigned warps : {4u, 8u})
        for (int64_t tail : tails)
          if (fits(bm, bn))
            space.add(warps, bm, bn,
                      {{"BLOCK_D_TAIL", tail}, {"PIPELINE_QK", sweepOrder}, {"PING_PONG", 0}});
  // The heuristic's blocks with O stored the other way, where TMA stores
  // apply (K and V by TMA, beside a producer warpgroup or not): the
  // heuristic takes them only where they stay spill-free and were measured
  // (d 128 and 256).
  if (heuristic.get("TMA") && fits(heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N")))
    space.addFlipped("TMA_STORE");
  // Beside the producer, the heuristic's blocks in both orders: FlashAttention-
  // 3's (PIPELINE_QK = 2), with and without the consumer warpgroups in turns,
  // and the next scores first (PIPELINE_QK = 1), O both ways (the heuristic
  // takes the first, turns and stores, without key masks at d 128 and 256:
  // docs/PERFORMANCE.md "FlashAttention-3's order by default").
  if (besideProducer && fits(heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N")))
    for (int64_t store : {0, 1}) {
      for (int64_t turns : {0, 1})
        space.add(8, heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N"),
                  {{"PIPELINE_QK", 2}, {"PING_PONG", turns}, {"TMA_STORE", store}});
      space.add(8, heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N"),
                {{"PIPELINE_QK", 1}, {"PING_PONG", 0}, {"TMA_STORE", store}});
    }
  // On one warpgroup without a producer (causal d 128 up to 1024 keys), the
  // heuristic's blocks in the two other orders.
  if (!heuristic.get("WARP_SPECIALIZE") && heuristic.get("PIPELINE_QK") == 2 &&
      fits(heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N")))
    for (int64_t order : {0, 1})
      space.add(heuristic.numWarps, heuristic.get("BLOCK_M"), heuristic.get("BLOCK_N"),
                "PIPELINE_QK", order);
  // Two 8-warp programs per SM, their registers bounded to 128 a thread
  // (CTAS_PER_SM): unbounded, the short d 128 forward on two warpgroups
  // takes 150 and runs one per SM (docs/PERFORMANCE.md "Stores beside the
  // producer"). The autotuner drops those that spill.
  if (dtype != DType::F32 && detail::currentArch() == "sm_90a")
    for (int64_t bm : {64, 128})
      for (int64_t bn : {32, 64})
        if (fits(bm, bn))
          space.add(8, bm, bn,
                    {{"CTAS_PER_SM", 2},
                     {"PIPELINE_QK", besideProducer ? heuristic.get("PIPELINE_QK") : sweepOrder}});
  return space.space;
}

namespace {

/// A configuration from the tuning database over the heuristic's: constants
/// a kernel gained since the entry was saved keep the heuristic's values.
KernelConfig savedOver(KernelConfig heuristic, const std::string &saved) {
  KernelConfig parsed = KernelConfig::parse(saved);
  heuristic.dtype = parsed.dtype;
  heuristic.numWarps = parsed.numWarps;
  for (auto &[name, value] : parsed.constants)
    heuristic.constants[name] = value;
  return heuristic;
}

/// What a launch's choice of configuration depends on besides the tuning
/// database: kernel (backward?), dtype, head dim, causal, key mask, the
/// length buckets, precision, determinism, whether tuning was asked for,
/// and the chip.
using ChoiceKey =
    std::tuple<bool, int, int64_t, bool, bool, int64_t, int64_t, int, bool, bool, std::string>;

ChoiceKey choiceKey(bool backward, DType dtype, int64_t headDim, bool causal, bool hasMask,
                    int64_t qLen, int64_t kLen, attention::Fp32Precision precision,
                    bool deterministic, bool tunes) {
  bool asked = tunes && envFlag("TESSERA_AUTOTUNE");
  return {backward,
          int(dtype),
          headDim,
          causal,
          hasMask,
          bucket(qLen),
          bucket(kLen),
          int(precision),
          deterministic,
          asked,
          attention::detail::currentArch()};
}

/// The configuration chosen for each key while the tuning database's
/// winners stay as they were: a launch's choice is a lookup, not a rebuilt
/// heuristic and a formatted problem (about 1.5 µs of every attention call
/// before).
/// Shared, immutable: a launch reads its configuration without copying it
/// (a map of some twenty constants, 0.4 µs a copy on the build machine).
std::shared_ptr<const attention::detail::Choice>
memoized(const ChoiceKey &key, const std::function<KernelConfig()> &choose) {
  static std::mutex mutex;
  static std::map<ChoiceKey, std::pair<uint64_t, std::shared_ptr<const attention::detail::Choice>>>
      choices;
  uint64_t generation = TuningDatabase::get().generation();
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = choices.find(key);
    if (it != choices.end() && it->second.first == generation)
      return it->second.second;
  }
  auto choice = std::make_shared<attention::detail::Choice>();
  choice->config = choose();
  choice->evenKeys = choice->config;
  choice->evenKeys.constants["EVEN_N"] = 1;
  std::lock_guard<std::mutex> lock(mutex);
  // Tuning now may have changed the winners: keyed to the database after it.
  choices[key] = {TuningDatabase::get().generation(), choice};
  return choice;
}

} // namespace

KernelConfig
attention::chooseForwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                               int64_t qLen, int64_t kLen, Fp32Precision precision,
                               const std::function<std::vector<CandidateResult>()> &tune) {
  return detail::forwardChoice(dtype, headDim, causal, hasMask, qLen, kLen, precision, tune)
      ->config;
}

std::shared_ptr<const attention::detail::Choice>
attention::detail::forwardChoice(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                 int64_t qLen, int64_t kLen, Fp32Precision precision,
                                 const std::function<std::vector<CandidateResult>()> &tune) {
  ChoiceKey key = choiceKey(/*backward=*/false, dtype, headDim, causal, hasMask, qLen, kLen,
                            precision, /*deterministic=*/false, bool(tune));
  return memoized(key, [&] {
    KernelConfig heuristic =
        forwardConfig(dtype, headDim, causal, hasMask, detail::currentArch(), precision, kLen);
    return kernels::chooseTunedConfig(
        forwardProblem(dtype, headDim, causal, hasMask, qLen, kLen, precision),
        [&](const std::string &saved) { return savedOver(heuristic, saved); },
        [&] { return heuristic; }, "the heuristic's (not tuned)", tune);
  });
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
  for (const KernelConfig &config : forwardTuningSpace(q.dtype(), s[3], options.causal, hasMask,
                                                       s[2], kLen, options.fp32Precision)) {
    const kernels::KernelDef &def = kernels::lookup("attention_forward");
    // Specialised on the arguments' alignment, as launchForward's JIT lookup
    // is (k and v as given: a conservative bit where the kernel reads a copy).
    KernelConfig specialized = config;
    specialized.alignedTensors = alignmentOf({&q, &k, &v, &out, &lse, options.keyMask});
    candidates.push_back({config.key(), [&def, specialized](mlir::MLIRContext &ctx) {
                            return def.build(ctx, specialized);
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

std::string attention::backwardProblem(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                       int64_t qLen, int64_t kLen, Fp32Precision precision,
                                       bool deterministic) {
  std::string problem = forwardProblem(dtype, headDim, causal, hasMask, qLen, kLen, precision) +
                        ",det=" + std::to_string(deterministic);
  return "attention_backward" + problem.substr(problem.find(':'));
}

std::vector<KernelConfig> attention::backwardTuningSpace(DType dtype, int64_t headDim, bool causal,
                                                         bool hasMask, int64_t qLen, int64_t kLen,
                                                         Fp32Precision precision,
                                                         bool deterministic) {
  KernelConfig heuristic = backwardConfig(dtype, headDim, causal, hasMask, detail::currentArch(),
                                          precision, deterministic);
  TuningSpace space(heuristic);
  // Blocks far longer than the sequences only compute padding (the dQ pass
  // runs them transposed: BLOCK_N query rows, BLOCK_M keys).
  int64_t longest = std::max<int64_t>(16, bucket(std::min(qLen, kLen)));
  for (int64_t atomic : {0, 1}) {
    if (atomic && deterministic)
      continue;
    for (int64_t bm : {32, 64, 128})
      for (int64_t bn : {32, 64, 128})
        for (unsigned warps : {4u, 8u})
          if (bm <= longest && bn <= longest)
            space.add(warps, bm, bn, "DQ_ATOMIC", atomic);
  }
  // And the heuristic's blocks with the gradients stored from registers.
  if (heuristic.get("TMA") && heuristic.get("BLOCK_M") <= longest &&
      heuristic.get("BLOCK_N") <= longest)
    space.addFlipped("TMA_STORE");
  // 128-key blocks on two consumer warpgroups beside a producer warpgroup
  // (FlashAttention-3's layout), dQ added atomically or by the split's dQ
  // program: with atomic dQ 1.09x the heuristic at (1, 16, 16384, 128) on
  // the H100 (64 x 128), slower below 8192 keys (docs/PERFORMANCE.md). At
  // d 128 64 query rows spill (120 bytes causal), 32 do not; the autotuner
  // drops what spills. The split's consumers take turns (PING_PONG): 1-6%
  // faster than in step at every shape measured, d 64 and 128 (H100,
  // docs/PERFORMANCE.md "The consumers in turns"); atomic dQ's were not.
  if (heuristic.get("TMA") && longest >= 128)
    for (int64_t atomic : {0, 1})
      for (int64_t bm : {32, 64})
        if (!(atomic && deterministic))
          space.add(8, bm, 128,
                    {{"DQ_ATOMIC", atomic}, {"WARP_SPECIALIZE", 1}, {"PING_PONG", !atomic}});
  return space.space;
}

KernelConfig
attention::chooseBackwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                int64_t qLen, int64_t kLen, Fp32Precision precision,
                                bool deterministic,
                                const std::function<std::vector<CandidateResult>()> &tune) {
  ChoiceKey key = choiceKey(/*backward=*/true, dtype, headDim, causal, hasMask, qLen, kLen,
                            precision, deterministic, bool(tune));
  return memoized(key,
                  [&] {
                    KernelConfig heuristic =
                        backwardConfig(dtype, headDim, causal, hasMask, detail::currentArch(),
                                       precision, deterministic);
                    return kernels::chooseTunedConfig(
                        backwardProblem(dtype, headDim, causal, hasMask, qLen, kLen, precision,
                                        deterministic),
                        [&](const std::string &saved) {
                          KernelConfig config = savedOver(heuristic, saved);
                          // A database edited by hand must not break the determinism promise.
                          return deterministic && config.get("DQ_ATOMIC") ? heuristic : config;
                        },
                        [&] { return heuristic; }, "the heuristic's (not tuned)", tune);
                  })
      ->config;
}

std::vector<CandidateResult>
attention::tuneBackward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                        const DeviceTensor &out, const DeviceTensor &lse, const DeviceTensor &dout,
                        const Options &options, const TuneOptions &tuneOptions,
                        TuningDatabase &db) {
  detail::checkInputs(q, k, v, options);
  const auto &s = q.shape();
  int64_t kLen = k.shape()[2];
  bool hasMask = options.keyMask != nullptr;
  std::string problem = backwardProblem(q.dtype(), s[3], options.causal, hasMask, s[2], kLen,
                                        options.fp32Precision, options.deterministic);
  KernelConfig heuristic =
      backwardConfig(q.dtype(), s[3], options.causal, hasMask, detail::currentArch(),
                     options.fp32Precision, options.deterministic);
  // The NVRTC reference once (fp32, from the same out and lse), then each
  // candidate's gradients against it.
  DeviceTensor refDq = DeviceTensor::empty(q.shape(), DType::F32);
  DeviceTensor refDk = DeviceTensor::empty(k.shape(), DType::F32);
  DeviceTensor refDv = DeviceTensor::empty(k.shape(), DType::F32);
  detail::referenceBackward(q, k, v, out, lse, dout, options, refDq, refDk, refDv);
  std::vector<float> expected[3] = {refDq.toFloat(), refDk.toFloat(), refDv.toFloat()};
  BackwardResult r{DeviceTensor::empty(q.shape(), q.dtype()),
                   DeviceTensor::empty(k.shape(), q.dtype()),
                   DeviceTensor::empty(k.shape(), q.dtype())};
  bool tf32 = detail::usesTf32(q.dtype(), options.fp32Precision);
  double bound = q.dtype() == DType::F32   ? (tf32 ? 1e-2 : 1e-4)
                 : q.dtype() == DType::F16 ? 5e-3
                                           : 2e-2;

  std::vector<TuneCandidate> candidates;
  const kernels::KernelDef &def = kernels::lookup("attention_backward_dkdv");
  for (const KernelConfig &config :
       backwardTuningSpace(q.dtype(), s[3], options.causal, hasMask, s[2], kLen,
                           options.fp32Precision, options.deterministic)) {
    // The dK/dV launch's alignment (backwardWithConfig's argument order):
    // the candidate compiled here is the kernel that run() then finds.
    KernelConfig specialized = config;
    std::vector<const DeviceTensor *> params = {&q, &k, &v, &dout, nullptr, nullptr, &r.dk, &r.dv};
    if (config.get("DQ_ATOMIC"))
      params.push_back(nullptr);
    params.push_back(options.keyMask);
    specialized.alignedTensors = alignmentOf(params);
    candidates.push_back({config.key(), [&def, specialized](mlir::MLIRContext &ctx) {
                            return def.build(ctx, specialized);
                          }});
  }
  // The autotuner compiles and loads the dK/dV kernel; the whole backward
  // (delta pass, dK/dV, dQ pass or convert) runs from the constants it was
  // built with, its other kernels through the JIT's caches.
  auto run = [&](const JitKernel &kernel) {
    KernelConfig config = heuristic;
    config.numWarps = kernel.compiled.numWarps;
    for (const auto &[name, value] : kernel.compiled.constants)
      config.constants[name] = value;
    for (DeviceTensor *g : {&r.dq, &r.dk, &r.dv})
      g->fillBytes(0xff);
    backwardWithConfig(q, k, v, out, lse, dout, r.dq, r.dk, r.dv, options, config);
  };
  auto check = [&]() -> std::string {
    const char *names[] = {"dq", "dk", "dv"};
    const DeviceTensor *got[] = {&r.dq, &r.dk, &r.dv};
    for (int g = 0; g < 3; ++g) {
      std::vector<float> values = got[g]->toFloat();
      double num = 0, den = 0;
      for (size_t i = 0; i < values.size(); ++i) {
        if (std::isnan(values[i]))
          return std::string("wrong: NaN in ") + names[g];
        num += double(values[i] - expected[g][i]) * (values[i] - expected[g][i]);
        den += double(expected[g][i]) * expected[g][i];
      }
      double err = std::sqrt(num / std::max(den, 1e-300));
      if (!(err <= bound)) {
        char buf[80];
        std::snprintf(buf, sizeof(buf), "wrong: %s relative error %.2e", names[g], err);
        return buf;
      }
    }
    return "";
  };
  // backwardConfig's d 128 dK/dV kernel on sm_90a spills and still ran
  // fastest (docs/PERFORMANCE.md): the space keeps such candidates.
  TuneOptions withSpills = tuneOptions;
  withSpills.maxSpillBytes = std::max(withSpills.maxSpillBytes, 512u);
  return autotune(problem, candidates, run, check, db, withSpills);
}
