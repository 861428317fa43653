//===- Passes.td - Lowering tile programs to GPU code ------*- tablegen -*-===//
#ifndef TESSERA_CONVERSION_TILETOGPU_PASSES_TD
#define TESSERA_CONVERSION_TILETOGPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertTileToGPU : Pass<"convert-tile-to-gpu", "mlir::ModuleOp"> {
  let summary = "lower layout-annotated tile kernels to per-thread GPU code";
  let description = [{
    Moves each `tile.kernel` function into a `gpu.module` of its own as a
    `gpu.func` kernel and rewrites its tiles into the values one thread holds
    (`vector<N x T>`, N from the layout): elementwise ops act on those vectors;
    loads and stores become predicated per-element global accesses; reductions,
    layout conversions, transposes and `tile.dot` (FMA in this version) go
    through dynamic shared memory, whose size the kernel records in its
    `tile.shared_memory` attribute. Transcendentals use the GPU's approximate
    instructions (`ex2.approx`, `lg2.approx`, `rsqrt.approx`).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::vector::VectorDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif
