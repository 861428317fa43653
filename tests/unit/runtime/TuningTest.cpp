//===- TuningTest.cpp - Tuning database and spaces on the CPU -------------===//

#include "tessera/kernels/attention.h"
#include "tessera/runtime/Autotuner.h"
#include "tessera/runtime/Error.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

using namespace tessera;

namespace {

TEST(TuningDatabase, KeepsEveryCandidateAndTheWinnerAcrossSaves) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("tessera-tuning", dir));
  std::string file = std::string(dir) + "/db/gpu.json";
  {
    TuningDatabase db(file);
    CandidateResult a{"dtype=bf16,num_warps=4,BLOCK_M=64", 1.5, "ok", 128, 4096};
    CandidateResult b{"dtype=bf16,num_warps=8,BLOCK_M=64", 0.0, "spills 8 bytes", 255, 4096};
    db.record("problem", a);
    db.record("problem", b);
    db.setBest("problem", a.config);
    ASSERT_TRUE(db.save());
  }
  TuningDatabase reloaded(file);
  ASSERT_TRUE(reloaded.best("problem").has_value());
  EXPECT_EQ(*reloaded.best("problem"), "dtype=bf16,num_warps=4,BLOCK_M=64");
  std::optional<CandidateResult> a = reloaded.timing("problem", "dtype=bf16,num_warps=4,BLOCK_M=64");
  ASSERT_TRUE(a.has_value());
  EXPECT_DOUBLE_EQ(a->ms, 1.5);
  EXPECT_TRUE(a->ok());
  std::optional<CandidateResult> b = reloaded.timing("problem", "dtype=bf16,num_warps=8,BLOCK_M=64");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->verdict, "spills 8 bytes");
  EXPECT_FALSE(reloaded.best("other").has_value());
  llvm::sys::fs::remove_directories(dir);
}

TEST(TuningDatabase, InMemoryDatabaseDoesNotSave) {
  TuningDatabase db("");
  db.setBest("p", "c");
  EXPECT_EQ(*db.best("p"), "c");
  EXPECT_FALSE(db.save());
}

TEST(KernelConfig, KeyParsesBack) {
  kernels::KernelConfig c = attention::forwardConfig(DType::F16, 96, true, false);
  kernels::KernelConfig back = kernels::KernelConfig::parse(c.key());
  EXPECT_EQ(back.key(), c.key());
  EXPECT_EQ(back.get("BLOCK_D"), 128);
  EXPECT_THROW(kernels::KernelConfig::parse("dtype=f16,BLOCK_M"), Error);
  EXPECT_THROW(kernels::KernelConfig::parse("dtype=f99,num_warps=4"), Error);
  EXPECT_THROW(kernels::KernelConfig::parse("num_warps=4"), Error);
}

TEST(AttentionTuningSpace, HoldsTheHeuristicAndEnoughCandidates) {
  auto space = attention::forwardTuningSpace(DType::BF16, 128, false, false, 4096, 4096);
  EXPECT_GE(space.size(), 24u);
  EXPECT_EQ(space.front().key(), attention::forwardConfig(DType::BF16, 128, false, false).key());
  // Short sequences drop blocks that would only compute padding (all but
  // the heuristic's, the first).
  auto small = attention::forwardTuningSpace(DType::BF16, 64, false, false, 20, 20);
  for (size_t i = 1; i < small.size(); ++i)
    EXPECT_LE(small[i].get("BLOCK_N"), 64) << small[i].key();
  EXPECT_LT(small.size(), space.size());
}

TEST(AttentionTuningSpace, ProblemKeysBucketLengths) {
  EXPECT_EQ(attention::forwardProblem(DType::BF16, 64, true, false, 1000, 3000),
            attention::forwardProblem(DType::BF16, 64, true, false, 1024, 2049 + 1000));
  EXPECT_NE(attention::forwardProblem(DType::BF16, 64, true, false, 1000, 3000),
            attention::forwardProblem(DType::BF16, 64, false, false, 1000, 3000));
}

} // namespace
