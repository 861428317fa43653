//===- TileScheduleOps.td - Shared memory and time --------*- tablegen -*-===//
//
// The schedule level (docs/COMPILER.md §3): where tiles live in shared memory
// and when they are copied, waited for and published. The schedule passes
// (compiler/lib/Schedule) make these ops; convert-tile-to-gpu lowers them.
// Each tile.async_copy is one cp.async group.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_TILE_SCHEDULE_OPS_TD
#define TESSERA_TILE_SCHEDULE_OPS_TD

def Tile_SharedAllocOp : Tile_Op<"shared_alloc", [Pure]> {
  let summary = "place a tile's buffers in the kernel's dynamic shared memory";
  let description = [{
    `offsets` holds the byte offset of each buffer, multiples of 1024 (one
    period of the 128-byte swizzle, which wgmma applies to absolute
    addresses).

    ```mlir
    %k = tile.shared_alloc [1024, 33792] : !tile.shared<64x128xbf16, 2>
    ```
  }];
  let arguments = (ins DenseI64ArrayAttr:$offsets);
  let results = (outs Tile_SharedType:$result);
  let assemblyFormat = "$offsets attr-dict `:` qualified(type($result))";
  let hasVerifier = 1;
}

def Tile_AsyncCopyOp : Tile_Op<"async_copy", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "copy a block of a descriptor into a shared buffer, asynchronously";
  let description = [{
    The threads copy the block at `indices` into buffer `slot` of `buffer`,
    each the elements it holds in the layout of `tile` (cp.async, 16 bytes
    at a time; element by element where the tensor's strides or alignment
    forbid that); elements outside the tensor become zeros. The copy is one
    cp.async group: `tile.async_wait` waits for it. A copy does not wait for
    the buffer's earlier readers: a `gpu.barrier` before it does, where
    needed.

    `distance`: the copy fills the tile of the iteration that many
    iterations after the current one of its loop (tile-pipeline-copies);
    0 for a copy of this iteration's tile or one outside loops.

    ```mlir
    tile.async_copy %d[%row, %c0], %k[%slot] {distance = 1}
        : !tile.desc<64x128xbf16>, !tile.shared<64x128xbf16, 2>
          as tensor<64x128xbf16, #blocked>
    ```
  }];
  let arguments = (ins Tile_DescType:$desc, Variadic<I32>:$indices, Tile_SharedType:$buffer,
                       I32:$slot, TypeAttrOf<Tile_Tensor>:$tile,
                       DefaultValuedAttr<I64Attr, "0">:$distance);
  let assemblyFormat = [{
    $desc `[` $indices `]` `,` $buffer `[` $slot `]` attr-dict `:` qualified(type($desc)) `,`
    qualified(type($buffer)) `as` $tile
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTileType() {
      return ::mlir::cast<::mlir::RankedTensorType>(getTile());
    }
  }];
}

def Tile_SharedViewOp : Tile_Op<"shared_view", [MemoryEffects<[MemRead]>]> {
  let summary = "the tile in a shared buffer: staged dot operands, or a row vector read";
  let description = [{
    The tile that async copies brought into buffer `slot` of `buffer`. Only
    stagings of tensor-core dot operands read it (the dot reads the buffer
    itself), so it lowers to no instructions; but a 1-D view of a row vector
    (a one-row buffer), which any op may use, reads the elements each thread
    holds from shared memory where it stands. `tf32_rounded`: as on
    `tile.load`, the copied f32 values are tf32 values already.

    ```mlir
    %kt = tile.shared_view %k[%slot] : !tile.shared<64x128xbf16, 2>
        -> tensor<64x128xbf16, #blocked>
    %l = tile.shared_view %lse[%slot] : !tile.shared<1x64xf32, 4>
        -> tensor<64xf32, #tile.slice<...>>
    ```
  }];
  let arguments = (ins Tile_SharedType:$buffer, I32:$slot, UnitAttr:$tf32_rounded);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    $buffer `[` $slot `]` attr-dict `:` qualified(type($buffer)) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Tile_StoreStagingOp : Tile_Op<"store_staging", [MemoryEffects<[MemWrite]>]> {
  let summary = "store a tile from registers into the shared tile a tensor-core dot reads";
  let description = [{
    The threads write the elements they hold of `value` into the shared
    tile at byte `offset` of the dynamic shared memory (the dot's
    `#tile.staging` offset of that operand), in the swizzled layout the
    dot's operand reads (16-byte stores where the layout allows). Placed
    by tile-publish-stagings between the barrier after the tile's last
    readers and the barrier that publishes it. f32 elements are rounded to
    tf32 (wgmma would truncate them), unless `exact` (a block TMA adds into
    a tensor: tile-use-tma). `swizzle` narrows the tile's column panels to
    32 or 64 bytes, as its `!tile.shared` type's does (default: the widest
    the row allows, up to 128).

    ```mlir
    tile.store_staging %k at 1024 : tensor<64x64xbf16, #blocked>
    tile.store_staging %dq at 65536 exact swizzle 32 : tensor<128x64xf32, #mma>
    ```
  }];
  let arguments = (ins Tile_Tensor:$value, I64Attr:$offset, UnitAttr:$exact,
                       OptionalAttr<I64Attr>:$swizzle);
  let builders = [
    OpBuilder<(ins "::mlir::Value":$value, "int64_t":$offset, CArg<"bool", "false">:$exact,
                   CArg<"int64_t", "0">:$swizzle), [{
      build($_builder, $_state, value, $_builder.getI64IntegerAttr(offset),
            exact ? $_builder.getUnitAttr() : ::mlir::UnitAttr(),
            swizzle ? $_builder.getI64IntegerAttr(swizzle) : ::mlir::IntegerAttr());
    }]>
  ];
  let assemblyFormat = [{
    $value `at` $offset (`exact` $exact^)? (`swizzle` $swizzle^)? attr-dict `:` type($value)
  }];
  let hasVerifier = 1;
}

def Tile_AsyncWaitOp : Tile_Op<"async_wait", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "wait for all but the `pending` most recent async copy groups of the thread";
  let description = [{
    `tile.async_wait 0` waits for every copy this thread issued. Other
    threads' copies are visible only after a barrier that follows their own
    waits.
  }];
  let arguments = (ins I32Attr:$pending);
  let assemblyFormat = "$pending attr-dict";
  let hasVerifier = 1;
}

def Tile_TmaStoreOp : Tile_Op<"tma_store", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "store or add a shared tile into a tensor with the Tensor Memory Accelerator";
  let description = [{
    One thread issues a bulk tensor store
    (`cp.async.bulk.tensor.2d.global.shared::cta`) per column panel of the
    `staging` tile (swizzled panels, as TMA's 128-byte swizzle reads them)
    to `indices` (row, column; after the leading indices of a map of higher
    rank) of the tensor, elements outside it left alone, and commits them
    as one bulk group. With `add` each panel is added into the tensor
    instead (`cp.reduce.async.bulk.tensor ... .add`, f32: an atomic
    accumulation the L2 performs a line at a time, where tile.atomic_add
    issues one reduction per element pair). The tile must be written
    (`tile.store_staging`), fenced for the async proxy and published by a
    barrier first; `tile.tma_store_wait` and a barrier after it keep the
    other threads from reusing the space before TMA has read it
    (tile-use-tma places them all).

    ```mlir
    tile.tma_store %staging, %map[%row, %col]
        : !tile.shared<128x256xbf16>, !tile.tensormap<128x64xbf16, 10>
    tile.tma_store add %staging, %map[%b, %h, %row, %col]
        : !tile.shared<128x64xf32>, !tile.tensormap<128x32xf32, 27, rank = 4>
    ```
  }];
  let arguments = (ins Tile_SharedType:$staging, Tile_TensorMapType:$map, Variadic<I32>:$indices,
                       UnitAttr:$add);
  let assemblyFormat = [{
    (`add` $add^)? $staging `,` $map `[` $indices `]` attr-dict `:` qualified(type($staging)) `,`
    qualified(type($map))
  }];
  let hasVerifier = 1;
}

def Tile_StoreFromStagingOp : Tile_Op<"store_from_staging",
                                      [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "every thread stores a block of a tensor from a shared staging tile";
  let description = [{
    The block at `indices` (row, column) of `desc`'s tensor, elements
    outside it left alone, from the `staging` tile (16-bit elements, written
    by `tile.store_staging` and published by a barrier first). For tensors
    TMA cannot describe: where the rows have unit stride (checked at run
    time), each row's bytes go out as the aligned 16-byte vectors of global
    memory they cover, each shifted out of the two 16-byte chunks of the
    tile it straddles (rows of 111 elements at any even address: the
    wgmma accumulator's registers would write them 2 bytes at a time, a
    third of a sector per warp's row), its first and last vector element by
    element; other strides element by element. tile-use-tma places it, for
    kernels that ask for staged stores (`tile.tma_stores`), where TMA cannot
    take the tensor.

    ```mlir
    tile.store_from_staging %staging, %out[%row, %c0]
        : !tile.shared<128x128xbf16>, !tile.desc<128x128xbf16>
    ```
  }];
  let arguments = (ins Tile_SharedType:$staging, Tile_DescType:$desc, Variadic<I32>:$indices);
  let assemblyFormat = [{
    $staging `,` $desc `[` $indices `]` attr-dict `:` qualified(type($staging)) `,`
    qualified(type($desc))
  }];
  let hasVerifier = 1;
}

def Tile_TmaStoreWaitOp : Tile_Op<"tma_store_wait", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "wait until this CTA's bulk tensor stores have read their shared tiles";
  let description = [{
    The thread that issues `tile.tma_store` waits for every bulk group it
    committed to have read its shared memory
    (`cp.async.bulk.wait_group.read 0`); the writes into global memory may
    still be under way. A barrier after it tells the other threads that the
    staging tile may be written again.
  }];
  let assemblyFormat = "attr-dict";
}

def Tile_ClusterBarrierOp : Tile_Op<"cluster_barrier", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "a barrier of every thread of every CTA of the cluster";
  let description = [{
    `barrier.cluster.arrive` then `barrier.cluster.wait`: what the threads
    of the cluster's CTAs did before it (reads of a buffer, barrier
    initializations) is done before any of them goes on, e.g. before one
    multicasts into its peers' buffers (`tile.tma_copy {multicast}`).
  }];
  let assemblyFormat = "attr-dict";
}

def Tile_FenceAsyncSharedOp : Tile_Op<"fence_async_shared",
                                      [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "order this thread's shared-memory writes before async-proxy reads (wgmma, TMA)";
  let description = [{
    `fence.proxy.async.shared::cta`: stores and completed cp.async copies
    become visible to wgmma's operand reads once a barrier after the fence
    publishes them.
  }];
  let assemblyFormat = "attr-dict";
}

def Tile_RoundSharedToTf32Op : Tile_Op<"round_shared_to_tf32",
                                       [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "round, in place, the f32 elements of a shared tile that this thread copied";
  let description = [{
    Each thread rounds to nearest tf32 the elements it holds in the layout
    of `tile`, the layout that copied them: wgmma would truncate them. Its
    copies must be complete (`tile.async_wait`); a barrier must follow
    before other threads read the tile.

    ```mlir
    tile.round_shared_to_tf32 %k[%c0] : !tile.shared<64x64xf32> as tensor<64x64xf32, #blocked>
    ```
  }];
  let arguments = (ins Tile_SharedType:$buffer, I32:$slot, TypeAttrOf<Tile_Tensor>:$tile);
  let assemblyFormat = "$buffer `[` $slot `]` attr-dict `:` qualified(type($buffer)) `as` $tile";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTileType() {
      return ::mlir::cast<::mlir::RankedTensorType>(getTile());
    }
  }];
}

def Tile_MBarrierAllocOp : Tile_Op<"mbarrier_alloc", [Pure]> {
  let summary = "place mbarrier objects in the kernel's dynamic shared memory";
  let description = [{
    `offset`: the byte offset of the first of the 8-byte barriers, a
    multiple of 8. `tile.mbarrier_init` initializes them.

    ```mlir
    %bars = tile.mbarrier_alloc 196608 : !tile.mbarriers<4>
    ```
  }];
  let arguments = (ins I64Attr:$offset);
  let results = (outs Tile_MBarriersType:$result);
  let assemblyFormat = "$offset attr-dict `:` qualified(type($result))";
  let hasVerifier = 1;
}

def Tile_MBarrierInitOp : Tile_Op<"mbarrier_init", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "initialize every barrier of a set for `count` arrivals, for the whole CTA";
  let description = [{
    One thread initializes the barriers (phase 0); a fence makes the
    initialization visible to the async proxy (TMA) and a CTA barrier to
    every thread.

    ```mlir
    tile.mbarrier_init %bars {count = 1 : i32} : !tile.mbarriers<4>
    ```
  }];
  let arguments = (ins Tile_MBarriersType:$barriers, DefaultValuedAttr<I32Attr, "1">:$count);
  let assemblyFormat = "$barriers attr-dict `:` qualified(type($barriers))";
  let hasVerifier = 1;
}

def Tile_TmaCopyOp : Tile_Op<"tma_copy", [MemoryEffects<[MemRead, MemWrite]>,
                                          AttrSizedOperandSegments]> {
  let summary = "copy a block of a tensor into a shared buffer with the Tensor Memory Accelerator";
  let description = [{
    One thread of the CTA (when `predicate` holds, if given) arms barrier
    `slot` of `barriers` with the bytes of the whole tile
    (`mbarrier.arrive.expect_tx`) and issues one bulk tensor copy
    (`cp.async.bulk.tensor.2d`, or of the map's rank) per column panel of
    the tile at `indices` (row, column; after the leading indices of a map
    of higher rank) into buffer `slot` of `buffer`; the barrier's phase
    completes when all have landed (`tile.mbarrier_wait`). Elements outside
    the tensor land as zeros. Like `tile.async_copy` it does not wait for
    the buffer's earlier readers: a `gpu.barrier` before it does.

    `distance`: as on `tile.async_copy`. `single_thread`: it runs on one
    thread already (a warp-specialized producer), which issues it.
    `multicast` (> 1, a cluster's CTAs, `tile.cluster_size`): every CTA of
    the cluster copies the same tile; each issues its share of the panels
    (panel p by the CTA of rank p mod multicast) to all of them, and arms
    its own barrier with the whole tile, which completes once every share
    has landed in it.

    ```mlir
    tile.tma_copy %map[%row, %k], %a[%slot], %bars if %more {distance = 2}
        : !tile.tensormap<128x64xbf16, 0>, !tile.shared<128x64xbf16, 4>, !tile.mbarriers<4>
    ```
  }];
  let arguments = (ins Tile_TensorMapType:$map, Variadic<I32>:$indices, Tile_SharedType:$buffer,
                       I32:$slot, Tile_MBarriersType:$barriers, Optional<I1>:$predicate,
                       DefaultValuedAttr<I64Attr, "0">:$distance, UnitAttr:$single_thread,
                       DefaultValuedAttr<I64Attr, "1">:$multicast);
  let assemblyFormat = [{
    $map `[` $indices `]` `,` $buffer `[` $slot `]` `,` $barriers (`if` $predicate^)? attr-dict
    `:` qualified(type($map)) `,` qualified(type($buffer)) `,` qualified(type($barriers))
  }];
  let hasVerifier = 1;
}

def Tile_MBarrierWaitOp : Tile_Op<"mbarrier_wait", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "wait until barrier `slot` completes the phase of parity `phase`";
  let description = [{
    Every thread waits (`mbarrier.try_wait.parity`); what the barrier's
    copies wrote is then visible to it, to generic and async-proxy reads
    (ldmatrix, wgmma) alike. A buffer filled for the n-th time completes
    phase n - 1 of its barrier: parity (n - 1) mod 2.

    ```mlir
    tile.mbarrier_wait %bars[%slot], %parity : !tile.mbarriers<4>
    ```
  }];
  let arguments = (ins Tile_MBarriersType:$barriers, I32:$slot, I32:$phase);
  let assemblyFormat = "$barriers `[` $slot `]` `,` $phase attr-dict `:` qualified(type($barriers))";
}

def Tile_MBarrierArriveOp : Tile_Op<"mbarrier_arrive", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "each warp arrives once on barrier `slot` (when `predicate` holds)";
  let description = [{
    The first lane of every warp that runs it arrives (release semantics:
    the warp's earlier reads of the buffer are done). A warp-specialized
    loop's consumers release a buffer to the producer this way; the set is
    initialized for as many arrivals as the kernel has consumer warps.
    `distance`: the buffer released is the one of the iteration that many
    before the current one of its loop.

    ```mlir
    tile.mbarrier_arrive %empty[%slot] if %started {distance = 2} : !tile.mbarriers<4>
    ```
  }];
  let arguments = (ins Tile_MBarriersType:$barriers, I32:$slot, Optional<I1>:$predicate,
                       DefaultValuedAttr<I64Attr, "0">:$distance);
  let assemblyFormat = [{
    $barriers `[` $slot `]` (`if` $predicate^)? attr-dict `:` qualified(type($barriers))
  }];
}

def Tile_WarpSpecializeOp : Tile_Op<"warp_specialize", [SingleBlock, NoTerminator,
                                                         RecursiveMemoryEffects]> {
  let summary = "split the CTA into a producer and the kernel's own (consumer) warps";
  let description = [{
    The kernel runs `producer_warps` more warps than its `tile.num_warps`,
    after its own. One thread of them runs the `producer` region (TMA copies
    into buffers and waits for their release) and the rest of them exit;
    the kernel's own warps, the consumers, run the `consumers` region, in
    which CTA barriers are the consumers' own (named barrier 1). Everything
    before this op runs on every warp: it may hold scalar code, shared
    buffers and barriers only.

    `ctas_per_sm` (1 to 4; printed where not 1) is the register budget: that
    many CTAs share an SM (.minnctapersm), each thread gets its share of the
    register file at launch, and the producer's warps hand theirs to the
    consumers within it (setmaxnreg).

    ```mlir
    tile.warp_specialize producer_warps(4) {
      scf.for ... { tile.mbarrier_wait ...; tile.tma_copy ... {single_thread} }
    } consumers {
      %r = scf.for ... { tile.mbarrier_arrive ...; tile.mbarrier_wait ...; tile.dot ... }
      tile.store ...
    }
    ```
  }];
  let arguments = (ins I32Attr:$producer_warps,
                       ConfinedAttr<DefaultValuedAttr<I32Attr, "1">,
                                    [IntMinValue<1>, IntMaxValue<4>]>:$ctas_per_sm);
  let regions = (region SizedRegion<1>:$producer, SizedRegion<1>:$consumers);
  let assemblyFormat = [{
    `producer_warps` `(` $producer_warps `)` (`ctas_per_sm` `(` $ctas_per_sm^ `)`)?
    $producer `consumers` $consumers attr-dict
  }];
  let hasVerifier = 1;
}

// Ping-pong between two consumer warpgroups (FlashAttention-3 §3.1): each
// waits for its turn before issuing its loop's first product and hands the
// turn over right after issuing it, so the two issue in alternation and one
// runs its softmax while the tensor cores compute the other's product.
// Named barriers 2 + warpgroup, of both warpgroups' 256 threads: one syncs,
// the other arrives.
class Tile_TurnOp<string mnemonic, string summaryText>
    : Tile_Op<mnemonic, [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = summaryText;
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

def Tile_TurnWaitOp : Tile_TurnOp<"turn_wait",
    "wait until the other consumer warpgroup hands this one the turn"> {
  let description = [{
    `bar.sync 2 + w, 256` in warpgroup w: returns once the other consumer
    warpgroup executed a `tile.turn_pass` (or, for warpgroup 0 the first
    time, `tile.turn_start`). Only in the consumers of a
    `tile.warp_specialize` with two consumer warpgroups (8 warps).
  }];
}

def Tile_TurnPassOp : Tile_TurnOp<"turn_pass", "hand the turn to the other consumer warpgroup"> {
  let description = [{
    `bar.arrive 2 + (1 - w), 256` in warpgroup w: lets the other warpgroup's
    next `tile.turn_wait` return, without waiting (a wgmma issued before it
    keeps running).
  }];
}

def Tile_TurnStartOp : Tile_TurnOp<"turn_start", "give warpgroup 0 the first turn"> {
  let description = [{
    Warpgroup 1 arrives at warpgroup 0's turn barrier once, before either
    waits for a turn.
  }];
}

def Tile_TurnFinishOp : Tile_TurnOp<"turn_finish", "take back the last turn handed over"> {
  let description = [{
    Warpgroup 0 waits once on its turn barrier for warpgroup 1's last
    `tile.turn_pass`, so that every arrival on both barriers is matched
    before the consumers go on.
  }];
}

//===----------------------------------------------------------------------===//
// Lowering level
//===----------------------------------------------------------------------===//

def Tile_WarpgroupWaitOp : Tile_Op<"warpgroup_wait"> {
  let summary = "wait for a warpgroup MMA group; its results are the accumulators";
  let description = [{
    Made by convert-tile-to-gpu after each wgmma group it issues (an issue is
    the inline assembly of its `wgmma.mma_async` instructions followed by
    `nvvm.wgmma.commit.group.sync.aligned`), moved by
    tessera-defer-wgmma-waits to the first operation that needs the group
    done, then lowered by it to `wgmma.wait_group.sync.aligned pending` with
    the accumulators tied to the results: they belong to the tensor cores
    until the wait, and nothing may read or move them before it (upstream's
    `nvvm.wgmma.wait.group.sync.aligned` has no operands to say so).
    `pending`: the most recent groups left running. `may_cross_iterations`:
    the group may still run while the next iteration of its loop begins
    (nothing that iteration writes before its own wgmma is a tile this one
    reads). `may_cross_barriers`: nothing after the group's dot in its block
    writes a shared tile the group reads (schedule::
    nothingAfterWritesWhatItReads), so the group may stay in flight through
    that block's barriers and shared stores.

    ```mlir
    %d0, %d1 = tile.warpgroup_wait %a0, %a1 {pending = 0 : i32} : (f32, f32) -> (f32, f32)
    ```
  }];
  let arguments = (ins Variadic<F32>:$accumulators, I32Attr:$pending,
                       DefaultValuedAttr<BoolAttr, "false">:$may_cross_iterations,
                       DefaultValuedAttr<BoolAttr, "false">:$may_cross_barriers);
  let results = (outs Variadic<F32>:$results);
  let assemblyFormat = "$accumulators attr-dict `:` functional-type($accumulators, $results)";
  let hasVerifier = 1;
}

#endif
