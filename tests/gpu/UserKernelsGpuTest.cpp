//===- UserKernelsGpuTest.cpp - A user's kernels on the GPU ----------------===//
//
// The public front end (kernels::Kernel) compiled and launched on the GPU: a
// kernel of the test's own checked against float64, tuned on first use
// (compiled in parallel, timed, checked), and dsl::randint / dsl::rand bit
// for bit against the host's Philox.
//
//===----------------------------------------------------------------------===//

#include "common/ArgReduce.h"
#include "common/Asserts.h"
#include "common/Atomics.h"
#include "common/BlockAdds.h"
#include "common/ElementwiseOps.h"
#include "common/Masks.h"
#include "common/Print.h"
#include "common/RandomNumbers.h"
#include "common/Scans.h"
#include "common/Testing.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Testing.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace tessera;
using namespace tessera::kernels;

namespace {

#define SKIP_WITHOUT_GPU()                                                                         \
  if (!gpuAvailable())                                                                             \
  GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason()

// out = alpha·x + y, BLOCK elements per program.
void axpyBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  int64_t block = c.get("BLOCK");
  dsl::TensorArg x = kb.tensor("x", c.dtype, 1), y = kb.tensor("y", c.dtype, 1);
  dsl::TensorArg out = kb.tensor("out", c.dtype, 1);
  dsl::Scalar alpha = kb.scalarF32("alpha");
  dsl::Scalar start = dsl::program_id(0) * dsl::Scalar(block);
  dsl::Tile xs = dsl::cast(dsl::load(x, {start}, {block}), DType::F32);
  dsl::Tile ys = dsl::cast(dsl::load(y, {start}, {block}), DType::F32);
  dsl::store(out, {start}, dsl::cast(alpha * xs + ys, c.dtype));
}

Kernel axpy(const std::string &name) {
  return Kernel(name, axpyBody)
      .constants({{"BLOCK", 512}})
      .grid([](const Args &a, const KernelConfig &c) {
        return Grid{cdiv(a.tensor("x").shape()[0], c.get("BLOCK"))};
      });
}

double axpyError(const std::vector<float> &x, const std::vector<float> &y, float alpha,
                 const DeviceTensor &out) {
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    want[i] = double(alpha) * x[i] + y[i];
  return testkit::maxRelativeError(out.toFloat(), want);
}

TEST(UserKernels, LaunchesAndChecksArgumentsOnTheGpu) {
  SKIP_WITHOUT_GPU();
  Kernel k = axpy("gpu_axpy");
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    int64_t n = 100003;
    std::vector<float> x, y;
    DeviceTensor dx = testkit::randomTensor({n}, dtype, &x),
                 dy = testkit::randomTensor({n}, dtype, &y);
    DeviceTensor out = DeviceTensor::empty({n}, dtype);
    out.fillBytes(0xff);
    k({dx, dy, out, 0.5f});
    EXPECT_LE(axpyError(x, y, 0.5f, out), testkit::tolerance(dtype)) << name(dtype);
  }
  DeviceTensor a = DeviceTensor::empty({8}, DType::F32), b = DeviceTensor::empty({8}, DType::F16);
  std::string e = test::errorOf([&] { k({a, b, a, 1.0f}); });
  EXPECT_TRUE(test::contains(e, "argument 1 ('y'): expected dtype f32, got f16")) << e;
}

TEST(UserKernels, TunesOnFirstUseOnTheGpu) {
  SKIP_WITHOUT_GPU();
  Tuning tuning;
  for (int64_t block : {128, 256, 1024})
    for (unsigned warps : {2u, 4u})
      tuning.configs.push_back({DType::F32, warps, {{"BLOCK", block}}});
  int64_t n = 1 << 20;
  std::vector<float> x, y;
  DeviceTensor dx = testkit::randomTensor({n}, DType::F32, &x);
  DeviceTensor dy = testkit::randomTensor({n}, DType::F32, &y);
  DeviceTensor out = DeviceTensor::empty({n}, DType::F32);
  int checks = 0;
  tuning.check = [&](const Args &) {
    ++checks;
    double e = axpyError(x, y, 2.0f, out);
    return e <= 1e-6 ? std::string() : "error " + std::to_string(e);
  };
  tuning.options.budgetMs = 5;
  Kernel k = axpy("gpu_axpy_tuned").autotune(tuning);
  TuningDatabase db("");
  std::vector<CandidateResult> results = k.tune({dx, dy, out, 2.0f}, db);
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(checks, 6);
  for (const CandidateResult &r : results) {
    EXPECT_TRUE(r.ok()) << r.config << ": " << r.verdict;
    EXPECT_GT(r.ms, 0);
  }
  EXPECT_EQ(db.best(k.problemKey({dx, dy, out, 2.0f})), results.front().config);
}

TEST(UserKernels, RandomNumbersMatchTheHostBitForBit) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(test::checkRandomNumbers(300001), "");
}

// sums[j] = Σ_i x[i, j]: programs walk BLOCK_M-row blocks P apart (a loop
// from program_id to the end, step num_programs·BLOCK_M), carry the column
// sums of their blocks (a reduction along axis 0) and write them as row pid
// of partial; a second launch of the same kernel with one program sums
// partial's rows. LayerNorm's dw and db are computed so.
void columnSumsBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  dsl::TensorArg x = kb.tensor("x", DType::F32, 2), partial = kb.tensor("partial", DType::F32, 2);
  dsl::Scalar pid = dsl::program_id(0);
  dsl::Tile sum = dsl::for_range(
      pid * dsl::Scalar(bm), x.size(0), dsl::num_programs(0) * dsl::Scalar(bm),
      {dsl::zeros({bn}, DType::F32)}, [&](dsl::Scalar row, const std::vector<dsl::Tile> &acc) {
        dsl::Tile t = dsl::load(x, {row, dsl::Scalar(0)}, {bm, bn});
        return std::vector<dsl::Tile>{acc[0] + dsl::reduce_sum(t, 0)};
      })[0];
  dsl::store(partial, {pid, dsl::Scalar(0)}, dsl::expand_dims(sum, 0));
}

TEST(UserKernels, ColumnSumsCarriedAcrossALoop) {
  SKIP_WITHOUT_GPU();
  Kernel k = Kernel("gpu_column_sums", columnSumsBody)
                 .constants({{"BLOCK_M", 1}, {"BLOCK_N", 512}})
                 .dtypes({DType::F32})
                 .grid([](const Args &a, const KernelConfig &) {
                   return Grid{a.tensor("partial").shape()[0]};
                 });
  for (auto [rows, bm, warps, programs] : std::vector<std::array<int64_t, 4>>{
           {37, 1, 2, 37}, {37, 1, 2, 5}, {100, 32, 4, 3}, {100, 32, 4, 1}, {64, 4, 4, 8}}) {
    int64_t cols = 300;
    std::vector<float> x;
    DeviceTensor dx = testkit::randomTensor({rows, cols}, DType::F32, &x);
    DeviceTensor partial = DeviceTensor::empty({programs, cols}, DType::F32);
    partial.fillBytes(0xff);
    KernelConfig c = k.config(DType::F32, {{"BLOCK_M", bm}}, unsigned(warps));
    k.launch(c, {dx, partial});
    std::vector<float> got = partial.toFloat();
    std::vector<double> want(programs * cols, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j)
        want[(r / bm) % programs * cols + j] += x[r * cols + j];
    double e = testkit::maxRelativeError(got, want);
    EXPECT_LE(e, 1e-5) << rows << " rows, BLOCK_M " << bm << ", " << warps << " warps, " << programs
                       << " programs: partial[0][0] = " << got[0] << ", expected " << want[0];
  }
}

// LayerNorm's backward (examples/layer_norm) with its parts switched off
// one at a time: ACCS carried sums (1: Σ g·x̂ only), DX stores dx in the
// loop, NORM normalizes x with mean and rstd. Partial sums per program.
void lnBackwardBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  using namespace dsl;
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  bool twoAccs = c.get("ACCS") == 2, storeDx = c.get("DX") != 0, norm = c.get("NORM") != 0;
  TensorArg dy = kb.tensor("dy", DType::F32, 2), x = kb.tensor("x", DType::F32, 2),
            w = kb.tensor("weight", DType::F32, 1), mean = kb.tensor("mean", DType::F32, 1),
            rstd = kb.tensor("rstd", DType::F32, 1), dx = kb.tensor("dx", DType::F32, 2),
            dwPartial = kb.tensor("dw_partial", DType::F32, 2),
            dbPartial = kb.tensor("db_partial", DType::F32, 2);
  Scalar invN = f32(1.0) / to_f32(x.size(1));
  Tile inRow = expand_dims(arange(bn), 0) < x.size(1);
  Tile wt = expand_dims(load(w, {Scalar(0)}, {bn}), 0);
  Scalar pid = program_id(0);
  std::vector<Tile> init{zeros({bn}, DType::F32)};
  if (twoAccs)
    init.push_back(zeros({bn}, DType::F32));
  std::vector<Tile> sums =
      for_range(pid * Scalar(bm), x.size(0), num_programs(0) * Scalar(bm), init,
                [&](Scalar row, const std::vector<Tile> &acc) {
                  Tile xt = load(x, {row, Scalar(0)}, {bm, bn});
                  Tile g = load(dy, {row, Scalar(0)}, {bm, bn});
                  Tile xhat = xt;
                  if (norm) {
                    Tile mu = expand_dims(load(mean, {row}, {bm}), 1);
                    Tile r = expand_dims(load(rstd, {row}, {bm}), 1);
                    xhat = where(inRow, (xt - mu) * r, zeros({bm, bn}, DType::F32));
                  }
                  Tile wdy = g * wt;
                  if (storeDx) {
                    Tile c1 = expand_dims(reduce_sum(xhat * wdy, 1) * invN, 1);
                    Tile c2 = expand_dims(reduce_sum(wdy, 1) * invN, 1);
                    store(dx, {row, Scalar(0)}, wdy - (xhat * c1 + c2));
                  }
                  std::vector<Tile> next{acc[0] + reduce_sum(g * xhat, 0)};
                  if (twoAccs)
                    next.push_back(acc[1] + reduce_sum(g, 0));
                  return next;
                });
  store(dwPartial, {pid, Scalar(0)}, expand_dims(sums[0], 0));
  if (twoAccs)
    store(dbPartial, {pid, Scalar(0)}, expand_dims(sums[1], 0));
}

// out_j = Σ_i partial_ij stored as a 1-D tile (LayerNorm's second kernel).
void sumRowsBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  using namespace dsl;
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  TensorArg partial = kb.tensor("partial", DType::F32, 2), out = kb.tensor("out", DType::F32, 1);
  Scalar col = program_id(0) * Scalar(bn);
  Tile sum = for_range(Scalar(0), partial.size(0), Scalar(bm), {zeros({bn}, DType::F32)},
                       [&](Scalar i, const std::vector<Tile> &acc) {
                         Tile block = load(partial, {i, col}, {bm, bn});
                         return std::vector<Tile>{acc[0] + reduce_sum(block, 0)};
                       })[0];
  store(out, {col}, sum);
}

TEST(UserKernels, RowSumsStoredAsOneDimensionalTiles) {
  SKIP_WITHOUT_GPU();
  Kernel k = Kernel("gpu_sum_rows", sumRowsBody)
                 .constants({{"BLOCK_M", 32}, {"BLOCK_N", 128}})
                 .dtypes({DType::F32})
                 .grid([](const Args &a, const KernelConfig &c) {
                   return Grid{cdiv(a.tensor("out").shape()[0], c.get("BLOCK_N"))};
                 });
  for (int64_t rows : {1, 37, 100}) {
    int64_t cols = 300;
    std::vector<float> p;
    DeviceTensor dp = testkit::randomTensor({rows, cols}, DType::F32, &p);
    DeviceTensor out = DeviceTensor::empty({cols}, DType::F32);
    out.fillBytes(0xff);
    k.launch(k.config(DType::F32), {dp, out});
    std::vector<double> want(cols, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j)
        want[j] += p[r * cols + j];
    std::vector<float> got = out.toFloat();
    EXPECT_LE(testkit::maxRelativeError(got, want), 1e-5)
        << rows << " rows: out[0] = " << got[0] << ", expected " << want[0]
        << "; out[200] = " << got[200] << ", expected " << want[200];
  }
}

// out[r, to + j] = x[r, from + j] for j < 64: blocks read and written at
// columns that need not be multiples of a vector, on tensors the launch
// finds aligned (rows of whole 16-byte vectors). A column of 3 once made a
// misaligned 16-byte access; it must take the element path instead.
void windowBody(dsl::KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M");
  dsl::TensorArg x = kb.tensor("x", c.dtype, 2), out = kb.tensor("out", c.dtype, 2);
  dsl::Scalar from = kb.scalarI32("from"), to = kb.scalarI32("to");
  dsl::Scalar row = dsl::program_id(0) * dsl::Scalar(bm);
  dsl::store(out, {row, to}, dsl::load(x, {row, from}, {bm, 64}));
}

TEST(UserKernels, BlocksAtAnyColumnOnTheGpu) {
  SKIP_WITHOUT_GPU();
  Kernel k = Kernel("gpu_window", windowBody)
                 .constants({{"BLOCK_M", 16}})
                 .grid([](const Args &a, const KernelConfig &c) {
                   return Grid{cdiv(a.tensor("x").shape()[0], c.get("BLOCK_M"))};
                 });
  const int64_t rows = 37, cols = 80;
  for (DType dtype : {DType::F32, DType::BF16})
    for (auto [from, to] : std::vector<std::pair<int, int>>{{3, 5}, {8, 16}, {0, 0}, {17, 1}}) {
      std::vector<float> x;
      DeviceTensor dx = testkit::randomTensor({rows, cols}, dtype, &x);
      DeviceTensor out = DeviceTensor::empty({rows, cols}, dtype);
      out.fillBytes(0x7f); // a value no element of x or padding has
      std::vector<float> before = out.toFloat();
      k({dx, out, from, to});
      std::vector<float> got = out.toFloat();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          int64_t j = c - to;
          float want = before[r * cols + c];
          if (j >= 0 && j < 64)
            want = from + j < cols ? x[r * cols + from + j] : 0.0f;
          ASSERT_EQ(got[r * cols + c], want) << name(dtype) << " from " << from << " to " << to
                                             << ": out[" << r << ", " << c << "]";
        }
    }
}

/// A kernel of two-program clusters (sm_90a) launched on a grid of 3: a
/// clear error naming the kernel and the grid, not a failed launch.
TEST(UserKernels, ClusterKernelsNeedWholeClusters) {
  SKIP_WITHOUT_GPU();
  if (currentDevice().arch() != "sm_90a")
    GTEST_SKIP() << "clusters are sm_90a's; this GPU is " << currentDevice().arch();
  Kernel clustered = Kernel("gpu_axpy_clusters",
                            [](dsl::KernelBuilder &kb, const KernelConfig &c) {
                              kb.setClusterSize(2);
                              axpyBody(kb, c);
                            })
                         .constants({{"BLOCK", 512}})
                         .grid([](const Args &a, const KernelConfig &c) {
                           return Grid{cdiv(a.tensor("x").shape()[0], c.get("BLOCK"))};
                         });
  DeviceTensor x = DeviceTensor::empty({1500}, DType::F32);
  std::string e = test::errorOf([&] { clustered({x, x, x, 1.0f}); });
  EXPECT_TRUE(test::contains(e, "kernel 'gpu_axpy_clusters': grid x = 3, expected a multiple of "
                                "its cluster size 2"))
      << e;
  DeviceTensor y = DeviceTensor::empty({2048}, DType::F32);
  y.fillBytes(0);
  EXPECT_NO_THROW(clustered({y, y, y, 1.0f}));
}

TEST(UserKernels, LayerNormBackwardPartsOnTheGpu) {
  SKIP_WITHOUT_GPU();
  Kernel k = Kernel("gpu_ln_backward_parts", lnBackwardBody)
                 .constants({{"BLOCK_M", 1}, {"BLOCK_N", 512}, {"ACCS", 2}, {"DX", 1}, {"NORM", 1}})
                 .dtypes({DType::F32})
                 .grid([](const Args &a, const KernelConfig &) {
                   return Grid{a.tensor("dw_partial").shape()[0]};
                 });
  int64_t rows = 37, cols = 300;
  std::vector<float> x, dy, w, mean(rows), rstd(rows);
  DeviceTensor dX = testkit::randomTensor({rows, cols}, DType::F32, &x);
  DeviceTensor dDy = testkit::randomTensor({rows, cols}, DType::F32, &dy);
  DeviceTensor dW = testkit::randomTensor({cols}, DType::F32, &w);
  for (int64_t r = 0; r < rows; ++r)
    mean[r] = 0.25f * float(r % 3), rstd[r] = 1.0f + 0.5f * float(r % 2);
  DeviceTensor dMean = DeviceTensor::fromFloat(mean, {rows}, DType::F32);
  DeviceTensor dRstd = DeviceTensor::fromFloat(rstd, {rows}, DType::F32);
  for (auto [accs, storeDx, norm] : std::vector<std::array<int64_t, 3>>{
           {2, 1, 1}, {2, 0, 1}, {1, 1, 1}, {2, 1, 0}, {1, 0, 1}, {1, 0, 0}}) {
    DeviceTensor dDx = DeviceTensor::empty({rows, cols}, DType::F32);
    DeviceTensor dwp = DeviceTensor::empty({rows, cols}, DType::F32);
    DeviceTensor dbp = DeviceTensor::empty({rows, cols}, DType::F32);
    dwp.fillBytes(0xff);
    dbp.fillBytes(0xff);
    k.launch(k.config(DType::F32, {{"ACCS", accs}, {"DX", storeDx}, {"NORM", norm}}, 2),
             {dDy, dX, dW, dMean, dRstd, dDx, dwp, dbp});
    std::vector<double> wantW(rows * cols), wantB(rows * cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        double xhat = norm ? (double(x[r * cols + j]) - mean[r]) * rstd[r] : x[r * cols + j];
        wantW[r * cols + j] = dy[r * cols + j] * xhat;
        wantB[r * cols + j] = dy[r * cols + j];
      }
    std::vector<float> gotW = dwp.toFloat();
    EXPECT_LE(testkit::maxRelativeError(gotW, wantW), 1e-5)
        << "ACCS " << accs << " DX " << storeDx << " NORM " << norm
        << ": dw_partial[0][0] = " << gotW[0] << ", expected " << wantW[0]
        << "; [1][0] = " << gotW[cols] << ", expected " << wantW[cols];
    if (accs == 2) {
      std::vector<float> gotB = dbp.toFloat();
      EXPECT_LE(testkit::maxRelativeError(gotB, wantB), 1e-5)
          << "ACCS " << accs << " DX " << storeDx << " NORM " << norm
          << ": db_partial[0][0] = " << gotB[0] << ", expected " << wantB[0];
    }
  }
}

TEST(UserKernels, MathAndBitOperationsMatchTheReference) {
  SKIP_WITHOUT_GPU();
  // Arguments up to a few hundred: sin and cos reduce them first.
  EXPECT_EQ(test::checkElementwiseOps(100000, 3.f), "");
  EXPECT_EQ(test::checkElementwiseOps(100000, 300.f), "");
}

/// Many programs on the same elements: tiles with copies across threads
/// (64 on 128 threads, old values through shared memory) and without, a
/// block partly past the tensor.
TEST(Atomics, ReturnOldValuesOnTheGpu) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(test::checkAtomics(64, 64, 50), "");
  EXPECT_EQ(test::checkAtomics(300, 512, 512), "");
  EXPECT_EQ(test::checkAtomics(33, 512, 300), "");
}

/// f32 blocks added inside a pipelined loop by many programs at once (a
/// split-K matmul adding every k-step): by TMA bulk adds on sm_90a where the
/// output's rows are 16-byte vectors (n 136), element-wise where not
/// (n 133); partial blocks in every dimension.
TEST(Atomics, BlockAddsInALoopOnTheGpu) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(test::checkBlockAdds(200, 136, 320, 3), "");
  EXPECT_EQ(test::checkBlockAdds(200, 133, 320, 3), "");
  EXPECT_EQ(test::checkBlockAdds(1000, 512, 1024, 4), "");
}

/// Vector stores where a run's mask is all set, element stores elsewhere,
/// the last block partly past the tensor.
TEST(Masks, LoadOtherAndSkipStoresOnTheGpu) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::F32, DType::BF16})
    EXPECT_EQ(test::checkMasks(100003, dtype), "") << name(dtype);
}

/// Row argmax through shuffles, column argmin across warps (bf16 has ties:
/// the first index wins).
TEST(ArgReduce, FirstIndexOfTheExtremeOnTheGpu) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::F32, DType::BF16})
    EXPECT_EQ(test::checkArgReduce(4096, dtype), "") << name(dtype);
}

/// Scans along rows (segments of a row split over threads), along columns
/// reversed and of a 1-D block; reductions with a user combine through
/// shuffles (rows) and across warps (columns); f32 and bf16 (combined in
/// f32).
TEST(Scans, ScansAndCombinesOnTheGpu) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::F32, DType::BF16})
    EXPECT_EQ(test::checkScans(4096, dtype), "") << name(dtype);
}

TEST(DeviceAssert, PassesWhereTheConditionsHold) {
  SKIP_WITHOUT_GPU();
  test::DebugScope debug(true);
  EXPECT_EQ(test::checkAsserts(100003), "");
}

/// A false element stops the kernel: the launch's stream reports the assert
/// and the context is lost, so it runs in a process of its own.
TEST(DeviceAssertDeathTest, StopsTheKernelOnTheGpu) {
  SKIP_WITHOUT_GPU();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The device prints the message, file and line; the next call on the
  // stream throws CUDA_ERROR_ASSERT, which ends the child process here.
  EXPECT_DEATH(
      {
        test::DebugScope debug(true);
        try {
          test::checkAsserts(100003, 77777);
        } catch (const std::exception &e) {
          std::fprintf(stderr, "%s\n", e.what());
          std::abort();
        }
      },
      "Asserts.h:[0-9]+: .*block: \\[303,0,0\\].*Assertion `x below the limit` failed.*"
      "CUDA_ERROR_ASSERT");
}

TEST(Branches, IfOnScalarsOnTheGpu) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(test::checkBranches(100003), "");
}

/// gpu.printf (vprintf) of a tile whose elements 32 threads each hold
/// copies of: each element once, and the scalar once per program.
TEST(DevicePrint, EachElementOnceOnTheGpu) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(test::checkPrint(), "");
}

} // namespace
