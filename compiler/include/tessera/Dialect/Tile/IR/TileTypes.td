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

#endif
