//===- TuningTest.cpp - Tuning database and spaces on the CPU -------------===//

#include "attention/Internal.h"
#include "tessera/kernels/attention.h"
#include "tessera/runtime/Autotuner.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Jit.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <set>

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
  std::optional<CandidateResult> a =
      reloaded.timing("problem", "dtype=bf16,num_warps=4,BLOCK_M=64");
  ASSERT_TRUE(a.has_value());
  EXPECT_DOUBLE_EQ(a->ms, 1.5);
  EXPECT_TRUE(a->ok());
  std::optional<CandidateResult> b =
      reloaded.timing("problem", "dtype=bf16,num_warps=8,BLOCK_M=64");
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

/// The head dims the padded copies take: whole 16-byte vectors (59 -> 64,
/// 111 -> 112 in 16 bits), or whole 32-byte sectors where backwardRowBytes
/// or forwardRowBytes ask for them on sm_90 (40 -> 48, 88 -> 96: 80-byte
/// rows slowed the TMA kernels); dims already whole keep their width.
TEST(AttentionHeadDimPadding, RoundsRowsToVectorsOrSectors) {
  using attention::detail::vectorHeadDim;
  EXPECT_EQ(vectorHeadDim(DType::BF16, 40), 40);
  EXPECT_EQ(vectorHeadDim(DType::BF16, 59), 64);
  EXPECT_EQ(vectorHeadDim(DType::F16, 111), 112);
  EXPECT_EQ(vectorHeadDim(DType::F32, 59), 60);
  EXPECT_EQ(vectorHeadDim(DType::BF16, 40, 32), 48);
  EXPECT_EQ(vectorHeadDim(DType::BF16, 88, 32), 96);
  EXPECT_EQ(vectorHeadDim(DType::BF16, 80, 32), 80);
  EXPECT_EQ(vectorHeadDim(DType::BF16, 111, 32), 112);
  EXPECT_EQ(vectorHeadDim(DType::F32, 44, 32), 48);
  EXPECT_EQ(vectorHeadDim(DType::BF16, 8, 32), 16);
}

/// A head dim that splits into two pieces (80: 64 + 32) is tuned with and
/// without the split; one that does not (128) only with one piece.
TEST(AttentionTuningSpace, TriesHeadDimPiecesBothWays) {
  auto tailsOf = [](int64_t dim) {
    std::set<int64_t> tails;
    for (const kernels::KernelConfig &c :
         attention::forwardTuningSpace(DType::BF16, dim, false, false, 4096, 4096))
      tails.insert(c.get("BLOCK_D_TAIL"));
    return tails;
  };
  if (attention::detail::currentArch() != "sm_90a")
    GTEST_SKIP() << "pieces are tuned on sm_90a; this machine's arch is "
                 << attention::detail::currentArch();
  EXPECT_EQ(tailsOf(80), (std::set<int64_t>{0, 32}));
  EXPECT_EQ(tailsOf(128), (std::set<int64_t>{0}));
  auto f32 = attention::forwardTuningSpace(DType::F32, 80, false, false, 4096, 4096);
  for (const kernels::KernelConfig &c : f32)
    EXPECT_EQ(c.get("BLOCK_D_TAIL"), 0);
}

/// Where outputs may go by TMA stores, the tuner also tries the heuristic's
/// blocks with them the other way (the forward without a producer
/// warpgroup, the backward with TMA copies).
TEST(AttentionTuningSpace, TriesTmaStoresBothWays) {
  if (attention::detail::currentArch() != "sm_90a")
    GTEST_SKIP() << "TMA stores are tuned on sm_90a; this machine's arch is "
                 << attention::detail::currentArch();
  auto storesOf = [](const std::vector<kernels::KernelConfig> &space) {
    std::set<int64_t> stores;
    for (const kernels::KernelConfig &c : space)
      if (c.get("BLOCK_M") == space.front().get("BLOCK_M") &&
          c.get("BLOCK_N") == space.front().get("BLOCK_N") &&
          c.numWarps == space.front().numWarps && c.get("BLOCK_D_TAIL") == 0)
        stores.insert(c.get("TMA_STORE"));
    return stores;
  };
  EXPECT_EQ(storesOf(attention::forwardTuningSpace(DType::BF16, 128, true, false, 1024, 1024)),
            (std::set<int64_t>{0, 1}));
  EXPECT_EQ(storesOf(attention::forwardTuningSpace(DType::BF16, 64, false, false, 4096, 4096)),
            (std::set<int64_t>{0, 1}));
  // Beside a producer warpgroup too.
  EXPECT_EQ(storesOf(attention::forwardTuningSpace(DType::BF16, 128, false, false, 4096, 4096)),
            (std::set<int64_t>{0, 1}));
  EXPECT_EQ(storesOf(attention::forwardTuningSpace(DType::BF16, 256, true, false, 4096, 4096)),
            (std::set<int64_t>{0, 1}));
  EXPECT_EQ(storesOf(attention::backwardTuningSpace(DType::BF16, 128, true, false, 4096, 4096,
                                                    attention::Fp32Precision::tf32, false)),
            (std::set<int64_t>{0, 1}));
}

TEST(AttentionTuningSpace, TriesTwoBoundedProgramsPerSm) {
  if (attention::detail::currentArch() != "sm_90a")
    GTEST_SKIP() << "two 8-warp programs per SM are tuned on sm_90a; this machine's arch is "
                 << attention::detail::currentArch();
  size_t bounded = 0;
  for (const kernels::KernelConfig &c :
       attention::forwardTuningSpace(DType::BF16, 128, true, false, 1024, 1024))
    bounded += c.numWarps == 8 && c.get("CTAS_PER_SM") == 2;
  EXPECT_EQ(bounded, 4u);
  for (const kernels::KernelConfig &c :
       attention::forwardTuningSpace(DType::F32, 128, true, false, 1024, 1024))
    EXPECT_EQ(c.get("CTAS_PER_SM"), 1);
}

/// Beside the producer (d 128 past 1024 keys, d 256), both orders at the
/// heuristic's blocks: FlashAttention-3's (PIPELINE_QK = 2) with and without
/// turns and the next scores first (PIPELINE_QK = 1), O both ways, causal or
/// not; the heuristic is the first with turns and TMA stores, without key
/// masks (docs/PERFORMANCE.md "FlashAttention-3's order by default").
TEST(AttentionTuningSpace, TriesBothOrdersBesideTheProducer) {
  if (attention::detail::currentArch() != "sm_90a")
    GTEST_SKIP() << "the producer's schedules are tuned on sm_90a; this machine's arch is "
                 << attention::detail::currentArch();
  using Orders = std::set<std::tuple<int64_t, int64_t, int64_t>>;
  auto orders = [](int64_t dim, bool causal) {
    Orders found; // (PIPELINE_QK, PING_PONG, TMA_STORE)
    for (const kernels::KernelConfig &c :
         attention::forwardTuningSpace(DType::BF16, dim, causal, false, 4096, 4096))
      if (c.get("WARP_SPECIALIZE") && c.numWarps == 8 && c.get("BLOCK_M") == 128 &&
          c.get("BLOCK_N") == (dim == 256 ? 64 : 128)) {
        EXPECT_EQ(c.get("PING_PONG") && c.get("PIPELINE_QK") != 2, false);
        found.insert({c.get("PIPELINE_QK"), c.get("PING_PONG"), c.get("TMA_STORE")});
      }
    return found;
  };
  const Orders both{{1, 0, 0}, {1, 0, 1}, {2, 0, 0}, {2, 0, 1}, {2, 1, 0}, {2, 1, 1}};
  for (int64_t dim : {128, 256})
    for (bool causal : {false, true}) {
      SCOPED_TRACE("d " + std::to_string(dim) + (causal ? " causal" : ""));
      EXPECT_EQ(orders(dim, causal), both);
      kernels::KernelConfig heuristic = attention::forwardConfig(
          DType::BF16, dim, causal, false, "sm_90a", attention::Fp32Precision::tf32, 4096);
      EXPECT_EQ(heuristic.get("PIPELINE_QK"), 2);
      EXPECT_EQ(heuristic.get("PING_PONG"), 1);
      EXPECT_EQ(heuristic.get("TMA_STORE"), 1);
      // Under a key mask, and at d 128 up to 1024 keys, not.
      EXPECT_NE(attention::forwardConfig(DType::BF16, dim, causal, true, "sm_90a",
                                         attention::Fp32Precision::tf32, 4096)
                    .get("PIPELINE_QK"),
                2);
    }
  EXPECT_EQ(attention::forwardConfig(DType::BF16, 128, false, false, "sm_90a",
                                     attention::Fp32Precision::tf32, 1024)
                .get("PIPELINE_QK"),
            0);
  EXPECT_EQ(attention::forwardConfig(DType::BF16, 64, false, false, "sm_90a",
                                     attention::Fp32Precision::tf32, 4096)
                .get("PIPELINE_QK"),
            0);
}

TEST(AttentionTuningSpace, TriesTheBackwardBesideAProducer) {
  auto producers = [](bool deterministic, int64_t len) {
    std::set<std::pair<int64_t, int64_t>> found; // (BLOCK_M, DQ_ATOMIC)
    for (const kernels::KernelConfig &c :
         attention::backwardTuningSpace(DType::BF16, 128, true, false, len, len,
                                        attention::Fp32Precision::tf32, deterministic))
      if (c.get("WARP_SPECIALIZE") && c.numWarps == 8 && c.get("BLOCK_N") == 128) {
        found.insert({c.get("BLOCK_M"), c.get("DQ_ATOMIC")});
        // The split's consumer warpgroups take turns; atomic dQ's do not.
        EXPECT_EQ(c.get("PING_PONG"), !c.get("DQ_ATOMIC")) << c.key();
      }
    return found;
  };
  if (attention::detail::currentArch() != "sm_90a")
    GTEST_SKIP() << "the backward's producer blocks are tuned on sm_90a; this machine's arch is "
                 << attention::detail::currentArch();
  EXPECT_EQ(producers(false, 16384),
            (std::set<std::pair<int64_t, int64_t>>{{32, 0}, {32, 1}, {64, 0}, {64, 1}}));
  EXPECT_EQ(producers(true, 16384), (std::set<std::pair<int64_t, int64_t>>{{32, 0}, {64, 0}}));
  EXPECT_TRUE(producers(false, 64).empty()); // blocks longer than the sequence
}

TEST(AttentionTuningSpace, ProblemKeysBucketLengths) {
  EXPECT_EQ(attention::forwardProblem(DType::BF16, 64, true, false, 1000, 3000),
            attention::forwardProblem(DType::BF16, 64, true, false, 1024, 2049 + 1000));
  EXPECT_NE(attention::forwardProblem(DType::BF16, 64, true, false, 1000, 3000),
            attention::forwardProblem(DType::BF16, 64, false, false, 1000, 3000));
}

/// The backward's space starts at backwardConfig's, holds atomic dQ only
/// when determinism is not asked for, and has a key of its own.
TEST(AttentionBackwardTuningSpace, HeuristicFirstAndDeterminismKept) {
  auto space = attention::backwardTuningSpace(DType::BF16, 128, false, false, 4096, 4096,
                                              attention::Fp32Precision::tf32, false);
  auto deterministic = attention::backwardTuningSpace(DType::BF16, 128, false, false, 4096, 4096,
                                                      attention::Fp32Precision::tf32, true);
  EXPECT_EQ(space.front().key(), attention::backwardConfig(DType::BF16, 128, false, false).key());
  EXPECT_GE(deterministic.size(), 12u);
  EXPECT_GT(space.size(), deterministic.size());
  bool anyAtomic = false;
  for (const auto &c : space)
    anyAtomic |= c.get("DQ_ATOMIC") != 0;
  EXPECT_TRUE(anyAtomic);
  for (const auto &c : deterministic)
    EXPECT_EQ(c.get("DQ_ATOMIC"), 0) << c.key();
  EXPECT_NE(attention::backwardProblem(DType::BF16, 64, true, false, 1000, 3000,
                                       attention::Fp32Precision::tf32, false),
            attention::backwardProblem(DType::BF16, 64, true, false, 1000, 3000,
                                       attention::Fp32Precision::tf32, true));
  EXPECT_EQ(attention::backwardProblem(DType::BF16, 64, true, false, 1000, 3000,
                                       attention::Fp32Precision::tf32, false)
                .rfind("attention_backward:", 0),
            0u);
}

/// tuneBackward runs each candidate from the constants its dK/dV kernel
/// was compiled with: they must all be there.
TEST(AttentionBackwardTuningSpace, CompiledKernelsCarryTheirConstants) {
  kernels::KernelConfig config = attention::backwardConfig(DType::BF16, 64, true, true);
  config.constants["DQ_ATOMIC"] = 1;
  const kernels::KernelDef &def = kernels::lookup("attention_backward_dkdv");
  CompileOptions options;
  options.arch = "sm_90a";
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  EXPECT_EQ(k.numWarps, config.numWarps);
  for (const auto &[name, value] : config.constants)
    EXPECT_EQ(k.constants.count(name) ? k.constants.at(name) : -1, value) << name;
}

/// Attention chooses as every Kernel does (kernels::chooseTunedConfig): a
/// problem the database does not know is tuned on first use only when
/// asked (TESSERA_AUTOTUNE=1), and the tuner's winner is taken; a
/// deterministic backward never takes an atomic dQ winner.
TEST(AttentionTuning, TunesOnFirstUseOnlyWhenAsked) {
  const int64_t qLen = 23451, kLen = 34561; // problems no other test records
  int calls = 0;
  std::string winner = "dtype=bf16,num_warps=8,BLOCK_D=64,BLOCK_M=32,BLOCK_N=16,CAUSAL=0,"
                       "HAS_MASK=0,NUM_STAGES=2,TF32=0";
  auto tune = [&] {
    ++calls;
    CandidateResult r;
    r.config = winner;
    r.verdict = "ok";
    return std::vector<CandidateResult>{r};
  };
  unsetenv("TESSERA_AUTOTUNE");
  kernels::KernelConfig untuned = attention::chooseForwardConfig(
      DType::BF16, 64, false, false, qLen, kLen, attention::Fp32Precision::tf32, tune);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(untuned.key(), attention::forwardConfig(DType::BF16, 64, false, false, "sm_90a").key());
  setenv("TESSERA_AUTOTUNE", "1", 1);
  kernels::KernelConfig tuned = attention::chooseForwardConfig(
      DType::BF16, 64, false, false, qLen, kLen, attention::Fp32Precision::tf32, tune);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(tuned.get("BLOCK_M"), 32);
  EXPECT_EQ(tuned.get("BLOCK_N"), 16);
  EXPECT_EQ(tuned.numWarps, 8u);

  winner = "dtype=bf16,num_warps=4,BLOCK_D=64,BLOCK_M=32,BLOCK_N=32,CAUSAL=0,DQ_ATOMIC=1,"
           "HAS_MASK=0,TF32=0";
  kernels::KernelConfig deterministic = attention::chooseBackwardConfig(
      DType::BF16, 64, false, false, qLen, kLen, attention::Fp32Precision::tf32, true, tune);
  unsetenv("TESSERA_AUTOTUNE");
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(deterministic.get("DQ_ATOMIC"), 0);
}

} // namespace

// An entry saved before a kernel gained a constant keeps the heuristic's
// value for it: a TF32 forward tuned before WGMMA existed takes the
// heuristic's WGMMA, V_TRANSPOSED and TF32_ROUNDED_KV (wgmma on sm_90a,
// mma.sync elsewhere), the backward's likewise; the saved blocks and warps
// still win.
TEST(AttentionTuning, SavedEntriesKeepTheHeuristicsNewerConstants) {
  const int64_t qLen = 12345, kLen = 23456; // a problem no other test records
  std::string forward = attention::forwardProblem(DType::F32, 128, false, false, qLen, kLen,
                                                  attention::Fp32Precision::tf32);
  TuningDatabase::get().setBest(forward, "dtype=f32,num_warps=8,BLOCK_D=128,BLOCK_M=128,BLOCK_N=32,"
                                         "CAUSAL=0,HAS_MASK=0,NUM_STAGES=2,TF32=1");
  kernels::KernelConfig f = attention::chooseForwardConfig(DType::F32, 128, false, false, qLen,
                                                           kLen, attention::Fp32Precision::tf32);
  EXPECT_EQ(f.numWarps, 8u);
  EXPECT_EQ(f.get("BLOCK_M"), 128);
  EXPECT_EQ(f.get("BLOCK_N"), 32);
  // The heuristic for the arch chooseForwardConfig assumes here (no GPU in
  // the unit tests: sm_90a's).
  kernels::KernelConfig heuristic = attention::forwardConfig(
      DType::F32, 128, false, false, "sm_90a", attention::Fp32Precision::tf32);
  EXPECT_NE(heuristic.get("BLOCK_N"), 32); // the entry's blocks, not the heuristic's
  for (const char *constant : {"WGMMA", "V_TRANSPOSED", "TF32_ROUNDED_KV"})
    EXPECT_EQ(f.get(constant), heuristic.get(constant)) << constant;

  std::string backward = attention::backwardProblem(DType::F32, 64, false, false, qLen, kLen,
                                                    attention::Fp32Precision::tf32, true);
  TuningDatabase::get().setBest(backward, "dtype=f32,num_warps=4,BLOCK_D=64,BLOCK_M=64,BLOCK_N=32,"
                                          "CAUSAL=0,DQ_ATOMIC=0,HAS_MASK=0,TF32=1");
  kernels::KernelConfig b = attention::chooseBackwardConfig(
      DType::F32, 64, false, false, qLen, kLen, attention::Fp32Precision::tf32, true);
  EXPECT_EQ(b.get("BLOCK_M"), 64);
  EXPECT_EQ(b.get("WGMMA"), 0);
}

/// A launch's choice is remembered per problem until the tuning database's
/// winners change: a winner recorded later is taken by the next launch.
TEST(AttentionTuning, RememberedChoiceFollowsTheDatabase) {
  const int64_t qLen = 23999, kLen = 29001; // problems no other test records
  kernels::KernelConfig first =
      attention::chooseForwardConfig(DType::F16, 128, true, false, qLen, kLen);
  EXPECT_EQ(first.key(),
            attention::chooseForwardConfig(DType::F16, 128, true, false, qLen, kLen).key());
  kernels::KernelConfig winner = first;
  winner.constants["BLOCK_N"] = first.get("BLOCK_N") == 32 ? 64 : 32;
  TuningDatabase::get().setBest(attention::forwardProblem(DType::F16, 128, true, false, qLen, kLen,
                                                          attention::Fp32Precision::tf32),
                                winner.key());
  kernels::KernelConfig next =
      attention::chooseForwardConfig(DType::F16, 128, true, false, qLen, kLen);
  EXPECT_EQ(next.get("BLOCK_N"), winner.get("BLOCK_N"));
  EXPECT_NE(next.get("BLOCK_N"), first.get("BLOCK_N"));
}

/// Causal d 128 up to 1024 keys runs FlashAttention-3's order on one
/// warpgroup without a producer, and the tuning space tries the heuristic's
/// blocks in all three orders (docs/PERFORMANCE.md "The short causal
/// forward"); not under a key mask, and the block sweep keeps the plain order.
TEST(AttentionTuningSpace, ShortCausalD128TriesTheOrdersOnOneWarpgroup) {
  if (attention::detail::currentArch() != "sm_90a")
    GTEST_SKIP() << "wgmma orders are tuned on sm_90a; this machine's arch is "
                 << attention::detail::currentArch();
  kernels::KernelConfig heuristic = attention::forwardConfig(
      DType::BF16, 128, true, false, "sm_90a", attention::Fp32Precision::tf32, 1024);
  EXPECT_EQ(heuristic.numWarps, 4u);
  EXPECT_EQ(heuristic.get("WARP_SPECIALIZE"), 0);
  EXPECT_EQ(heuristic.get("PIPELINE_QK"), 2);
  EXPECT_NE(attention::forwardConfig(DType::BF16, 128, true, true, "sm_90a",
                                     attention::Fp32Precision::tf32, 1024)
                .get("PIPELINE_QK"),
            2);
  std::set<int64_t> orders, sweptOrders;
  for (const kernels::KernelConfig &c :
       attention::forwardTuningSpace(DType::BF16, 128, true, false, 1024, 1024)) {
    bool heuristicBlocks = c.numWarps == 4 && c.get("BLOCK_M") == 128 && c.get("BLOCK_N") == 64;
    (heuristicBlocks ? orders : sweptOrders).insert(c.get("PIPELINE_QK"));
  }
  EXPECT_EQ(orders, (std::set<int64_t>{0, 1, 2}));
  EXPECT_EQ(sweptOrders, (std::set<int64_t>{0}));
}
