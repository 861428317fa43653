//===- PTX.h - Serializing a gpu.module to PTX ------------------*- C++ -*-===//
#ifndef TESSERA_TARGET_PTX_H
#define TESSERA_TARGET_PTX_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace tessera {

/// PTX text of a gpu.module in the LLVM dialect with an NVVM target attached,
/// through MLIR's NVVM target and LLVM's NVPTX back end, in process.
/// Failures are reported as diagnostics on the module. Without
/// `strengthReduction` the back end skips its straight-line strength
/// reduction (CompileOptions::strengthReduction).
mlir::FailureOr<std::string> serializeToPTX(mlir::gpu::GPUModuleOp module,
                                            bool strengthReduction = false);

} // namespace tessera

#endif
