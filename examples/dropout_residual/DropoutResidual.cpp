//===- DropoutResidual.cpp - Fused dropout + residual add ------------------===//
//
// Dropout (Srivastava et al., 2014) fused with the residual add that follows
// it in a transformer block:
//   out_ij = residual_ij + [u_ij >= p] · x_ij / (1 - p),  u_ij = rand(seed, i·N + j)
// u is Philox4x32-10 of the element's row-major index (dsl::rand): a pure
// function of (seed, index), so no mask is stored, and the backward
// regenerates it (RESIDUAL = 0: dx = [u >= p] · dout / (1 - p)). One read of
// each input, one write: against dropout then add, a whole pass and the mask
// saved.
//
//===----------------------------------------------------------------------===//

#include "DropoutResidual.h"

#include "tessera/dsl.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Testing.h"

#include <climits>
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

void body(KernelBuilder &kb, const KernelConfig &c) {
  int64_t bm = c.get("BLOCK_M"), bn = c.get("BLOCK_N");
  bool residualAdd = c.get("RESIDUAL") != 0;
  TensorArg x = kb.tensor("x", c.dtype, 2);
  TensorArg residual = residualAdd ? kb.tensor("residual", c.dtype, 2) : TensorArg();
  TensorArg out = kb.tensor("out", c.dtype, 2);
  Scalar p = kb.scalarF32("p"), scale = kb.scalarF32("scale"), seed = kb.scalarI32("seed");
  Scalar row = program_id(0) * Scalar(bm), col = program_id(1) * Scalar(bn);
  Tile rows = expand_dims(arange(bm) + row, 1), cols = expand_dims(arange(bn) + col, 0);
  Tile index = broadcast_to(rows * x.size(1), {bm, bn}) + broadcast_to(cols, {bm, bn});
  Tile keep = rand(seed, index) >= p;
  Tile xs = cast(load(x, {row, col}, {bm, bn}), DType::F32);
  Tile y = where(keep, xs * scale, zeros({bm, bn}, DType::F32));
  if (residualAdd)
    y = y + cast(load(residual, {row, col}, {bm, bn}), DType::F32);
  store(out, {row, col}, cast(y, c.dtype));
}

Grid grid(const Args &a, const KernelConfig &c) {
  const DeviceTensor &x = a.tensor("x");
  return {cdiv(x.shape()[0], c.get("BLOCK_M")), cdiv(x.shape()[1], c.get("BLOCK_N"))};
}

void checkShape(const DeviceTensor &x, float p) {
  if (x.rank() != 2 || x.numel() < 1 || x.numel() > INT32_MAX)
    throw tessera::Error("x: expected a non-empty 2-D tensor of at most 2^31 - 1 elements");
  if (!(p >= 0 && p < 1))
    throw tessera::Error("p: expected 0 <= p < 1, got " + std::to_string(p));
}

/// Inputs for tessera-tune (--sizes ROWS,COLS) and a float64 check of all of out.
kernels::Problem problem(DType dtype, const std::vector<int64_t> &sizes) {
  if (sizes.size() != 2)
    throw tessera::Error("dropout_residual: --sizes ROWS,COLS");
  int64_t rows = sizes[0], cols = sizes[1];
  auto x = std::make_shared<std::vector<float>>(), r = std::make_shared<std::vector<float>>();
  DeviceTensor dx = testkit::randomTensor({rows, cols}, dtype, x.get());
  DeviceTensor dr = testkit::randomTensor({rows, cols}, dtype, r.get());
  DeviceTensor out = DeviceTensor::empty({rows, cols}, dtype);
  out.fillBytes(0xff);
  float p = 0.1f;
  uint32_t seed = uint32_t(testkit::randomValues(1, DType::F32)[0] * 1e6f);
  return {{dx, dr, out, p, 1.f / (1 - p), int32_t(seed)}, [=] {
            std::vector<double> want(x->size());
            for (size_t i = 0; i < want.size(); ++i)
              want[i] =
                  (*r)[i] +
                  (dropout_residual::kept(seed, uint32_t(i), p) ? double((*x)[i]) / (1 - p) : 0.0);
            double e = testkit::maxRelativeError(out.toFloat(), want);
            return e <= testkit::tolerance(dtype) ? std::string()
                                                  : "relative error " + std::to_string(e);
          }};
}

} // namespace

bool dropout_residual::kept(uint32_t seed, uint32_t index, float p) {
  return testkit::uniform(seed, index) >= p;
}

const Kernel &dropout_residual::kernel() {
  static const Kernel &k = kernels::registerKernel([] {
    kernels::Tuning tuning;
    for (int64_t bm : {1, 2, 4, 8, 16})
      for (int64_t bn : {256, 512, 1024, 2048})
        for (unsigned warps : {4u, 8u})
          if (bm * bn / (32 * warps) >= 4 && bm * bn / (32 * warps) <= 32)
            tuning.configs.push_back(
                {DType::BF16, warps, {{"BLOCK_M", bm}, {"BLOCK_N", bn}, {"RESIDUAL", 1}}});
    return Kernel("dropout_residual", body)
        .summary("out = residual + dropout(x) on Philox numbers (RESIDUAL=0: dropout only)")
        .constants({{"BLOCK_M", 4}, {"BLOCK_N", 1024}, {"RESIDUAL", 1}})
        .warps(8)
        .grid(grid)
        .autotune(tuning)
        .problem(problem);
  }());
  return k;
}

static const bool registered = (dropout_residual::kernel(), true);

DeviceTensor dropout_residual::forward(const DeviceTensor &x, const DeviceTensor &residual, float p,
                                       uint32_t seed, Stream &stream) {
  DeviceTensor out = DeviceTensor::empty(x.shape(), x.dtype());
  forward(x, residual, p, seed, out, stream);
  return out;
}

void dropout_residual::forward(const DeviceTensor &x, const DeviceTensor &residual, float p,
                               uint32_t seed, DeviceTensor &out, Stream &stream) {
  checkShape(x, p);
  if (residual.shape() != x.shape() || out.shape() != x.shape())
    throw tessera::Error("residual, out: expected x's shape");
  // The tuning database's winner for the shape, else the defaults.
  kernel()({x, residual, out, p, 1.f / (1 - p), int32_t(seed)}, stream);
}

DeviceTensor dropout_residual::backward(const DeviceTensor &dout, float p, uint32_t seed,
                                        Stream &stream) {
  checkShape(dout, p);
  DeviceTensor dx = DeviceTensor::empty(dout.shape(), dout.dtype());
  KernelConfig c = kernel().config(dout.dtype(), {{"RESIDUAL", 0}});
  kernel().launch(c, {dout, dx, p, 1.f / (1 - p), int32_t(seed)}, stream);
  return dx;
}
