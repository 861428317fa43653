//===- GemmBiasGelu.h - A matmul with a fused bias + GELU epilogue -*- C++ -*-===//
#ifndef TESSERA_EXAMPLES_GEMMBIASGELU_H
#define TESSERA_EXAMPLES_GEMMBIASGELU_H

#include "tessera/kernels/Kernel.h"

namespace gemm_bias_gelu {

/// out = gelu(a·b + bias) for a (M x K), b (K x N), bias (N) of one dtype
/// (f32, f16 or bf16), accumulated in f32. GELU in its tanh form (GPT-2's,
/// torch's approximate="tanh").
tessera::DeviceTensor run(const tessera::DeviceTensor &a, const tessera::DeviceTensor &b,
                          const tessera::DeviceTensor &bias,
                          tessera::Stream &stream = tessera::Stream::defaultStream());

/// run() into a given (M x N) tensor of a's dtype: no allocation.
void run(const tessera::DeviceTensor &a, const tessera::DeviceTensor &b,
         const tessera::DeviceTensor &bias, tessera::DeviceTensor &out,
         tessera::Stream &stream = tessera::Stream::defaultStream());

/// The kernel, registered by name as the library loads.
const tessera::kernels::Kernel &kernel();

/// gelu(z) in float64, as the kernel computes it.
double gelu(double z);

} // namespace gemm_bias_gelu

#endif
