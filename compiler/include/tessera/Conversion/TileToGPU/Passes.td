//===- Passes.td - Lowering tile programs to GPU code ------*- tablegen -*-===//
#ifndef TESSERA_CONVERSION_TILETOGPU_PASSES_TD
#define TESSERA_CONVERSION_TILETOGPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def TesseraTensorMapParams : Pass<"tessera-tensor-map-params", "mlir::gpu::GPUModuleOp"> {
  let summary = "pass the tensor-map parameters of NVVM kernels as __grid_constant__ bytes";
  let description = [{
    Runs after the lowering to NVVM. The kernel arguments that
    convert-tile-to-gpu listed in `tile.tensor_maps` become 128-byte,
    64-byte aligned by-value parameters marked `nvvm.grid_constant`: the
    kernel reads the CUtensorMap in parameter space, where TMA wants it
    (CUDA's `const __grid_constant__ CUtensorMap`).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect"];
}

def ConvertTileToGPU : Pass<"convert-tile-to-gpu", "mlir::ModuleOp"> {
  let summary = "lower layout-annotated tile kernels to per-thread GPU code";
  let description = [{
    Moves each `tile.kernel` function into a `gpu.module` of its own as a
    `gpu.func` kernel and rewrites its tiles into the values one thread holds
    (`vector<N x T>`, N from the layout): elementwise ops act on those vectors;
    loads and stores become vector global accesses where the block lies inside
    the tensor, predicated ones where it crosses the end; reductions across
    warps, layout conversions, transposes and staged dot operands go through
    dynamic shared memory, at the places tile-allocate-shared-memory and
    tile-pipeline-copies (which must run first) chose. `tile.dot` runs on the tensor cores
    (`mma.sync`, or `wgmma` below) for f16/bf16 and TF32 operands in mma
    layouts, and as FMAs on CUDA cores otherwise. Transcendentals use the GPU's approximate
    instructions (`ex2.approx`, `lg2.approx`, `rsqrt.approx`).

    On `sm_90a`, tensor-core dots whose warps all lie along M in groups of
    four run as warpgroup `wgmma.mma_async`, reading their staged operands
    straight from the swizzled shared tiles through matrix descriptors;
    elsewhere (and for other layouts) they run as `mma.sync`.
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture the code is for (sm_80, sm_90a, ...): sm_90a enables wgmma">,
    Option<"typedAsyncCopies", "typed-async-copies", "bool", /*default=*/"false",
           "cp.async through upstream's nvvm.cp.async.shared.global instead of inline PTX "
           "(with 32-bit shared pointers: TESSERA_NVPTX_SHORT_PTR)">,
    Option<"typedWarpgroupMma", "typed-wgmma", "bool", /*default=*/"true",
           "wgmma groups whose operands are both staged (K not split) through "
           "upstream's nvvm.wgmma.fence/mma_async ops; false: one inline PTX "
           "statement, as groups with A in registers are (TESSERA_INLINE_WGMMA=1)">,
    Option<"stmatrixStagings", "stmatrix-stagings", "bool", /*default=*/"true",
           "on sm_90a, stagings of 16-bit mma accumulators by stmatrix (else 4-byte "
           "stores of their pairs, as the pipeline keeps them unless TESSERA_STMATRIX=1)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::vector::VectorDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect",
                           "::mlir::NVVM::NVVMDialect", "::mlir::cf::ControlFlowDialect"];
}

def DeferWgmmaWaits : Pass<"tessera-defer-wgmma-waits", "mlir::gpu::GPUModuleOp"> {
  let summary = "let warpgroup MMAs run while the code after them does";
  let description = [{
    Runs after convert-tile-to-gpu, on structured control flow. Each wgmma
    group is issued by one inline-assembly statement and waited for by
    another (`wgmma.wait_group`), whose results are the accumulators. This
    pass moves each wait down its block to just before the first operation
    that must not overlap the tensor cores: a use of the accumulators, a
    barrier (after it other threads may overwrite the shared tiles the MMA
    reads), a write to memory, any inline assembly it does not know to be
    harmless, a region holding one of those, or the block's terminator.
    Where the wait passes later wgmma groups it leaves them running
    (`wait_group N`, N the groups issued after its own), so independent
    products queue back to back and the elementwise work between them runs
    while they execute (the intra-warpgroup overlap of FlashAttention-3).
    An mbarrier wait is passed where another group is issued after it.
    A wgmma that reads A from a loop-carried value (FlashAttention-3's P)
    reads those registers until its wait: the conversion that makes the
    next iteration's value moves behind that wait, its input tied through
    it (ptxas gives both one register, and serializes every wgmma if it is
    written while the group runs: C7513).
    A group whose wait convert-tile-to-gpu marks `may_cross_barriers`
    (nothing after its dot in the block writes a shared tile it reads) also
    passes barriers and shared stores: the dK/dV program's dV and dK
    products run through the exchange of dSᵀ between its warpgroups.
  }];
  let options = [
    Option<"pastMBarrierWaits", "past-mbarrier-waits", "bool", /*default=*/"true",
           "let a wait pass an mbarrier wait where a group issues after it "
           "(false: stop there, as before 2026-12-06: TESSERA_WAITS_AT_MBARRIERS=1)">,
    Option<"pastBarriers", "past-barriers", "bool", /*default=*/"true",
           "let a may_cross_barriers wait pass barriers and shared stores "
           "(false: stop there, as before 2026-12-07: TESSERA_WAITS_AT_BARRIERS=1)">,
    Option<"mergeStacked", "merge-stacked", "bool", /*default=*/"true",
           "make waits with only packing between them one "
           "(false: keep them apart, as before 2026-12-07: TESSERA_STACKED_WAITS=1)">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::vector::VectorDialect"];
}

def AlignDynamicSharedMemory : Pass<"tessera-align-dynamic-shared-memory",
                                    "mlir::gpu::GPUModuleOp"> {
  let summary = "align the dynamic shared memory of NVVM kernels to 1024 bytes";
  let description = [{
    Runs after the lowering to NVVM. The shared tiles of tensor-core operands
    are XOR-swizzled by the address bits of their rows (128-byte rows repeat
    every 1024 bytes); `wgmma` applies the same swizzle to absolute shared
    addresses, so the dynamic shared memory the tiles live in must start on
    a 1024-byte boundary. Sets that alignment on the module's zero-sized
    workgroup globals (the `__dynamic_shmem__` symbols), and makes them
    external: upstream creates them internal, which NVPTX emits as a static
    one-byte `.shared` variable placed before the dynamic shared memory
    rather than as the `.extern .shared` array at its start, so the last
    bytes of a kernel's shared tiles would lie past its allocation.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif
