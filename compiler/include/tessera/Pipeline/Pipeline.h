//===- Pipeline.h - The pass pipeline from tile IR to NVVM ------*- C++ -*-===//
#ifndef TESSERA_PIPELINE_PIPELINE_H
#define TESSERA_PIPELINE_PIPELINE_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>

namespace tessera {

/// Options of the `tessera-pipeline`, the same ones the JIT passes.
struct PipelineOptions : public mlir::PassPipelineOptions<PipelineOptions> {
  Option<std::string> arch{*this, "arch", llvm::cl::desc("GPU architecture (sm_80, sm_90a, ...)"),
                           llvm::cl::init("sm_90a")};
  Option<unsigned> numStages{*this, "num-stages",
                             llvm::cl::desc("shared-memory pipeline depth of loads in loops"),
                             llvm::cl::init(2)};
};

/// Stage 1: target-independent clean-up of the tile program.
void buildTilePasses(mlir::OpPassManager &pm);
/// Stage 2: distributed layouts for every tile (the chip decides how
/// warpgroup MMA splits a dot's columns).
void buildLayoutPasses(mlir::OpPassManager &pm, const PipelineOptions &options);
/// Stage 4: per-thread code in gpu/vector/memref/scf, then NVVM and LLVM.
/// Stage 3, memory and schedule: shared tiles, async copies and their pipelines.
void buildSchedulePasses(mlir::OpPassManager &pm, const PipelineOptions &options);
void buildLoweringPasses(mlir::OpPassManager &pm, const PipelineOptions &options);

/// The whole pipeline, tile IR to a gpu.module in the LLVM dialect with its
/// NVVM target attached (ready for PTX).
void buildTesseraPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// Registers `--tessera-pipeline="arch=... num-stages=..."`.
void registerTesseraPipeline();

/// PTX ISA version the NVVM target asks LLVM for, per architecture.
std::string ptxFeatures(llvm::StringRef arch);

} // namespace tessera

#endif
