//===- PTX.h - Serializing a gpu.module to PTX ------------------*- C++ -*-===//
#ifndef TESSERA_TARGET_PTX_H
#define TESSERA_TARGET_PTX_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <string>

namespace tessera {

/// PTX text of a gpu.module in the LLVM dialect with an NVVM target attached,
/// through MLIR's NVVM target and LLVM's NVPTX back end, in process.
/// Failures are reported as diagnostics on the module. Without
/// `strengthReduction` the back end skips its straight-line strength
/// reduction (CompileOptions::strengthReduction).
mlir::FailureOr<std::string> serializeToPTX(mlir::gpu::GPUModuleOp module,
                                            bool strengthReduction = false);

/// Whether shared-memory pointers are 32-bit in this process (LLVM's
/// `nvptx-short-ptr`), with cp.async through upstream's typed op: an
/// experiment, $TESSERA_NVPTX_SHORT_PTR=1, read once (docs/COMPILER.md §4:
/// it measured slower, across calls; the kernel cache keys on it).
bool shortSharedPointers();

/// Whether wgmma groups whose operands are both staged go through upstream's
/// typed ops (nvvm.wgmma.fence/mma_async, one per k-step), as by default,
/// rather than one inline PTX statement in this process:
/// $TESSERA_INLINE_WGMMA=1, read once, asks for the statement, to compare
/// the two (docs/COMPILER.md §4; the kernel cache keys on it).
bool typedWarpgroupMma();

/// Whether a wgmma's wait stops at every mbarrier wait in this process, as
/// before 2026-12-06 ($TESSERA_WAITS_AT_MBARRIERS=1, read once: an A/B of
/// tessera-defer-wgmma-waits' past-mbarrier-waits; the kernel cache keys on
/// it).
bool waitsAtMBarriers();

/// Whether a wgmma's wait stops at every barrier and shared store in this
/// process, as before 2026-12-07 ($TESSERA_WAITS_AT_BARRIERS=1, read once: an
/// A/B of tessera-defer-wgmma-waits' past-barriers; the kernel cache keys on
/// it).
bool waitsAtBarriers();

/// Whether wgmma waits that sink to the same point stay apart in this
/// process, as before 2026-12-07 ($TESSERA_STACKED_WAITS=1, read once: an A/B
/// of tessera-defer-wgmma-waits' merge-stacked; the kernel cache keys on it).
bool stackedWaits();

/// Whether every store of a staged tile gets a barrier before it in this
/// process, as before 2026-12-07 ($TESSERA_BARRIER_PER_STAGING=1, read once:
/// an A/B of tile-publish-stagings' barriers-after-refills; the kernel cache
/// keys on it).
bool barrierPerStaging();

/// Whether stores of staged tiles keep the barriers that their readers'
/// later barriers make redundant, and TMA adds' staging guards theirs, in
/// this process, as before 2026-12-07 ($TESSERA_KEEP_STAGING_BARRIERS=1,
/// read once: an A/B of tile-publish-stagings' barriers-after-uses; the
/// kernel cache keys on it).
bool keepStagingBarriers();

/// Whether conversions of row vectors made outside a loop stay in it in this
/// process, as before 2026-12-07 ($TESSERA_ROW_CONVERSIONS_IN_LOOPS=1, read
/// once: an A/B of tile-remove-layout-conversions' hoist-row-conversions; the
/// kernel cache keys on it).
bool rowConversionsInLoops();

/// Whether a TMA loop's row vectors (the attention backward's L and D) come
/// by TMA with its tiles in this process ($TESSERA_STAGE_ROW_VECTORS=1, read
/// once: tile-use-tma's stage-row-vectors; the kernel cache keys on it). Off
/// by default: the split backward's dK/dV program ran 3-6% slower with it on
/// the H100 (docs/PERFORMANCE.md "L and D by TMA"); they stay global loads.
bool stageRowVectors();

/// Whether sm_90 stagings of 16-bit mma accumulators (dSᵀ, O, dK, dV, C)
/// go by stmatrix in this process ($TESSERA_STMATRIX=1, read once:
/// convert-tile-to-gpu's stmatrix-stagings; the kernel cache keys on it).
/// Off until a GPU run has tested it (built 2026-12-08, when no GPU was
/// lent): docs/PERFORMANCE.md "Known limits".
bool stmatrixStagings();

/// Whether a TMA add's mma accumulator is staged in 32-byte panels in this
/// process ($TESSERA_NARROW_ADD_PANELS=1, read once: tile-use-tma's
/// narrow-add-panels; the kernel cache keys on it). Off until a GPU run has
/// tested it, as stmatrixStagings.
bool narrowAddPanels();

/// Whether stores of rows that take no 16-byte vectors (attention's O at
/// head dims 59 and 111, matmul's C of an odd width, softmax over rows of
/// 4095, in 16 or 32 bits) go through shared memory and out in
/// aligned 16-byte vectors in this process ($TESSERA_SHIFTED_STORES=1, read
/// once: tile-use-tma's and tile-allocate-shared-memory's shifted-stores; the
/// kernel cache keys on it). Off until a GPU run has tested it (built
/// 2026-12-08, when no GPU was lent), as stmatrixStagings.
bool shiftedStores();

/// Whether TMA loops in sequence that a producer warpgroup fills share one
/// ring (tile-warp-specialize's shared-rings), as by default:
/// $TESSERA_SEPARATE_RINGS=1, read once, gives each loop its own, to
/// compare the two (the kernel cache keys on it).
bool sharedTmaRings();

/// The switches above that this process's environment sets, as the kernel
/// cache keys on them: ";inline-wgmma;stmatrix", say; empty by default.
std::string compileSwitchesKey();

} // namespace tessera

#endif
