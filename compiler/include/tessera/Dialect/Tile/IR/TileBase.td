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
  // Every `tile.`-prefixed attribute an operation may carry outside the
  // dialect's own ops, verified by TileDialect::verifyOperationAttribute;
  // any other `tile.` name is an error. On a kernel's func.func: `kernel`,
  // `constant.NAME` (i64, one per compile-time constant: not listed below),
  // `num_warps` (1 to 32, a power of two), `num_stages` (1 to 4),
  // `warpgroup_mma` (false: mma.sync only), `tma`, `warp_specialize`, `ping_pong`,
  // `cluster_size` (CTAs per cluster, a power of two up to 8), `tma_stores`,
  // `ctas_per_sm` (1 to 4: a warp-specialized kernel's launch bound). On an
  // arith.mulf: `skip_unit_factor` (dsl::rescale_rows). Set by the lowering
  // and consumed by tessera-tensor-map-params: `tensor_maps` (a gpu.func's
  // tensor-map argument indices).
  let discardableAttrs = (ins
    "::mlir::UnitAttr":$kernel,
    "::mlir::IntegerAttr":$num_warps,
    "::mlir::IntegerAttr":$num_stages,
    "::mlir::BoolAttr":$warpgroup_mma,
    "::mlir::UnitAttr":$tma,
    "::mlir::UnitAttr":$warp_specialize,
    "::mlir::UnitAttr":$ping_pong,
    "::mlir::IntegerAttr":$cluster_size,
    "::mlir::IntegerAttr":$ctas_per_sm,
    "::mlir::UnitAttr":$tma_stores,
    "::mlir::UnitAttr":$skip_unit_factor,
    "::mlir::DenseI64ArrayAttr":$tensor_maps
  );
  let hasOperationAttrVerify = 1;
}

class Tile_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tile_Dialect, mnemonic, traits>;

#endif
