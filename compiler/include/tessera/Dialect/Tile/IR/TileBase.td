//===- TileBase.td - The tile dialect ---------------------*- tablegen -*-===//
#ifndef TESSERA_TILE_BASE_TD
#define TESSERA_TILE_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Tile_Dialect : Dialect {
  let name = "tile";
  let cppNamespace = "::tessera::tile";
  let summary = "Tessera's tile-level kernel language";
  let description = [{
    A `tile` program describes what one program instance (a CUDA thread block)
    computes, over whole tiles: values are `tensor<...>` of static shape,
    loaded from and stored to global memory through tensor descriptors. After
    layout assignment every tensor carries a distributed layout encoding
    (`#tile.blocked`, `#tile.slice`) saying which thread holds which element.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::func::FuncDialect"];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
}

class Tile_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tile_Dialect, mnemonic, traits>;

#endif
