//===- TileDialect.h - The tile dialect -------------------------*- C++ -*-===//
#ifndef TESSERA_DIALECT_TILE_IR_TILEDIALECT_H
#define TESSERA_DIALECT_TILE_IR_TILEDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/Support/Error.h"

#include "tessera/Dialect/Tile/IR/TileDialect.h.inc"
#include "tessera/Dialect/Tile/IR/TileEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "tessera/Dialect/Tile/IR/TileAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "tessera/Dialect/Tile/IR/TileTypes.h.inc"

#define GET_OP_CLASSES
#include "tessera/Dialect/Tile/IR/TileOps.h.inc"

namespace tessera::tile {

/// The dialect's attributes on other operations (declared and verified by
/// the dialect: TileBase.td's discardableAttrs). On a kernel's `func.func`:
inline constexpr llvm::StringLiteral kKernelAttr = "tile.kernel";
inline constexpr llvm::StringLiteral kNumWarpsAttr = "tile.num_warps";
inline constexpr llvm::StringLiteral kNumStagesAttr = "tile.num_stages";
/// `false`: the kernel's dots use mma.sync even where wgmma could run them
/// (sm_90a), a choice for the autotuner. Absent: wgmma wherever it fits.
inline constexpr llvm::StringLiteral kWarpgroupMmaAttr = "tile.warpgroup_mma";
/// Present: the kernel's pipelined copies may run on the Tensor Memory
/// Accelerator (sm_90a, tensors TMA can describe: tile-use-tma), a choice
/// for the autotuner.
inline constexpr llvm::StringLiteral kTmaAttr = "tile.tma";
/// Present (with kTmaAttr): a TMA loop's copies move to a producer
/// warpgroup of their own (tile-warp-specialize).
inline constexpr llvm::StringLiteral kWarpSpecializeAttr = "tile.warp_specialize";
/// Present (with kWarpSpecializeAttr, two consumer warpgroups): the
/// consumer warpgroups take turns issuing each loop's first product
/// (ping-pong, tile-warp-specialize's tile.turn_* ops).
inline constexpr llvm::StringLiteral kPingPongAttr = "tile.ping_pong";
/// The DSL's request (an i32 from 1 to 4; absent: 1) that a
/// warp-specialized kernel run that many CTAs per SM: tile-warp-specialize
/// records it on the tile.warp_specialize op it places (its ctas_per_sm,
/// the register budget the lowering splits).
inline constexpr llvm::StringLiteral kCtasPerSmAttr = "tile.ctas_per_sm";
/// CTAs per cluster along x (an i32 power of two up to 8; absent: 1): the
/// launch groups programs 2i, 2i + 1, ... into one cluster, whose TMA copies
/// of a tensor they all read the same blocks of (`tile.make_desc
/// {cluster_shared}`) each fetch a share and multicast it to all.
inline constexpr llvm::StringLiteral kClusterSizeAttr = "tile.cluster_size";
/// Present (with kTmaAttr): a block stored after the kernel's pipelined
/// loops goes out through a shared staging tile and TMA bulk stores
/// (tile-use-tma), where its tensor allows.
inline constexpr llvm::StringLiteral kTmaStoresAttr = "tile.tma_stores";
/// Shared tiles of dot operands start on this boundary (one period of the
/// 128-byte swizzle, which wgmma applies to absolute addresses).
inline constexpr int64_t kSharedTileAlignment = 1024;
/// The alignment of a row vector's buffers (!tile.shared of one row): a TMA
/// copy's destination.
inline constexpr int64_t kRowVectorAlignment = 128;
/// On an `arith.mulf` of a 2-D tile by a per-row factor expanded and
/// broadcast along its columns (dsl::rescale_rows): the factor is mostly
/// exactly 1, so each warp whose factors all are skips the multiply. A hint:
/// dropping it changes nothing but speed.
inline constexpr llvm::StringLiteral kSkipUnitFactorAttr = "tile.skip_unit_factor";
/// On a kernel's `func.func`, `tile.constant.NAME` (i64): the value of the
/// kernel's compile-time constant NAME (dsl::KernelBuilder::constant), read
/// back by tools and the launch grid.
inline constexpr llvm::StringLiteral kConstantAttrPrefix = "tile.constant.";
/// On a kernel's gpu.func, from convert-tile-to-gpu to
/// tessera-tensor-map-params: the indices of its tensor-map arguments.
inline constexpr llvm::StringLiteral kTensorMapsAttr = "tile.tensor_maps";

/// Warps per program of `func` (its `tile.num_warps`, default 4).
unsigned getNumWarps(mlir::Operation *func);
/// Shared buffers per tile a loop copies asynchronously (its
/// `tile.num_stages`, default 2: the next iteration's tile loads during this
/// one's dots; 1: no prefetching, half the shared memory).
unsigned getNumStages(mlir::Operation *func);

/// The one `tile.kernel` function of `module`; an error says how many there were.
llvm::Expected<mlir::func::FuncOp> getKernel(mlir::ModuleOp module);

} // namespace tessera::tile

#endif
