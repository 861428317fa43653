//===- CompilerTest.cpp - The pipeline from DSL kernels to cubin ----------===//

#include "attention/Internal.h"
#include "tessera/kernels/Registry.h"
#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Jit.h"

#include "tessera/Schedule/Analysis.h"
#include "tessera/Target/NvJitLink.h"
#include "tessera/Target/PTX.h"

#include "tessera/Dialect/Tile/IR/TileDialect.h"
#include "tessera/dsl.h"
#include "tessera/runtime/Error.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

using namespace tessera;

namespace {

struct Case {
  const char *kernel;
  DType dtype;
  const char *arch;
};

class FoundationKernels : public ::testing::TestWithParam<Case> {};

TEST_P(FoundationKernels, CompileToPtxAndCubinWithoutSpills) {
  Case c = GetParam();
  const kernels::KernelDef &def = kernels::lookup(c.kernel);
  kernels::KernelConfig config = kernels::makeConfig(def, c.dtype, 4, {});
  CompileOptions options;
  options.arch = c.arch;
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  EXPECT_EQ(k.name, c.kernel);
  EXPECT_NE(k.ptx.find(std::string(".target ") + c.arch), std::string::npos);
  EXPECT_NE(k.ptx.find(std::string(".visible .entry ") + c.kernel), std::string::npos);
  EXPECT_GT(k.cubin.size(), 0u);
  EXPECT_EQ(std::string(k.cubin.begin(), k.cubin.begin() + 4), "\x7f"
                                                               "ELF");
  EXPECT_GT(k.usage.registers, 0u);
  EXPECT_EQ(k.usage.spillStoreBytes, 0u);
  EXPECT_EQ(k.usage.spillLoadBytes, 0u);
  EXPECT_EQ(k.numWarps, 4u);
}

INSTANTIATE_TEST_SUITE_P(
    AllArchs, FoundationKernels,
    ::testing::Values(Case{"vector_add", DType::F32, "sm_80"},
                      Case{"vector_add", DType::BF16, "sm_90a"},
                      Case{"softmax", DType::F16, "sm_80"}, Case{"softmax", DType::F32, "sm_90a"},
                      Case{"rms_norm", DType::BF16, "sm_90a"},
                      Case{"rms_norm", DType::F16, "sm_80"}, Case{"matmul", DType::F16, "sm_80"},
                      Case{"matmul", DType::BF16, "sm_90a"}, Case{"matmul", DType::F32, "sm_90a"}),
    [](const ::testing::TestParamInfo<Case> &info) {
      return std::string(info.param.kernel) + "_" + std::string(name(info.param.dtype)) + "_" +
             info.param.arch;
    });

// The configurations softmax(), rms_norm() and matmul() pick compile without
// spills: rows of 1 to 16384 columns in registers, and matmul's 128 x 128
// x 64 wgmma blocks.
TEST(BasicKernelConfigs, CompileWithoutSpills) {
  struct Shipped {
    std::string kernel;
    kernels::KernelConfig config;
    std::string arch;
  };
  std::vector<Shipped> shipped;
  for (int64_t cols : {1, 100, 1024, 4096, 16384}) {
    shipped.push_back({"softmax", kernels::softmaxConfig(DType::BF16, 4096, cols), "sm_90a"});
    shipped.push_back({"rms_norm", kernels::rmsNormConfig(DType::F32, 4096, cols), "sm_80"});
    shipped.push_back({"cumsum", kernels::cumsumConfig(DType::BF16, 4096, cols), "sm_90a"});
  }
  // RMSNorm's backward up to rows of 8192 (16384 spills: docs/PERFORMANCE.md).
  for (int64_t cols : {1, 100, 1024, 4096, 8192})
    for (const char *arch : {"sm_80", "sm_90a"})
      for (DType dtype : {DType::BF16, DType::F32})
        shipped.push_back(
            {"rms_norm_backward", kernels::rmsNormBackwardConfig(dtype, 4096, cols), arch});
  shipped.push_back(
      {"sum_columns", kernels::detail::sumColumnsKernel().config(DType::BF16), "sm_90a"});
  // The batched matmul's small and large-problem configurations.
  for (const char *arch : {"sm_80", "sm_90a"})
    for (auto [batch, size] : {std::pair{4, 512}, std::pair{64, 2048}})
      shipped.push_back({"batched_matmul",
                         kernels::batchedMatmulConfig(DType::BF16, batch, size, size, size, arch),
                         arch});
  // matmul's two sm_90a configurations: 128 x 128 (1024³) and 128 x 256 on
  // two warpgroups, four stages, TMA stores (4096³).
  for (const char *arch : {"sm_80", "sm_90a"})
    for (DType dtype : {DType::BF16, DType::F16, DType::F32})
      for (int64_t size : {1024, 4096}) {
        shipped.push_back({"matmul", kernels::matmulConfig(dtype, size, size, size, arch), arch});
        // And with its copies on TMA (a bounded mbarrier wait loop, no call:
        // a vprintf there made ptxas serialize the wgmmas).
        shipped.push_back(shipped.back());
        shipped.back().config.constants["TMA"] = 1;
        // And on a producer warpgroup (four-stage configurations only).
        shipped.push_back(shipped.back());
        shipped.back().config.constants["WARP_SPECIALIZE"] = 1;
      }
  // Both specialisations: contiguous tensors, and any others.
  for (Shipped s : shipped)
    for (uint64_t aligned : {~uint64_t(0), uint64_t(0)}) {
      s.config.alignedTensors = aligned;
      const kernels::KernelDef &def = kernels::lookup(s.kernel);
      CompileOptions options;
      options.arch = s.arch;
      CompiledKernel k = Jit::get().compile(
          [&](mlir::MLIRContext &ctx) { return def.build(ctx, s.config); }, options);
      EXPECT_EQ(k.usage.spillStoreBytes + k.usage.spillLoadBytes, 0u)
          << s.kernel << " " << s.config.key() << " " << s.arch;
      EXPECT_FALSE(k.usage.wgmmaSerialized) << s.kernel << " " << s.config.key();
    }
}

TEST(Compiler, ParamsFollowTheDslSignature) {
  const kernels::KernelDef &def = kernels::lookup("softmax");
  kernels::KernelConfig config = kernels::makeConfig(def, DType::F32, 4, {{"BLOCK_N", 256}});
  // As a launch on contiguous tensors compiles it (rows that take no
  // vectors may stage their stores through shared memory: shiftedStores).
  config.alignedTensors = ~uint64_t(0);
  CompileOptions options;
  options.emitCubin = false;
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  // x: ptr, 2 sizes, 2 strides; out: the same.
  std::vector<ParamKind> expected = {
      ParamKind::Pointer, ParamKind::I32, ParamKind::I32, ParamKind::I32, ParamKind::I32,
      ParamKind::Pointer, ParamKind::I32, ParamKind::I32, ParamKind::I32, ParamKind::I32};
  EXPECT_EQ(k.params, expected);
  // The two reductions meet through one shared word per warp.
  EXPECT_EQ(k.sharedBytes, 16u);
  EXPECT_TRUE(k.cubin.empty());
}

/// On sm_90a, matmul's pipelined copies of aligned tensors run on TMA: one
/// tensor map per input (A: boxes of 128 rows x 64, B: 64 x 64, four per
/// 64 x 256 tile), passed as 128-byte grid constants after the DSL's
/// parameters; any tensor TMA cannot describe, TMA=0 or sm_80 keep cp.async.
TEST(Compiler, MatmulCopiesWithTensorMapsWhereTheyFit) {
  const kernels::KernelDef &def = kernels::lookup("matmul");
  auto compile = [&](const char *arch, int64_t tma, uint64_t aligned) {
    kernels::KernelConfig config = kernels::matmulConfig(DType::BF16, 4096, 4096, 4096, arch);
    config.constants["TMA"] = tma;
    config.constants["TMA_STORE"] = 0; // the copies' maps alone
    config.alignedTensors = aligned;
    CompileOptions options;
    options.arch = arch;
    options.emitCubin = false;
    return Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); },
                              options);
  };
  CompiledKernel k = compile("sm_90a", 1, ~uint64_t(0));
  ASSERT_EQ(k.tensorMaps.size(), 2u);
  EXPECT_EQ(k.params.size(), 15u);
  EXPECT_EQ(k.tensorMaps[0].tensor, 0u);
  EXPECT_EQ(k.tensorMaps[0].boxRows, 128u);
  EXPECT_EQ(k.tensorMaps[0].boxCols, 64u);
  EXPECT_EQ(k.tensorMaps[1].tensor, 5u);
  EXPECT_EQ(k.tensorMaps[1].boxRows, 64u);
  EXPECT_EQ(k.tensorMaps[1].boxCols, 64u);
  EXPECT_EQ(k.tensorMaps[1].elementBytes, 2u);
  EXPECT_NE(k.ptx.find(".param .align 64 .b8 matmul_param_16[128]"), std::string::npos);
  EXPECT_NE(k.ptx.find("cp.async.bulk.tensor.2d"), std::string::npos);
  EXPECT_NE(k.ptx.find("mbarrier.try_wait.parity"), std::string::npos);
  EXPECT_EQ(k.ptx.find("cp.async.cg"), std::string::npos);
  for (CompiledKernel other : {compile("sm_90a", 0, ~uint64_t(0)), compile("sm_90a", 1, 0b110),
                               compile("sm_80", 1, ~uint64_t(0))}) {
    EXPECT_TRUE(other.tensorMaps.empty());
    EXPECT_EQ(other.ptx.find("cp.async.bulk.tensor"), std::string::npos);
    EXPECT_NE(other.ptx.find("cp.async.cg"), std::string::npos);
  }
}

/// The heuristic copies by TMA on sm_90a at both of its block sizes (the H100
/// sweep, docs/PERFORMANCE.md): 128 x 256 on four stages, C stored by TMA,
/// from 4M outputs with K 2048; 128 x 128 on two below; sm_80 keeps cp.async.
TEST(Compiler, MatmulHeuristicCopiesByTma) {
  for (auto [m, n, k, blockN] : {std::array<int64_t, 4>{4096, 4096, 4096, 256},
                                 std::array<int64_t, 4>{2048, 2048, 2048, 256},
                                 std::array<int64_t, 4>{1024, 2048, 2048, 128},
                                 std::array<int64_t, 4>{8192, 8192, 1024, 128}}) {
    kernels::KernelConfig c = kernels::matmulConfig(DType::F16, m, n, k, "sm_90a");
    EXPECT_EQ(c.get("TMA"), 1) << m << "x" << n << "x" << k;
    EXPECT_EQ(c.get("BLOCK_N"), blockN) << m << "x" << n << "x" << k;
    EXPECT_EQ(c.get("TMA_STORE"), blockN == 256) << m << "x" << n << "x" << k;
  }
  EXPECT_EQ(kernels::matmulConfig(DType::BF16, 2048, 2048, 2048, "sm_80").get("TMA"), 0);
  kernels::KernelConfig small = kernels::matmulConfig(DType::BF16, 1024, 2048, 2048, "sm_90a");
  small.alignedTensors = ~uint64_t(0);
  CompileOptions options;
  options.arch = "sm_90a";
  const kernels::KernelDef &def = kernels::lookup("matmul");
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, small); }, options);
  EXPECT_EQ(k.tensorMaps.size(), 2u);
  EXPECT_EQ(k.ptx.find("cp.async.cg"), std::string::npos);
  EXPECT_EQ(k.usage.spillStoreBytes + k.usage.spillLoadBytes, 0u);
}

/// matmul's large-problem configuration on sm_90a (TMA copies) with
/// `constants` changed, for aligned tensors.
CompiledKernel compileLargeMatmul(const std::map<std::string, int64_t> &constants) {
  kernels::KernelConfig config = kernels::matmulConfig(DType::BF16, 4096, 4096, 4096, "sm_90a");
  for (const auto &[name, value] : constants)
    config.constants[name] = value;
  config.alignedTensors = ~uint64_t(0);
  CompileOptions options;
  options.arch = "sm_90a";
  const kernels::KernelDef &def = kernels::lookup("matmul");
  return Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); },
                            options);
}

/// CLUSTER_M=2 on the large problems' configuration: two-CTA clusters
/// (.reqnctapercluster), B multicast, spill-free, the wgmma group still in
/// flight across k-steps (the interpreter checks the clusters' tile order:
/// InterpretMode.PersistentAndClusteredMatmulCoverEveryTile).
TEST(Compiler, MatmulClustersMulticastB) {
  CompiledKernel k = compileLargeMatmul({{"CLUSTER_M", 2}, {"TMA_STORE", 0}});
  EXPECT_EQ(k.tensorMaps.size(), 2u);
  EXPECT_NE(k.ptx.find(".reqnctapercluster 2, 1, 1"), std::string::npos);
  EXPECT_NE(k.ptx.find(".multicast::cluster"), std::string::npos);
  EXPECT_NE(k.ptx.find("wgmma.wait_group.sync.aligned 1;"), std::string::npos);
  EXPECT_EQ(k.usage.spillStoreBytes + k.usage.spillLoadBytes, 0u);
  EXPECT_FALSE(k.usage.wgmmaSerialized);
}

/// TMA_STORE=1: C leaves through a staging tile and bulk tensor stores
/// (a third tensor map, boxes of 128 rows x 64 columns), alone or with
/// clusters; spill-free, no store from registers left.
TEST(Compiler, MatmulStoresCThroughTma) {
  for (int64_t cluster : {1, 2}) {
    CompiledKernel k = compileLargeMatmul({{"TMA_STORE", 1}, {"CLUSTER_M", cluster}});
    ASSERT_EQ(k.tensorMaps.size(), 3u) << "CLUSTER_M=" << cluster;
    EXPECT_EQ(k.tensorMaps[2].tensor, 10u);
    EXPECT_EQ(k.tensorMaps[2].boxRows, 128u);
    EXPECT_EQ(k.tensorMaps[2].boxCols, 64u);
    EXPECT_NE(k.ptx.find("cp.async.bulk.tensor.2d.global.shared::cta"), std::string::npos);
    EXPECT_EQ(k.ptx.find("st.global"), std::string::npos);
    EXPECT_EQ(k.usage.spillStoreBytes + k.usage.spillLoadBytes, 0u);
  }
}

/// With WARP_SPECIALIZE=1 the four-stage matmul launches a producer
/// warpgroup beside its 8 warps (384 threads): the producer issues the
/// copies and waits for their buffers' release; the consumers release them
/// and synchronize among themselves (named barrier 1), keeping each wgmma
/// group in flight into the next k-step. C still goes out by TMA (the large
/// configuration's TMA_STORE: a third tensor map), after the consumers
/// waited for every fill of the producer's ring.
TEST(Compiler, MatmulWarpSpecializedHasAProducerWarpgroup) {
  CompiledKernel k = compileLargeMatmul({{"WARP_SPECIALIZE", 1}});
  EXPECT_EQ(k.numWarps, 12u);
  EXPECT_EQ(k.tensorMaps.size(), 3u);
  EXPECT_NE(k.ptx.find("cp.async.bulk.tensor.2d.global.shared::cta"), std::string::npos);
  EXPECT_NE(k.ptx.find(".maxntid 384, 1, 1"), std::string::npos);
  EXPECT_NE(k.ptx.find("mbarrier.arrive.shared.b64"), std::string::npos);
  EXPECT_NE(k.ptx.find("wgmma.wait_group.sync.aligned 1;"), std::string::npos);
  EXPECT_EQ(k.usage.spillStoreBytes + k.usage.spillLoadBytes, 0u);
  EXPECT_FALSE(k.usage.wgmmaSerialized);
  // Persistent: the same split around the tile loop, the producer's
  // barrier phases counted across its trips.
  CompiledKernel persistent = compileLargeMatmul({{"WARP_SPECIALIZE", 1}, {"PERSISTENT", 1}});
  EXPECT_EQ(persistent.numWarps, 12u);
  EXPECT_NE(persistent.ptx.find("mbarrier.arrive.shared.b64"), std::string::npos);
  EXPECT_NE(persistent.ptx.find("wgmma.wait_group.sync.aligned 1;"), std::string::npos);
  EXPECT_EQ(persistent.usage.spillStoreBytes + persistent.usage.spillLoadBytes, 0u);
  EXPECT_FALSE(persistent.usage.wgmmaSerialized);
  EXPECT_TRUE(k.notApplied.empty());
  // Without TMA no loop takes a producer: the kernel runs without one and
  // says so, as it does for ping-pong, which needs two consumer warpgroups.
  CompiledKernel cpAsync = compileLargeMatmul({{"WARP_SPECIALIZE", 1}, {"TMA", 0}});
  EXPECT_EQ(cpAsync.numWarps, 8u);
  ASSERT_EQ(cpAsync.notApplied.size(), 1u);
  EXPECT_NE(cpAsync.notApplied[0].find("warp specialization (no loop of TMA copies"),
            std::string::npos)
      << cpAsync.notApplied[0];
}

TEST(Compiler, FailureNamesKernelStageAndSourceLocation) {
  CompileOptions options;
  int line = 0;
  try {
    Jit::get().compile(
        [&](mlir::MLIRContext &ctx) {
          dsl::KernelBuilder kb(ctx, "int_dot");
          dsl::TensorArg out = kb.tensor("out", DType::I32, 2);
          dsl::Tile a = dsl::arange(16);
          dsl::Tile m = dsl::expand_dims(a, 1) * dsl::expand_dims(a, 0);
          // An i32 tile.dot (the DSL only offers float dots, so it is built
          // by hand) has no lowering yet.
          line = __LINE__;
          auto loc = mlir::FileLineColLoc::get(&ctx, "CompilerTest.cpp", line, 0);
          mlir::OpBuilder &b = kb.builder();
          auto accType = mlir::RankedTensorType::get({16, 16}, b.getI32Type());
          mlir::Value acc = mlir::arith::ConstantOp::create(
              b, loc, mlir::DenseElementsAttr::get(accType, b.getI32IntegerAttr(0)));
          mlir::Value c = tile::DotOp::create(b, loc, accType, m.getValue(), m.getValue(), acc);
          dsl::store(out, {dsl::Scalar(0), dsl::Scalar(0)}, dsl::Tile(c));
          return kb.finish();
        },
        options);
    FAIL() << "an integer tile.dot compiled";
  } catch (const Error &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("kernel 'int_dot': stage 'lowering': "), std::string::npos) << msg;
    EXPECT_NE(msg.find("CompilerTest.cpp:" + std::to_string(line)), std::string::npos) << msg;
    EXPECT_NE(msg.find("tile.dot"), std::string::npos) << msg;
  }
}

TEST(Compiler, DumpIrWritesEveryStage) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("tessera-dump", dir));
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  kernels::KernelConfig config = kernels::makeConfig(def, DType::F32, 4, {});
  CompileOptions options;
  options.dumpDir = dir.str().str();
  Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  for (const char *file :
       {"vector_add.0-input.mlir", "vector_add.1-tile.mlir", "vector_add.2-layouts.mlir",
        "vector_add.3-schedule.mlir", "vector_add.4-lowering.mlir", "vector_add.5-ptx.ptx",
        "vector_add.6-ptxas.txt"}) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, file);
    EXPECT_TRUE(llvm::sys::fs::exists(path)) << path.str().str();
  }
  llvm::sys::fs::remove_directories(dir);
}

} // namespace

namespace {

/// Every configuration the attention heuristic ships compiles for sm_80 and
/// sm_90a, and ptxas spills nothing.
class AttentionHeuristicConfigs
    : public ::testing::TestWithParam<std::tuple<int64_t, DType, bool, const char *>> {};

/// `allowedSpillBytes`: a spill measured and accepted (the config that
/// spills still ran fastest); 0 everywhere else. Compiled as launches on
/// contiguous tensors compile it: specialised on aligned tensors.
void expectNoSpills(const char *kernel, kernels::KernelConfig config, const char *arch,
                    unsigned allowedSpillBytes = 0, uint64_t alignedTensors = ~uint64_t(0)) {
  config.alignedTensors = alignedTensors;
  const kernels::KernelDef &def = kernels::lookup(kernel);
  CompileOptions options;
  options.arch = arch;
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  EXPECT_GT(k.cubin.size(), 0u);
  EXPECT_LE(k.usage.spillStoreBytes, allowedSpillBytes) << kernel << " " << config.key();
  EXPECT_LE(k.usage.spillLoadBytes, allowedSpillBytes) << kernel << " " << config.key();
  // A subroutine call (an IEEE f32 division, say) makes ptxas issue each wgmma
  // only after the previous one completed, in the whole kernel.
  EXPECT_FALSE(k.usage.wgmmaSerialized) << kernel << " " << config.key();
  // The opt-in shared memory per block: 163 KiB on sm_80, 227 KiB on sm_90
  // (compileKernel fails past it).
  EXPECT_LE(int64_t(k.sharedBytes + k.usage.staticSharedBytes),
            *schedule::sharedBytesPerBlock(arch))
      << kernel << " " << config.key();
}

/// Each forward configuration the launch compiles for a head dim: causal
/// and key mask together or apart (`masked`), or neither, then also on whole
/// key blocks (EVEN_N, as at the benchmark shapes); on short keys and long
/// ones. Each distinct one compiled once.
TEST_P(AttentionHeuristicConfigs, CompileWithoutSpills) {
  auto [dim, dtype, masked, arch] = GetParam();
  std::set<std::string> compiled;
  auto expectOnce = [&](const kernels::KernelConfig &config) {
    if (compiled.insert(config.key()).second) {
      expectNoSpills("attention_forward", config, arch);
      // Q read in place (forward() at head dims of partial vectors).
      expectNoSpills("attention_forward", config, arch, 0, ~uint64_t(1));
      // K and V that TMA cannot describe (forwardWithConfig): by cp.async,
      // in the order the launch takes for them.
      if (config.get("TMA")) {
        kernels::KernelConfig copies = config;
        attention::detail::specializeOnCopies(copies, /*kvByTensorMaps=*/false);
        expectNoSpills("attention_forward", copies, arch, 0, ~uint64_t(0b110));
      }
    }
  };
  std::vector<std::pair<bool, bool>> causalAndMask = {{false, false}};
  if (masked)
    causalAndMask = {{true, true}, {true, false}, {false, true}};
  for (auto [causal, mask] : causalAndMask)
    for (int64_t kLen : {int64_t(1024), int64_t(4096)}) {
      kernels::KernelConfig config = attention::forwardConfig(dtype, dim, causal, mask, arch,
                                                              attention::Fp32Precision::tf32, kLen);
      expectOnce(config);
      if (!causal && !mask) {
        config.constants["EVEN_N"] = 1;
        expectOnce(config);
      }
    }
}

/// The kernel cache keys on every compile switch the environment sets, each
/// by its tag (the ctest entry ScheduleInterpret.ShiftedStores runs this
/// with TESSERA_SHIFTED_STORES=1).
TEST(Compiler, CompileSwitchesKeyTheCache) {
  std::string key = compileSwitchesKey();
  auto tagged = [&](const char *tag) {
    return key.find(std::string(";") + tag) != std::string::npos;
  };
  EXPECT_EQ(tagged("shifted-stores"), shiftedStores()) << key;
  EXPECT_EQ(tagged("stmatrix"), stmatrixStagings()) << key;
  EXPECT_EQ(tagged("narrow-add-panels"), narrowAddPanels()) << key;
  EXPECT_EQ(tagged("inline-wgmma"), !typedWarpgroupMma()) << key;
  EXPECT_EQ(tagged("separate-rings"), !sharedTmaRings()) << key;
  EXPECT_EQ(tagged("stage-row-vectors"), stageRowVectors()) << key;
}

/// Kernels that stage their stores (TMA_STORE) writing rows TMA cannot
/// describe (head dim 111 in bf16: rows of 222 bytes, written in place by
/// forward() and backward()): with shifted stores (TESSERA_SHIFTED_STORES=1,
/// the ctest entry Compiler.ShiftedStores) O, dK and dV go out of their
/// staging tiles in 16-byte vectors; without, their registers store them, 4
/// bytes at most. Spill-free either way: the one-warpgroup short causal
/// forward, the producer's forward past 1024 keys, the dK/dV program,
/// d 59's forward on the d 64 kernel, and matmul's C of 50257 columns.
TEST(Compiler, StoresOfRowsTmaCannotDescribe) {
  struct Case {
    const char *kernel;
    kernels::KernelConfig config;
    uint64_t misaligned; ///< their bits: out (3); dk, dv (6, 7); matmul's b, c (1, 2)
  };
  const Case cases[] = {
      {"attention_forward",
       attention::forwardConfig(DType::BF16, 111, true, false, "sm_90a",
                                attention::Fp32Precision::tf32, 1024),
       0b1001},
      {"attention_forward",
       attention::forwardConfig(DType::BF16, 111, false, false, "sm_90a",
                                attention::Fp32Precision::tf32, 4096),
       0b1001},
      {"attention_backward_dkdv",
       attention::backwardConfig(DType::BF16, 111, true, false, "sm_90a"), 0b11000000},
      // d 59 on the d 64 kernel (128 x 128 on one warpgroup), which
      // forward() stages so where O's rows take no vectors.
      {"attention_forward",
       [] {
         kernels::KernelConfig c = attention::forwardConfig(DType::BF16, 59, true, false, "sm_90a",
                                                            attention::Fp32Precision::tf32, 1024);
         c.constants["TMA_STORE"] = 1;
         return c;
       }(),
       0b1001},
      // matmul's C of an odd width (B's rows too).
      {"matmul",
       [] {
         kernels::KernelConfig c = kernels::matmulConfig(DType::BF16, 4096, 50257, 4096, "sm_90a");
         c.constants["TMA_STORE"] = 1;
         return c;
       }(),
       0b110}};
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(c.kernel) + " " + c.config.key());
    ASSERT_EQ(c.config.get("TMA_STORE"), 1);
    kernels::KernelConfig config = c.config;
    config.alignedTensors = ~c.misaligned;
    CompileOptions options;
    options.arch = "sm_90a";
    const kernels::KernelDef &def = kernels::lookup(c.kernel);
    CompiledKernel k =
        Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
    EXPECT_EQ(k.usage.spillStoreBytes, 0u);
    EXPECT_EQ(k.usage.spillLoadBytes, 0u);
    EXPECT_FALSE(k.usage.wgmmaSerialized);
    bool vectors = k.ptx.find("st.global.v4.b32") != std::string::npos;
    EXPECT_EQ(vectors, shiftedStores())
        << (shiftedStores() ? "no 16-byte stores with TESSERA_SHIFTED_STORES=1"
                            : "16-byte stores of misaligned rows without TESSERA_SHIFTED_STORES");
    EXPECT_EQ(k.ptx.find("ld.shared.v4.b32") != std::string::npos, shiftedStores());
  }
}

/// The memory-bound kernels on rows of odd widths (softmax, RMSNorm and its
/// backward over 4095 and 1001 columns, bf16 and f32, the heuristic's blocks),
/// compiled for tensors that may take no vectors: with shifted stores
/// (TESSERA_SHIFTED_STORES=1, ctest ScheduleInterpret.ShiftedStores) their
/// outputs go through the scratch space (at most 32 KiB more shared memory)
/// and out in 16-byte vectors (their `st.global.v4` one more: the shifted
/// store's whole vectors), with no more spills than without.
TEST(Compiler, StagedStoresOfOddRows) {
  for (DType dtype : {DType::BF16, DType::F32})
    for (int64_t cols : {4095, 1001}) {
      struct Case {
        const char *kernel;
        kernels::KernelConfig config;
      };
      const Case cases[] = {
          {"softmax", kernels::softmaxConfig(dtype, 16384, cols)},
          {"rms_norm", kernels::rmsNormConfig(dtype, 16384, cols)},
          {"rms_norm_backward", kernels::rmsNormBackwardConfig(dtype, 16384, cols)}};
      for (const Case &c : cases) {
        SCOPED_TRACE(std::string(c.kernel) + " " + c.config.key());
        kernels::KernelConfig config = c.config;
        config.alignedTensors = 0;
        CompileOptions options;
        options.arch = "sm_90a";
        const kernels::KernelDef &def = kernels::lookup(c.kernel);
        CompiledKernel k = Jit::get().compile(
            [&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
        size_t shiftedLoads = 0;
        for (size_t at = k.ptx.find("ld.shared.v4.b32 {"); at != std::string::npos;
             at = k.ptx.find("ld.shared.v4.b32 {", at + 1))
          ++shiftedLoads;
        // The shifted store's two chunk loads per vector, in its loop.
        if (shiftedStores())
          EXPECT_GE(shiftedLoads, 2u);
        else
          EXPECT_EQ(shiftedLoads, 0u);
        EXPECT_LE(k.sharedBytes, 32u * 1024 + 1024);
        EXPECT_EQ(k.usage.spillStoreBytes, 0u);
      }
    }
}

/// FlashAttention-3's order (PIPELINE_QK = 2) beside the producer, its
/// consumer warpgroups in turns, at d 128 and 256 with both key loops
/// (causal, a key mask, both) and with one, and on one warpgroup without a
/// producer at d 64 and 128: spill-free, and ptxas keeps its wgmmas in flight. Until the carried P
/// was made behind the wait of the P·V reading it (tessera-defer-wgmma-waits), the kernels with the
/// masked loop were serialized (C7513).
TEST(Compiler, FlashAttention3sOrderKeepsItsWgmmasInFlight) {
  for (int64_t dim : {128, 256})
    for (auto [causal, mask] : {std::pair{false, false}, std::pair{true, false},
                                std::pair{false, true}, std::pair{true, true}}) {
      SCOPED_TRACE("d " + std::to_string(dim) + (causal ? " causal" : "") +
                   (mask ? " masked" : ""));
      kernels::KernelConfig config = attention::forwardConfig(
          DType::BF16, dim, causal, mask, "sm_90a", attention::Fp32Precision::tf32, 4096);
      config.numWarps = 8;
      config.constants["BLOCK_M"] = 128;
      config.constants["BLOCK_N"] = dim == 256 ? 64 : 128;
      for (const char *flag : {"TMA", "WARP_SPECIALIZE", "PING_PONG", "TMA_STORE"})
        config.constants[flag] = 1;
      config.constants["PIPELINE_QK"] = 2;
      expectNoSpills("attention_forward", config, "sm_90a");
    }
  // On one warpgroup without a producer, 128 x 64, K and V and O by TMA.
  for (int64_t dim : {64, 128})
    for (bool causal : {false, true}) {
      SCOPED_TRACE("one warpgroup, d " + std::to_string(dim) + (causal ? " causal" : ""));
      kernels::KernelConfig config = attention::forwardConfig(
          DType::BF16, dim, causal, false, "sm_90a", attention::Fp32Precision::tf32, 1024);
      config.numWarps = 4;
      for (auto [name, value] : {std::pair{"BLOCK_M", 128},
                                 {"BLOCK_N", 64},
                                 {"TMA", 1},
                                 {"TMA_STORE", 1},
                                 {"WARP_SPECIALIZE", 0},
                                 {"PIPELINE_QK", 2}})
        config.constants[name] = value;
      expectNoSpills("attention_forward", config, "sm_90a");
    }
}

/// The backward's FlashAttention-3 layout of the tuning space (128-key
/// blocks on two consumer warpgroups beside a producer, dQ added atomically
/// or by the split's program) keeps its wgmmas in flight, causal and not,
/// dQᵀ's product before dK's (DQ_FIRST) or after: with dQᵀ's first, ptxas
/// serialized every wgmma of the kernel (C7514) until the two waits at the
/// end of the loop body became one (tessera-defer-wgmma-waits).
TEST(Compiler, AttentionBackwardProducerLayoutKeepsItsWgmmasInFlight) {
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas executable (TESSERA_PTXAS, CUDA_HOME/bin, /usr/local/cuda/bin, "
                    "PATH): warp-specialized kernels fall back to nvJitLink";
  const kernels::KernelDef &def = kernels::lookup("attention_backward_dkdv");
  for (int64_t dim : {64, 128})
    for (bool causal : {false, true})
      for (auto [atomic, dqFirst] : {std::pair{0, 0}, {1, 0}, {1, 1}})
        for (int64_t bm : {32, 64}) {
          SCOPED_TRACE("d " + std::to_string(dim) + (causal ? " causal" : "") + " BLOCK_M " +
                       std::to_string(bm) + (atomic ? " atomic dQ" : "") +
                       (dqFirst ? " first" : ""));
          kernels::KernelConfig config =
              attention::backwardConfig(DType::BF16, dim, causal, false, "sm_90a");
          config.numWarps = 8;
          for (auto [name, value] : {std::pair{"BLOCK_M", bm},
                                     {"BLOCK_N", 128},
                                     {"TMA", 1},
                                     {"WARP_SPECIALIZE", 1},
                                     {"DQ_ATOMIC", atomic},
                                     {"DQ_FIRST", dqFirst},
                                     {"PING_PONG", 1 - atomic}})
            config.constants[name] = value;
          config.alignedTensors = ~uint64_t(0);
          CompileOptions options;
          options.arch = "sm_90a";
          CompiledKernel k = Jit::get().compile(
              [&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
          EXPECT_FALSE(k.usage.wgmmaSerialized) << config.key();
        }
}

/// The backward's dK/dV and dQ kernels in the configurations backward()
/// picks compile without spills too (one head dim per block configuration
/// up to 256; at 512 they spill). (Their cp.async kernels for tensors TMA
/// cannot describe spill at d 128 and 256: Configs.cpp; backward() copies
/// such tensors first.)
class AttentionBackwardHeuristicConfigs : public AttentionHeuristicConfigs {};

TEST_P(AttentionBackwardHeuristicConfigs, CompileWithoutSpills) {
  auto [dim, dtype, masked, arch] = GetParam();
  for (bool deterministic : {false, true}) {
    kernels::KernelConfig config = attention::backwardConfig(
        dtype, dim, masked, masked, arch, attention::Fp32Precision::tf32, deterministic);
    if (deterministic)
      EXPECT_EQ(config.get("DQ_ATOMIC"), 0);
    expectNoSpills("attention_backward_dkdv", config, arch);
    expectNoSpills("attention_backward_dkdv", config, arch, 0, ~uint64_t(64 | 128));
    if (config.get("DQ_ATOMIC"))
      continue; // dQ is added by the dK/dV programs
    std::swap(config.constants["BLOCK_M"], config.constants["BLOCK_N"]); // dQ's blocks
    expectNoSpills("attention_backward_dq", config, arch);
    expectNoSpills("attention_backward_dq", config, arch, 0, ~uint64_t(64));
  }
}

std::string
configName(const ::testing::TestParamInfo<std::tuple<int64_t, DType, bool, const char *>> &info) {
  return "d" + std::to_string(std::get<0>(info.param)) + "_" +
         std::string(name(std::get<1>(info.param))) +
         (std::get<2>(info.param) ? "_causal_mask_" : "_") + std::get<3>(info.param);
}

INSTANTIATE_TEST_SUITE_P(
    Shipped, AttentionHeuristicConfigs,
    ::testing::Combine(::testing::Values(32, 40, 64, 80, 96, 128, 160, 192, 256),
                       ::testing::Values(DType::F32, DType::BF16), ::testing::Bool(),
                       ::testing::Values("sm_80", "sm_90a")),
    configName);

INSTANTIATE_TEST_SUITE_P(Shipped, AttentionBackwardHeuristicConfigs,
                         ::testing::Combine(::testing::Values(32, 40, 64, 96, 128, 160, 192, 256),
                                            ::testing::Values(DType::F32, DType::BF16),
                                            ::testing::Bool(),
                                            ::testing::Values("sm_80", "sm_90a")),
                         configName);

/// The d 128 forward on short keys (1024 and fewer), causal or not, under a
/// key mask or not: 128 x 64, spill-free; unmasked by TMA (the causal
/// cp.async kernel spilled 4 bytes), on two warpgroups where not causal.
TEST(AttentionShortKeysD128, CompilesWithoutSpills) {
  for (bool causal : {false, true})
    for (bool masked : {false, true}) {
      kernels::KernelConfig config = attention::forwardConfig(
          DType::BF16, 128, causal, masked, "sm_90a", attention::Fp32Precision::tf32, 1024);
      EXPECT_EQ(config.get("TMA"), !masked);
      EXPECT_EQ(config.numWarps, !causal && !masked ? 8u : 4u);
      EXPECT_EQ(config.get("WARP_SPECIALIZE"), 0);
      expectNoSpills("attention_forward", config, "sm_90a");
    }
}

/// Head dim 512 in TF32: the forward's blocks (single-buffered on sm_90a)
/// fit each arch's shared memory without spills.
TEST(AttentionTf32HeadDim512, CompilesWithoutSpills) {
  for (const char *arch : {"sm_80", "sm_90a"})
    for (bool masked : {false, true})
      expectNoSpills("attention_forward",
                     attention::forwardConfig(DType::F32, 512, masked, masked, arch), arch);
}

/// ptxas's report of serialized wgmma is read: a wgmma kernel that divides
/// by an IEEE division (a subroutine call) is flagged, the same kernel
/// multiplying by dsl::reciprocal is not.
TEST(Compiler, ReportsWgmmaSerializedByADivision) {
  auto build = [](bool ieeeDivision) {
    return [ieeeDivision](mlir::MLIRContext &ctx) {
      dsl::KernelBuilder kb(ctx, "divided_dot", 4);
      const int64_t n = kb.constant("BLOCK", 64);
      dsl::TensorArg a = kb.tensor("a", DType::BF16, 2), b = kb.tensor("b", DType::BF16, 2);
      dsl::TensorArg d = kb.tensor("d", DType::F32, 2), out = kb.tensor("out", DType::F32, 2);
      dsl::Scalar zero(0);
      dsl::Tile c =
          dsl::dot(dsl::load(a, {zero, zero}, {n, n}), dsl::load(b, {zero, zero}, {n, n}));
      dsl::Tile den = dsl::load(d, {zero, zero}, {n, n});
      dsl::store(out, {zero, zero}, ieeeDivision ? c / den : c * dsl::reciprocal(den));
      return kb.finish();
    };
  };
  CompileOptions options;
  options.arch = "sm_90a";
  CompiledKernel divided = Jit::get().compile(build(true), options);
  EXPECT_NE(divided.ptx.find("wgmma.mma_async"), std::string::npos);
  EXPECT_TRUE(divided.usage.wgmmaSerialized);
  // Loading it says so on stderr, naming the kernel and its configuration.
  EXPECT_NE(
      Jit::loadWarning(divided).find("kernel divided_dot [BLOCK=64]: ptxas serialized its wgmmas"),
      std::string::npos);
  CompiledKernel multiplied = Jit::get().compile(build(false), options);
  EXPECT_FALSE(multiplied.usage.wgmmaSerialized);
  EXPECT_EQ(Jit::loadWarning(multiplied), "");
}

/// A warp-specialized kernel's producer hands its registers to the consumer
/// warpgroups (setmaxnreg), which ptxas honours only in a whole-program
/// assembly: the attention forward on 128 x 128 blocks with its next scores
/// issued early needs the consumers' 240 registers (with nvJitLink's
/// relocatable assembly, ptxas ignores setmaxnreg, spills 200 bytes and
/// serializes the wgmmas at the launch's 168).
TEST(Compiler, WarpSpecializedConsumersGetTheProducersRegisters) {
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas executable (TESSERA_PTXAS, CUDA_HOME/bin, /usr/local/cuda/bin, "
                    "PATH): warp-specialized kernels fall back to nvJitLink";
  kernels::KernelConfig config = attention::forwardConfig(DType::BF16, 128, false, false, "sm_90a");
  config.numWarps = 8;
  config.constants["BLOCK_N"] = 128;
  config.constants["TMA"] = 1;
  config.constants["WARP_SPECIALIZE"] = 1;
  config.constants["PIPELINE_QK"] = 1;
  config.alignedTensors = ~uint64_t(0); // TMA copies
  const kernels::KernelDef &def = kernels::lookup("attention_forward");
  CompileOptions options;
  options.arch = "sm_90a";
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  std::string ptx = k.ptx;
  llvm::erase_if(ptx, [](char c) { return c == ' ' || c == '\t'; });
  EXPECT_EQ(k.numWarps, 12u);
  EXPECT_NE(ptx.find("setmaxnreg.inc.sync.aligned.u32240;"), std::string::npos);
  EXPECT_NE(ptx.find("setmaxnreg.dec.sync.aligned.u3224;"), std::string::npos);
  EXPECT_FALSE(k.usage.registerHandoffIgnored);
  EXPECT_EQ(k.usage.spillStoreBytes + k.usage.spillLoadBytes, 0u);
  EXPECT_FALSE(k.usage.wgmmaSerialized);
}

/// The forward's CTAS_PER_SM reaches the split: two 64 x 64 programs of 8
/// warps (a consumer warpgroup and the producer's) per SM (.minnctapersm 2).
TEST(Compiler, AttentionForwardTwoProgramsPerSm) {
  kernels::KernelConfig config = attention::forwardConfig(DType::BF16, 128, false, false, "sm_90a");
  config.numWarps = 4;
  config.constants["BLOCK_M"] = 64;
  config.constants["BLOCK_N"] = 64;
  config.constants["TMA"] = 1;
  config.constants["WARP_SPECIALIZE"] = 1;
  config.constants["PIPELINE_QK"] = 0;
  config.constants["CTAS_PER_SM"] = 2;
  config.alignedTensors = ~uint64_t(0);
  const kernels::KernelDef &def = kernels::lookup("attention_forward");
  CompileOptions options;
  options.arch = "sm_90a";
  options.emitCubin = false;
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  EXPECT_EQ(k.numWarps, 8u);
  EXPECT_NE(k.ptx.find(".minnctapersm 2"), std::string::npos);
}

/// Head dim 80 in two pieces (BLOCK_D_TAIL = 32): P·V's tail is a wgmma 32
/// columns wide beside the 64-column one, and no product spans 128 columns
/// of the head dim; head dim 128 keeps one piece (no 32-column wgmma).
TEST(Compiler, AttentionHeadDimTailIsATileOfItsOwn) {
  auto ptxFor = [](int64_t dim) {
    kernels::KernelConfig config = attention::forwardConfig(
        DType::BF16, dim, false, false, "sm_90a", attention::Fp32Precision::tf32, 1024);
    config.alignedTensors = ~uint64_t(0);
    const kernels::KernelDef &def = kernels::lookup("attention_forward");
    CompileOptions options;
    options.arch = "sm_90a";
    options.emitCubin = false;
    return Jit::get()
        .compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options)
        .ptx;
  };
  std::string d80 = ptxFor(80), d128 = ptxFor(128);
  EXPECT_NE(d80.find("m64n32k16"), std::string::npos);
  EXPECT_NE(d80.find("m64n64k16"), std::string::npos);
  EXPECT_EQ(d80.find("m64n128k16"), std::string::npos);
  EXPECT_EQ(d128.find("m64n32k16"), std::string::npos);
}

/// ptxas failing names itself and carries its report.
TEST(Compiler, PtxasFailureCarriesItsReport) {
  if (ptxasPath().empty())
    GTEST_SKIP() << "no ptxas executable";
  llvm::Expected<Cubin> cubin =
      assembleWithPtxas(ptxasPath(), ".version 8.1\n.target sm_90a\n.address_size 64\nnonsense;\n",
                        "sm_90a", "broken");
  ASSERT_FALSE(bool(cubin));
  std::string message = llvm::toString(cubin.takeError());
  EXPECT_NE(message.find("ptxas"), std::string::npos) << message;
  EXPECT_NE(message.find("nonsense"), std::string::npos) << message;
}

/// The forward's rescale of its accumulator (dsl::rescale_rows) survives the
/// pipeline as a branch on a warp vote, not as a multiply and a select per
/// element (LLVM speculates the multiplies unless something stops it).
TEST(AttentionForward, RescaleIsABranchOnAWarpVote) {
  kernels::KernelConfig config = attention::forwardConfig(DType::F32, 512, false, false, "sm_90a");
  const kernels::KernelDef &def = kernels::lookup("attention_forward");
  CompileOptions options;
  options.arch = "sm_90a";
  CompiledKernel k =
      Jit::get().compile([&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
  size_t vote = k.ptx.find("vote.sync.all.pred");
  ASSERT_NE(vote, std::string::npos);
  size_t next = k.ptx.find('\n', vote) + 1;
  std::string branch = k.ptx.substr(next, k.ptx.find('\n', next) - next);
  EXPECT_NE(branch.find("bra"), std::string::npos) << branch;
}

/// f32 above is TF32 (the default); the accurate mode's CUDA-core kernels
/// compile without spills as well.
class AttentionAccurateF32Configs
    : public ::testing::TestWithParam<std::tuple<int64_t, bool, const char *>> {};

TEST_P(AttentionAccurateF32Configs, CompileWithoutSpills) {
  auto [dim, masked, arch] = GetParam();
  auto ieee = attention::Fp32Precision::ieee;
  kernels::KernelConfig forward =
      attention::forwardConfig(DType::F32, dim, masked, masked, arch, ieee);
  EXPECT_EQ(forward.get("TF32"), 0);
  expectNoSpills("attention_forward", forward, arch);
  kernels::KernelConfig config =
      attention::backwardConfig(DType::F32, dim, masked, masked, arch, ieee);
  expectNoSpills("attention_backward_dkdv", config, arch);
  std::swap(config.constants["BLOCK_M"], config.constants["BLOCK_N"]);
  expectNoSpills("attention_backward_dq", config, arch);
}

INSTANTIATE_TEST_SUITE_P(Shipped, AttentionAccurateF32Configs,
                         ::testing::Combine(::testing::Values(64, 128, 256), ::testing::Bool(),
                                            ::testing::Values("sm_80", "sm_90a")),
                         [](const auto &info) {
                           return "d" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_causal_mask_" : "_") +
                                  std::get<2>(info.param);
                         });

} // namespace
