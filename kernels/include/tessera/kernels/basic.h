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

namespace detail {
/// The foundation kernels' definitions (registered by name, tunable with
/// tessera-tune: softmax and rms_norm --sizes ROWS,COLS, matmul --sizes M,N,K).
const Kernel &vectorAddKernel();
const Kernel &softmaxKernel();
const Kernel &rmsNormKernel();
const Kernel &matmulKernel();
std::vector<Kernel> basicKernels();
} // namespace detail

} // namespace tessera::kernels

#endif
