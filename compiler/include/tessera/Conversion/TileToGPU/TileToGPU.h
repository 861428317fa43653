//===- TileToGPU.h - Lowering tile programs to GPU code ---------*- C++ -*-===//
#ifndef TESSERA_CONVERSION_TILETOGPU_TILETOGPU_H
#define TESSERA_CONVERSION_TILETOGPU_TILETOGPU_H

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Transforms/DialectConversion.h"

namespace tessera {
#define GEN_PASS_DECL
#include "tessera/Conversion/TileToGPU/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "tessera/Conversion/TileToGPU/Passes.h.inc"
} // namespace tessera

#endif
