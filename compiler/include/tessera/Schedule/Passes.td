//===- Passes.td - The schedule level's passes -------------*- tablegen -*-===//
//
// Stage 3 of the compiler (docs/COMPILER.md §3): on layout-annotated tile
// IR, decide where tiles live in shared memory and when they move, as ops
// and types of the tile dialect (TileScheduleOps.td).
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_SCHEDULE_PASSES_TD
#define TESSERA_SCHEDULE_PASSES_TD

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
    With `shifted-stores`, in a kernel without tensor-core dots, an unmasked
    `tile.store` of a 2-D block of 16- or 32-bit elements (rows of whole 16-byte
    chunks, at most 32 KiB) to a tensor that may take no 16-byte vectors
    (no `aligned`) becomes `staged`: it takes the lowering's scratch space
    and goes out in the 16-byte vectors its rows cover (softmax or RMSNorm
    over rows of 4095 elements).
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (sm_90a: wgmma reads tiles through the async proxy)">,
    Option<"shiftedStores", "shifted-stores", "bool", /*default=*/"true",
           "stores of 16-bit rows that may take no vectors are staged in kernels without "
           "tensor-core dots (else stored from registers, as the pipeline does unless "
           "TESSERA_SHIFTED_STORES=1)">
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
    In a kernel of clusters (`tile.cluster_size` n, not warp-specialized), a
    copy through a `{cluster_shared}` descriptor whose panels divide among
    the n CTAs is multicast (`tile.tma_copy {multicast = n}`); the barriers
    at the top of such a loop, after the barriers' initialization and at the
    kernel's end are then `tile.cluster_barrier`s. With `tile.tma_stores`, a
    16-bit block stored after every loop and copy, whole 64-column panels of
    an aligned 2-D tensor from a pointer parameter, goes out through a
    staging tile at offset 0: barrier, `tile.store_staging`,
    `tile.fence_async_shared`, barrier, `tile.tma_store`, barrier. With
    `shifted-stores`, such a block of a tensor TMA cannot describe (rows of
    111 elements, a view at an odd offset) goes through the same staging
    tile: barrier, `tile.store_staging`, barrier, `tile.store_from_staging`
    (16-byte vectors of each row where its stride is 1).
    Without a producer warpgroup, a loop directly in the kernel's body that
    starts where the one before it ends and copies alike (`shared-rings`:
    the attention forward's masked key loop after the unmasked one) shares
    its ring: the first loop's lookahead copies run on into the second's
    first iterations, whose own first copies go, and the second counts its
    slots and phases on from the first's trips.
    With `stage-row-vectors`, a converted loop's row vectors (a 1-D load of
    f32, zero-padded, of an aligned tensor from a pointer parameter viewed
    at leading indices, its indices computed from the induction variable)
    come by TMA too: a ring of one-row buffers beside the loop's, filled as
    far ahead with the same predicates and slots, each with its barriers;
    the load becomes a `tile.mbarrier_wait` and a 1-D `tile.shared_view`,
    which reads the vector into registers (FlashAttention-3's producer
    brings the backward's L and D so).
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (TMA needs sm_90a)">,
    Option<"sharedRings", "shared-rings", "bool", /*default=*/"true",
           "a loop that continues the one before it, copying alike, shares its ring (else "
           "its pipeline starts anew after the first's)">,
    Option<"stageRowVectors", "stage-row-vectors", "bool", /*default=*/"true",
           "a converted loop's row vectors (1-D f32 blocks) come by TMA with its tiles "
           "(else they stay global loads, as the pipeline keeps them unless "
           "TESSERA_STAGE_ROW_VECTORS=1)">,
    Option<"narrowAddPanels", "narrow-add-panels", "bool", /*default=*/"true",
           "a TMA add's mma accumulator is staged in 32-byte panels (else the widest, as "
           "the pipeline stages it unless TESSERA_NARROW_ADD_PANELS=1)">,
    Option<"shiftedStores", "shifted-stores", "bool", /*default=*/"true",
           "with tile.tma_stores, a block of a tensor TMA cannot describe goes through a "
           "staging tile and tile.store_from_staging (else the threads' registers store it, "
           "as the pipeline does unless TESSERA_SHIFTED_STORES=1)">
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
    producer issues every iteration's). With `tile.ping_pong` and two
    consumer warpgroups, each consumer loop's first product is bracketed by
    `tile.turn_wait` and `tile.turn_pass` (the warpgroups issue it in
    alternation), after a `tile.turn_start` and before a `tile.turn_finish`.
    Loops of TMA copies in sequence after tile work whose rings match (the
    same copies into buffers at the same offsets) share one ring
    (`shared-rings`): their iterations are counted on from loop to loop, so
    the producer fills a loop's first buffers while the previous loop runs.
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (TMA needs sm_90a)">,
    Option<"sharedRings", "shared-rings", "bool", /*default=*/"true",
           "loops in sequence whose rings match share one (else each has its own, "
           "refilled once the previous loop's is released)">
  ];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

def TilePublishStagings : Pass<"tile-publish-stagings", "mlir::ModuleOp"> {
  let summary = "place the stores, waits, fences and barriers that publish a dot's shared tiles";
  let description = [{
    The schedule level's last pass. Before each tensor-core `tile.dot`
    whose `#tile.staging` leaves a staged tile unready, it places what
    makes the tiles readable by every warp: a `gpu.barrier` (the tiles'
    last readers are done) and a `tile.store_staging` per operand staged
    from registers; a `tile.async_wait` for the copied tiles it reads
    (leaving the groups committed after them in flight;
    `copiesAllowedInFlight`), and for the next dot's too with
    `publishNext = at_start`; on sm_90a a `tile.round_shared_to_tf32` per
    copied f32 tile a tf32 wgmma reads, then `tile.fence_async_shared`
    (wgmma reads through the async proxy); a `gpu.barrier` that publishes
    them. A dot whose tiles are all ready gets nothing. A staging hoisted
    out of its dot's loop is stored once, where it is converted, between
    two barriers. The waits at a
    split-K exchange (`publishNext = at_exchange`) lie inside the dot and
    stay with its lowering.

    With `barriers-after-refills`, a loop body's stores get no barrier of
    their own where the barrier before the body's ring refill already
    follows every earlier read of their tile (`readsDoneAtRefillBarrier`:
    each reader also reads a ring the body refills, so its wgmma is waited
    for before that barrier, and none lies between it and the stores).
    With `barriers-after-uses`, neither where each reader's result is used
    before a later barrier of the body (`readsDoneAtBarrierAfterUse`: the
    use waits for its wgmma); and a TMA add's staging guard
    (`tile.tma_store_wait`, barrier) gives its barrier up to the block's
    previous one where nothing between them writes shared memory
    (`mergeStagingGuards`).
  }];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture (sm_90a: wgmma reads tiles through the async proxy)">,
    Option<"barriersAfterRefills", "barriers-after-refills", "bool", /*default=*/"true",
           "leave out a store's barrier that the body's refill barrier makes redundant "
           "(false: a barrier before every store, as before 2026-12-07: "
           "TESSERA_BARRIER_PER_STAGING=1)">,
    Option<"barriersAfterUses", "barriers-after-uses", "bool", /*default=*/"true",
           "leave out a store's barrier where its tile's readers are done at a later "
           "barrier of the body, and merge a TMA add's staging guard into the barrier "
           "before it (false: as before 2026-12-07: TESSERA_KEEP_STAGING_BARRIERS=1)">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

#endif
