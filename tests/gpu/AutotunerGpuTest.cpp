//===- AutotunerGpuTest.cpp - Tuning on the GPU ---------------------------===//

#include "tessera/kernels/attention.h"
#include "tessera/runtime/Driver.h"

#include <gtest/gtest.h>

#include <random>

using namespace tessera;

namespace {

DeviceTensor randomTensor(std::vector<int64_t> shape, DType dtype) {
  static std::mt19937 gen(11);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(shape[0] * shape[1] * shape[2] * shape[3]);
  for (float &x : v)
    x = dist(gen);
  return DeviceTensor::fromFloat(v, shape, dtype);
}

TEST(Autotuner, TunesRecordsAndReusesTimings) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  DeviceTensor q = randomTensor({1, 2, 200, 64}, DType::BF16);
  DeviceTensor k = randomTensor({1, 2, 300, 64}, DType::BF16);
  TuningDatabase db("");
  TuneOptions options;
  options.budgetMs = 5;
  attention::Options attn;
  attn.causal = true;
  std::vector<CandidateResult> results = attention::tuneForward(q, k, k, attn, options, db);
  ASSERT_FALSE(results.empty());
  ASSERT_TRUE(results.front().ok()) << results.front().verdict;
  for (size_t i = 1; i < results.size(); ++i)
    if (results[i].ok())
      EXPECT_GE(results[i].ms, results.front().ms);
  std::string problem = attention::forwardProblem(DType::BF16, 64, true, false, 200, 300);
  ASSERT_TRUE(db.best(problem).has_value());
  EXPECT_EQ(*db.best(problem), results.front().config);

  // A second sweep times nothing: every candidate comes from the database.
  std::vector<CandidateResult> again = attention::tuneForward(q, k, k, attn, options, db);
  ASSERT_EQ(again.size(), results.size());
  for (const CandidateResult &r : again)
    EXPECT_TRUE(r.cached) << r.config;
  EXPECT_EQ(again.front().config, results.front().config);
}

/// The backward's sweep: every valid candidate's gradients matched
/// backwardConfig's, the winner is recorded; deterministic sweeps hold no
/// atomic dQ.
TEST(Autotuner, TunesTheBackward) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  DeviceTensor q = randomTensor({1, 2, 200, 64}, DType::BF16);
  DeviceTensor k = randomTensor({1, 2, 300, 64}, DType::BF16);
  DeviceTensor dout = randomTensor({1, 2, 200, 64}, DType::BF16);
  TuningDatabase db("");
  TuneOptions options;
  options.budgetMs = 5;
  for (bool deterministic : {false, true}) {
    attention::Options attn;
    attn.causal = true;
    attn.deterministic = deterministic;
    attention::ForwardResult f = attention::forward(q, k, k, attn);
    std::vector<CandidateResult> results =
        attention::tuneBackward(q, k, k, f.out, f.lse, dout, attn, options, db);
    ASSERT_FALSE(results.empty());
    ASSERT_TRUE(results.front().ok()) << results.front().verdict;
    size_t valid = 0;
    for (const CandidateResult &r : results) {
      valid += r.ok();
      if (deterministic)
        EXPECT_EQ(r.config.find("DQ_ATOMIC=1"), std::string::npos) << r.config;
    }
    EXPECT_GE(valid, 4u);
    std::string problem = attention::backwardProblem(DType::BF16, 64, true, false, 200, 300,
                                                     attention::Fp32Precision::tf32, deterministic);
    ASSERT_TRUE(db.best(problem).has_value());
    EXPECT_EQ(*db.best(problem), results.front().config);
  }
}

TEST(Autotuner, AWrongCandidateCannotWin) {
  if (!gpuAvailable())
    GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason();
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  std::vector<TuneCandidate> candidates;
  for (int64_t block : {256, 1024}) {
    kernels::KernelConfig c = kernels::makeConfig(def, DType::F32, 4, {{"BLOCK", block}});
    candidates.push_back(
        {c.key(), [&def, c](mlir::MLIRContext &ctx) { return def.build(ctx, c); }});
  }
  int64_t n = 1 << 20;
  DeviceTensor x = DeviceTensor::fromFloat(std::vector<float>(n, 1.f), {n}, DType::F32);
  DeviceTensor out = DeviceTensor::empty({n}, DType::F32);
  std::string last;
  auto run = [&](const JitKernel &kernel) {
    KernelArgs args;
    for (const DeviceTensor *t : {&x, &x, &out})
      args.add(t->data()).add(int32_t(n)).add(int32_t(1));
    int64_t block = kernel.compiled.constants.at("BLOCK");
    last = block == 1024 ? "fast-but-wrong" : "right";
    launch(kernel, unsigned((n + block - 1) / block), 1, 1, args, Stream::defaultStream());
  };
  // The check rejects whatever the BLOCK=1024 candidate produced.
  auto check = [&]() -> std::string { return last == "right" ? "" : "wrong: planted"; };
  TuningDatabase db("");
  TuneOptions options;
  options.budgetMs = 5;
  std::vector<CandidateResult> results = autotune("planted", candidates, run, check, db, options);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results.front().ok());
  EXPECT_NE(results.front().config.find("BLOCK=256"), std::string::npos);
  EXPECT_EQ(results.back().verdict, "wrong: planted");
  EXPECT_EQ(*db.best("planted"), results.front().config);
}

} // namespace
