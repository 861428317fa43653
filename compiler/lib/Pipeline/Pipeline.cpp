//===- Pipeline.cpp - The pass pipeline from tile IR to NVVM --------------===//

#include "tessera/Pipeline/Pipeline.h"

#include "tessera/Conversion/TileToGPU/TileToGPU.h"
#include "tessera/Dialect/Tile/Transforms/Passes.h"
#include "tessera/Schedule/Passes.h"
#include "tessera/Target/PTX.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

std::string tessera::ptxFeatures(llvm::StringRef arch) {
  // sm_90a needs PTX 8.0, its vector reductions (red.global.add.v2.f32,
  // tile.atomic_add) 8.1; sm_100a and later need newer ISAs.
  if (arch.starts_with("sm_10") || arch.starts_with("sm_12"))
    return "+ptx86";
  if (arch.starts_with("sm_90"))
    return "+ptx81";
  return "+ptx80";
}

void tessera::buildTilePasses(OpPassManager &pm) {
  // Fold the constants the DSL specialised on and share repeated index math.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void tessera::buildLayoutPasses(OpPassManager &pm, const PipelineOptions &options) {
  // Every tile gets a distributed layout; conversions mark where data moves.
  tile::TileAssignLayoutsOptions layouts;
  layouts.arch = options.arch;
  pm.addNestedPass<func::FuncOp>(tile::createTileAssignLayouts(layouts));
  // Conversions of splats and chains of conversions move nothing: drop them.
  tile::TileRemoveLayoutConversionsOptions conversions;
  conversions.hoistRowConversions = !rowConversionsInLoops();
  pm.addNestedPass<func::FuncOp>(tile::createTileRemoveLayoutConversions(conversions));
  pm.addPass(createCanonicalizerPass());
}

void tessera::buildSchedulePasses(OpPassManager &pm, const PipelineOptions &options) {
  // Staged dot operands get shared tiles; the loads that fill them become
  // async copies, pipelined over the kernel's stages in innermost loops.
  TileAllocateSharedMemoryOptions allocation;
  allocation.arch = options.arch;
  allocation.shiftedStores = shiftedStores();
  pm.addPass(createTileAllocateSharedMemory(allocation));
  pm.addPass(createTilePipelineCopies());
  // On sm_90a, kernels that ask for it copy with TMA and wait on mbarriers.
  TileUseTmaOptions tma;
  tma.arch = options.arch;
  tma.sharedRings = sharedTmaRings();
  tma.stageRowVectors = stageRowVectors();
  tma.narrowAddPanels = narrowAddPanels();
  tma.shiftedStores = shiftedStores();
  pm.addPass(createTileUseTma(tma));
  // ... and may give those copies to a producer warpgroup.
  TileWarpSpecializeOptions specialize;
  specialize.arch = options.arch;
  specialize.sharedRings = sharedTmaRings();
  pm.addPass(createTileWarpSpecialize(specialize));
  // Every dot's staged tiles are stored, waited for, fenced and published
  // before it, where they are not ready already.
  TilePublishStagingsOptions publish;
  publish.arch = options.arch;
  publish.barriersAfterRefills = !barrierPerStaging();
  publish.barriersAfterUses = !keepStagingBarriers();
  pm.addPass(createTilePublishStagings(publish));
}

void tessera::buildLoweringPasses(OpPassManager &pm, const PipelineOptions &options) {
  // Tiles become per-thread vectors inside a gpu.func per kernel; the chip
  // decides between mma.sync and wgmma.
  ConvertTileToGPUOptions tileToGPU;
  tileToGPU.arch = options.arch;
  tileToGPU.typedAsyncCopies = shortSharedPointers();
  tileToGPU.typedWarpgroupMma = typedWarpgroupMma();
  tileToGPU.stmatrixStagings = stmatrixStagings();
  pm.addPass(createConvertTileToGPU(tileToGPU));
  // The per-element index math repeats across elements: fold and share it.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Each wgmma's wait sinks to the first use of its accumulators.
  DeferWgmmaWaitsOptions defer;
  defer.pastMBarrierWaits = !waitsAtMBarriers();
  defer.pastBarriers = !waitsAtBarriers();
  defer.mergeStacked = !stackedWaits();
  pm.addNestedPass<gpu::GPUModuleOp>(createDeferWgmmaWaits(defer));
  // Upstream's lowering to NVVM: structured control flow to branches, then the
  // gpu, arith, vector and memref ops to LLVM and NVVM intrinsics.
  OpPassManager &gpuPm = pm.nest<gpu::GPUModuleOp>();
  gpuPm.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions nvvmOptions;
  nvvmOptions.indexBitwidth = 32; // offsets inside a tile and shared memory fit in 32 bits
  gpuPm.addPass(createConvertGpuOpsToNVVMOps(nvvmOptions));
  // NVVM ops that LLVM has no intrinsic for (bar.arrive of ping-pong's
  // turns) become their PTX, as upstream writes it.
  gpuPm.addPass(createConvertNVVMToLLVMPass());
  // Tensor maps are by-value __grid_constant__ parameters.
  gpuPm.addPass(createTesseraTensorMapParams());
  // Swizzled shared tiles assume 1024-byte aligned dynamic shared memory.
  gpuPm.addPass(createAlignDynamicSharedMemory());
  gpuPm.addPass(createCanonicalizerPass());
  gpuPm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  // The NVVM target tells serialization which chip and PTX version to emit.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.arch;
  target.features = ptxFeatures(options.arch);
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
}

void tessera::buildTesseraPipeline(OpPassManager &pm, const PipelineOptions &options) {
  buildTilePasses(pm);
  buildLayoutPasses(pm, options);
  buildSchedulePasses(pm, options);
  buildLoweringPasses(pm, options);
}

void tessera::registerTesseraPipeline() {
  PassPipelineRegistration<PipelineOptions>(
      "tessera-pipeline", "tile IR to NVVM, exactly as Tessera's JIT runs it",
      [](OpPassManager &pm, const PipelineOptions &options) { buildTesseraPipeline(pm, options); });
}
