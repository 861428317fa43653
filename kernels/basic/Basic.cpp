//===- Basic.cpp - The foundation kernels: add, softmax, matmul -----------===//
//
// Small kernels that exercise every layer: elementwise code and predicated
// block accesses (vector_add), reductions and broadcasts along rows
// (softmax, rms_norm and its backward), and tile.dot in a loop with a
// carried accumulator (matmul, batched_matmul).
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/basic.h"

#include "tessera/dsl.h"
#include "tessera/kernels/Kernel.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Testing.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>

using namespace tessera;
using namespace tessera::dsl;
using namespace tessera::kernels;
using tessera::kernels::detail::requireDType;
using tessera::kernels::detail::requireRank;
using tessera::kernels::detail::shippedKernelVersion;

namespace {

// out[i] = x[i] + y[i], BLOCK elements per program.
void vectorAddBody(KernelBuilder &kb, const KernelConfig &config) {
  int64_t block = kb.constant("BLOCK", config.get("BLOCK"));
  TensorArg x = kb.tensor("x", config.dtype, 1);
  TensorArg y = kb.tensor("y", config.dtype, 1);
  TensorArg out = kb.tensor("out", config.dtype, 1);
  Scalar start = program_id(0) * Scalar(block);
  Tile a = load(x, {start}, {block});
  Tile b = load(y, {start}, {block});
  store(out, {start}, a + b);
}

// Row-wise softmax, BLOCK_M rows per program, each row in one BLOCK_N tile
// held in registers (one read and one write of every element):
//   m_i = max_j x_ij;  e_ij = exp(x_ij - m_i);  y_ij = e_ij · (sum_j e_ij)⁻¹
void softmaxBody(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg x = kb.tensor("x", config.dtype, 2);
  TensorArg out = kb.tensor("out", config.dtype, 2);
  Scalar row = program_id(0) * Scalar(blockM);
  Tile t = cast(load(x, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
  // Columns past the row's end must not win the max nor add to the sum.
  Tile inRow = expand_dims(arange(blockN), 0) < x.size(1);
  t = where(inRow, t, full({blockM, blockN}, -std::numeric_limits<double>::infinity(), DType::F32));
  Tile m = reduce_max(t, 1);
  Tile e = exp(t - expand_dims(m, 1));
  // One approximate reciprocal per row instead of an IEEE division (a
  // subroutine call) per element.
  Tile rs = reciprocal(reduce_sum(e, 1));
  store(out, {row, Scalar(0)}, cast(e * expand_dims(rs, 1), config.dtype));
}

// Inclusive prefix sums along rows (torch.cumsum(x, -1)), BLOCK_M rows per
// program, each row in one BLOCK_N tile held in registers, summed in f32:
//   y_ij = Σ_{k <= j} x_ik
// Columns past the row's end load as zeros and are not stored.
void cumsumBody(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg x = kb.tensor("x", config.dtype, 2);
  TensorArg out = kb.tensor("out", config.dtype, 2);
  Scalar row = program_id(0) * Scalar(blockM);
  Tile t = cast(load(x, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
  store(out, {row, Scalar(0)}, cast(cumsum(t, 1), config.dtype));
}

// RMSNorm (Zhang & Sennrich, 2019), BLOCK_M rows per program, each row in
// one BLOCK_N tile held in registers (one read of x, one write of y):
//   r_i = (mean_j x_ij² + eps)^(-1/2);  y_ij = x_ij · r_i · w_j
// Columns past the row's end load as zeros and add nothing to the sum.
void rmsNormBody(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg x = kb.tensor("x", config.dtype, 2);
  TensorArg w = kb.tensor("weight", config.dtype, 1);
  TensorArg out = kb.tensor("out", config.dtype, 2);
  Scalar invCols = kb.scalarF32("inv_cols"), eps = kb.scalarF32("eps");
  Scalar row = program_id(0) * Scalar(blockM);
  Tile t = cast(load(x, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
  Tile r = rsqrt(reduce_sum(t * t, 1) * invCols + eps);
  Tile wt = cast(load(w, {Scalar(0)}, {blockN}), DType::F32);
  store(out, {row, Scalar(0)}, cast(t * expand_dims(r, 1) * expand_dims(wt, 0), config.dtype));
}

// RMSNorm's backward. With r_i as in the forward and g_ij = dy_ij · w_j:
//   dx_ij = r_i · g_ij - x_ij · r_i³ · (1/N) Σ_k g_ik x_ik
//   dw_j  = Σ_i dy_ij · x_ij · r_i
// r is recomputed from x (one more reduction of a row already in registers,
// rather than a saved tensor). Programs walk BLOCK_M rows at a time, P·BLOCK_M
// apart, add dy·x·r of each block to a BLOCK_M x N sum in registers (no
// exchange between warps in the loop), add its rows once at the end and
// write that as a row of dw_partial (P x N, f32); sum_columns adds the P
// rows, so dw does not depend on the order the programs ran in.
void rmsNormBackwardBody(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg dy = kb.tensor("dy", config.dtype, 2);
  TensorArg x = kb.tensor("x", config.dtype, 2);
  TensorArg w = kb.tensor("weight", config.dtype, 1);
  TensorArg dx = kb.tensor("dx", config.dtype, 2);
  TensorArg dwPartial = kb.tensor("dw_partial", DType::F32, 2);
  Scalar invCols = kb.scalarF32("inv_cols"), eps = kb.scalarF32("eps");
  Tile wt = expand_dims(cast(load(w, {Scalar(0)}, {blockN}), DType::F32), 0);
  Scalar pid = program_id(0);
  Tile dw = for_range(
      pid * Scalar(blockM), x.size(0), num_programs(0) * Scalar(blockM),
      {zeros({blockM, blockN}, DType::F32)}, [&](Scalar row, const std::vector<Tile> &acc) {
        // Rows and columns past the ends load as zeros; r of a row past the
        // end is made 0 too (with eps = 0 it would be infinite, and 0 · ∞
        // is NaN), so they add nothing to dw.
        Tile xt = cast(load(x, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
        Tile dyt = cast(load(dy, {row, Scalar(0)}, {blockM, blockN}), DType::F32);
        Tile inRows = (arange(blockM) + row) < x.size(0);
        // Σ x² and Σ g·x of each row in one reduction: one exchange
        // between the warps a row spans, not two.
        Tile g = dyt * wt;
        std::vector<Tile> sums = reduce(
            {xt * xt, g * xt}, 1, [](const std::vector<Scalar> &a, const std::vector<Scalar> &b) {
              return std::vector<Scalar>{a[0] + b[0], a[1] + b[1]};
            });
        Tile r = where(inRows, rsqrt(sums[0] * invCols + eps), zeros({blockM}, DType::F32));
        Tile rRows = expand_dims(r, 1);
        Tile c = expand_dims(sums[1] * invCols * r * r * r, 1);
        store(dx, {row, Scalar(0)}, cast(g * rRows - xt * c, config.dtype));
        return std::vector<Tile>{acc[0] + dyt * xt * rRows};
      })[0];
  store(dwPartial, {pid, Scalar(0)}, expand_dims(reduce_sum(dw, 0), 0));
}

// out_j = Σ_i partial_ij (f32 sums, out in its own dtype): BLOCK_N columns
// per program, BLOCK_M rows a step.
void sumColumnsBody(KernelBuilder &kb, const KernelConfig &config) {
  int64_t blockM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  int64_t blockN = kb.constant("BLOCK_N", config.get("BLOCK_N"));
  TensorArg partial = kb.tensor("partial", DType::F32, 2);
  TensorArg out = kb.tensor("out", config.dtype, 1);
  Scalar col = program_id(0) * Scalar(blockN);
  Tile sum = for_range(Scalar(0), partial.size(0), Scalar(blockM), {zeros({blockN}, DType::F32)},
                       [&](Scalar i, const std::vector<Tile> &acc) {
                         Tile block = load(partial, {i, col}, {blockM, blockN});
                         return std::vector<Tile>{acc[0] + reduce_sum(block, 0)};
                       })[0];
  store(out, {col}, cast(sum, config.dtype));
}

// C = A·B: each program owns a BLOCK_M x BLOCK_N tile of C and walks K in
// BLOCK_K steps; padding with zeros past K keeps the partial step exact.
// Programs run in groups of GROUP_M block rows, column by column within a
// group, so that programs running at once share the A and B blocks they read
// in L2 (Triton's grouped ordering). With CLUSTER_M = 2 (sm_90a, TMA copies)
// programs 2i and 2i + 1 are one cluster of CTAs and take two adjacent block
// rows of one column: they read the same B blocks, which their TMA copies
// fetch from L2 once per cluster, half each, multicast to both.
struct MatmulBlocks {
  int64_t m, n, k, groupM, clusterM;

  /// Reads the block sizes and the schedule knobs every matmul kernel has.
  MatmulBlocks(KernelBuilder &kb, const KernelConfig &config)
      : m(kb.constant("BLOCK_M", config.get("BLOCK_M"))),
        n(kb.constant("BLOCK_N", config.get("BLOCK_N"))),
        k(kb.constant("BLOCK_K", config.get("BLOCK_K"))),
        groupM(kb.constant("GROUP_M", config.get("GROUP_M"))),
        clusterM(config.constants.count("CLUSTER_M")
                     ? kb.constant("CLUSTER_M", config.get("CLUSTER_M"))
                     : 1) {
    kb.setNumStages(kb.constant("NUM_STAGES", config.get("NUM_STAGES")));
    kb.setWarpgroupMma(kb.constant("WGMMA", config.get("WGMMA")));
    kb.setClusterSize(clusterM);
  }

  /// Programs of the grid for an M x N result: one per tile, the block rows
  /// rounded up to whole clusters.
  static int64_t programs(int64_t rows, int64_t cols, const KernelConfig &c) {
    int64_t cluster = c.constants.count("CLUSTER_M") ? c.get("CLUSTER_M") : 1;
    int64_t blocksM = std::max<int64_t>(1, cdiv(rows, c.get("BLOCK_M")));
    return cdiv(blocksM, cluster) * cluster * std::max<int64_t>(1, cdiv(cols, c.get("BLOCK_N")));
  }

  /// The pid-th tile of c = a·b in grouped order (2-D a, b, c).
  void emitTile(const Scalar &pid, const TensorArg &a, const TensorArg &b, const TensorArg &c,
                DType dtype) const {
    Scalar blocksM = (a.size(0) + Scalar(m - 1)) / Scalar(m);
    Scalar blocksN = (b.size(1) + Scalar(n - 1)) / Scalar(n);
    // The grouped order over clusters of CLUSTER_M block rows (a block row
    // past the end, when they do not divide, loads zeros and stores nothing
    // but still fetches its share of the cluster's B blocks).
    Scalar cluster = pid, clusterRows = blocksM;
    int64_t groupClusters = std::max<int64_t>(1, groupM / clusterM);
    if (clusterM > 1) {
      cluster = pid / Scalar(clusterM);
      clusterRows = (blocksM + Scalar(clusterM - 1)) / Scalar(clusterM);
    }
    Scalar perGroup = Scalar(groupClusters) * blocksN;
    Scalar firstM = cluster / perGroup * Scalar(groupClusters);
    Scalar groupSize = min(clusterRows - firstM, Scalar(groupClusters));
    Scalar inGroup = cluster % perGroup;
    Scalar blockRow = firstM + inGroup % groupSize;
    if (clusterM > 1)
      blockRow = blockRow * Scalar(clusterM) + pid % Scalar(clusterM);
    Scalar row = blockRow * Scalar(m);
    Scalar col = inGroup / groupSize * Scalar(n);
    Tile acc = for_range(Scalar(0), a.size(1), Scalar(k), {zeros({m, n}, DType::F32)},
                         [&](Scalar kk, const std::vector<Tile> &carried) {
                           Tile at = load(a, {row, kk}, {m, k});
                           Tile bt = load(b, {kk, col}, {k, n});
                           return std::vector<Tile>{dot(at, bt, carried[0])};
                         })[0];
    store(c, {row, col}, cast(acc, dtype));
  }
};

// The grid is one-dimensional. PERSISTENT=1: one program per SM walks the
// tiles pid, pid + programs, ... in that order, so that its producer
// warpgroup (WARP_SPECIALIZE=1) loads the next tile's first blocks while the
// consumers store this one's.
void matmulBody(KernelBuilder &kb, const KernelConfig &config) {
  MatmulBlocks blocks(kb, config);
  kb.setTensorMemoryAccelerator(kb.constant("TMA", config.get("TMA")));
  kb.setTensorMemoryAcceleratorStores(kb.constant("TMA_STORE", config.get("TMA_STORE")));
  kb.setWarpSpecialize(kb.constant("WARP_SPECIALIZE", config.get("WARP_SPECIALIZE")));
  TensorArg a = kb.tensor("a", config.dtype, 2);
  TensorArg b = kb.tensor("b", config.dtype, 2);
  TensorArg c = kb.tensor("c", config.dtype, 2);
  bool persistent = kb.constant("PERSISTENT", config.get("PERSISTENT")) != 0;
  if (blocks.clusterM > 1 && (persistent || config.get("WARP_SPECIALIZE")))
    throw tessera::Error("matmul: CLUSTER_M > 1 runs one tile per program, with no producer "
                         "warpgroup (PERSISTENT=0, WARP_SPECIALIZE=0)");
  b.sameBlocksInCluster();
  if (!persistent) {
    blocks.emitTile(program_id(0), a, b, c, config.dtype);
    return;
  }
  Scalar tiles = (a.size(0) + Scalar(blocks.m - 1)) / Scalar(blocks.m) *
                 ((b.size(1) + Scalar(blocks.n - 1)) / Scalar(blocks.n));
  for_range(program_id(0), tiles, num_programs(0), {}, [&](Scalar pid, const std::vector<Tile> &) {
    blocks.emitTile(pid, a, b, c, config.dtype);
    return std::vector<Tile>{};
  });
}

// C_i = A_i·B_i for each i of the batch (torch.bmm), program_id(1) = i: the
// tiles of one matrix product as matmul's. A b of batch size 1 serves every
// i (i mod 1 = 0): a weight shared by the batch, read from one place. With
// TMA=1 (sm_90a) the blocks of A_i and B_i come by rank-3 tensor maps of a
// and b, at batch coordinate i.
void batchedMatmulBody(KernelBuilder &kb, const KernelConfig &config) {
  MatmulBlocks blocks(kb, config);
  kb.setTensorMemoryAccelerator(kb.constant("TMA", config.get("TMA")));
  TensorArg a = kb.tensor("a", config.dtype, 3);
  TensorArg b = kb.tensor("b", config.dtype, 3);
  TensorArg c = kb.tensor("c", config.dtype, 3);
  Scalar i = program_id(1);
  blocks.emitTile(program_id(0), a.at({i}), b.at({i % b.size(0)}), c.at({i}), config.dtype);
}

/// Throws naming the argument unless x is a 2-D float tensor whose rows (1
/// to 16384 elements) `config`'s BLOCK_N covers and `out` has x's dtype and
/// shape: what the row kernels (softmax, rms_norm) hold in registers.
void checkRows(const char *kernel, const DeviceTensor &x, const DeviceTensor &out,
               const KernelConfig &config) {
  requireRank(x, 2, "x");
  requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  if (out.dtype() != x.dtype() || out.shape() != x.shape())
    throw tessera::Error("out: expected a tensor of x's dtype and shape");
  int64_t cols = x.shape()[1];
  if (cols < 1 || cols > 16384)
    throw tessera::Error(std::string("x: ") + kernel + " rows must have 1 to 16384 elements, got " +
                         std::to_string(cols));
  if (config.get("BLOCK_N") < cols)
    throw tessera::Error(std::string(kernel) + ": BLOCK_N " +
                         std::to_string(config.get("BLOCK_N")) + " does not cover a row of " +
                         std::to_string(cols));
}

/// Programs of rms_norm_backward for `rows` rows taken BLOCK_M at a time:
/// one per block of rows, at most four per SM (each writes a row of partial
/// sums, which the column sum reads again).
int64_t rmsNormBackwardPrograms(int64_t rows, int64_t blockM) {
  int64_t sms = gpuAvailable() ? currentDevice().smCount : 132;
  return std::clamp<int64_t>(cdiv(rows, blockM), 1, 4 * sms);
}

/// dx of one row of RMSNorm in float64 (the equations of rmsNormBackwardBody).
std::vector<double> rmsNormBackwardRow(const float *x, const float *dy, const std::vector<float> &w,
                                       float eps) {
  size_t cols = w.size();
  double ss = 0, gx = 0;
  for (size_t j = 0; j < cols; ++j) {
    ss += double(x[j]) * x[j];
    gx += double(dy[j]) * w[j] * x[j];
  }
  double r = 1 / std::sqrt(ss / double(cols) + eps);
  std::vector<double> dx(cols);
  for (size_t j = 0; j < cols; ++j)
    dx[j] = r * dy[j] * w[j] - double(x[j]) * r * r * r * gx / double(cols);
  return dx;
}

// --- Inputs and checks for the tools (Kernel::problem) ------------------------

std::shared_ptr<std::vector<float>> randomHost(size_t n, DType dtype) {
  return std::make_shared<std::vector<float>>(testkit::randomValues(n, dtype));
}

/// "" when |got - want| <= tol·(|want| + scale) everywhere, else the first miss.
std::string compare(const std::vector<float> &got, const std::vector<double> &want, DType dtype,
                    double scale, const std::string &what) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= testkit::tolerance(dtype) * (std::abs(want[i]) + scale)))
      return what + "[" + std::to_string(i) + "] = " + std::to_string(got[i]) + ", expected " +
             std::to_string(want[i]);
  return "";
}

/// Rows that the checks of the row kernels and matmul look at: up to 16,
/// spread over `rows`, the last included.
std::vector<int64_t> sampledRows(int64_t rows) {
  std::vector<int64_t> picked;
  int64_t step = std::max<int64_t>(1, rows / 16);
  for (int64_t r = 0; r < rows; r += step)
    picked.push_back(r);
  if (picked.back() != rows - 1)
    picked.push_back(rows - 1);
  return picked;
}

/// Row `r` of the contiguous matrix `t`, on the host.
std::vector<float> hostRow(const DeviceTensor &t, int64_t r) {
  int64_t cols = t.shape()[1];
  return t.view({cols}, {1}, r * cols).toFloat();
}

/// Row kernels' candidates: BLOCK_N covers the row; 4 to 64 elements per
/// thread, up to 16 warps, 1 to 8 rows per program.
std::vector<KernelConfig> rowConfigs(const Args &a) {
  int64_t blockN = int64_t(llvm::PowerOf2Ceil(uint64_t(a.tensor("x").shape()[1])));
  std::vector<KernelConfig> configs;
  for (unsigned warps : {1u, 2u, 4u, 8u, 16u})
    for (int64_t blockM : {1, 2, 4, 8}) {
      int64_t perThread = blockM * blockN / (32 * warps);
      if (perThread >= 4 && perThread <= 64)
        configs.push_back(
            {a.tensor("x").dtype(), warps, {{"BLOCK_M", blockM}, {"BLOCK_N", blockN}}});
    }
  return configs;
}

Grid rowGrid(const Args &a, const KernelConfig &c) {
  return {std::max<int64_t>(1, cdiv(a.tensor("x").shape()[0], c.get("BLOCK_M")))};
}

/// Inputs of a kernel from x (ROWS x COLS) to out of x's shape, and a check
/// of out's sampled rows against `reference` (a row of x in, float64 out),
/// each element within the dtype's tolerance of |want| + `floor`.
Problem rowProblem(const char *kernel, DType dtype, const std::vector<int64_t> &sizes,
                   std::function<std::vector<double>(const float *, int64_t)> reference,
                   double floor) {
  if (sizes.size() != 2)
    throw tessera::Error(std::string(kernel) + ": --sizes ROWS,COLS");
  int64_t rows = sizes[0], cols = sizes[1];
  auto x = randomHost(size_t(rows * cols), dtype);
  DeviceTensor dx = DeviceTensor::fromFloat(*x, {rows, cols}, dtype);
  DeviceTensor out = DeviceTensor::empty({rows, cols}, dtype);
  out.fillBytes(0xff);
  return {{dx, out}, [=] {
            for (int64_t r : sampledRows(rows)) {
              std::string e = compare(hostRow(out, r), reference(x->data() + r * cols, cols), dtype,
                                      floor, "out row " + std::to_string(r));
              if (!e.empty())
                return e;
            }
            return std::string();
          }};
}

Problem softmaxProblem(DType dtype, const std::vector<int64_t> &sizes) {
  auto softmaxRow = [](const float *row, int64_t cols) {
    double m = *std::max_element(row, row + cols), sum = 0;
    std::vector<double> want(cols);
    for (int64_t j = 0; j < cols; ++j)
      sum += want[j] = std::exp(double(row[j]) - m);
    for (double &w : want)
      w /= sum;
    return want;
  };
  return rowProblem("softmax", dtype, sizes, softmaxRow, 1e-6);
}

Problem cumsumProblem(DType dtype, const std::vector<int64_t> &sizes) {
  auto cumsumRow = [](const float *row, int64_t cols) {
    std::vector<double> want(cols);
    double sum = 0;
    for (int64_t j = 0; j < cols; ++j)
      want[j] = sum += row[j];
    return want;
  };
  // A sum of up to COLS terms: its error grows with the root of their count.
  double floor = sizes.size() == 2 ? std::sqrt(double(sizes[1])) : 1;
  return rowProblem("cumsum", dtype, sizes, cumsumRow, floor);
}

Problem rmsNormProblem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 2)
    throw tessera::Error("rms_norm: --sizes ROWS,COLS");
  int64_t rows = sizes[0], cols = sizes[1];
  auto x = randomHost(size_t(rows * cols), dtype), w = randomHost(size_t(cols), dtype);
  DeviceTensor dx = DeviceTensor::fromFloat(*x, {rows, cols}, dtype);
  DeviceTensor dw = DeviceTensor::fromFloat(*w, {cols}, dtype);
  DeviceTensor out = DeviceTensor::empty({rows, cols}, dtype);
  out.fillBytes(0xff);
  float eps = 1e-6f;
  return {{dx, dw, out, float(1.0 / double(cols)), eps}, [=] {
            for (int64_t r : sampledRows(rows)) {
              const float *row = x->data() + r * cols;
              double ss = 0;
              for (int64_t j = 0; j < cols; ++j)
                ss += double(row[j]) * row[j];
              double scale = 1 / std::sqrt(ss / double(cols) + eps);
              std::vector<double> want(cols);
              for (int64_t j = 0; j < cols; ++j)
                want[j] = row[j] * scale * (*w)[j];
              std::string e =
                  compare(hostRow(out, r), want, dtype, 1e-3, "out row " + std::to_string(r));
              if (!e.empty())
                return e;
            }
            return std::string();
          }};
}

/// A row of a matrix product in float64: aRow (k elements) times b (k x n,
/// contiguous).
std::vector<double> productRow(const float *aRow, const float *b, int64_t k, int64_t n) {
  std::vector<double> row(size_t(n), 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j)
      row[j] += double(aRow[i]) * b[i * n + j];
  return row;
}

Problem matmulProblem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 3)
    throw tessera::Error("matmul: --sizes M,N,K");
  int64_t m = sizes[0], n = sizes[1], k = sizes[2];
  auto a = randomHost(size_t(m * k), dtype), b = randomHost(size_t(k * n), dtype);
  DeviceTensor da = DeviceTensor::fromFloat(*a, {m, k}, dtype);
  DeviceTensor db = DeviceTensor::fromFloat(*b, {k, n}, dtype);
  DeviceTensor c = DeviceTensor::empty({m, n}, dtype);
  c.fillBytes(0xff);
  return {{da, db, c},
          [=] {
            // Every column of the sampled rows, in float64; the error of a
            // sum of k products scales with sqrt(k).
            for (int64_t r : sampledRows(m)) {
              std::vector<double> want = productRow(a->data() + r * k, b->data(), k, n);
              std::string e = compare(hostRow(c, r), want, dtype, std::sqrt(double(k)),
                                      "c row " + std::to_string(r));
              if (!e.empty())
                return e;
            }
            return std::string();
          },
          2.0 * double(m) * double(n) * double(k)};
}

/// dx of rms_norm_backward in float64 on the sampled rows (dw_partial holds
/// per-program sums that the column sum finishes; rms_norm_backward's tests
/// check dweight).
Problem rmsNormBackwardProblem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 2)
    throw tessera::Error("rms_norm_backward: --sizes ROWS,COLS");
  int64_t rows = sizes[0], cols = sizes[1];
  auto x = randomHost(size_t(rows * cols), dtype), dy = randomHost(size_t(rows * cols), dtype),
       w = randomHost(size_t(cols), dtype);
  DeviceTensor dx = DeviceTensor::empty({rows, cols}, dtype);
  dx.fillBytes(0xff);
  DeviceTensor partial = DeviceTensor::empty({rmsNormBackwardPrograms(rows, 1), cols}, DType::F32);
  float eps = 1e-6f;
  return {{DeviceTensor::fromFloat(*dy, {rows, cols}, dtype),
           DeviceTensor::fromFloat(*x, {rows, cols}, dtype),
           DeviceTensor::fromFloat(*w, {cols}, dtype), dx, partial, float(1.0 / double(cols)), eps},
          [=] {
            for (int64_t r : sampledRows(rows)) {
              std::vector<double> want =
                  rmsNormBackwardRow(x->data() + r * cols, dy->data() + r * cols, *w, eps);
              std::string e =
                  // dx is a difference of two terms of order 1: its error
                  // is relative to them, not to dx.
                  compare(hostRow(dx, r), want, dtype, 1.0, "dx row " + std::to_string(r));
              if (!e.empty())
                return e;
            }
            return std::string();
          }};
}

Problem batchedMatmulProblem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 4)
    throw tessera::Error("batched_matmul: --sizes BATCH,M,N,K");
  int64_t batch = sizes[0], m = sizes[1], n = sizes[2], k = sizes[3];
  auto a = randomHost(size_t(batch * m * k), dtype), b = randomHost(size_t(batch * k * n), dtype);
  DeviceTensor c = DeviceTensor::empty({batch, m, n}, dtype);
  c.fillBytes(0xff);
  return {{DeviceTensor::fromFloat(*a, {batch, m, k}, dtype),
           DeviceTensor::fromFloat(*b, {batch, k, n}, dtype), c},
          [=] {
            // The sampled rows of the first and the last product.
            for (int64_t i : {int64_t(0), batch - 1})
              for (int64_t r : sampledRows(m)) {
                std::vector<double> want =
                    productRow(a->data() + (i * m + r) * k, b->data() + i * k * n, k, n);
                std::string e = compare(c.view({n}, {1}, (i * m + r) * n).toFloat(), want, dtype,
                                        std::sqrt(double(k)),
                                        "c[" + std::to_string(i) + "] row " + std::to_string(r));
                if (!e.empty())
                  return e;
              }
            return std::string();
          },
          2.0 * double(batch) * double(m) * double(n) * double(k)};
}

/// The tuning candidates of the matmul kernels: around the H200's best
/// (128 x 128 x 64 on one warpgroup, two stages; 128 x 256 x 64 on two,
/// four stages, for large problems).
std::vector<KernelConfig> matmulCandidates() {
  std::vector<KernelConfig> configs;
  for (auto [bm, bn, bk, warps, stages] : std::vector<std::array<int64_t, 5>>{{128, 128, 64, 4, 2},
                                                                              {128, 128, 64, 4, 3},
                                                                              {128, 256, 64, 8, 4},
                                                                              {256, 128, 64, 8, 4},
                                                                              {128, 128, 64, 8, 4},
                                                                              {128, 128, 64, 8, 2},
                                                                              {128, 256, 64, 8, 2},
                                                                              {256, 128, 64, 8, 2},
                                                                              {128, 64, 64, 4, 2},
                                                                              {64, 128, 64, 4, 2},
                                                                              {64, 64, 64, 4, 2},
                                                                              {128, 128, 32, 4, 2},
                                                                              {128, 128, 64, 4, 1},
                                                                              {64, 64, 32, 4, 2}})
    configs.push_back({DType::BF16,
                       unsigned(warps),
                       {{"BLOCK_M", bm},
                        {"BLOCK_N", bn},
                        {"BLOCK_K", bk},
                        {"GROUP_M", 8},
                        {"NUM_STAGES", stages},
                        {"WGMMA", 1}}});
  return configs;
}

/// The constants both matmul kernels declare, with their defaults.
/// `configs`, and each pipelined one also with TMA copies (sm_90a;
/// elsewhere, and on tensors TMA cannot describe, the kernel keeps
/// cp.async).
std::vector<KernelConfig> withTmaCandidates(std::vector<KernelConfig> configs) {
  for (size_t i = 0, n = configs.size(); i < n; ++i)
    if (configs[i].get("NUM_STAGES") >= 2) {
      KernelConfig tma = configs[i];
      tma.constants["TMA"] = 1;
      configs.push_back(tma);
    }
  return configs;
}

/// matmul's TMA candidates of 128 x 128 blocks or larger again with C stored
/// by TMA (TMA_STORE): 1.0-1.35x the same blocks' register stores on the
/// H100 (docs/PERFORMANCE.md).
std::vector<KernelConfig> withTmaStoreCandidates(std::vector<KernelConfig> configs) {
  for (size_t i = 0, n = configs.size(); i < n; ++i)
    if (configs[i].constants.count("TMA") && configs[i].get("TMA") &&
        configs[i].get("BLOCK_M") * configs[i].get("BLOCK_N") >= 128 * 128) {
      KernelConfig store = configs[i];
      store.constants["TMA_STORE"] = 1;
      configs.push_back(store);
    }
  return configs;
}

std::map<std::string, int64_t> matmulConstants() {
  return {{"BLOCK_M", 64}, {"BLOCK_N", 64},   {"BLOCK_K", 32},
          {"GROUP_M", 8},  {"NUM_STAGES", 2}, {"WGMMA", 1}};
}

} // namespace

namespace {

/// A kernel over whole rows held in registers (softmax, cumsum, rms_norm):
/// BLOCK_M rows per program, BLOCK_N covering a row, tuned over rowConfigs,
/// `heuristic` (dtype, rows, cols) otherwise.
Kernel rowKernel(const char *name, Kernel::Body body, const char *summary,
                 KernelConfig (*heuristic)(DType, int64_t, int64_t), ProblemFn problem) {
  Tuning tuning;
  tuning.generate = rowConfigs;
  return Kernel(name, std::move(body))
      .version(shippedKernelVersion())
      .summary(summary)
      .constants({{"BLOCK_M", 1}, {"BLOCK_N", 1024}})
      .grid(rowGrid)
      .heuristic([heuristic](const Args &a) {
        const DeviceTensor &x = a.tensor("x");
        return heuristic(x.dtype(), x.shape()[0], x.shape()[1]);
      })
      .autotune(tuning)
      .problem(std::move(problem));
}

} // namespace

const Kernel &tessera::kernels::detail::vectorAddKernel() {
  static const Kernel k =
      Kernel("vector_add", vectorAddBody)
          .version(shippedKernelVersion())
          .summary("out = x + y (1-D)")
          .constants({{"BLOCK", 1024}})
          .grid([](const Args &a, const KernelConfig &c) {
            return Grid{std::max<int64_t>(1, cdiv(a.tensor("x").shape()[0], c.get("BLOCK")))};
          });
  return k;
}

const Kernel &tessera::kernels::detail::softmaxKernel() {
  static const Kernel k = rowKernel("softmax", softmaxBody, "row-wise softmax of a 2-D tensor",
                                    softmaxConfig, softmaxProblem);
  return k;
}

const Kernel &tessera::kernels::detail::cumsumKernel() {
  static const Kernel k =
      rowKernel("cumsum", cumsumBody, "inclusive prefix sums along the rows of a 2-D tensor",
                cumsumConfig, cumsumProblem);
  return k;
}

const Kernel &tessera::kernels::detail::rmsNormKernel() {
  static const Kernel k = rowKernel(
      "rms_norm", rmsNormBody, "RMSNorm of each row of a 2-D tensor, times a weight per column",
      rmsNormConfig, rmsNormProblem);
  return k;
}

const Kernel &tessera::kernels::detail::matmulKernel() {
  static const Kernel k = [] {
    Tuning tuning;
    tuning.configs = withTmaStoreCandidates(withTmaCandidates(matmulCandidates()));
    std::map<std::string, int64_t> constants = matmulConstants();
    // TMA=1 (sm_90a): copies by the Tensor Memory Accelerator into an
    // mbarrier ring. With TMA=1 and four stages, WARP_SPECIALIZE=1 has a
    // producer warpgroup issue them. PERSISTENT=1: one program per SM
    // looping over the tiles. CLUSTER_M=2 (with TMA=1): two-CTA clusters
    // over adjacent block rows, B's copies multicast to both. TMA_STORE=1
    // (with TMA=1): C goes out through a shared staging tile and TMA bulk
    // stores (the large problems' heuristic). (H100: docs/PERFORMANCE.md,
    // matmul.)
    constants.insert({{"TMA", 0},
                      {"WARP_SPECIALIZE", 0},
                      {"PERSISTENT", 0},
                      {"CLUSTER_M", 1},
                      {"TMA_STORE", 0}});
    return Kernel("matmul", matmulBody)
        .version(shippedKernelVersion())
        .summary("C = A·B (2-D), f32 accumulation")
        .constants(constants)
        .grid([](const Args &a, const KernelConfig &c) {
          int64_t tiles =
              MatmulBlocks::programs(a.tensor("a").shape()[0], a.tensor("b").shape()[1], c);
          if (c.get("PERSISTENT"))
            tiles = std::min<int64_t>(tiles, gpuAvailable() ? currentDevice().smCount : 132);
          return Grid{tiles};
        })
        .heuristic([](const Args &a) {
          const DeviceTensor &x = a.tensor("a"), &y = a.tensor("b");
          return matmulConfig(x.dtype(), x.shape()[0], y.shape()[1], x.shape()[1]);
        })
        .autotune(tuning)
        .problem(matmulProblem);
  }();
  return k;
}

const Kernel &tessera::kernels::detail::batchedMatmulKernel() {
  static const Kernel k = [] {
    Tuning tuning;
    tuning.configs = withTmaCandidates(matmulCandidates());
    std::map<std::string, int64_t> constants = matmulConstants();
    // TMA=1 (sm_90a): copies by the Tensor Memory Accelerator, as matmul's.
    constants.insert({"TMA", 0});
    return Kernel("batched_matmul", batchedMatmulBody)
        .version(shippedKernelVersion())
        .summary("C_i = A_i·B_i over a batch (3-D; B may be one matrix), f32 accumulation")
        .constants(constants)
        .grid([](const Args &a, const KernelConfig &c) {
          const std::vector<int64_t> &as = a.tensor("a").shape(), &bs = a.tensor("b").shape();
          return Grid{std::max<int64_t>(1, cdiv(as[1], c.get("BLOCK_M"))) *
                          std::max<int64_t>(1, cdiv(bs[2], c.get("BLOCK_N"))),
                      as[0]};
        })
        .heuristic([](const Args &a) {
          const std::vector<int64_t> &as = a.tensor("a").shape(), &bs = a.tensor("b").shape();
          return batchedMatmulConfig(a.tensor("a").dtype(), as[0], as[1], bs[2], as[2]);
        })
        .autotune(tuning)
        .problem(batchedMatmulProblem);
  }();
  return k;
}

const Kernel &tessera::kernels::detail::rmsNormBackwardKernel() {
  static const Kernel k = [] {
    Tuning tuning;
    tuning.generate = rowConfigs;
    // The partial sums' rows follow from the config: x alone names the problem.
    tuning.key = [](const Args &a) {
      const DeviceTensor &x = a.tensor("x");
      std::string key = "x:" + std::string(name(x.dtype()));
      for (int64_t size : x.shape())
        key += "x" + std::to_string(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(size, 1))));
      return key;
    };
    return Kernel("rms_norm_backward", rmsNormBackwardBody)
        .version(shippedKernelVersion())
        .summary("dx of RMSNorm, and dweight summed per program into dw_partial")
        .constants({{"BLOCK_M", 1}, {"BLOCK_N", 1024}})
        // One program per row of the partial sums.
        .grid([](const Args &a, const KernelConfig &) {
          return Grid{a.tensor("dw_partial").shape()[0]};
        })
        .heuristic([](const Args &a) {
          const DeviceTensor &x = a.tensor("x");
          return rmsNormBackwardConfig(x.dtype(), x.shape()[0], x.shape()[1]);
        })
        .autotune(tuning)
        .problem(rmsNormBackwardProblem);
  }();
  return k;
}

const Kernel &tessera::kernels::detail::sumColumnsKernel() {
  static const Kernel k =
      Kernel("sum_columns", sumColumnsBody)
          .version(shippedKernelVersion())
          .summary("out_j = sum over i of partial_ij (f32 partial sums)")
          .constants({{"BLOCK_M", 32}, {"BLOCK_N", 128}})
          .grid([](const Args &a, const KernelConfig &c) {
            return Grid{std::max<int64_t>(1, cdiv(a.tensor("out").shape()[0], c.get("BLOCK_N")))};
          });
  return k;
}

std::vector<Kernel> tessera::kernels::detail::basicKernels() {
  return {vectorAddKernel(),       softmaxKernel(),    cumsumKernel(), rmsNormKernel(),
          rmsNormBackwardKernel(), sumColumnsKernel(), matmulKernel(), batchedMatmulKernel()};
}

DeviceTensor tessera::kernels::vector_add(const DeviceTensor &x, const DeviceTensor &y,
                                          Stream &stream) {
  requireRank(x, 1, "x");
  requireRank(y, 1, "y");
  requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  if (y.dtype() != x.dtype())
    throw tessera::Error("y: expected dtype " + std::string(name(x.dtype())) + " like x, got " +
                         std::string(name(y.dtype())));
  if (y.shape() != x.shape())
    throw tessera::Error("y: expected length " + std::to_string(x.shape()[0]) + " like x, got " +
                         std::to_string(y.shape()[0]));
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  vector_add(x, y, out, stream);
  return out;
}

void tessera::kernels::vector_add(const DeviceTensor &x, const DeviceTensor &y, DeviceTensor &out,
                                  Stream &stream) {
  requireRank(x, 1, "x");
  if (out.dtype() != x.dtype() || out.shape() != x.shape())
    throw tessera::Error("out: expected a tensor of x's dtype and shape");
  detail::vectorAddKernel()({x, y, out}, stream);
}

DeviceTensor tessera::kernels::softmax(const DeviceTensor &x, Stream &stream) {
  requireRank(x, 2, "x");
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  softmax(x, out, stream);
  return out;
}

KernelConfig tessera::kernels::softmaxConfig(DType dtype, int64_t rows, int64_t cols) {
  (void)rows;
  int64_t blockN = int64_t(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(cols, 1))));
  // 8 to 32 elements of a row per thread: the row stays in registers, and
  // few warps share a row, so the cross-warp exchange stays small (2 warps
  // at 1024 and 4 at 4096 columns were the fastest on the H200).
  unsigned warps = unsigned(std::clamp<int64_t>(blockN / 1024, 2, 16));
  // Short rows: several per program, so that a program still moves ~2048
  // elements.
  int64_t blockM = std::max<int64_t>(1, 2048 / blockN);
  return detail::softmaxKernel().config(dtype, {{"BLOCK_N", blockN}, {"BLOCK_M", blockM}}, warps);
}

void tessera::kernels::softmax(const DeviceTensor &x, DeviceTensor &out, Stream &stream) {
  requireRank(x, 2, "x");
  softmaxWithConfig(x, out, detail::softmaxKernel().configFor({x, out}), stream);
}

void tessera::kernels::softmaxWithConfig(const DeviceTensor &x, DeviceTensor &out,
                                         const KernelConfig &config, Stream &stream) {
  checkRows("softmax", x, out, config);
  detail::softmaxKernel().launch(config, {x, out}, stream);
}

DeviceTensor tessera::kernels::cumsum(const DeviceTensor &x, Stream &stream) {
  requireRank(x, 2, "x");
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  cumsum(x, out, stream);
  return out;
}

void tessera::kernels::cumsum(const DeviceTensor &x, DeviceTensor &out, Stream &stream) {
  requireRank(x, 2, "x");
  cumsumWithConfig(x, out, detail::cumsumKernel().configFor({x, out}), stream);
}

KernelConfig tessera::kernels::cumsumConfig(DType dtype, int64_t rows, int64_t cols) {
  // Softmax's shape of work: a row in registers, several short ones per
  // program; the scan's exchange goes through shared memory once per row.
  KernelConfig c = softmaxConfig(dtype, rows, cols);
  return detail::cumsumKernel().config(
      dtype, {{"BLOCK_M", c.get("BLOCK_M")}, {"BLOCK_N", c.get("BLOCK_N")}}, c.numWarps);
}

void tessera::kernels::cumsumWithConfig(const DeviceTensor &x, DeviceTensor &out,
                                        const KernelConfig &config, Stream &stream) {
  checkRows("cumsum", x, out, config);
  detail::cumsumKernel().launch(config, {x, out}, stream);
}

DeviceTensor tessera::kernels::rms_norm(const DeviceTensor &x, const DeviceTensor &weight,
                                        float eps, Stream &stream) {
  requireRank(x, 2, "x");
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  rms_norm(x, weight, out, eps, stream);
  return out;
}

void tessera::kernels::rms_norm(const DeviceTensor &x, const DeviceTensor &weight,
                                DeviceTensor &out, float eps, Stream &stream) {
  requireRank(x, 2, "x");
  float invCols = float(1.0 / double(std::max<int64_t>(x.shape()[1], 1)));
  rmsNormWithConfig(x, weight, out, eps,
                    detail::rmsNormKernel().configFor({x, weight, out, invCols, eps}), stream);
}

KernelConfig tessera::kernels::rmsNormConfig(DType dtype, int64_t rows, int64_t cols) {
  // The same shape of work as softmax's: a row per program, in registers.
  KernelConfig c = softmaxConfig(dtype, rows, cols);
  return detail::rmsNormKernel().config(
      dtype, {{"BLOCK_M", c.get("BLOCK_M")}, {"BLOCK_N", c.get("BLOCK_N")}}, c.numWarps);
}

void tessera::kernels::rmsNormWithConfig(const DeviceTensor &x, const DeviceTensor &weight,
                                         DeviceTensor &out, float eps, const KernelConfig &config,
                                         Stream &stream) {
  checkRows("rms_norm", x, out, config);
  int64_t cols = x.shape()[1];
  if (weight.dtype() != x.dtype() || weight.shape() != std::vector<int64_t>{cols})
    throw tessera::Error("weight: expected a 1-D tensor of " + std::to_string(cols) +
                         " elements of x's dtype");
  if (!(eps >= 0) || !std::isfinite(eps))
    throw tessera::Error("eps: expected a finite number >= 0, got " + std::to_string(eps));
  detail::rmsNormKernel().launch(config, {x, weight, out, float(1.0 / double(cols)), eps}, stream);
}

DeviceTensor tessera::kernels::matmul(const DeviceTensor &a, const DeviceTensor &b,
                                      Stream &stream) {
  requireRank(a, 2, "a");
  requireRank(b, 2, "b");
  DeviceTensor c = DeviceTensor::empty({a.shape()[0], b.shape()[1]}, a.dtype());
  matmul(a, b, c, stream);
  return c;
}

void tessera::kernels::matmul(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
                              Stream &stream) {
  requireRank(a, 2, "a");
  requireRank(b, 2, "b");
  matmulWithConfig(a, b, c, detail::matmulKernel().configFor({a, b, c}), stream);
}

KernelConfig tessera::kernels::matmulConfig(DType dtype, int64_t m, int64_t n, int64_t k,
                                            std::string_view arch) {
  std::string chip = arch.empty() ? detail::currentArch() : std::string(arch);
  // 16-bit on wgmma, the fastest of the H100 sweep (docs/PERFORMANCE.md),
  // spill-free, copies by TMA (cp.async where the launch finds a tensor TMA
  // cannot describe): problems of 4M outputs or more with K of 2048 or more
  // 128 x 256 blocks on two warpgroups, four stages, each wgmma group in
  // flight into the next k-step, C stored by TMA from a shared tile (1.0 to
  // 1.1x cuBLAS at 2048³ to 8192³; 1.35x the 128 x 128 blocks at 2048³);
  // the others 128 x 128 on one warpgroup, double-buffered. f32 (CUDA
  // cores) and mma.sync keep 64 x 64 x 32 blocks.
  if (dtype != DType::F32 && chip == "sm_90a") {
    if (m * n >= (int64_t(1) << 22) && k >= 2048)
      return detail::matmulKernel().config(dtype,
                                           {{"BLOCK_M", 128},
                                            {"BLOCK_N", 256},
                                            {"BLOCK_K", 64},
                                            {"NUM_STAGES", 4},
                                            {"TMA", 1},
                                            {"TMA_STORE", 1}},
                                           8);
    return detail::matmulKernel().config(
        dtype, {{"BLOCK_M", 128}, {"BLOCK_N", 128}, {"BLOCK_K", 64}, {"TMA", 1}});
  }
  return detail::matmulKernel().config(dtype);
}

void tessera::kernels::matmulWithConfig(const DeviceTensor &a, const DeviceTensor &b,
                                        DeviceTensor &c, const KernelConfig &config,
                                        Stream &stream) {
  requireRank(a, 2, "a");
  requireRank(b, 2, "b");
  requireDType(a, {DType::F32, DType::F16, DType::BF16}, "a");
  if (b.dtype() != a.dtype())
    throw tessera::Error("b: expected dtype " + std::string(name(a.dtype())) + " like a, got " +
                         std::string(name(b.dtype())));
  if (a.shape()[1] != b.shape()[0])
    throw tessera::Error("b: expected " + std::to_string(a.shape()[1]) +
                         " rows (the columns of a), got " + std::to_string(b.shape()[0]));
  if (c.dtype() != a.dtype() || c.shape() != std::vector<int64_t>{a.shape()[0], b.shape()[1]})
    throw tessera::Error("c: expected a " + std::to_string(a.shape()[0]) + " x " +
                         std::to_string(b.shape()[1]) + " tensor of a's dtype");
  detail::matmulKernel().launch(config, {a, b, c}, stream);
}

KernelConfig tessera::kernels::rmsNormBackwardConfig(DType dtype, int64_t rows, int64_t cols) {
  (void)rows;
  // Whole rows in registers, as the forward, but half as many elements a
  // thread (8, up to 16 warps): a thread holds x, dy, w and its share of dw
  // per element, and the forward's 32 took 255 registers (ptxas, sm_90a).
  int64_t blockN = int64_t(llvm::PowerOf2Ceil(uint64_t(std::max<int64_t>(cols, 1))));
  int64_t blockM = std::max<int64_t>(1, 2048 / blockN);
  unsigned warps = unsigned(std::clamp<int64_t>(blockM * blockN / (8 * 32), 1, 16));
  return detail::rmsNormBackwardKernel().config(dtype, {{"BLOCK_M", blockM}, {"BLOCK_N", blockN}},
                                                warps);
}

RmsNormGrads tessera::kernels::rms_norm_backward(const DeviceTensor &dy, const DeviceTensor &x,
                                                 const DeviceTensor &weight, float eps,
                                                 Stream &stream) {
  requireRank(x, 2, "x");
  requireDType(x, {DType::F32, DType::F16, DType::BF16}, "x");
  if (dy.dtype() != x.dtype() || dy.shape() != x.shape())
    throw tessera::Error("dy: expected a tensor of x's dtype and shape");
  int64_t rows = x.shape()[0], cols = x.shape()[1];
  if (weight.dtype() != x.dtype() || weight.shape() != std::vector<int64_t>{cols})
    throw tessera::Error("weight: expected a 1-D tensor of " + std::to_string(cols) +
                         " elements of x's dtype");
  if (!(eps >= 0) || !std::isfinite(eps))
    throw tessera::Error("eps: expected a finite number >= 0, got " + std::to_string(eps));
  RmsNormGrads grads{DeviceTensor::empty(x.shape(), x.dtype()),
                     DeviceTensor::empty(weight.shape(), weight.dtype())};
  // Room for the most programs any BLOCK_M asks for; the launch takes the
  // first rows it needs.
  DeviceTensor partial = DeviceTensor::empty({rmsNormBackwardPrograms(rows, 1), cols}, DType::F32);
  float invCols = float(1.0 / double(std::max<int64_t>(cols, 1)));
  const Kernel &kernel = detail::rmsNormBackwardKernel();
  KernelConfig config = kernel.configFor({dy, x, weight, grads.dx, partial, invCols, eps});
  checkRows("rms_norm_backward", x, grads.dx, config);
  DeviceTensor used =
      partial.view({rmsNormBackwardPrograms(rows, config.get("BLOCK_M")), cols}, {cols, 1}, 0);
  kernel.launch(config, {dy, x, weight, grads.dx, used, invCols, eps}, stream);
  const Kernel &sum = detail::sumColumnsKernel();
  sum.launch(sum.config(weight.dtype()), {used, grads.dweight}, stream);
  return grads;
}

DeviceTensor tessera::kernels::batched_matmul(const DeviceTensor &a, const DeviceTensor &b,
                                              Stream &stream) {
  requireRank(a, 3, "a");
  requireRank(b, 3, "b");
  DeviceTensor c = DeviceTensor::empty({a.shape()[0], a.shape()[1], b.shape()[2]}, a.dtype());
  batched_matmul(a, b, c, stream);
  return c;
}

void tessera::kernels::batched_matmul(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
                                      Stream &stream) {
  requireRank(a, 3, "a");
  requireRank(b, 3, "b");
  batchedMatmulWithConfig(a, b, c, detail::batchedMatmulKernel().configFor({a, b, c}), stream);
}

KernelConfig tessera::kernels::batchedMatmulConfig(DType dtype, int64_t batch, int64_t m, int64_t n,
                                                   int64_t k, std::string_view arch) {
  // matmul's blocks, with the outputs of the whole batch counted (a batch of
  // small products fills the GPU as one large product does) and K from
  // 1024 taking the large blocks, copied by TMA through rank-3 tensor maps
  // (64 x 1024³: 1.08x the 128 x 128 blocks; 16 x 2048³: as fast as
  // cp.async). Small products (K 256) keep cp.async, 1.09x TMA there.
  std::string chip = arch.empty() ? detail::currentArch() : std::string(arch);
  if (dtype != DType::F32 && chip == "sm_90a" && batch * m * n >= (int64_t(1) << 22) && k >= 1024)
    return detail::batchedMatmulKernel().config(
        dtype, {{"BLOCK_M", 128}, {"BLOCK_N", 256}, {"BLOCK_K", 64}, {"NUM_STAGES", 4}, {"TMA", 1}},
        8);
  KernelConfig c = matmulConfig(dtype, batch * m, n, k, arch);
  std::map<std::string, int64_t> blocks;
  for (const char *name : {"BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "NUM_STAGES", "WGMMA"})
    blocks[name] = c.get(name);
  return detail::batchedMatmulKernel().config(dtype, blocks, c.numWarps);
}

void tessera::kernels::batchedMatmulWithConfig(const DeviceTensor &a, const DeviceTensor &b,
                                               DeviceTensor &c, const KernelConfig &config,
                                               Stream &stream) {
  requireRank(a, 3, "a");
  requireRank(b, 3, "b");
  requireDType(a, {DType::F32, DType::F16, DType::BF16}, "a");
  const std::vector<int64_t> &as = a.shape(), &bs = b.shape();
  if (b.dtype() != a.dtype())
    throw tessera::Error("b: expected dtype " + std::string(name(a.dtype())) + " like a, got " +
                         std::string(name(b.dtype())));
  if (bs[0] != as[0] && bs[0] != 1)
    throw tessera::Error("b: expected a batch of " + std::to_string(as[0]) + " (a's) or 1, got " +
                         std::to_string(bs[0]));
  if (bs[1] != as[2])
    throw tessera::Error("b: expected " + std::to_string(as[2]) + " rows (the columns of a), got " +
                         std::to_string(bs[1]));
  if (as[0] < 1 || as[0] > 65535)
    throw tessera::Error("a: expected a batch of 1 to 65535 matrices, got " +
                         std::to_string(as[0]));
  if (c.dtype() != a.dtype() || c.shape() != std::vector<int64_t>{as[0], as[1], bs[2]})
    throw tessera::Error("c: expected a " + std::to_string(as[0]) + " x " + std::to_string(as[1]) +
                         " x " + std::to_string(bs[2]) + " tensor of a's dtype");
  detail::batchedMatmulKernel().launch(config, {a, b, c}, stream);
}
