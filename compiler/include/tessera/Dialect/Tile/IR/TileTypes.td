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
    places the buffers.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$shape, "::mlir::Type":$elementType,
                        DefaultValuedParameter<"unsigned", "1">:$buffers);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Bytes of one buffer.
    int64_t getBufferBytes() const;
    /// Bytes of one row of a panel: the swizzle's width (32, 64 or 128).
    int64_t getSwizzleBytes() const;
  }];
}

#endif
