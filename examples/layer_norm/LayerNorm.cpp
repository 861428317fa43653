//===- LayerNorm.cpp - A fused LayerNorm in Tessera's DSL ------------------===//
//
// LayerNorm (Ba, Kiros & Hinton, 2016) over the rows of x (N columns):
//   mean_i = (1/N) Σ_j x_ij,   rstd_i = ((1/N) Σ_j (x_ij - mean_i)² + eps)^(-1/2)
//   y_ij   = (x_ij - mean_i) · rstd_i · w_j + b_j
// and its backward, with x̂ = (x - mean)·rstd and g = dy·w:
//   dx_ij = rstd_i · (g_ij - (x̂_ij·c1_i + c2_i)),  c1_i = (1/N) Σ_j x̂_ij g_ij,  c2_i = (1/N) Σ_j
//   g_ij dw_j  = Σ_i dy_ij x̂_ij,   db_j = Σ_i dy_ij
// Each program of the forward holds BLOCK_M whole rows in registers (one read
// of x, one write of y). The backward's programs walk rows P apart, keep
// their partial dw and db in registers and write them once; a second kernel
// sums the P partial rows (no atomics, so the result does not depend on the
// order the programs ran in).
//
//===----------------------------------------------------------------------===//

#include "LayerNorm.h"

#include "tessera/dsl.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"
#include "tessera/runtime/Testing.h"

#include <algorithm>
#include <cmath>
#include <memory>

using namespace tessera;
using namespace tessera::dsl;
using kernels::Args;
using kernels::cdiv;
using kernels::Grid;
using kernels::Kernel;
using kernels::KernelConfig;

namespace {

void forwardBody(KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  TensorArg x = kb.tensor("x", c.dtype, 2), w = kb.tensor("weight", c.dtype, 1),
            b = kb.tensor("bias", c.dtype, 1), y = kb.tensor("y", c.dtype, 2),
            mean = kb.tensor("mean", DType::F32, 1), rstd = kb.tensor("rstd", DType::F32, 1);
  Scalar eps = kb.scalarF32("eps");
  Scalar row = program_id(0) * Scalar(bm), invN = f32(1.0) / to_f32(x.size(1));
  // Columns past the row's end load as zeros: they add nothing to the sums,
  // and are kept out of the variance below.
  Tile t = cast(load(x, {row, Scalar(0)}, {bm, bn}), DType::F32);
  Tile inRow = expand_dims(arange(bn), 0) < x.size(1);
  Tile mu = reduce_sum(t, 1) * invN;
  Tile xc = where(inRow, t - expand_dims(mu, 1), zeros({bm, bn}, DType::F32));
  Tile r = rsqrt(reduce_sum(xc * xc, 1) * invN + eps);
  Tile wt = expand_dims(cast(load(w, {Scalar(0)}, {bn}), DType::F32), 0);
  Tile bt = expand_dims(cast(load(b, {Scalar(0)}, {bn}), DType::F32), 0);
  store(y, {row, Scalar(0)}, cast(xc * expand_dims(r, 1) * wt + bt, c.dtype));
  store(mean, {row}, mu);
  store(rstd, {row}, r);
}

void backwardBody(KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  TensorArg dy = kb.tensor("dy", c.dtype, 2), x = kb.tensor("x", c.dtype, 2),
            w = kb.tensor("weight", c.dtype, 1), mean = kb.tensor("mean", DType::F32, 1),
            rstd = kb.tensor("rstd", DType::F32, 1), dx = kb.tensor("dx", c.dtype, 2),
            dwPartial = kb.tensor("dw_partial", DType::F32, 2),
            dbPartial = kb.tensor("db_partial", DType::F32, 2);
  Scalar invN = f32(1.0) / to_f32(x.size(1));
  Tile inRow = expand_dims(arange(bn), 0) < x.size(1);
  Tile wt = expand_dims(cast(load(w, {Scalar(0)}, {bn}), DType::F32), 0);
  Scalar pid = program_id(0);
  std::vector<Tile> sums = for_range(
      pid * Scalar(bm), x.size(0), num_programs(0) * Scalar(bm),
      {zeros({bn}, DType::F32), zeros({bn}, DType::F32)},
      [&](Scalar row, const std::vector<Tile> &acc) {
        Tile xt = cast(load(x, {row, Scalar(0)}, {bm, bn}), DType::F32);
        Tile g = cast(load(dy, {row, Scalar(0)}, {bm, bn}), DType::F32);
        Tile mu = expand_dims(load(mean, {row}, {bm}), 1);
        Tile r = expand_dims(load(rstd, {row}, {bm}), 1);
        // Rows past the end load dy = 0 and add nothing to dw, db.
        Tile xhat = where(inRow, (xt - mu) * r, zeros({bm, bn}, DType::F32));
        Tile wdy = g * wt;
        Tile c1 = expand_dims(reduce_sum(xhat * wdy, 1) * invN, 1);
        Tile c2 = expand_dims(reduce_sum(wdy, 1) * invN, 1);
        store(dx, {row, Scalar(0)}, cast((wdy - (xhat * c1 + c2)) * r, c.dtype));
        return std::vector<Tile>{acc[0] + reduce_sum(g * xhat, 0), acc[1] + reduce_sum(g, 0)};
      });
  store(dwPartial, {pid, Scalar(0)}, expand_dims(sums[0], 0));
  store(dbPartial, {pid, Scalar(0)}, expand_dims(sums[1], 0));
}

// out_j = Σ_i partial_ij, BLOCK_N columns per program, BLOCK_M rows a step.
void reduceColumnsBody(KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  TensorArg partial = kb.tensor("partial", DType::F32, 2), out = kb.tensor("out", c.dtype, 1);
  Scalar col = program_id(0) * Scalar(bn);
  Tile sum = for_range(Scalar(0), partial.size(0), Scalar(bm), {zeros({bn}, DType::F32)},
                       [&](Scalar i, const std::vector<Tile> &acc) {
                         Tile block = load(partial, {i, col}, {bm, bn});
                         return std::vector<Tile>{acc[0] + reduce_sum(block, 0)};
                       })[0];
  store(out, {col}, cast(sum, c.dtype));
}

/// A row per 32 to 64 threads' registers: BLOCK_N covers the row, 2 to 16
/// warps, several short rows per program.
KernelConfig rowConfig(DType dtype, int64_t cols) {
  int64_t bn = 1;
  while (bn < cols)
    bn <<= 1;
  unsigned warps = unsigned(std::clamp<int64_t>(bn / 1024, 2, 16));
  return {dtype, warps, {{"BLOCK_M", std::max<int64_t>(1, 2048 / bn)}, {"BLOCK_N", bn}}};
}

Grid rowGrid(const Args &a, const KernelConfig &c) {
  return {std::max<int64_t>(1, cdiv(a.tensor("x").shape()[0], c.get("BLOCK_M")))};
}

std::shared_ptr<std::vector<float>> randomHost(size_t n, DType dtype) {
  return std::make_shared<std::vector<float>>(testkit::randomValues(n, dtype));
}

/// Inputs for tessera-tune (--sizes ROWS,COLS) and a float64 check of y on
/// 16 of the rows.
kernels::Problem forwardProblem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 2)
    throw tessera::Error("layer_norm_forward: --sizes ROWS,COLS");
  int64_t rows = sizes[0], cols = sizes[1];
  auto x = randomHost(size_t(rows * cols), dtype), w = randomHost(size_t(cols), dtype),
       b = randomHost(size_t(cols), dtype);
  DeviceTensor dx = DeviceTensor::fromFloat(*x, {rows, cols}, dtype);
  DeviceTensor y = DeviceTensor::empty({rows, cols}, dtype);
  DeviceTensor mean = DeviceTensor::empty({rows}, DType::F32),
               rstd = DeviceTensor::empty({rows}, DType::F32);
  y.fillBytes(0xff);
  float eps = 1e-5f;
  double tol = testkit::tolerance(dtype);
  return {{dx, DeviceTensor::fromFloat(*w, {cols}, dtype),
           DeviceTensor::fromFloat(*b, {cols}, dtype), y, mean, rstd, eps},
          [=] {
            for (int64_t i = 0; i < rows; i += std::max<int64_t>(1, rows / 16)) {
              const float *row = x->data() + i * cols;
              double mu = 0, var = 0;
              for (int64_t j = 0; j < cols; ++j)
                mu += row[j];
              mu /= double(cols);
              for (int64_t j = 0; j < cols; ++j)
                var += (row[j] - mu) * (row[j] - mu);
              double r = 1 / std::sqrt(var / double(cols) + eps);
              std::vector<float> got = y.view({cols}, {1}, i * cols).toFloat();
              for (int64_t j = 0; j < cols; ++j) {
                double want = (row[j] - mu) * r * (*w)[j] + (*b)[j];
                if (!(std::abs(got[j] - want) <= tol * (std::abs(want) + 1)))
                  return "y[" + std::to_string(i) + ", " + std::to_string(j) +
                         "] = " + std::to_string(got[j]) + ", expected " + std::to_string(want);
              }
            }
            return std::string();
          }};
}

} // namespace

const Kernel &layer_norm::forwardKernel() {
  static const Kernel &k = kernels::registerKernel([] {
    kernels::Tuning tuning;
    // BLOCK_N covers the row; 4 to 64 elements per thread.
    tuning.generate = [](const Args &a) {
      int64_t bn = 1;
      while (bn < a.tensor("x").shape()[1])
        bn <<= 1;
      std::vector<KernelConfig> configs;
      for (unsigned warps : {1u, 2u, 4u, 8u, 16u})
        for (int64_t bm : {1, 2, 4, 8})
          if (int64_t perThread = bm * bn / (32 * warps); perThread >= 4 && perThread <= 64)
            configs.push_back({a.tensor("x").dtype(), warps, {{"BLOCK_M", bm}, {"BLOCK_N", bn}}});
      return configs;
    };
    return Kernel("layer_norm_forward", forwardBody)
        .summary("LayerNorm of each row of a 2-D tensor, with weight and bias")
        .constants({{"BLOCK_M", 1}, {"BLOCK_N", 1024}})
        .grid(rowGrid)
        .heuristic([](const Args &a) {
          return rowConfig(a.tensor("x").dtype(), a.tensor("x").shape()[1]);
        })
        .autotune(tuning)
        .problem(forwardProblem);
  }());
  return k;
}

const Kernel &layer_norm::backwardKernel() {
  static const Kernel &k =
      kernels::registerKernel(Kernel("layer_norm_backward", backwardBody)
                                  .summary("dx of LayerNorm, and dw, db summed per program")
                                  .constants({{"BLOCK_M", 1}, {"BLOCK_N", 1024}})
                                  // One program per row of the partial sums the caller allocated.
                                  .grid([](const Args &a, const KernelConfig &) {
                                    return Grid{a.tensor("dw_partial").shape()[0]};
                                  }));
  return k;
}

const Kernel &layer_norm::reduceColumnsKernel() {
  static const Kernel &k =
      kernels::registerKernel(Kernel("layer_norm_reduce_columns", reduceColumnsBody)
                                  .summary("out_j = sum_i partial_ij (f32 partial sums)")
                                  .constants({{"BLOCK_M", 32}, {"BLOCK_N", 128}})
                                  .grid([](const Args &a, const KernelConfig &c) {
                                    return Grid{cdiv(a.tensor("out").shape()[0], c.get("BLOCK_N"))};
                                  }));
  return k;
}

// The kernels are known by name as soon as the library (or the example) loads.
static const bool registered = (layer_norm::forwardKernel(), layer_norm::backwardKernel(),
                                layer_norm::reduceColumnsKernel(), true);

static void checkInputs(const DeviceTensor &x, const DeviceTensor &weight) {
  if (x.rank() != 2 || x.shape()[1] < 1 || x.shape()[1] > 16384)
    throw tessera::Error("x: expected a 2-D tensor with rows of 1 to 16384 elements");
  if (weight.rank() != 1 || weight.shape()[0] != x.shape()[1] || weight.dtype() != x.dtype())
    throw tessera::Error("weight: expected " + std::to_string(x.shape()[1]) +
                         " elements of x's dtype");
}

layer_norm::Forward layer_norm::forward(const DeviceTensor &x, const DeviceTensor &weight,
                                        const DeviceTensor &bias, float eps, Stream &stream) {
  checkInputs(x, weight);
  int64_t rows = x.shape()[0];
  Forward f{DeviceTensor::empty(x.shape(), x.dtype()), DeviceTensor::empty({rows}, DType::F32),
            DeviceTensor::empty({rows}, DType::F32)};
  forward(x, weight, bias, f, eps, stream);
  return f;
}

void layer_norm::forward(const DeviceTensor &x, const DeviceTensor &weight,
                         const DeviceTensor &bias, Forward &out, float eps, Stream &stream) {
  checkInputs(x, weight);
  if (bias.rank() != 1 || bias.shape() != weight.shape() || bias.dtype() != x.dtype())
    throw tessera::Error("bias: expected " + std::to_string(x.shape()[1]) +
                         " elements of x's dtype");
  // The tuning database's winner for this shape (tessera-tune --load ...),
  // else the heuristic; TESSERA_PRINT_AUTOTUNING=1 says which. The Kernel
  // checks out's tensors (dtypes, ranks).
  forwardKernel()({x, weight, bias, out.y, out.mean, out.rstd, eps}, stream);
}

/// The backward's configuration for rows of `cols`, and its programs.
static std::pair<KernelConfig, int64_t> backwardLaunch(DType dtype, int64_t rows, int64_t cols) {
  // Fewer elements per thread than the forward: the backward holds x, dy,
  // x̂, w·dy and two partial sums per element (4 warps per 1024 columns stay
  // clear of spills).
  KernelConfig config = rowConfig(dtype, cols);
  config.constants["BLOCK_M"] = 1;
  config.numWarps = unsigned(std::clamp<int64_t>(config.get("BLOCK_N") / 256, 2, 16));
  // A few programs per SM, each walking rows that many apart.
  int64_t sms = interpreted() ? 4 : currentDevice().smCount;
  return {config, std::min(rows, 4 * sms)};
}

layer_norm::Workspace layer_norm::makeWorkspace(int64_t rows, int64_t cols) {
  int64_t programs = backwardLaunch(DType::F32, rows, cols).second;
  return {DeviceTensor::empty({programs, cols}, DType::F32),
          DeviceTensor::empty({programs, cols}, DType::F32)};
}

layer_norm::Gradients layer_norm::backward(const DeviceTensor &dy, const DeviceTensor &x,
                                           const DeviceTensor &weight, const Forward &saved,
                                           Stream &stream) {
  checkInputs(x, weight);
  int64_t cols = x.shape()[1];
  Gradients g{DeviceTensor::empty(x.shape(), x.dtype()), DeviceTensor::empty({cols}, x.dtype()),
              DeviceTensor::empty({cols}, x.dtype())};
  Workspace workspace = makeWorkspace(x.shape()[0], cols);
  backward(dy, x, weight, saved, g, workspace, stream);
  return g;
}

void layer_norm::backward(const DeviceTensor &dy, const DeviceTensor &x, const DeviceTensor &weight,
                          const Forward &saved, Gradients &out, Workspace &workspace,
                          Stream &stream) {
  checkInputs(x, weight);
  if (dy.shape() != x.shape() || dy.dtype() != x.dtype())
    throw tessera::Error("dy: expected a tensor of x's shape and dtype");
  auto [config, programs] = backwardLaunch(x.dtype(), x.shape()[0], x.shape()[1]);
  if (workspace.dwPartial.shape() != std::vector<int64_t>{programs, x.shape()[1]})
    throw tessera::Error("workspace: expected makeWorkspace(rows, cols)'s tensors");
  backwardKernel().launch(
      config,
      {dy, x, weight, saved.mean, saved.rstd, out.dx, workspace.dwPartial, workspace.dbPartial},
      stream);
  const Kernel &sum = reduceColumnsKernel();
  KernelConfig sumConfig = sum.config(x.dtype());
  sum.launch(sumConfig, {workspace.dwPartial, out.dw}, stream);
  sum.launch(sumConfig, {workspace.dbPartial, out.db}, stream);
}
