//===- CacheTest.cpp - The disk cache survives races, kills and damage ----===//

#include "tessera/runtime/Cache.h"
#include "tessera/Target/NvJitLink.h"
#include "tessera/kernels/Registry.h"
#include "tessera/runtime/Jit.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace tessera;
namespace fs = llvm::sys::fs;

namespace {

IRBuilderFn vectorAdd(unsigned block = 1024) {
  return [block](mlir::MLIRContext &ctx) {
    const kernels::KernelDef &def = kernels::lookup("vector_add");
    return def.build(ctx, kernels::makeConfig(def, DType::F32, 4, {{"BLOCK", block}}));
  };
}

CompileOptions sm80() {
  CompileOptions o;
  o.arch = "sm_80";
  return o;
}

class TempDir {
public:
  TempDir() {
    llvm::SmallString<128> p;
    EXPECT_FALSE(fs::createUniqueDirectory("tessera-cache-test", p));
    path = std::string(p);
  }
  ~TempDir() { fs::remove_directories(path); }
  std::string path;
};

std::vector<std::string> entries(const std::string &dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec))
    names.push_back(std::string(llvm::sys::path::filename(it->path())));
  std::sort(names.begin(), names.end());
  return names;
}

std::string keyOf(const IRBuilderFn &build, const CompileOptions &options) {
  mlir::MLIRContext ctx;
  return cacheKey(printForHashing(*build(ctx)), options);
}

TEST(CacheKey, ChangesWithIrOptionsArchAndVersions) {
  CompileOptions a = sm80(), b = sm80();
  std::string base = cacheKey("ir", a, "tessera=1;llvm=22;nvjitlink=13.0");
  EXPECT_EQ(base, cacheKey("ir", a, "tessera=1;llvm=22;nvjitlink=13.0"));
  EXPECT_EQ(base.size(), 64u);
  EXPECT_NE(base, cacheKey("ir2", a, "tessera=1;llvm=22;nvjitlink=13.0"));
  b.arch = "sm_90a";
  EXPECT_NE(base, cacheKey("ir", b, "tessera=1;llvm=22;nvjitlink=13.0"));
  b = sm80();
  b.numStages = 3;
  EXPECT_NE(base, cacheKey("ir", b, "tessera=1;llvm=22;nvjitlink=13.0"));
  // With LLVM's strength reduction the PTX differs.
  b = sm80();
  b.strengthReduction = true;
  EXPECT_NE(base, cacheKey("ir", b, "tessera=1;llvm=22;nvjitlink=13.0"));
  EXPECT_NE(base, cacheKey("ir", a, "tessera=2;llvm=22;nvjitlink=13.0"));
  EXPECT_NE(base, cacheKey("ir", a, "tessera=1;llvm=23;nvjitlink=13.0"));
  EXPECT_NE(base, cacheKey("ir", a, "tessera=1;llvm=22;nvjitlink=13.1"));
  // A changed kernel constant changes the IR, hence the key.
  EXPECT_NE(keyOf(vectorAdd(1024), a), keyOf(vectorAdd(512), a));
  EXPECT_NE(toolchainFingerprint().find("llvm=22."), std::string::npos) << toolchainFingerprint();
  // The compiler's sources, hashed at build time (64 hex digits): another
  // build of the compiler misses the cache.
  size_t compiler = toolchainFingerprint().find(";compiler=");
  ASSERT_NE(compiler, std::string::npos) << toolchainFingerprint();
  EXPECT_EQ(toolchainFingerprint().find_first_not_of("0123456789abcdef", compiler + 10),
            compiler + 10 + 64)
      << toolchainFingerprint();
  // The ptxas of warp-specialized kernels, by path (or none).
  EXPECT_NE(toolchainFingerprint().find(";ptxas=" + (ptxasPath().empty() ? "none" : ptxasPath())),
            std::string::npos)
      << toolchainFingerprint();
}

TEST(DiskCache, SecondCompileIsAHitWithTheSameBinary) {
  TempDir dir;
  DiskCache cache(dir.path);
  unsigned before = Jit::get().compileCount();
  CompiledKernel first = Jit::get().compileCached(vectorAdd(), sm80(), cache);
  CompiledKernel second = Jit::get().compileCached(vectorAdd(), sm80(), cache);
  EXPECT_EQ(Jit::get().compileCount(), before + 1);
  EXPECT_EQ(cache.stats().hits, 1u);
  EXPECT_EQ(first.cubin, second.cubin);
  EXPECT_EQ(first.ptx, second.ptx);
  EXPECT_EQ(first.params, second.params);
  EXPECT_EQ(first.sharedBytes, second.sharedBytes);
  EXPECT_EQ(first.usage.registers, second.usage.registers);
  EXPECT_EQ(entries(dir.path).size(), 1u); // one entry, no staging left behind
}

/// A kernel with a source key (Tessera's own, a versioned user kernel):
/// the first lookup builds its IR, compiles and publishes under both keys; a
/// later process (a fresh DiskCache on the same folder) loads the same
/// binary without building any IR. Another source key, or none, builds.
TEST(DiskCache, SourceKeyedHitBuildsNoIr) {
  TempDir dir;
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  kernels::KernelConfig config = kernels::makeConfig(def, DType::F32, 4, {{"BLOCK", 256}});
  ASSERT_FALSE(def.version.empty()) << "a shipped kernel carries its sources' hash";
  int builds = 0;
  IRBuilderFn counted = [&](mlir::MLIRContext &ctx) {
    ++builds;
    return def.build(ctx, config);
  };
  std::string sourceKey = "vector_add[" + config.key() + "]@" + def.version;
  DiskCache cache(dir.path);
  CompiledKernel first = Jit::get().compileCached(counted, sm80(), cache, sourceKey);
  EXPECT_EQ(builds, 1);
  EXPECT_EQ(entries(dir.path).size(), 2u); // by the IR's text and by the source key

  DiskCache later(dir.path);
  CompiledKernel second = Jit::get().compileCached(counted, sm80(), later, sourceKey);
  EXPECT_EQ(builds, 1);
  EXPECT_EQ(later.stats().hits, 1u);
  EXPECT_EQ(first.cubin, second.cubin);
  EXPECT_EQ(first.params, second.params);
  EXPECT_EQ(first.constants, second.constants);

  // Another version (sources changed): the IR is built; its text finds the
  // entry the first compile published, nothing is compiled again.
  unsigned compiles = Jit::get().compileCount();
  Jit::get().compileCached(counted, sm80(), later, sourceKey + "-changed");
  EXPECT_EQ(builds, 2);
  EXPECT_EQ(Jit::get().compileCount(), compiles);
  EXPECT_EQ(entries(dir.path).size(), 3u);
  Jit::get().compileCached(counted, sm80(), later);
  EXPECT_EQ(builds, 3);
  // Another arch: the source key alone does not identify the binary.
  CompileOptions sm90 = sm80();
  sm90.arch = "sm_90a";
  Jit::get().compileCached(counted, sm90, later, sourceKey);
  EXPECT_EQ(builds, 4);
}

/// compileAll (the autotuner's, Jit::prepare's) takes source keys too: a
/// second round of the same kernels builds no IR.
TEST(DiskCache, CompileAllBySourceKeys) {
  TempDir dir;
  DiskCache cache(dir.path);
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  std::atomic<int> builds{0};
  std::vector<IRBuilderFn> fns;
  std::vector<std::string> sourceKeys;
  for (int64_t block : {128, 256}) {
    kernels::KernelConfig config = kernels::makeConfig(def, DType::F32, 4, {{"BLOCK", block}});
    fns.push_back([&builds, &def, config](mlir::MLIRContext &ctx) {
      ++builds;
      return def.build(ctx, config);
    });
    sourceKeys.push_back("vector_add[" + config.key() + "]@" + def.version);
  }
  std::vector<Jit::CompileResult> first = Jit::get().compileAll(fns, sm80(), cache, sourceKeys);
  EXPECT_EQ(builds, 2);
  std::vector<Jit::CompileResult> second = Jit::get().compileAll(fns, sm80(), cache, sourceKeys);
  EXPECT_EQ(builds, 2);
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(first[i].kernel && second[i].kernel) << first[i].error << second[i].error;
    EXPECT_EQ(first[i].kernel->cubin, second[i].kernel->cubin);
  }
  EXPECT_NE(first[0].kernel->cubin, first[1].kernel->cubin);
  // Without source keys each is built to find its entry.
  Jit::get().compileAll(fns, sm80(), cache);
  EXPECT_EQ(builds, 4);
}

/// `kernel` (matmul or batched_matmul) on aligned bf16 tensors, 128 x N x
/// 64 blocks with TMA copies, on `warps` warps with `constants` changed.
IRBuilderFn matmulOn(unsigned warps, std::map<std::string, int64_t> constants,
                     const char *kernel = "matmul") {
  return [=](mlir::MLIRContext &ctx) {
    const kernels::KernelDef &def = kernels::lookup(kernel);
    std::map<std::string, int64_t> all = {{"BLOCK_M", 128}, {"BLOCK_K", 64}, {"TMA", 1}};
    for (const auto &[name, value] : constants)
      all[name] = value;
    kernels::KernelConfig config = kernels::makeConfig(def, DType::BF16, warps, all);
    config.alignedTensors = ~uint64_t(0);
    return def.build(ctx, config);
  };
}

/// `build` compiled for sm_90a into `cache`, then read back from it (a hit).
std::pair<CompiledKernel, CompiledKernel> compiledThenCached(const IRBuilderFn &build,
                                                             DiskCache &cache) {
  CompileOptions options;
  options.arch = "sm_90a";
  CompiledKernel first = Jit::get().compileCached(build, options, cache);
  unsigned hits = cache.stats().hits;
  CompiledKernel second = Jit::get().compileCached(build, options, cache);
  EXPECT_EQ(cache.stats().hits, hits + 1);
  return {first, second};
}

/// A kernel whose copies run on TMA comes back from the cache with the
/// tensor maps its launch must append, and its thread count with the
/// producer warpgroup.
TEST(DiskCache, KeepsTensorMapsAndProducerWarps) {
  TempDir dir;
  DiskCache cache(dir.path);
  auto [first, second] = compiledThenCached(
      matmulOn(8, {{"BLOCK_N", 256}, {"NUM_STAGES", 4}, {"WARP_SPECIALIZE", 1}}), cache);
  ASSERT_EQ(first.tensorMaps.size(), 2u);
  ASSERT_EQ(second.tensorMaps.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(second.tensorMaps[i].tensor, first.tensorMaps[i].tensor);
    EXPECT_EQ(second.tensorMaps[i].elementBytes, first.tensorMaps[i].elementBytes);
    EXPECT_EQ(second.tensorMaps[i].boxRows, first.tensorMaps[i].boxRows);
    EXPECT_EQ(second.tensorMaps[i].boxCols, first.tensorMaps[i].boxCols);
    EXPECT_EQ(second.tensorMaps[i].rank, 2u);
  }
  EXPECT_EQ(second.tensorMaps[1].tensor, 5u);
  EXPECT_EQ(first.numWarps, 12u);
  EXPECT_EQ(second.numWarps, 12u);
}

/// Tensor maps of rank-3 tensors (batched_matmul's, at batch index i) come
/// back with their rank, from which the launch reads the tensor's sizes
/// and strides.
TEST(DiskCache, KeepsTheTensorMapsRank) {
  TempDir dir;
  DiskCache cache(dir.path);
  auto [first, second] =
      compiledThenCached(matmulOn(4, {{"BLOCK_N", 128}}, "batched_matmul"), cache);
  ASSERT_EQ(first.tensorMaps.size(), 2u);
  ASSERT_EQ(second.tensorMaps.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(first.tensorMaps[i].rank, 3u);
    EXPECT_EQ(second.tensorMaps[i].rank, 3u);
  }
  // a (ptr, 3 sizes, 3 strides), then b.
  EXPECT_EQ(second.tensorMaps[1].tensor, 7u);
}

/// A kernel of two-CTA clusters comes back from the cache with its cluster
/// size, which a launch's grid must be a multiple of; on sm_80 it has none.
TEST(DiskCache, KeepsClusterSize) {
  TempDir dir;
  DiskCache cache(dir.path);
  IRBuilderFn matmul = matmulOn(4, {{"BLOCK_N", 128}, {"CLUSTER_M", 2}});
  auto [first, second] = compiledThenCached(matmul, cache);
  EXPECT_EQ(first.clusterSize, 2u);
  EXPECT_EQ(second.clusterSize, 2u);
  EXPECT_EQ(Jit::get().compileCached(matmul, sm80(), cache).clusterSize, 1u);
}

/// What the compiler did not apply (a producer warpgroup asked for on
/// sm_80) comes back from the cache with the kernel.
TEST(DiskCache, KeepsTheRequestsNotApplied) {
  TempDir dir;
  DiskCache cache(dir.path);
  IRBuilderFn matmul = matmulOn(4, {{"BLOCK_N", 128}, {"WARP_SPECIALIZE", 1}});
  CompiledKernel first = Jit::get().compileCached(matmul, sm80(), cache);
  unsigned hits = cache.stats().hits;
  CompiledKernel second = Jit::get().compileCached(matmul, sm80(), cache);
  EXPECT_EQ(cache.stats().hits, hits + 1);
  ASSERT_EQ(first.notApplied.size(), 1u);
  EXPECT_EQ(first.notApplied[0], "warp specialization (sm_90a only)");
  EXPECT_EQ(second.notApplied, first.notApplied);
}

TEST(DiskCache, CorruptedCubinIsDetectedAndReplaced) {
  TempDir dir;
  DiskCache cache(dir.path);
  CompiledKernel good = Jit::get().compileCached(vectorAdd(), sm80(), cache);
  std::string key = keyOf(vectorAdd(), sm80());
  std::string cubinPath = dir.path + "/" + key + "/kernel.cubin";
  {
    std::fstream f(cubinPath, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  EXPECT_FALSE(cache.load(key).has_value());
  EXPECT_EQ(cache.stats().damaged, 1u);
  unsigned before = Jit::get().compileCount();
  CompiledKernel again = Jit::get().compileCached(vectorAdd(), sm80(), cache);
  EXPECT_EQ(Jit::get().compileCount(), before + 1); // recompiled
  EXPECT_EQ(again.cubin, good.cubin);
  std::optional<CompiledKernel> reloaded = cache.load(key);
  ASSERT_TRUE(reloaded.has_value()); // the replacement is intact
  EXPECT_EQ(reloaded->cubin, good.cubin);
}

TEST(DiskCache, MissingFileIsAMissNotACrash) {
  TempDir dir;
  DiskCache cache(dir.path);
  Jit::get().compileCached(vectorAdd(), sm80(), cache);
  std::string key = keyOf(vectorAdd(), sm80());
  fs::remove(dir.path + "/" + key + "/meta.json");
  EXPECT_FALSE(cache.load(key).has_value());
}

TEST(DiskCache, AWriterKilledMidWriteLeavesNoEntryAReaderAccepts) {
  TempDir dir;
  CompiledKernel big = Jit::get().compile(vectorAdd(), sm80());
  big.cubin.resize(64 << 20, '\x7f'); // slow enough to be killed while writing
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string key = "killed" + std::to_string(attempt);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      DiskCache cache(dir.path);
      cache.store(key, big);
      _exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 15 * attempt));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    DiskCache reader(dir.path);
    std::optional<CompiledKernel> seen = reader.load(key);
    // Either the writer finished (the entry is whole) or nothing is accepted.
    if (seen)
      EXPECT_EQ(seen->cubin, big.cubin);
    EXPECT_EQ(reader.stats().damaged, 0u);
  }
}

TEST(DiskCache, TwoProcessesCompilingAtOnceBothSucceedWithOneEntry) {
  TempDir dir;
  pid_t children[2];
  for (pid_t &child : children) {
    child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      DiskCache cache(dir.path);
      CompiledKernel k = Jit::get().compileCached(vectorAdd(256), sm80(), cache);
      _exit(k.cubin.empty() ? 1 : 0);
    }
  }
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::string key = keyOf(vectorAdd(256), sm80());
  EXPECT_EQ(entries(dir.path), std::vector<std::string>{key});
  DiskCache reader(dir.path);
  EXPECT_TRUE(reader.load(key).has_value());
}

TEST(DiskCache, UnwritableDirectoryFallsBackToMemoryOnly) {
  TempDir dir;
  // A directory under a regular file cannot be created, even by root (for
  // whom a read-only mode bit would not stop writes).
  std::string file = dir.path + "/not-a-dir";
  std::ofstream(file) << "x";
  DiskCache cache(file + "/cache");
  unsigned before = Jit::get().compileCount();
  CompiledKernel k = Jit::get().compileCached(vectorAdd(), sm80(), cache);
  EXPECT_FALSE(k.cubin.empty());
  EXPECT_FALSE(cache.enabled());
  Jit::get().compileCached(vectorAdd(), sm80(), cache); // no second warning, still works
  EXPECT_EQ(Jit::get().compileCount(), before + 2);
  if (getuid() != 0) {
    std::string ro = dir.path + "/readonly";
    fs::create_directory(ro);
    fs::setPermissions(ro, fs::perms::owner_read | fs::perms::owner_exe);
    DiskCache readOnly(ro);
    Jit::get().compileCached(vectorAdd(), sm80(), readOnly);
    EXPECT_FALSE(readOnly.enabled());
  }
}

TEST(DiskCache, EmptyDirectoryMeansDisabled) {
  DiskCache cache("");
  EXPECT_FALSE(cache.enabled());
  EXPECT_FALSE(cache.load("anything").has_value());
}

} // namespace
