//===- basic.h - The foundation kernels -------------------------*- C++ -*-===//
#ifndef TESSERA_KERNELS_BASIC_H
#define TESSERA_KERNELS_BASIC_H

#include "tessera/kernels/Kernel.h"
#include "tessera/runtime/Stream.h"
#include "tessera/runtime/Tensor.h"

#include <string_view>

namespace tessera::kernels {

/// out = x + y for 1-D tensors of one dtype and length (any strides).
DeviceTensor vector_add(const DeviceTensor &x, const DeviceTensor &y,
                        Stream &stream = Stream::defaultStream());
void vector_add(const DeviceTensor &x, const DeviceTensor &y, DeviceTensor &out,
                Stream &stream = Stream::defaultStream());

/// Softmax along the last dimension of a 2-D tensor (f32, f16 or bf16),
/// computed in f32. Rows up to 16384 long. Like rms_norm and matmul, it runs
/// the tuning database's winner for its shape (`tessera-tune softmax --sizes
/// ROWS,COLS`) where there is one, else softmaxConfig's.
DeviceTensor softmax(const DeviceTensor &x, Stream &stream = Stream::defaultStream());
void softmax(const DeviceTensor &x, DeviceTensor &out, Stream &stream = Stream::defaultStream());
/// The configuration softmax() runs rows x cols with: BLOCK_N covers a row,
/// BLOCK_M rows per program.
KernelConfig softmaxConfig(DType dtype, int64_t rows, int64_t cols);
/// softmax() with a given configuration (tessera-bench, tuning); throws
/// unless its BLOCK_N covers a row.
void softmaxWithConfig(const DeviceTensor &x, DeviceTensor &out, const KernelConfig &config,
                       Stream &stream = Stream::defaultStream());

/// Inclusive prefix sums along the last dimension of a 2-D tensor (f32, f16
/// or bf16), computed in f32 (torch.cumsum(x, -1)). Rows up to 16384 long.
DeviceTensor cumsum(const DeviceTensor &x, Stream &stream = Stream::defaultStream());
void cumsum(const DeviceTensor &x, DeviceTensor &out, Stream &stream = Stream::defaultStream());
/// The configuration cumsum() runs rows x cols with.
KernelConfig cumsumConfig(DType dtype, int64_t rows, int64_t cols);
void cumsumWithConfig(const DeviceTensor &x, DeviceTensor &out, const KernelConfig &config,
                      Stream &stream = Stream::defaultStream());

/// RMSNorm along the last dimension of a 2-D tensor (f32, f16 or bf16),
/// computed in f32: y = x · (mean(x²) + eps)^(-1/2) · weight, `weight` one
/// element per column in x's dtype. Rows up to 16384 long.
DeviceTensor rms_norm(const DeviceTensor &x, const DeviceTensor &weight, float eps = 1e-6f,
                      Stream &stream = Stream::defaultStream());
void rms_norm(const DeviceTensor &x, const DeviceTensor &weight, DeviceTensor &out,
              float eps = 1e-6f, Stream &stream = Stream::defaultStream());
/// The configuration rms_norm() runs rows x cols with.
KernelConfig rmsNormConfig(DType dtype, int64_t rows, int64_t cols);
/// rms_norm() with a given configuration (tessera-bench, tuning).
void rmsNormWithConfig(const DeviceTensor &x, const DeviceTensor &weight, DeviceTensor &out,
                       float eps, const KernelConfig &config,
                       Stream &stream = Stream::defaultStream());

/// The gradients of rms_norm(x, weight, eps) given dy (x's dtype and shape),
/// computed in f32: dx, and dweight (weight's dtype and shape). dweight is
/// summed over the rows in an order that does not depend on timing.
struct RmsNormGrads {
  DeviceTensor dx, dweight;
};
RmsNormGrads rms_norm_backward(const DeviceTensor &dy, const DeviceTensor &x,
                               const DeviceTensor &weight, float eps = 1e-6f,
                               Stream &stream = Stream::defaultStream());
/// The configuration rms_norm_backward() runs rows x cols with.
KernelConfig rmsNormBackwardConfig(DType dtype, int64_t rows, int64_t cols);

/// a (M x K) · b (K x N), accumulated in f32, returned in the inputs' dtype.
DeviceTensor matmul(const DeviceTensor &a, const DeviceTensor &b,
                    Stream &stream = Stream::defaultStream());
void matmul(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
            Stream &stream = Stream::defaultStream());
/// The configuration matmul() runs (m x k)·(k x n) with on `arch` (empty:
/// the current GPU's, sm_90a without one): blocks, warps, stages, GROUP_M,
/// WGMMA.
KernelConfig matmulConfig(DType dtype, int64_t m, int64_t n, int64_t k, std::string_view arch = {});
/// matmul() with a given configuration (tessera-bench, tuning).
void matmulWithConfig(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
                      const KernelConfig &config, Stream &stream = Stream::defaultStream());

/// a (B x M x K) · b (B x K x N) → B x M x N, each product as matmul's
/// (torch.bmm); b may be a single matrix (1 x K x N) that serves the whole
/// batch. Any strides; B up to 65535.
DeviceTensor batched_matmul(const DeviceTensor &a, const DeviceTensor &b,
                            Stream &stream = Stream::defaultStream());
void batched_matmul(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
                    Stream &stream = Stream::defaultStream());
/// The configuration batched_matmul() runs a batch of (m x k)·(k x n) with:
/// matmul's for the batch's outputs taken together.
KernelConfig batchedMatmulConfig(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
                                 std::string_view arch = {});
void batchedMatmulWithConfig(const DeviceTensor &a, const DeviceTensor &b, DeviceTensor &c,
                             const KernelConfig &config, Stream &stream = Stream::defaultStream());

namespace detail {
/// The foundation kernels' definitions (registered by name, tunable with
/// tessera-tune: softmax, cumsum, rms_norm and rms_norm_backward --sizes ROWS,COLS,
/// matmul --sizes M,N,K, batched_matmul --sizes BATCH,M,N,K).
const Kernel &vectorAddKernel();
const Kernel &softmaxKernel();
const Kernel &cumsumKernel();
const Kernel &rmsNormKernel();
const Kernel &matmulKernel();
const Kernel &batchedMatmulKernel();
const Kernel &rmsNormBackwardKernel();
/// out_j = Σ_i partial_ij: f32 partial sums (P x N) into out (N, any dtype).
const Kernel &sumColumnsKernel();
std::vector<Kernel> basicKernels();
} // namespace detail

} // namespace tessera::kernels

#endif
