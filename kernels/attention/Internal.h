//===- Internal.h - Attention internals shared by its files -----*- C++ -*-===//
#ifndef TESSERA_KERNELS_ATTENTION_INTERNAL_H
#define TESSERA_KERNELS_ATTENTION_INTERNAL_H

#include "tessera/kernels/attention.h"
#include "tessera/runtime/Jit.h"

namespace tessera::attention::detail {

/// softmax(q·kᵀ·scale)·v in fp32 with the same masking as forward(): `out`
/// (batch, heads, q_len, dim) and `lse` (batch, heads, q_len), both f32 and
/// contiguous.
void referenceForward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                      const Options &options, DeviceTensor &out, DeviceTensor &lse);

/// Launches a compiled attention_forward on validated inputs.
void launchForward(const JitKernel &kernel, const DeviceTensor &q, const DeviceTensor &k,
                   const DeviceTensor &v, DeviceTensor &out, DeviceTensor &lse,
                   const Options &options, Stream &stream = Stream::defaultStream());

} // namespace tessera::attention::detail

#endif
