//===- TileOps.td - Operations of the tile dialect --------*- tablegen -*-===//
#ifndef TESSERA_TILE_OPS_TD
#define TESSERA_TILE_OPS_TD

include "tessera/Dialect/Tile/IR/TileTypes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def Tile_Tensor : RankedTensorOf<[AnyType]>;
def Tile_I32Tensor : RankedTensorOf<[I32]>;
def Tile_I1Tensor : RankedTensorOf<[I1]>;

//===----------------------------------------------------------------------===//
// Program instance ids
//===----------------------------------------------------------------------===//

def Tile_ProgramIdOp : Tile_Op<"program_id", [Pure]> {
  let summary = "index of this program instance along a grid axis";
  let description = [{
    ```mlir
    %pid = tile.program_id 0
    ```
  }];
  let arguments = (ins ConfinedAttr<I32Attr, [IntNonNegative, IntMaxValue<2>]>:$axis);
  let results = (outs I32:$result);
  let assemblyFormat = "$axis attr-dict";
  let builders = [OpBuilder<(ins "int":$axis), [{
    build($_builder, $_state, $_builder.getI32Type(), $_builder.getI32IntegerAttr(axis));
  }]>];
}

def Tile_NumProgramsOp : Tile_Op<"num_programs", [Pure]> {
  let summary = "number of program instances along a grid axis";
  let description = "`%n = tile.num_programs 1`";
  let arguments = (ins ConfinedAttr<I32Attr, [IntNonNegative, IntMaxValue<2>]>:$axis);
  let results = (outs I32:$result);
  let assemblyFormat = "$axis attr-dict";
  let builders = [OpBuilder<(ins "int":$axis), [{
    build($_builder, $_state, $_builder.getI32Type(), $_builder.getI32IntegerAttr(axis));
  }]>];
}

//===----------------------------------------------------------------------===//
// Global memory
//===----------------------------------------------------------------------===//

def Tile_AddPtrOp : Tile_Op<"addptr", [Pure, AllTypesMatch<["ptr", "result"]>]> {
  let summary = "pointer plus an element offset";
  let description = [{
    ```mlir
    %p1 = tile.addptr %p, %off : !tile.ptr<f16>, i32
    ```
  }];
  let arguments = (ins Tile_PtrType:$ptr, I32:$offset);
  let results = (outs Tile_PtrType:$result);
  let assemblyFormat = "$ptr `,` $offset attr-dict `:` qualified(type($ptr)) `,` type($offset)";
}

def Tile_AtOp : Tile_Op<"at", [Pure, AllTypesMatch<["ptr", "result"]>,
                               AttrSizedOperandSegments]> {
  let summary = "the sub-tensor of a tensor at fixed leading indices";
  let description = [{
    The pointer to element (indices..., 0, ...) of the tensor at `ptr`:
    `ptr + sum(indices[i] * strides[i])`, the strides those of its leading
    dimensions (the DSL's `TensorArg::at`). A descriptor made from it
    (`tile.make_desc`) is of the trailing dimensions. Kept as one op, not as
    its sum, so that `tile-use-tma` finds the whole tensor the block lies
    in: a tensor map of all its dimensions copies the block at the leading
    indices with zeros past the sub-tensor's own rows and columns.

    ```mlir
    %kh = tile.at %k[%b, %h] strides [%stride_b, %stride_h] : !tile.ptr<bf16>
    ```
  }];
  let arguments = (ins Tile_PtrType:$ptr, Variadic<I32>:$indices, Variadic<I32>:$strides);
  let results = (outs Tile_PtrType:$result);
  let assemblyFormat = [{
    $ptr `[` $indices `]` `strides` ` ` `[` $strides `]` attr-dict `:` qualified(type($ptr))
  }];
  let hasVerifier = 1;
}

def Tile_MakeDescOp : Tile_Op<"make_desc", [Pure, AttrSizedOperandSegments]> {
  let summary = "describe a strided global tensor for block loads and stores";
  let description = [{
    Sizes and strides are counted in elements, one per dimension, outermost first.

    `aligned` promises what the launch checked (a specialization, as Triton's
    divisibility by 16): the base address is a multiple of 16 bytes, the last
    stride is 1, the last dimension's size and every other stride are
    multiples of 16 bytes. Loads and stores through the descriptor at a last
    index known to be a multiple of their vectors (a constant, a product, a
    loop variable of such) then use 16-byte vectors with no run-time check,
    each wholly inside or outside the tensor: no element-by-element path.
    At any other last index the vectors' alignment is checked at run time.

    `cluster_shared` promises that the CTAs of a cluster (`tile.cluster_size`)
    read the same blocks through the descriptor (a matmul's B for the row
    blocks of one column): their TMA copies may multicast them.

    ```mlir
    %d = tile.make_desc %ptr, [%rows, %cols], [%ld, %c1] {aligned}
        : !tile.ptr<f32> -> !tile.desc<64x64xf32>
    ```
  }];
  let arguments = (ins Tile_PtrType:$ptr, Variadic<I32>:$sizes, Variadic<I32>:$strides,
                       UnitAttr:$aligned, UnitAttr:$cluster_shared);
  let results = (outs Tile_DescType:$result);
  let assemblyFormat = [{
    $ptr `,` `[` $sizes `]` `,` `[` $strides `]` attr-dict `:` qualified(type($ptr)) `->`
    qualified(type($result))
  }];
  let hasVerifier = 1;
}

def Tile_LoadOp : Tile_Op<"load", [MemoryEffects<[MemRead]>]> {
  let summary = "load the block at element offsets `indices` of a descriptor";
  let description = [{
    Elements outside the tensor read as the descriptor's padding value.

    `tf32_rounded` (f32 only) promises that every element is a tf32 value
    already (its low 13 mantissa bits zero, as cvt.rna.tf32 leaves them), so
    that a tf32 dot reading the block through shared memory need not round
    it there.

    ```mlir
    %t = tile.load %d[%row, %col] : !tile.desc<64x64xf32> -> tensor<64x64xf32>
    %k = tile.load %d[%row, %col] {tf32_rounded} : !tile.desc<64x64xf32> -> tensor<64x64xf32>
    ```
  }];
  let arguments = (ins Tile_DescType:$desc, Variadic<I32>:$indices, UnitAttr:$tf32_rounded);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    $desc `[` $indices `]` attr-dict `:` qualified(type($desc)) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Tile_GatherOp : Tile_Op<"gather", [MemoryEffects<[MemRead]>]> {
  let summary = "load the rows `rows` of a 2-D descriptor's tensor, from column `col` on";
  let description = [{
    Row r of the result is the tensor's row `rows[r]`, its columns `col` to
    `col` + (block width - 1). Rows outside the tensor (a negative index
    included) and columns past it read as the descriptor's padding, so an
    index of -1 asks for a row of padding.

    ```mlir
    %t = tile.gather %d[%rows, %col] : !tile.desc<64x128xf32>, tensor<64xi32> -> tensor<64x128xf32>
    ```
  }];
  let arguments = (ins Tile_DescType:$desc, Tile_I32Tensor:$rows, I32:$col);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    $desc `[` $rows `,` $col `]` attr-dict `:` qualified(type($desc)) `,` type($rows) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def Tile_StoreOp : Tile_Op<"store", [MemoryEffects<[MemWrite]>, AttrSizedOperandSegments]> {
  let summary = "store a block at element offsets `indices` of a descriptor";
  let description = [{
    Elements of the block outside the tensor are not written, nor, with a
    `mask` (i1, the block's shape), those whose mask element is false.

    `staged` (a schedule decision: tile-allocate-shared-memory's shifted
    stores, for a 2-D block of 16- or 32-bit elements whose tensor may take no
    16-byte vectors): where the tensor's rows have unit stride but no
    vectors fit them (checked at run time: rows of 4095 elements, a view at
    an odd offset), the block goes through the kernel's shared scratch and
    out in the 16-byte vectors of global memory its rows cover, as
    `tile.store_from_staging` writes them, instead of element by element.

    ```mlir
    tile.store %d[%row, %col], %t : !tile.desc<64x64xf32>, tensor<64x64xf32>
    tile.store %d[%i], %t mask %m : !tile.desc<128xf32>, tensor<128xf32>, tensor<128xi1>
    tile.store %d[%row, %col], %t staged : !tile.desc<4x4096xbf16>, tensor<4x4096xbf16, #blocked>
    ```
  }];
  let arguments = (ins Tile_DescType:$desc, Variadic<I32>:$indices, Tile_Tensor:$value,
                       Optional<Tile_I1Tensor>:$mask, UnitAttr:$staged);
  let assemblyFormat = [{
    $desc `[` $indices `]` `,` $value (`mask` $mask^)? (`staged` $staged^)? attr-dict `:`
    qualified(type($desc)) `,` type($value) (`,` type($mask)^)?
  }];
  let hasVerifier = 1;
  let builders = [
    OpBuilder<(ins "::mlir::Value":$desc, "::mlir::ValueRange":$indices, "::mlir::Value":$value),
    [{ build($_builder, $_state, desc, indices, value, ::mlir::Value(), /*staged=*/false); }]>,
    OpBuilder<(ins "::mlir::Value":$desc, "::mlir::ValueRange":$indices, "::mlir::Value":$value,
                   "::mlir::Value":$mask),
    [{ build($_builder, $_state, desc, indices, value, mask, /*staged=*/false); }]>
  ];
}

def Tile_AtomicAddOp : Tile_Op<"atomic_add", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "add a block of f32 elements into a descriptor's tensor, atomically";
  let description = [{
    Each element of the tensor at the block's position becomes its old value
    plus the block's element, as one atomic read-modify-write (relaxed, GPU
    scope), so that programs may add into the same elements concurrently.
    Elements of the block outside the tensor are dropped. Only f32: what the
    sum of many programs needs (gradient accumulators).

    ```mlir
    tile.atomic_add %d[%row, %col], %t : !tile.desc<64x64xf32>, tensor<64x64xf32>
    ```
  }];
  let arguments = (ins Tile_DescType:$desc, Variadic<I32>:$indices, Tile_Tensor:$value);
  let assemblyFormat = [{
    $desc `[` $indices `]` `,` $value attr-dict `:` qualified(type($desc)) `,` type($value)
  }];
  let hasVerifier = 1;
}

def Tile_AtomicRMWOp : Tile_Op<"atomic_rmw", [MemoryEffects<[MemRead, MemWrite]>,
                                              AllTypesMatch<["value", "result"]>]> {
  let summary = "read-modify-write a block of a descriptor's tensor atomically; the old values";
  let description = [{
    Each element of the tensor at the block's position becomes `kind` of its
    old value and the block's element (add, max, min, or xchg: the block's
    element), as one atomic operation (relaxed, GPU scope); the result holds
    the old values. Elements of the block outside the tensor are neither
    read nor written and read as zero. f32 and i32 (max and min signed).

    ```mlir
    %old = tile.atomic_rmw max %d[%row, %col], %t : !tile.desc<64x64xf32>, tensor<64x64xf32>
    ```
  }];
  let arguments = (ins Tile_AtomicKindAttr:$kind, Tile_DescType:$desc, Variadic<I32>:$indices,
                       Tile_Tensor:$value);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    `` $kind $desc `[` $indices `]` `,` $value attr-dict `:` qualified(type($desc)) `,` type($value)
  }];
  let hasVerifier = 1;
}

def Tile_PrintOp : Tile_Op<"print", [MemoryEffects<[MemWrite]>]> {
  let summary = "print a tile's elements (or a scalar) from the device";
  let description = [{
    One line per element, from the thread that holds it (one of the threads
    holding copies): `prefix pid (x, y, z) idx (i, j): value` (`idx ()` for a
    scalar). Lines of different programs and threads come in any order. As
    Triton's tl.device_print.

    ```mlir
    tile.print "scores" %s : tensor<64x64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$prefix, AnyType:$value);
  let assemblyFormat = "$prefix $value attr-dict `:` type($value)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The printf format of one line: the prefix, the program id (three
    /// ints), one int per dimension, then the value (a double for floats,
    /// an int otherwise). The interpreter and the GPU print the same text.
    std::string getFormat();
  }];
}

def Tile_AssertOp : Tile_Op<"assert", [MemoryEffects<[MemWrite]>]> {
  let summary = "stop the kernel when a condition (a boolean tile or scalar) is false";
  let description = [{
    Where an element of `cond` is false, the kernel stops with `message`, the
    source location, and the block and thread (CUDA's __assertfail: the
    launch's stream then reports CUDA_ERROR_ASSERT, and the context is lost);
    the interpreter reports the program and element. As Triton's
    tl.device_assert, emitted by the DSL only in debug builds
    (TESSERA_DEBUG=1).

    ```mlir
    tile.assert %ok, "index out of range" : tensor<128xi1>
    ```
  }];
  let arguments = (ins AnyTypeOf<[I1, Tile_I1Tensor]>:$cond, StrAttr:$message);
  let assemblyFormat = "$cond `,` $message attr-dict `:` type($cond)";
}

def Tile_AtomicCASOp : Tile_Op<"atomic_cas", [MemoryEffects<[MemRead, MemWrite]>,
                                              AllTypesMatch<["cmp", "value", "result"]>]> {
  let summary = "compare-and-swap a block of a descriptor's i32 tensor; the old values";
  let description = [{
    Each element of the tensor at the block's position that equals the
    element of `cmp` becomes the element of `value`, atomically (relaxed,
    GPU scope); the result holds the old values, so a program knows where
    its swap won (old == cmp). Elements of the block outside the tensor are
    neither read nor written and read as zero.

    ```mlir
    %old = tile.atomic_cas %d[%i], %cmp, %v : !tile.desc<128xi32>, tensor<128xi32>
    ```
  }];
  let arguments = (ins Tile_DescType:$desc, Variadic<I32>:$indices, Tile_Tensor:$cmp,
                       Tile_Tensor:$value);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = [{
    $desc `[` $indices `]` `,` $cmp `,` $value attr-dict `:` qualified(type($desc)) `,`
    type($value)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Tile construction and shape
//===----------------------------------------------------------------------===//

def Tile_IotaOp : Tile_Op<"iota", [Pure]> {
  let summary = "the 1-D tile [0, 1, ..., n-1]";
  let description = "`%r = tile.iota : tensor<128xi32>`";
  let results = (outs Tile_I32Tensor:$result);
  let assemblyFormat = "attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Tile_SplatOp : Tile_Op<"splat", [Pure]> {
  let summary = "a tile filled with one scalar";
  let description = "`%t = tile.splat %x : f32 -> tensor<64x64xf32>`";
  let arguments = (ins AnyType:$src);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
}

def Tile_BroadcastOp : Tile_Op<"broadcast", [Pure]> {
  let summary = "repeat a tile along its size-1 dimensions";
  let description = "`%b = tile.broadcast %t : tensor<64x1xf32> -> tensor<64x128xf32>`";
  let arguments = (ins Tile_Tensor:$src);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tile_ExpandDimsOp : Tile_Op<"expand_dims", [Pure]> {
  let summary = "insert a size-1 dimension at `axis`";
  let description = "`%e = tile.expand_dims %t, 1 : tensor<64xf32> -> tensor<64x1xf32>`";
  let arguments = (ins Tile_Tensor:$src, I32Attr:$axis);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src `,` $axis attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
}

def Tile_TransOp : Tile_Op<"trans", [Pure]> {
  let summary = "transpose a 2-D tile";
  let description = "`%t = tile.trans %k : tensor<64x128xf16> -> tensor<128x64xf16>`";
  let arguments = (ins Tile_Tensor:$src);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Compute
//===----------------------------------------------------------------------===//

def Tile_DotOp : Tile_Op<"dot", [Pure, AllTypesMatch<["acc", "result"]>]> {
  let summary = "matrix product with accumulator: result = a · b + acc";
  let description = [{
    `a` is MxK, `b` is KxN, both of one element type; `acc` and the result are
    MxN, f32 for floating-point inputs.

    `staging` is the schedule level's decision where its staged operands
    live in shared memory (`#tile.staging`, set by tile-allocate-shared-memory).

    With `tf32`, f32 inputs may be rounded to TF32 (10 mantissa bits) and
    multiplied on tensor cores (`mma.sync.m16n8k8.tf32`); without it, f32
    products are computed in full f32 precision.

    ```mlir
    %c1 = tile.dot %a, %b, %c : tensor<64x32xf16>, tensor<32x64xf16> -> tensor<64x64xf32>
    %c2 = tile.dot %x, %y, %c {tf32} : tensor<64x32xf32>, tensor<32x64xf32> -> tensor<64x64xf32>
    ```
  }];
  let arguments = (ins Tile_Tensor:$a, Tile_Tensor:$b, Tile_Tensor:$acc, UnitAttr:$tf32,
                       OptionalAttr<Tile_StagingAttr>:$staging);
  let results = (outs Tile_Tensor:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$a, "::mlir::Value":$b,
                   "::mlir::Value":$acc, CArg<"bool", "false">:$tf32), [{
      build($_builder, $_state, result, a, b, acc, tf32, StagingAttr());
    }]>
  ];
  let assemblyFormat = [{
    $a `,` $b `,` $acc attr-dict `:` type($a) `,` type($b) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Tile_ReduceOp : Tile_Op<"reduce", [Pure]> {
  let summary = "reduce a tile along `axis` with sum, max or min";
  let description = [{
    The result has the operand's shape without `axis`, so the operand has rank 2
    or more.

    ```mlir
    %m = tile.reduce max %s, 1 : tensor<64x128xf32> -> tensor<64xf32>
    ```
  }];
  let arguments = (ins Tile_ReduceKindAttr:$kind, Tile_Tensor:$src, I32Attr:$axis);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "`` $kind $src `,` $axis attr-dict `:` type($src) `->` type($result)";
  let hasVerifier = 1;
}

def Tile_ReduceCombineOp : Tile_Op<"reduce_combine", [Pure, SingleBlock]> {
  let summary = "reduce tiles along `axis` together with the combine function of a region";
  let description = [{
    As `tile.reduce`, for N tiles of one shape reduced together (a value and
    its index, Welford's count, mean and M2), with the combine function a
    region: two elements of each tile in (the N of the left, then the N of
    the right), N out (`tile.yield`). The function must be associative and
    commutative: the order in which elements meet is the lowering's (lanes
    pair up in a butterfly), as Triton's tl.reduce.

    ```mlir
    %p = tile.reduce_combine %x along 1 : tensor<64x128xf32> -> tensor<64xf32> {
    ^bb0(%a: f32, %b: f32):
      %c = arith.mulf %a, %b : f32
      tile.yield %c : f32
    }
    ```
  }];
  let arguments = (ins Variadic<Tile_Tensor>:$srcs, I32Attr:$axis);
  let results = (outs Variadic<Tile_Tensor>:$results);
  let regions = (region SizedRegion<1>:$combine);
  let assemblyFormat =
      "$srcs `along` $axis attr-dict `:` type($srcs) `->` type($results) $combine";
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def Tile_ScanOp : Tile_Op<"scan", [Pure, SingleBlock]> {
  let summary = "inclusive prefix combine of tiles along `axis`";
  let description = [{
    result[..., i, ...] = x[..., 0, ...] ⊕ x[..., 1, ...] ⊕ ... ⊕ x[..., i, ...],
    with ⊕ the region's combine function over N tiles of one shape scanned
    together (two elements of each in, N out), applied in that order: it
    must be associative, not commutative. With `reverse`, from the end:
    x[i] ⊕ ... ⊕ x[n-1] combined from n-1 down (the scan of the flipped
    tiles, flipped back). As Triton's tl.associative_scan; cumsum and
    cumprod are scans.

    ```mlir
    %c = tile.scan %x along 1 : tensor<64x128xf32> -> tensor<64x128xf32> {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      tile.yield %s : f32
    }
    ```
  }];
  let arguments = (ins Variadic<Tile_Tensor>:$srcs, I32Attr:$axis, UnitAttr:$reverse);
  let results = (outs Variadic<Tile_Tensor>:$results);
  let regions = (region SizedRegion<1>:$combine);
  let assemblyFormat =
      "$srcs `along` $axis (`reverse` $reverse^)? attr-dict `:` type($srcs) `->` type($results)"
      "$combine";
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def Tile_YieldOp : Tile_Op<"yield", [Pure, Terminator,
                                     ParentOneOf<["ReduceCombineOp", "ScanOp"]>]> {
  let summary = "the combined values of a reduce_combine or scan region";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "$values attr-dict `:` type($values)";
}

def Tile_ConvertLayoutOp : Tile_Op<"convert_layout", [Pure, SameOperandsAndResultShape,
                                                      SameOperandsAndResultElementType]> {
  let summary = "move a tile's elements to another distributed layout";
  let description = [{
    Inserted by layout assignment where an operand's layout differs from what
    its user needs; lowered through shared memory.

    ```mlir
    %b = tile.convert_layout %a : tensor<64xf32, #l0> -> tensor<64xf32, #l1>
    ```
  }];
  let arguments = (ins Tile_Tensor:$src);
  let results = (outs Tile_Tensor:$result);
  let assemblyFormat = "$src attr-dict `:` type($src) `->` type($result)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

include "tessera/Dialect/Tile/IR/TileScheduleOps.td"

#endif
