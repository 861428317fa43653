//===- BasicKernelsGpuTest.cpp - Foundation kernels against references ----===//
//
// vector_add, softmax, rms_norm and its backward, matmul and batched_matmul
// on the GPU against float64 CPU references,
// on fresh random inputs at sizes that are not multiples of the block, with
// every output poisoned (NaN bytes) before the run. matmul is also checked
// against a naive CUDA C++ kernel compiled by NVRTC at a larger size.
//
//===----------------------------------------------------------------------===//

#include "common/LibraryKernels.h"
#include "tessera/kernels/Launch.h"
#include "tessera/kernels/basic.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Module.h"
#include "tessera/runtime/Nvrtc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

using namespace tessera;

namespace {

#define SKIP_WITHOUT_GPU()                                                                         \
  if (!gpuAvailable())                                                                             \
  GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason()

std::mt19937 &rng() {
  static std::mt19937 gen(std::random_device{}());
  return gen;
}

/// Random values already rounded to `dtype`, so the reference sees exactly
/// what the GPU sees.
std::vector<float> randomValues(size_t n, DType dtype, float lo = -2.f, float hi = 2.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v)
    x = roundTo(dtype, dist(rng()));
  return v;
}

double tolerance(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return 1e-5;
  case DType::F16:
    return 2e-3;
  default:
    return 1e-2;
  }
}

/// ||out - ref|| / ||ref||, failing on any NaN (a poisoned element left unwritten).
double relativeError(const std::vector<float> &out, const std::vector<double> &ref) {
  EXPECT_EQ(out.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (std::isnan(out[i])) {
      ADD_FAILURE() << "NaN at element " << i << " (unwritten or wrong)";
      return INFINITY;
    }
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

DeviceTensor poisoned(std::vector<int64_t> shape, DType dtype) {
  DeviceTensor t = DeviceTensor::empty(shape, dtype);
  t.fillBytes(0xff); // NaN in every float format
  return t;
}

class VectorAdd : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(VectorAdd, MatchesReference) {
  SKIP_WITHOUT_GPU();
  auto [dtype, n] = GetParam();
  std::vector<float> x = randomValues(n, dtype), y = randomValues(n, dtype);
  DeviceTensor dx = DeviceTensor::fromFloat(x, {n}, dtype),
               dy = DeviceTensor::fromFloat(y, {n}, dtype);
  DeviceTensor out = poisoned({n}, dtype);
  kernels::vector_add(dx, dy, out);
  std::vector<double> ref(n);
  for (int64_t i = 0; i < n; ++i)
    ref[i] = double(x[i]) + double(y[i]);
  EXPECT_LE(relativeError(out.toFloat(), ref), tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Sizes, VectorAdd,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(1, 1000, 1025, 100003)),
                         [](const auto &info) {
                           return std::string(name(std::get<0>(info.param))) + "_n" +
                                  std::to_string(std::get<1>(info.param));
                         });

class Softmax : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t>> {};

TEST_P(Softmax, MatchesReference) {
  SKIP_WITHOUT_GPU();
  auto [dtype, rows, cols] = GetParam();
  std::vector<float> x = randomValues(rows * cols, dtype, -8.f, 8.f);
  DeviceTensor dx = DeviceTensor::fromFloat(x, {rows, cols}, dtype);
  DeviceTensor out = poisoned({rows, cols}, dtype);
  kernels::softmax(dx, out);
  std::vector<double> ref(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, double(x[r * cols + c]));
    for (int64_t c = 0; c < cols; ++c)
      s += std::exp(double(x[r * cols + c]) - m);
    for (int64_t c = 0; c < cols; ++c)
      ref[r * cols + c] = std::exp(double(x[r * cols + c]) - m) / s;
  }
  EXPECT_LE(relativeError(out.toFloat(), ref), tolerance(dtype));
}

class RmsNorm : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t>> {};

TEST_P(RmsNorm, MatchesReference) {
  SKIP_WITHOUT_GPU();
  auto [dtype, rows, cols] = GetParam();
  std::vector<float> x = randomValues(rows * cols, dtype), w = randomValues(cols, dtype);
  DeviceTensor dx = DeviceTensor::fromFloat(x, {rows, cols}, dtype);
  DeviceTensor dw = DeviceTensor::fromFloat(w, {cols}, dtype);
  DeviceTensor out = poisoned({rows, cols}, dtype);
  const float eps = 1e-5f;
  kernels::rms_norm(dx, dw, out, eps);
  std::vector<double> ref(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c)
      ss += double(x[r * cols + c]) * x[r * cols + c];
    double inv = 1.0 / std::sqrt(ss / double(cols) + eps);
    for (int64_t c = 0; c < cols; ++c)
      ref[r * cols + c] = x[r * cols + c] * inv * w[c];
  }
  EXPECT_LE(relativeError(out.toFloat(), ref), tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, RmsNorm,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(1, 17, 129),
                                            ::testing::Values(1, 333, 1024, 4099)),
                         [](const auto &info) {
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "x" +
                                  std::to_string(std::get<2>(info.param));
                         });

TEST(RmsNormErrors, BadInputNamesTheArgument) {
  SKIP_WITHOUT_GPU();
  DeviceTensor x = DeviceTensor::fromFloat(randomValues(12, DType::F32), {3, 4}, DType::F32);
  DeviceTensor w3 = DeviceTensor::fromFloat(randomValues(3, DType::F32), {3}, DType::F32);
  DeviceTensor w4 = DeviceTensor::fromFloat(randomValues(4, DType::F32), {4}, DType::F32);
  DeviceTensor out = DeviceTensor::empty({3, 4}, DType::F32);
  EXPECT_THROW(
      {
        try {
          kernels::rms_norm(x, w3, out);
        } catch (const Error &e) {
          EXPECT_NE(std::string(e.what()).find("weight: expected a 1-D tensor of 4"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      Error);
  EXPECT_THROW(kernels::rms_norm(x, w4, out, -1.f), Error);
}

class Cumsum : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t>> {};

/// Row-wise inclusive sums against float64, rows not whole blocks, up to the
/// widest (16384), the output poisoned first.
TEST_P(Cumsum, MatchesReference) {
  SKIP_WITHOUT_GPU();
  auto [dtype, rows, cols] = GetParam();
  EXPECT_LE(test::cumsumError(dtype, rows, cols), test::cumsumTolerance(dtype, cols));
}

INSTANTIATE_TEST_SUITE_P(Shapes, Cumsum,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(1, 129),
                                            ::testing::Values(1, 333, 4099, 16384)),
                         [](const auto &info) {
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "x" +
                                  std::to_string(std::get<2>(info.param));
                         });

class RmsNormBackward : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t>> {};

/// dx and dweight against float64: one row, rows that are not whole blocks,
/// more blocks of rows than programs (3000 rows of 1024: each program sums
/// its share of dw over several blocks), and the widest rows (16384).
TEST_P(RmsNormBackward, MatchesReference) {
  SKIP_WITHOUT_GPU();
  auto [dtype, rows, cols] = GetParam();
  test::RmsNormBackwardErrors e = test::rmsNormBackwardErrors(dtype, rows, cols);
  double bound = dtype == DType::F32 ? 1e-5 : testkit::tolerance(dtype);
  EXPECT_LE(e.dx, bound);
  EXPECT_LE(e.dweight, bound);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RmsNormBackward,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(1, 129, 3000),
                                            ::testing::Values(1, 333, 1024, 4099, 16384)),
                         [](const auto &info) {
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "x" +
                                  std::to_string(std::get<2>(info.param));
                         });

INSTANTIATE_TEST_SUITE_P(Shapes, Softmax,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(1, 17, 129),
                                            ::testing::Values(1, 333, 1000, 4099)),
                         [](const auto &info) {
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "x" +
                                  std::to_string(std::get<2>(info.param));
                         });

std::vector<double> matmulReference(const std::vector<float> &a, const std::vector<float> &b,
                                    int64_t m, int64_t k, int64_t n) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j)
        c[i * n + j] += double(a[i * k + p]) * double(b[p * n + j]);
  return c;
}

class Matmul : public ::testing::TestWithParam<std::tuple<DType, std::array<int64_t, 3>>> {};

TEST_P(Matmul, MatchesReference) {
  SKIP_WITHOUT_GPU();
  auto [dtype, mkn] = GetParam();
  auto [m, k, n] = mkn;
  std::vector<float> a = randomValues(m * k, dtype), b = randomValues(k * n, dtype);
  DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, dtype),
               db = DeviceTensor::fromFloat(b, {k, n}, dtype);
  DeviceTensor c = poisoned({m, n}, dtype);
  kernels::matmul(da, db, c);
  EXPECT_LE(relativeError(c.toFloat(), matmulReference(a, b, m, k, n)), tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, Matmul,
                         ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16),
                                            ::testing::Values(std::array<int64_t, 3>{1, 1, 1},
                                                              std::array<int64_t, 3>{65, 33, 97},
                                                              std::array<int64_t, 3>{200, 129,
                                                                                     70})),
                         [](const auto &info) {
                           auto s = std::get<1>(info.param);
                           return std::string(name(std::get<0>(info.param))) + "_" +
                                  std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" +
                                  std::to_string(s[2]);
                         });

/// batched_matmul against float64: partial blocks everywhere, one b shared
/// by the batch, b read transposed through its strides, a batch of one.
TEST(BatchedMatmul, MatchesReference) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    double bound = tolerance(dtype);
    EXPECT_LE(test::batchedMatmulError(dtype, 3, 65, 33, 97, /*sharedB=*/false), bound)
        << name(dtype);
    EXPECT_LE(test::batchedMatmulError(dtype, 5, 200, 129, 70, /*sharedB=*/true), bound)
        << name(dtype);
    EXPECT_LE(test::batchedMatmulError(dtype, 2, 128, 64, 256, false, /*transposedB=*/true), bound)
        << name(dtype);
    EXPECT_LE(test::batchedMatmulError(dtype, 1, 1, 1, 1, false), bound) << name(dtype);
  }
}

/// batched_matmul with TMA copies (sm_90a; cp.async elsewhere): rank-3
/// tensor maps of a and b at batch coordinate i, on the heuristic's small
/// and large blocks. Rows and columns past the matrix's own end are zeros,
/// not the next matrix's (m and k not multiples of the blocks, a batch of
/// matrices packed back to back); one b shared by the batch (coordinate
/// i mod 1); b read transposed and rows of 33 elements (TMA cannot describe
/// them: the launch takes the cp.async kernel).
TEST(BatchedMatmul, TensorMapsOfRank3MatchReference) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::BF16, DType::F16})
    for (int64_t size : {2048, 4096}) {
      SCOPED_TRACE(std::string(name(dtype)) + ", blocks for " + std::to_string(size) + "^3");
      kernels::KernelConfig blocks = kernels::matmulConfig(dtype, size, size, size);
      auto tma = [&](kernels::KernelConfig &config) {
        for (const char *constant : {"BLOCK_M", "BLOCK_N", "BLOCK_K", "NUM_STAGES"})
          config.constants[constant] = blocks.get(constant);
        config.constants["TMA"] = 1;
        config.numWarps = blocks.numWarps;
      };
      double bound = tolerance(dtype);
      EXPECT_LE(test::batchedMatmulError(dtype, 3, 200, 328, 264, false, false, tma), bound);
      EXPECT_LE(test::batchedMatmulError(dtype, 5, 72, 1000, 128, true, false, tma), bound);
      EXPECT_LE(test::batchedMatmulError(dtype, 2, 128, 64, 256, false, true, tma), bound);
      EXPECT_LE(test::batchedMatmulError(dtype, 3, 65, 97, 33, false, false, tma), bound);
    }
}

/// Pipelines of 1 to 4 stages (wgmma on sm_90a, 128 x 128 x 64 blocks): K
/// of many steps with a partial last one, a single step (the copies before
/// the loop run past its end and fill zeros), and a tensor of any alignment
/// (rows of 70 elements: the element-by-element copies).
TEST(MatmulStages, DeepPipelinesMatchReference) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::BF16, DType::F16})
    for (std::array<int64_t, 3> mkn :
         {std::array<int64_t, 3>{256, 1000, 192}, std::array<int64_t, 3>{128, 64, 128},
          std::array<int64_t, 3>{130, 200, 70}})
      for (int64_t stages = 1; stages <= 4; ++stages) {
        auto [m, k, n] = mkn;
        SCOPED_TRACE(std::string(name(dtype)) + " " + std::to_string(m) + "x" + std::to_string(k) +
                     "x" + std::to_string(n) + " stages " + std::to_string(stages));
        std::vector<float> a = randomValues(m * k, dtype), b = randomValues(k * n, dtype);
        DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, dtype),
                     db = DeviceTensor::fromFloat(b, {k, n}, dtype);
        DeviceTensor c = poisoned({m, n}, dtype);
        kernels::KernelConfig config = kernels::matmulConfig(dtype, m, n, k);
        config.constants["BLOCK_M"] = 128;
        config.constants["BLOCK_N"] = 128;
        config.constants["BLOCK_K"] = 64;
        config.constants["NUM_STAGES"] = stages;
        kernels::matmulWithConfig(da, db, c, config);
        EXPECT_LE(relativeError(c.toFloat(), matmulReference(a, b, m, k, n)), tolerance(dtype));
      }
}

/// The configuration large problems take (matmulConfig at 4096³: 128 x 256
/// blocks on two warpgroups, four stages, each wgmma group in flight into the
/// next k-step) on shapes small enough for the float64 reference: many
/// k-steps, a partial last block in every dimension, unaligned rows.
TEST(MatmulStages, LargeProblemConfigMatchesReference) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::BF16, DType::F16})
    for (std::array<int64_t, 3> mkn :
         {std::array<int64_t, 3>{256, 2048, 512}, std::array<int64_t, 3>{300, 1000, 270},
          std::array<int64_t, 3>{130, 200, 70}}) {
      auto [m, k, n] = mkn;
      SCOPED_TRACE(std::string(name(dtype)) + " " + std::to_string(m) + "x" + std::to_string(k) +
                   "x" + std::to_string(n));
      std::vector<float> a = randomValues(m * k, dtype), b = randomValues(k * n, dtype);
      DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, dtype),
                   db = DeviceTensor::fromFloat(b, {k, n}, dtype);
      DeviceTensor c = poisoned({m, n}, dtype);
      kernels::matmulWithConfig(da, db, c, kernels::matmulConfig(dtype, 4096, 4096, 4096));
      EXPECT_LE(relativeError(c.toFloat(), matmulReference(a, b, m, k, n)), tolerance(dtype));
    }
}

/// `values` (rows x cols) as a view into a larger buffer: rows `rowStride`
/// elements apart, starting `offset` elements in.
DeviceTensor embedded(const std::vector<float> &values, int64_t rows, int64_t cols, DType dtype,
                      int64_t rowStride, int64_t offset) {
  std::vector<float> storage(offset + rows * rowStride, 0.f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      storage[offset + i * rowStride + j] = values[i * cols + j];
  return DeviceTensor::fromFloat(storage, {int64_t(storage.size())}, dtype)
      .view({rows, cols}, {rowStride, 1}, offset);
}

/// Random m x k and k x n inputs on the GPU and their product in float64.
std::tuple<DeviceTensor, DeviceTensor, std::vector<double>> matmulInputs(int64_t m, int64_t k,
                                                                         int64_t n, DType dtype) {
  std::vector<float> a = randomValues(m * k, dtype), b = randomValues(k * n, dtype);
  return {DeviceTensor::fromFloat(a, {m, k}, dtype), DeviceTensor::fromFloat(b, {k, n}, dtype),
          matmulReference(a, b, m, k, n)};
}

/// The large-problem configuration with TMA in two-CTA clusters that
/// multicast B (4; 300 rows: the last cluster's second block row lies past
/// the end and still fetches its share), from a producer warpgroup of a
/// persistent kernel (3) or of one program per tile (2), on the kernel's
/// own warps (1), and off (0): tensor maps for
/// contiguous tensors (partial blocks in every dimension, K not a multiple
/// of the block), and the cp.async fallback, chosen at launch, for views TMA
/// cannot describe: a row stride of an odd number of elements, a base one
/// element past 16-byte alignment.
TEST(MatmulTma, TensorMapsAndTheCpAsyncFallbackMatchReference) {
  SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::BF16, DType::F16})
    for (std::array<int64_t, 3> mkn :
         {std::array<int64_t, 3>{256, 2048, 512}, std::array<int64_t, 3>{300, 1000, 264}})
      for (const char *layout : {"contiguous", "odd row stride", "misaligned base"})
        for (int64_t tma : {4, 3, 2, 1, 0, -1}) {
          auto [m, k, n] = mkn;
          SCOPED_TRACE(std::string(name(dtype)) + " " + std::to_string(m) + "x" +
                       std::to_string(k) + "x" + std::to_string(n) + " " + layout + " TMA mode " +
                       std::to_string(tma));
          std::vector<float> a = randomValues(m * k, dtype), b = randomValues(k * n, dtype);
          std::string l = layout;
          int64_t pad = l == "odd row stride" ? 1 : 0, offset = l == "misaligned base" ? 1 : 0;
          DeviceTensor da = embedded(a, m, k, dtype, k + pad, offset),
                       db = embedded(b, k, n, dtype, n + pad, offset);
          DeviceTensor c = poisoned({m, n}, dtype);
          // Modes 4..0 on the large problems' blocks (128 x 256, four
          // stages); -1 the small problems' default (128 x 128, two stages,
          // TMA), as the heuristic gives it.
          kernels::KernelConfig config = kernels::matmulConfig(dtype, m, n, k);
          if (tma >= 0) {
            config = kernels::matmulConfig(dtype, 4096, 4096, 4096);
            config.constants["TMA"] = tma > 0;
            config.constants["WARP_SPECIALIZE"] = tma == 2 || tma == 3;
            config.constants["PERSISTENT"] = tma == 3;
            config.constants["CLUSTER_M"] = tma == 4 ? 2 : 1;
          }
          kernels::matmulWithConfig(da, db, c, config);
          EXPECT_LE(relativeError(c.toFloat(), matmulReference(a, b, m, k, n)), tolerance(dtype));
        }
}

/// Persistent programs, each looping over several tiles (144 of them, more
/// than any H100/H200 has SMs), with K of 6 steps, the last partial, so that
/// the four buffers are filled unequally often per tile (2, 2, 1, 1): the
/// barrier phases must follow across tiles. cp.async, TMA, and TMA from a
/// producer warpgroup that loads the next tile during the stores.
TEST(MatmulTma, PersistentProgramsLoopOverTiles) {
  SKIP_WITHOUT_GPU();
  const int64_t m = 1536, k = 328, n = 3072;
  DType dtype = DType::BF16;
  auto [da, db, want] = matmulInputs(m, k, n, dtype);
  for (int64_t mode : {0, 1, 2}) {
    SCOPED_TRACE("persistent, " + std::string(mode == 0   ? "cp.async"
                                              : mode == 1 ? "TMA"
                                                          : "TMA from a producer warpgroup"));
    DeviceTensor c = poisoned({m, n}, dtype);
    kernels::KernelConfig config = kernels::matmulConfig(dtype, 4096, 4096, 4096);
    config.constants["PERSISTENT"] = 1;
    config.constants["TMA"] = mode >= 1;
    config.constants["WARP_SPECIALIZE"] = mode == 2;
    kernels::matmulWithConfig(da, db, c, config);
    EXPECT_LE(relativeError(c.toFloat(), want), tolerance(dtype));
  }
}

/// C stored through a staging tile by TMA (TMA_STORE = 1), on both of the
/// heuristic's block sizes and with clusters: partial tiles in every
/// dimension (TMA leaves out what lies outside C), and a C whose rows TMA
/// cannot describe (odd row stride: stores from registers).
TEST(MatmulTma, StoresCThroughSharedMemory) {
  SKIP_WITHOUT_GPU();
  const int64_t m = 300, k = 328, n = 600;
  DType dtype = DType::BF16;
  auto [da, db, want] = matmulInputs(m, k, n, dtype);
  for (int64_t size : {4096, 2048})
    for (int64_t cluster : {1, 2})
      for (int64_t pad : {0, 1}) {
        SCOPED_TRACE("blocks for " + std::to_string(size) + "^3, CLUSTER_M " +
                     std::to_string(cluster) + (pad ? ", odd row stride of C" : ""));
        kernels::KernelConfig config = kernels::matmulConfig(dtype, size, size, size);
        config.constants["TMA_STORE"] = 1;
        config.constants["CLUSTER_M"] = cluster;
        std::vector<float> poison(m * (n + pad), std::nanf(""));
        DeviceTensor storage = DeviceTensor::fromFloat(poison, {m * (n + pad)}, dtype);
        DeviceTensor c = storage.view({m, n}, {n + pad, 1}, 0);
        kernels::matmulWithConfig(da, db, c, config);
        std::vector<float> got = storage.toFloat(), values(m * n);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            values[i * n + j] = got[i * (n + pad) + j];
        EXPECT_LE(relativeError(values, want), tolerance(dtype));
      }
}

const char *kNaiveMatmul = R"(
extern "C" __global__ void naive_matmul(const float *a, const float *b, float *c,
                                        int m, int k, int n) {
  int i = blockIdx.y * blockDim.y + threadIdx.y, j = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= m || j >= n) return;
  float s = 0.f;
  for (int p = 0; p < k; ++p) s = fmaf(a[i * k + p], b[p * n + j], s);
  c[i * n + j] = s;
}
)";

TEST(MatmulNvrtc, AgreesWithNvrtcReferenceOnALargerShape) {
  SKIP_WITHOUT_GPU();
  int m = 513, k = 257, n = 1000;
  std::vector<float> a = randomValues(m * k, DType::F32), b = randomValues(k * n, DType::F32);
  DeviceTensor da = DeviceTensor::fromFloat(a, {m, k}, DType::F32),
               db = DeviceTensor::fromFloat(b, {k, n}, DType::F32);
  DeviceTensor c = poisoned({m, n}, DType::F32), ref = poisoned({m, n}, DType::F32);
  kernels::matmul(da, db, c);

  std::string ptx = compileCudaToPtx(kNaiveMatmul, "naive_matmul.cu", currentDevice().arch());
  Module module = Module::loadData(ptx);
  KernelArgs args;
  args.add(da.data()).add(db.data()).add(ref.data()).add(m).add(k).add(n);
  LaunchConfig config{};
  config.grid[0] = (n + 15) / 16;
  config.grid[1] = (m + 15) / 16;
  config.grid[2] = 1;
  config.block[0] = 16;
  config.block[1] = 16;
  config.block[2] = 1;
  launch(module.function("naive_matmul"), config, args, Stream::defaultStream());

  std::vector<float> refHost = ref.toFloat();
  std::vector<double> refD(refHost.begin(), refHost.end());
  EXPECT_LE(relativeError(c.toFloat(), refD), 1e-5);
}

TEST(BasicKernels, BadInputNamesTheArgument) {
  SKIP_WITHOUT_GPU();
  DeviceTensor a = DeviceTensor::empty({4, 8}, DType::F32),
               b = DeviceTensor::empty({7, 3}, DType::F32);
  try {
    kernels::matmul(a, b);
    FAIL() << "mismatched matmul accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("b: expected 8 rows"), std::string::npos) << e.what();
  }
}

} // namespace

namespace {

/// A call's kernels resolved together (the attention backward's way): the
/// ones not loaded yet are compiled side by side and loaded before the
/// first launch; later lookups, one by one or together, find the same
/// kernels and compile nothing. Configurations no other test uses (one
/// warp, 32 and 64 elements a program, any alignment).
TEST(JitKernels, CompilesTheMissingOnesTogether) {
  SKIP_WITHOUT_GPU();
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  kernels::KernelConfig small = kernels::makeConfig(def, DType::F32, 1, {{"BLOCK", 32}});
  kernels::KernelConfig wide = kernels::makeConfig(def, DType::F32, 1, {{"BLOCK", 64}});
  unsigned prepared = Jit::get().preparedCount();
  std::vector<const JitKernel *> first =
      kernels::detail::jitKernels({{&def, &small, 0}, {&def, &wide, 0}, {&def, &small, 0}});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(Jit::get().preparedCount(), prepared + 2);
  EXPECT_NE(first[0], first[1]);
  EXPECT_EQ(first[0], first[2]);
  unsigned compiles = Jit::get().compileCount();
  EXPECT_EQ(&kernels::detail::jitKernel(def, wide, 0), first[1]);
  std::vector<const JitKernel *> again =
      kernels::detail::jitKernels({{&def, &wide, 0}, {&def, &small, 0}});
  EXPECT_EQ(again[0], first[1]);
  EXPECT_EQ(again[1], first[0]);
  EXPECT_EQ(Jit::get().compileCount(), compiles);
  EXPECT_EQ(Jit::get().preparedCount(), prepared + 2);

  // Both run: out = x + y over 100 elements (a partial last program).
  std::vector<float> x(100), y(100);
  for (int i = 0; i < 100; ++i) {
    x[i] = 0.25f * i - 7.f;
    y[i] = 3.f - 0.5f * i;
  }
  DeviceTensor dx = DeviceTensor::fromFloat(x, {100}, DType::F32);
  DeviceTensor dy = DeviceTensor::fromFloat(y, {100}, DType::F32);
  for (const auto &[kernel, block] : {std::pair{first[0], 32}, std::pair{first[1], 64}}) {
    DeviceTensor out = DeviceTensor::empty({100}, DType::F32);
    out.fillBytes(0xff);
    KernelArgs args;
    kernels::detail::addTensor(args, dx, "x");
    kernels::detail::addTensor(args, dy, "y");
    kernels::detail::addTensor(args, out, "out");
    kernels::detail::launchOnGrid(*kernel, (100 + block - 1) / block, 1, 1, args, "vector_add");
    std::vector<float> got = out.toFloat();
    for (int i = 0; i < 100; ++i)
      ASSERT_EQ(got[i], x[i] + y[i]) << "BLOCK " << block << ", element " << i;
  }
}

} // namespace
