//===- TileTypes.td - Pointer and descriptor types --------*- tablegen -*-===//
#ifndef TESSERA_TILE_TYPES_TD
#define TESSERA_TILE_TYPES_TD

include "tessera/Dialect/Tile/IR/TileAttrs.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

class Tile_Type<string name, string typeMnemonic> : TypeDef<Tile_Dialect, name> {
  let mnemonic = typeMnemonic;
}

def Tile_PtrType : Tile_Type<"Ptr", "ptr"> {
  let summary = "pointer to global memory holding elements of `elementType`";
  let description = "`!tile.ptr<f16>`: a kernel argument or the result of `tile.addptr`.";
  let parameters = (ins "::mlir::Type":$elementType);
  let assemblyFormat = "`<` $elementType `>`";
}

def Tile_DescType : Tile_Type<"Desc", "desc"> {
  let summary = "tensor descriptor: a strided global tensor read and written in blocks";
  let description = [{
    `!tile.desc<64x128xf16>` names a global tensor of the same rank (its base
    pointer, sizes and strides are run-time values given to `tile.make_desc`) that
    is loaded and stored in blocks of 64x128 elements. Elements of a block that
    fall outside the tensor read as the padding value (`zero` unless `nan` is
    given: `!tile.desc<64x128xf16, nan>`) and are not written by stores.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$blockShape,
                        "::mlir::Type":$elementType,
                        DefaultValuedParameter<"Padding", "Padding::zero">:$padding);
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    unsigned getRank() const { return getBlockShape().size(); }
    /// The tensor type a block load yields (no layout yet).
    ::mlir::RankedTensorType getBlockType() const {
      return ::mlir::RankedTensorType::get(getBlockShape(), getElementType());
    }
  }];
}

def Tile_SharedType : Tile_Type<"Shared", "shared"> {
  let summary = "a tile's buffers in shared memory (the schedule level)";
  let description = [{
    `!tile.shared<64x128xbf16, 2>` is `buffers` tiles of 64x128 bf16 elements
    in the kernel's dynamic shared memory, one per pipeline stage; buffer
    `slot` holds the tile of iterations slot, slot + buffers, ... of the
    loop that fills it. Each tile has the canonical swizzled layout of
    wgmma's matrix descriptors (`swizzleBytes`): column panels of up to 128
    bytes, each row-major, the 16-byte chunks of a panel row XOR-ed with
    the row (CUTLASS's `Swizzle<3|2|1, 4, 3>`), so that ldmatrix, 16-byte
    stores and cp.async are free of bank conflicts. `tile.shared_alloc`
    places the buffers. A tile of one row (`!tile.shared<1x64xf32, 4>`) is a
    row vector: one panel, unswizzled, whatever its width.

    `!tile.shared<64x128xf32, 1, swizzle = 32>` narrows the panels to 32
    (or 64) bytes: the staging tile of a TMA add whose f32 accumulator pairs
    would meet in the same banks of a 128-byte panel (tile-use-tma). The
    default, the widest the row allows, is left out.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$shape, "::mlir::Type":$elementType,
                        DefaultValuedParameter<"unsigned", "1">:$buffers,
                        DefaultValuedParameter<"int64_t", "0">:$swizzle);
  let builders = [
    TypeBuilder<(ins "::llvm::ArrayRef<int64_t>":$shape, "::mlir::Type":$elementType,
                     CArg<"unsigned", "1">:$buffers), [{
      return $_get($_ctxt, shape, elementType, buffers, 0);
    }]>
  ];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Bytes of one buffer.
    int64_t getBufferBytes() const;
    /// Whether the tile is one row: a row vector, copied and kept unswizzled.
    bool isRowVector() const { return getShape()[0] == 1; }
    /// Bytes of one row of a panel: the swizzle's width (32, 64 or 128);
    /// `swizzle` where given, else the widest the row allows.
    int64_t getSwizzleBytes() const;
    /// The swizzle a tile of `shape` and `elementType` has by default.
    static int64_t defaultSwizzleBytes(::llvm::ArrayRef<int64_t> shape, ::mlir::Type elementType);
  }];
}

def Tile_TensorMapType : Tile_Type<"TensorMap", "tensormap"> {
  let summary = "a TMA tensor map of a kernel tensor, copied in 2-D boxes";
  let description = [{
    `!tile.tensormap<128x64xbf16, 0>` describes a 2-D tensor of the kernel for
    the Tensor Memory Accelerator: boxes of 128 rows x 64 elements land in a
    shared tile's column panel with the swizzle of the box's width (128
    bytes here, the panel of `!tile.shared`). It is a kernel parameter that
    the launch encodes (`cuTensorMapEncodeTiled`, from the tensor's pointer,
    sizes and strides) and passes as a 128-byte `__grid_constant__`;
    `tensor` (0 here) is the index of the tensor's pointer parameter.
    Elements outside the tensor land as zeros.

    `!tile.tensormap<64x64xbf16, 9, rank = 4>` maps the whole of a rank-4
    tensor (up to 5) whose blocks are 2-D: the box is one element deep along
    the leading dimensions, so a copy at (b, h, row, column) brings the
    block of the (b, h) matrix, zeros past its rows and columns, as a
    `tile.make_desc ... at [b, h]` view of the tensor reads it.

    `!tile.tensormap<1x64xf32, 4, rank = 3>` copies row vectors: a box of
    one row is unswizzled and may be up to 256 elements (whole 16-byte
    chunks) wide; a copy at (b, h, column) brings 64 elements of the (b, h)
    row, as a 1-D block of `tile.make_desc ... at [b, h]` reads them.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$box, "::mlir::Type":$elementType,
                        "unsigned":$tensor, DefaultValuedParameter<"unsigned", "2">:$rank);
  let builders = [
    TypeBuilder<(ins "::llvm::ArrayRef<int64_t>":$box, "::mlir::Type":$elementType,
                     "unsigned":$tensor), [{
      return $_get($_ctxt, box, elementType, tensor, 2);
    }]>
  ];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Bytes of one box row: the swizzle's width (32, 64 or 128).
    int64_t getSwizzleBytes() const;
    /// Bytes one copy of a box brings.
    int64_t getBoxBytes() const;
  }];
}

def Tile_MBarriersType : Tile_Type<"MBarriers", "mbarriers"> {
  let summary = "shared-memory mbarriers, one per buffer of a pipelined tile";
  let description = [{
    `!tile.mbarriers<4>`: four 8-byte mbarrier objects in the kernel's
    dynamic shared memory (`tile.mbarrier_alloc`). Barrier `slot` completes
    a phase when the TMA copies into buffer `slot` of its tile have landed.
  }];
  let parameters = (ins "unsigned":$count);
  let assemblyFormat = "`<` $count `>`";
  let genVerifyDecl = 1;
}

#endif
