//===- Passes.td - Lowering tile programs to GPU code ------*- tablegen -*-===//
#ifndef TESSERA_CONVERSION_TILETOGPU_PASSES_TD
#define TESSERA_CONVERSION_TILETOGPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def TileAllocateSharedMemory : Pass<"tile-allocate-shared-memory", "mlir::ModuleOp"> {
  let summary = "place staged dot operands in shared tiles; copy their loads asynchronously";
  let description = [{
    The schedule level's first pass (docs/COMPILER.md §3), on layout-annotated
    tile IR. Every staged operand of a tensor-core dot (a conversion or
    transpose into a dot operand layout, read through shared memory) gets a
    tile after the lowering's scratch space (offset 0): the stagings of one
    value share a tile; tiles staged inside sibling top-level loops overlap,
    with a `gpu.barrier` before each later loop. The dot records its tiles
    and which are ready (`#tile.staging`). A load whose users are all such
    stagings becomes a `tile.async_copy` into a `tile.shared_alloc` buffer,
    read back through `tile.shared_view`, with a `gpu.barrier` before it.
    Copies hoisted before a loop are waited for once before it.
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (sm_90a: wgmma reads tiles through the async proxy)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::arith::ArithDialect"];
}

def TilePipelineCopies : Pass<"tile-pipeline-copies", "mlir::ModuleOp"> {
  let summary = "software-pipeline the async copies of innermost loops over num_stages buffers";
  let description = [{
    Runs after tile-allocate-shared-memory. For each innermost `scf.for`
    whose copies' descriptors and indices follow from its induction variable,
    gives each copy `tile.num_stages` buffers (1 to 4), issues the first
    iterations' copies before the loop and, in the loop, the copy of the
    iteration `distance` ahead into the buffer an earlier iteration read;
    dots read buffer (iteration mod stages). Drops the barrier of a copy
    that follows another with only scalar code between, and waits for the
    last copies after the loop.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::arith::ArithDialect"];
}

def TileUseTma : Pass<"tile-use-tma", "mlir::ModuleOp"> {
  let summary = "move a pipelined loop's copies onto the Tensor Memory Accelerator (sm_90a)";
  let description = [{
    Runs after tile-pipeline-copies, on kernels that ask for it (`tile.tma`)
    and only for `arch=sm_90a`. A loop directly in the kernel's body whose
    every copy is pipelined (distance at least 1), of a 2-D tensor of 16-bit
    elements that allows 16-byte vectors (`tile.make_desc {aligned}`: TMA
    can describe it) from a pointer parameter, into buffers read only by
    dots, has those copies (and their first ones before the loop) become
    `tile.tma_copy`: one thread issues a bulk tensor copy per column panel
    of the tile and arms barrier `slot` of a `tile.mbarriers` set per
    buffer (`tile.mbarrier_alloc` after the kernel's shared memory,
    `tile.mbarrier_init` at the kernel's start). The kernel gains one
    `!tile.tensormap` parameter per copied tensor, after its others. Copies
    out of the loop's range are not issued (the predicate) rather than
    zero-filled. Dots wait with `tile.mbarrier_wait` on their buffer's
    barrier (parity: the iteration divided by the stages, mod 2) and find
    the tile ready; the copies move to the top of the body, after a
    `gpu.barrier` that follows every warp's reads of the buffer they refill.
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (TMA needs sm_90a)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::arith::ArithDialect"];
}

def TileWarpSpecialize : Pass<"tile-warp-specialize", "mlir::ModuleOp"> {
  let summary = "give a TMA loop's copies to a producer warpgroup of their own (sm_90a)";
  let description = [{
    Runs after tile-use-tma, on kernels that ask for it
    (`tile.warp_specialize`) and only for `arch=sm_90a`. A TMA loop of four
    stages copying two iterations ahead, directly in the kernel's body with
    nothing before it that touches tiles in memory, is split off: a
    `tile.warp_specialize` right before it puts the loop and the rest of the
    kernel in its `consumers` region and, in its `producer` region, a loop
    over the same iterations in which one thread of four extra warps waits
    for buffer j mod 4 to be released (from iteration 4 on) and issues
    iteration j's copies (`single_thread`). The consumers' loop loses its
    copies and opening barrier and, at the top of iteration j >= 2, releases
    the buffers of iteration j - 2 (`tile.mbarrier_arrive`, one arrival per
    warp, on a new "empty" barrier set): by then every warp has waited for
    the wgmma group that read them. The copies before the loop go (the
    producer issues every iteration's).
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (TMA needs sm_90a)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

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
           "GPU architecture the code is for (sm_80, sm_90a, ...): sm_90a enables wgmma">
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
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
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
