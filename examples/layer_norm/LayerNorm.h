//===- LayerNorm.h - A fused LayerNorm in Tessera's DSL ---------*- C++ -*-===//
#ifndef TESSERA_EXAMPLES_LAYERNORM_H
#define TESSERA_EXAMPLES_LAYERNORM_H

#include "tessera/kernels/Kernel.h"

namespace layer_norm {

struct Forward {
  tessera::DeviceTensor y;
  /// Per row, in f32: the mean and 1/sqrt(variance + eps), for the backward.
  tessera::DeviceTensor mean, rstd;
};

struct Gradients {
  tessera::DeviceTensor dx, dw, db;
};

/// y = (x - mean(x)) / sqrt(var(x) + eps) · weight + bias along the rows of
/// the 2-D x (f32, f16 or bf16; rows up to 16384 long), computed in f32.
Forward forward(const tessera::DeviceTensor &x, const tessera::DeviceTensor &weight,
                const tessera::DeviceTensor &bias, float eps = 1e-5f,
                tessera::Stream &stream = tessera::Stream::defaultStream());

/// forward() into given tensors (y like x; mean and rstd f32, one per row):
/// no allocation, for loops and timing.
void forward(const tessera::DeviceTensor &x, const tessera::DeviceTensor &weight,
             const tessera::DeviceTensor &bias, Forward &out, float eps = 1e-5f,
             tessera::Stream &stream = tessera::Stream::defaultStream());

/// The partial sums the backward writes (one row per program), allocated
/// once and passed to backward() for loops and timing.
struct Workspace {
  tessera::DeviceTensor dwPartial, dbPartial;
};
Workspace makeWorkspace(int64_t rows, int64_t cols);

/// The gradients of forward() given dy.
Gradients backward(const tessera::DeviceTensor &dy, const tessera::DeviceTensor &x,
                   const tessera::DeviceTensor &weight, const Forward &saved,
                   tessera::Stream &stream = tessera::Stream::defaultStream());

/// backward() into given tensors (dx like x, dw and db like weight).
void backward(const tessera::DeviceTensor &dy, const tessera::DeviceTensor &x,
              const tessera::DeviceTensor &weight, const Forward &saved, Gradients &out,
              Workspace &workspace, tessera::Stream &stream = tessera::Stream::defaultStream());

/// The kernels, registered by name as the library loads.
const tessera::kernels::Kernel &forwardKernel();
const tessera::kernels::Kernel &backwardKernel();
const tessera::kernels::Kernel &reduceColumnsKernel();

} // namespace layer_norm

#endif
