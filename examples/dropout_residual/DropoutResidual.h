//===- DropoutResidual.h - Fused dropout + residual add ---------*- C++ -*-===//
#ifndef TESSERA_EXAMPLES_DROPOUTRESIDUAL_H
#define TESSERA_EXAMPLES_DROPOUTRESIDUAL_H

#include "tessera/kernels/Kernel.h"

#include <cstdint>

namespace dropout_residual {

/// out = residual + dropout(x): each element of x kept with probability
/// 1 - p and scaled by 1/(1 - p), or dropped, by the Philox number of its
/// row-major index under `seed` (dsl::rand). 2-D tensors of one dtype and
/// shape (any strides); 0 <= p < 1.
tessera::DeviceTensor forward(const tessera::DeviceTensor &x, const tessera::DeviceTensor &residual,
                              float p, uint32_t seed,
                              tessera::Stream &stream = tessera::Stream::defaultStream());

/// forward() into a given tensor of x's shape and dtype: no allocation.
void forward(const tessera::DeviceTensor &x, const tessera::DeviceTensor &residual, float p,
             uint32_t seed, tessera::DeviceTensor &out,
             tessera::Stream &stream = tessera::Stream::defaultStream());

/// The gradient for x given dout: the same elements dropped (regenerated
/// from the seed, never stored), the rest scaled by 1/(1 - p). The
/// residual's gradient is dout itself.
tessera::DeviceTensor backward(const tessera::DeviceTensor &dout, float p, uint32_t seed,
                               tessera::Stream &stream = tessera::Stream::defaultStream());

/// Whether element `index` is kept, as the kernel decides it (for references).
bool kept(uint32_t seed, uint32_t index, float p);

const tessera::kernels::Kernel &kernel();

} // namespace dropout_residual

#endif
