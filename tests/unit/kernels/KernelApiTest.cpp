//===- KernelApiTest.cpp - A user's kernel: define, launch, autotune -------===//
//
// The public front end (tessera/kernels/Kernel.h) on the interpreter: a
// kernel defined from a DSL function is launched with tensors and scalars,
// its arguments are checked by parameter name, and it is tuned on first use.
//
//===----------------------------------------------------------------------===//

#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/kernels/Launch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace tessera;
using namespace tessera::kernels;
using test::contains;
using test::errorOf;
using test::InterpretedScope;
using test::randomValues;

namespace {

// out = alpha·x + y, BLOCK elements per program. `n` only shapes the grid.
void axpyBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  int64_t block = c.get("BLOCK");
  dsl::TensorArg x = kb.tensor("x", c.dtype, 1), y = kb.tensor("y", c.dtype, 1);
  dsl::TensorArg out = kb.tensor("out", c.dtype, 1);
  dsl::Scalar alpha = kb.scalarF32("alpha");
  kb.scalarI32("n");
  dsl::Scalar start = dsl::program_id(0) * dsl::Scalar(block);
  dsl::Tile xs = dsl::cast(dsl::load(x, {start}, {block}), DType::F32);
  dsl::Tile ys = dsl::cast(dsl::load(y, {start}, {block}), DType::F32);
  dsl::store(out, {start}, dsl::cast(alpha * xs + ys, c.dtype));
}

Kernel axpy(const std::string &name) {
  return Kernel(name, axpyBody)
      .constants({{"BLOCK", 128}})
      .dtypes({DType::F32, DType::BF16})
      .grid([](const Args &a, const KernelConfig &c) {
        return Grid{cdiv(a.i32("n"), c.get("BLOCK"))};
      });
}

struct Problem {
  int64_t n;
  std::vector<float> x, y;
  DeviceTensor dx, dy, out;
  float alpha = 0.75f;

  explicit Problem(int64_t n, DType dtype = DType::F32)
      : n(n), x(randomValues(n, dtype)), y(randomValues(n, dtype)),
        dx(DeviceTensor::fromFloat(x, {n}, dtype)), dy(DeviceTensor::fromFloat(y, {n}, dtype)),
        out(DeviceTensor::empty({n}, dtype)) {
    out.fillBytes(0xff);
  }
  std::vector<Arg> args() const { return {dx, dy, out, alpha, n}; }
  /// Largest error relative to the float64 result's magnitude.
  double error() const {
    std::vector<float> got = out.toFloat();
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
      double want = double(alpha) * x[i] + y[i];
      worst = std::max(worst, std::abs(double(got[i]) - want) / std::max(1.0, std::abs(want)));
    }
    return worst;
  }
};

TEST(KernelApi, LaunchesWithTensorsAndScalars) {
  InterpretedScope scope;
  Kernel k = axpy("api_axpy");
  Problem p(1000); // not a multiple of BLOCK: the last program is partial
  k(p.args());
  EXPECT_LT(p.error(), 1e-6);

  Problem q(300, DType::BF16);
  k.launch(k.config(DType::BF16, {{"BLOCK", 64}}, 2), q.args());
  EXPECT_LT(q.error(), 1e-2);
}

/// A launch of a configuration this thread launched lately finds its
/// loaded kernel without building the cache key; any other constant, warp
/// count or alignment of the tensors gets its own kernel.
TEST(KernelApi, RepeatedLaunchesFindTheirKernel) {
  InterpretedScope scope;
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  kernels::KernelConfig config = kernels::makeConfig(def, DType::F32, 4, {});
  const JitKernel &first = kernels::detail::jitKernel(def, config, ~uint64_t(0));
  EXPECT_EQ(&kernels::detail::jitKernel(def, config, ~uint64_t(0)), &first);
  EXPECT_NE(&kernels::detail::jitKernel(def, config, 0), &first);
  kernels::KernelConfig block = config;
  block.constants["BLOCK"] = 512;
  EXPECT_NE(&kernels::detail::jitKernel(def, block, ~uint64_t(0)), &first);
  kernels::KernelConfig warps = config;
  warps.numWarps = 8;
  EXPECT_NE(&kernels::detail::jitKernel(def, warps, ~uint64_t(0)), &first);
  // More kernels than the thread remembers, then the first again: the JIT's
  // own cache still has it.
  for (int64_t b : {64, 128, 256, 2048, 4096, 8192, 16384, 32768}) {
    kernels::KernelConfig other = config;
    other.constants["BLOCK"] = b;
    kernels::detail::jitKernel(def, other, ~uint64_t(0));
  }
  EXPECT_EQ(&kernels::detail::jitKernel(def, config, ~uint64_t(0)), &first);
}

TEST(KernelApi, ParametersComeFromTheFunction) {
  InterpretedScope scope;
  Kernel k = axpy("api_params");
  const std::vector<dsl::ParamDecl> &params = k.parameters(DType::BF16);
  ASSERT_EQ(params.size(), 5u);
  EXPECT_EQ(params[0].name, "x");
  EXPECT_EQ(params[0].dtype, DType::BF16);
  EXPECT_EQ(params[0].rank, 1u);
  EXPECT_EQ(params[3].kind, dsl::ParamDecl::Kind::F32);
  EXPECT_EQ(params[4].kind, dsl::ParamDecl::Kind::I32);
}

TEST(KernelApi, ArgumentErrorsNameTheParameter) {
  InterpretedScope scope;
  Kernel k = axpy("api_errors");
  Problem p(64);
  std::string e = errorOf([&] { k({p.dx, p.dy, p.out}); });
  EXPECT_TRUE(contains(e, "takes 5 arguments (x, y, out, alpha, n), got 3")) << e;
  e = errorOf([&] { k({p.dx, 1.0f, p.out, p.alpha, p.n}); });
  EXPECT_TRUE(contains(e, "argument 1 ('y'): expected a tensor, got a float")) << e;
  e = errorOf([&] { k({p.dx, p.dy, p.out, p.dx, p.n}); });
  EXPECT_TRUE(contains(e, "('alpha'): expected an f32, got a tensor")) << e;
  e = errorOf([&] { k({p.dx, p.dy, p.out, p.alpha, 1.5}); });
  EXPECT_TRUE(contains(e, "('n'): expected an i32, got a float")) << e;
  e = errorOf([&] { k({p.dx, p.dy, p.out, p.alpha, int64_t(1) << 40}); });
  EXPECT_TRUE(contains(e, "('n'): 1099511627776 does not fit in i32")) << e;
  DeviceTensor half = DeviceTensor::empty({64}, DType::BF16);
  e = errorOf([&] { k({p.dx, half, p.out, p.alpha, p.n}); });
  EXPECT_TRUE(contains(e, "('y'): expected dtype f32, got bf16")) << e;
  DeviceTensor matrix = DeviceTensor::empty({8, 8}, DType::F32);
  e = errorOf([&] { k({p.dx, p.dy, matrix, p.alpha, p.n}); });
  EXPECT_TRUE(contains(e, "('out'): expected rank 1, got rank 2")) << e;
  e = errorOf([&] { k({p.dx, p.dy, DeviceTensor(), p.alpha, p.n}); });
  EXPECT_TRUE(contains(e, "('out'): the tensor is undefined")) << e;
  DeviceTensor i32 = DeviceTensor::empty({64}, DType::I32);
  e = errorOf([&] { k({i32, p.dy, p.out, p.alpha, p.n}); });
  EXPECT_TRUE(contains(e, "takes dtypes f32, bf16; its first tensor is i32")) << e;
  e = errorOf([&] { k({p.dx, p.dy, p.out, p.alpha, 0}); });
  EXPECT_TRUE(contains(e, "grid x = 0, expected 1 to")) << e;
  e = errorOf([&] { k.launch(k.config(DType::F32, {{"BLOCKS", 64}}), p.args()); });
  EXPECT_TRUE(contains(e, "has no constant 'BLOCKS'")) << e;
}

TEST(KernelApi, TunesOnFirstUseAndKeepsTheWinner) {
  InterpretedScope scope;
  Tuning tuning;
  for (int64_t block : {32, 64, 128, 256})
    tuning.configs.push_back({DType::F32, 1, {{"BLOCK", block}}});
  tuning.keep = [](const KernelConfig &c, const Args &a) { return c.get("BLOCK") <= a.i32("n"); };
  int checks = 0;
  tuning.check = [&](const Args &) {
    ++checks;
    return std::string();
  };
  tuning.onFirstUse = true;
  tuning.options.budgetMs = 1;
  tuning.options.warmupRuns = 0;
  tuning.options.minRuns = tuning.options.maxRuns = 1;
  Kernel k = axpy("api_tuned").autotune(tuning);

  Problem p(100);
  setenv("TESSERA_PRINT_AUTOTUNING", "1", 1);
  testing::internal::CaptureStderr();
  k(p.args());
  std::string printed = testing::internal::GetCapturedStderr();
  unsetenv("TESSERA_PRINT_AUTOTUNING");
  EXPECT_LT(p.error(), 1e-6);
  // BLOCK 128 and 256 exceed n = 100: pruned before anything runs.
  EXPECT_EQ(checks, 2);
  EXPECT_TRUE(contains(printed, "tessera: api_tuned[x:f32x128,y:f32x128,out:f32x128]: "))
      << printed;
  EXPECT_TRUE(contains(printed, "tuned now")) << printed;
  std::optional<std::string> best = TuningDatabase::get().best(k.problemKey(p.args()));
  ASSERT_TRUE(best.has_value());
  EXPECT_TRUE(*best == k.config(DType::F32, {{"BLOCK", 32}}, 1).key() ||
              *best == k.config(DType::F32, {{"BLOCK", 64}}, 1).key())
      << *best;

  // A new definition of the same kernel finds the winner in the database.
  Kernel again = axpy("api_tuned").autotune(tuning);
  EXPECT_EQ(again.configFor(p.args()).key(), *best);
  EXPECT_EQ(checks, 2);
}

TEST(KernelApi, ACandidateThatFailsItsCheckCannotWin) {
  InterpretedScope scope;
  Tuning tuning;
  tuning.configs = {{DType::F32, 4, {{"BLOCK", 64}}}};
  tuning.check = [](const Args &) { return std::string("differs from the reference"); };
  tuning.options.budgetMs = 1;
  TuningDatabase db("");
  Kernel k = axpy("api_check").autotune(tuning);
  Problem p(64);
  std::vector<CandidateResult> results = k.tune(p.args(), db);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok());
  EXPECT_EQ(results[0].verdict, "differs from the reference");
  EXPECT_FALSE(db.best(k.problemKey(p.args())).has_value());
}

TEST(KernelApi, RegisteredKernelsAreKnownByName) {
  const Kernel &k = registerKernel(axpy("api_registered"));
  EXPECT_EQ(findKernel("api_registered"), &k);
  EXPECT_EQ(lookup("api_registered").defaults.at("BLOCK"), 128);
  std::string e = errorOf([] { registerKernel(axpy("api_registered")); });
  EXPECT_TRUE(contains(e, "a kernel named 'api_registered' is registered already")) << e;
  // Tessera's own kernels: the foundation ones are defined the same way.
  ASSERT_NE(findKernel("softmax"), nullptr);
  EXPECT_TRUE(findKernel("softmax")->tunable());
  EXPECT_EQ(findKernel("attention_forward"), nullptr);
}

/// Which kernels the disk cache may find without building their IR: every
/// kernel Tessera ships (by its sources' hash), a user's only with a version.
TEST(KernelApi, DiskCacheKeysOnVersionsWhereGiven) {
  // Every registry entry but those other tests registered (users' kernels).
  std::vector<std::string> users = registeredKernels();
  for (const auto &[name, def] : registry())
    if (!llvm::is_contained(users, name))
      EXPECT_EQ(def.version, kernels::detail::shippedKernelVersion()) << name;
  // The Kernel objects the library launches through carry it too.
  EXPECT_EQ(findKernel("softmax")->def().version, kernels::detail::shippedKernelVersion());
  // "tessera-" and 64 hex digits.
  EXPECT_EQ(kernels::detail::shippedKernelVersion().size(), 8u + 64u)
      << kernels::detail::shippedKernelVersion();

  KernelConfig config{DType::F32, 4, {{"BLOCK", 128}}};
  kernels::detail::JitKeys unversioned =
      kernels::detail::jitKeys(axpy("api_unversioned").def(), config, 1, false);
  EXPECT_EQ(unversioned.memory,
            "api_unversioned[dtype=f32,num_warps=4,BLOCK=128,aligned_tensors=1]");
  EXPECT_EQ(unversioned.source, "");
  Kernel versioned = axpy("api_versioned").version("v2");
  kernels::detail::JitKeys keys = kernels::detail::jitKeys(versioned.def(), config, 1, true);
  EXPECT_EQ(keys.memory, "api_versioned[dtype=f32,num_warps=4,BLOCK=128,aligned_tensors=1]+debug");
  EXPECT_EQ(keys.source, keys.memory + "@v2");
}

} // namespace

namespace {

/// What a launch specialises on: which tensors allow 16-byte vectors.
TEST(KernelArgs, RecordsWhichTensorsAreAligned) {
  InterpretedScope interpreted;
  DeviceTensor whole = DeviceTensor::empty({4, 64}, DType::BF16);
  // A base one element off a 16-byte boundary; rows 130 bytes apart; a
  // column of a matrix (last stride not 1); a 16-byte-aligned sub-block.
  DeviceTensor offBase = whole.view({63}, {1}, 1);
  DeviceTensor oddRows = whole.view({3, 8}, {65, 1}, 0);
  DeviceTensor column = whole.view({4}, {64}, 0);
  DeviceTensor block = whole.view({2, 32}, {64, 1}, 64);
  EXPECT_TRUE(kernels::detail::vectorAligned(whole));
  EXPECT_FALSE(kernels::detail::vectorAligned(offBase));
  EXPECT_FALSE(kernels::detail::vectorAligned(oddRows));
  EXPECT_FALSE(kernels::detail::vectorAligned(column));
  EXPECT_TRUE(kernels::detail::vectorAligned(block));
  // Rows TMA cannot describe either: broadcast (stride 0), overlapping,
  // reversed; a one-row view's stride does not matter.
  DeviceTensor broadcast = whole.view({4, 64}, {0, 1}, 0);
  DeviceTensor overlapping = whole.view({3, 64}, {8, 1}, 0);
  DeviceTensor reversed = whole.view({2, 64}, {-64, 1}, 64);
  DeviceTensor oneRow = whole.view({1, 64}, {0, 1}, 64);
  EXPECT_FALSE(kernels::detail::vectorAligned(broadcast));
  EXPECT_FALSE(kernels::detail::vectorAligned(overlapping));
  EXPECT_FALSE(kernels::detail::vectorAligned(reversed));
  EXPECT_TRUE(kernels::detail::vectorAligned(oneRow));
  // Rows that end inside a 16-byte vector: 60 bf16 (120 bytes), 3 f32 (12).
  // Their last vectors would straddle the end, and the kernels of aligned
  // tensors have no element path.
  DeviceTensor narrow = whole.view({4, 60}, {64, 1}, 0);
  DeviceTensor triples = DeviceTensor::empty({5, 3}, DType::F32);
  EXPECT_FALSE(kernels::detail::vectorAligned(narrow));
  EXPECT_FALSE(kernels::detail::vectorAligned(triples));
  // Leading dimensions in any order: (batch, heads, seq, dim) seen in
  // (batch, seq, heads, dim) storage; but not broadcast along one of them.
  DeviceTensor packed = DeviceTensor::empty({2, 5, 3, 64}, DType::BF16);
  DeviceTensor headsFirst = packed.view({2, 3, 5, 64}, {5 * 3 * 64, 64, 3 * 64, 1}, 0);
  DeviceTensor sharedHeads = packed.view({2, 3, 5, 64}, {5 * 3 * 64, 0, 3 * 64, 1}, 0);
  EXPECT_TRUE(kernels::detail::vectorAligned(headsFirst));
  EXPECT_FALSE(kernels::detail::vectorAligned(sharedHeads));
  KernelArgs args;
  kernels::detail::addTensor(args, whole, "whole");
  args.add(int32_t(7));
  kernels::detail::addTensor(args, offBase, "off_base");
  kernels::detail::addTensor(args, block, "block");
  EXPECT_EQ(args.alignedTensors(), 0b101u);
}

} // namespace
