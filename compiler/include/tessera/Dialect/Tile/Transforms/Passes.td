//===- Passes.td - Passes over the tile dialect ------------*- tablegen -*-===//
#ifndef TESSERA_TILE_PASSES_TD
#define TESSERA_TILE_PASSES_TD

include "mlir/Pass/PassBase.td"

def TileAssignLayouts : Pass<"tile-assign-layouts", "mlir::func::FuncOp"> {
  let summary = "give every tile a distributed layout";
  let description = [{
    Walks a kernel in program order and encodes a layout into every tensor type:
    loads, constants and iotas take the default blocked layout for their shape and
    the kernel's `tile.num_warps`; a reduction's result is a slice of its operand's
    layout, and `expand_dims` of such a slice returns to the parent, so the
    softmax pattern `x - broadcast(expand_dims(reduce(x)))` moves no data;
    elementwise ops take the layout of their operand that is dearest to move
    (tensor-core results, then blocked tiles, then slices; splats and iotas
    never decide). A `tile.dot` of f16/bf16 tiles with whole m16n8k16 blocks
    gets the `#tile.mma` accumulator layout and `#tile.dot_op` operands; on
    sm_90a, where warpgroup MMA runs it (the kernel does not keep to mma.sync)
    and warpgroups split its columns, each takes one contiguous share of them
    (`columnBlock`), so that a B tile stored N-major serves each through one
    descriptor. Loop-carried tiles take the layout their loop yields (the walk is repeated
    with carried layouts pinned until they agree). Wherever an operand's layout
    is not the one its user needs, a `tile.convert_layout` is inserted.
  }];
  let dependentDialects = ["::tessera::tile::TileDialect"];
  let options = [
    Option<"arch", "arch", "std::string", /*default=*/"\"sm_80\"",
           "GPU architecture: sm_90a lays out warpgroup MMA's column shares">
  ];
}

def TileRemoveLayoutConversions : Pass<"tile-remove-layout-conversions", "mlir::func::FuncOp"> {
  let summary = "remove the layout conversions that are not needed";
  let description = [{
    Folds conversions to the same layout, chains of conversions, and conversions
    of splats and splat constants (which are rebuilt in the wanted layout rather
    than moved through shared memory). Values that cost nothing to recompute
    (iotas and the broadcasts, expand_dims and elementwise ops over them) are
    recomputed in the layout their user needs, as are loads, transposes and
    elementwise ops whose only user is the conversion; then dead ops are dropped.
    Conversions of row vectors made outside a loop move in front of it.
  }];
  let options = [
    Option<"hoistRowConversions", "hoist-row-conversions", "bool", /*default=*/"true",
           "move conversions of row vectors made outside a loop in front of it "
           "(false: leave them in the loop, as before 2026-12-07: "
           "TESSERA_ROW_CONVERSIONS_IN_LOOPS=1)">,
  ];
  let dependentDialects = ["::tessera::tile::TileDialect"];
}

#endif
