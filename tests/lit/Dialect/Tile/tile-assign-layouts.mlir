// RUN: tessera-opt %s -split-input-file --tile-assign-layouts | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-assign-layouts="arch=sm_90a" | FileCheck %s --check-prefix=SM90

// CHECK-LABEL: @load_gets_default_blocked_layout
// CHECK: tile.load {{.*}} -> tensor<64x64xf32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>>
// CHECK: arith.addf {{.*}} : tensor<64x64xf32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>>
func.func @load_gets_default_blocked_layout(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %t = tile.load %d[%n, %n] : !tile.desc<64x64xf32> -> tensor<64x64xf32>
  %s = arith.addf %t, %t : tensor<64x64xf32>
  tile.store %d[%n, %n], %s : !tile.desc<64x64xf32>, tensor<64x64xf32>
  return
}

// -----

// The num_warps of the kernel shapes the layout.
// CHECK-LABEL: @eight_warps
// CHECK: tensor<1024xf32, #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [8], order = [0]>>
func.func @eight_warps(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %d = tile.make_desc %p, [%n], [%n] : !tile.ptr<f32> -> !tile.desc<1024xf32>
  %t = tile.load %d[%n] : !tile.desc<1024xf32> -> tensor<1024xf32>
  tile.store %d[%n], %t : !tile.desc<1024xf32>, tensor<1024xf32>
  return
}

// -----

// Softmax: the reduction gives a slice, expand_dims returns to the parent and
// the broadcast keeps it, so no conversion is needed.
// CHECK-LABEL: @softmax_row_pattern_needs_no_conversion
// CHECK: %[[M:.*]] = tile.reduce max {{.*}} -> tensor<4xf32, #tile.slice<dim = 1, parent = #[[L:.*]]>>
// CHECK: tile.expand_dims %[[M]], 1 : tensor<4xf32, #tile.slice<dim = 1, parent = #[[L]]>> -> tensor<4x1xf32, #[[L]]>
// CHECK-NOT: tile.convert_layout {{.*}} : tensor<64xf32
func.func @softmax_row_pattern_needs_no_conversion(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel} {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<4x256xf32>
  %t = tile.load %d[%n, %n] : !tile.desc<4x256xf32> -> tensor<4x256xf32>
  %m = tile.reduce max %t, 1 : tensor<4x256xf32> -> tensor<4xf32>
  %e = tile.expand_dims %m, 1 : tensor<4xf32> -> tensor<4x1xf32>
  %b = tile.broadcast %e : tensor<4x1xf32> -> tensor<4x256xf32>
  %s = arith.subf %t, %b : tensor<4x256xf32>
  tile.store %d[%n, %n], %s : !tile.desc<4x256xf32>, tensor<4x256xf32>
  return
}

// -----

// An iota expanded along a new axis needs a slice of the 2-D layout.
// CHECK-LABEL: @iota_expand_converts_to_slice
// CHECK: %[[I:.*]] = tile.iota : tensor<128xi32, #tile.blocked<sizePerThread = [4]
// CHECK: %[[C:.*]] = tile.convert_layout %[[I]] : {{.*}} -> tensor<128xi32, #tile.slice<dim = 0, parent = #tile.blocked<sizePerThread = [1, 4]
// CHECK: tile.expand_dims %[[C]], 0
func.func @iota_expand_converts_to_slice(%p: !tile.ptr<i32>, %n: i32) attributes {tile.kernel} {
  %i = tile.iota : tensor<128xi32>
  %e = tile.expand_dims %i, 0 : tensor<128xi32> -> tensor<1x128xi32>
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<i32> -> !tile.desc<1x128xi32>
  tile.store %d[%n, %n], %e : !tile.desc<1x128xi32>, tensor<1x128xi32>
  return
}

// -----

// Loop-carried tiles keep the layout of their initial value through the loop.
// CHECK-LABEL: @loop_carried_accumulator
// CHECK: scf.for {{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<64x64xf32, #[[L:.*]]>)
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #[[L]]>
// CHECK: scf.yield {{.*}} : tensor<64x64xf32, #[[L]]>
func.func @loop_carried_accumulator(%p: !tile.ptr<f16>, %n: i32) attributes {tile.kernel} {
  %zero = arith.constant dense<0.0> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f16> -> !tile.desc<64x32xf16>
  %e = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f16> -> !tile.desc<32x64xf16>
  %r = scf.for %k = %c0 to %n step %c32 iter_args(%acc = %zero) -> (tensor<64x64xf32>) : i32 {
    %a = tile.load %d[%n, %k] : !tile.desc<64x32xf16> -> tensor<64x32xf16>
    %b = tile.load %e[%k, %n] : !tile.desc<32x64xf16> -> tensor<32x64xf16>
    %c = tile.dot %a, %b, %acc : tensor<64x32xf16>, tensor<32x64xf16> -> tensor<64x64xf32>
    scf.yield %c : tensor<64x64xf32>
  }
  %o = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f16> -> !tile.desc<64x64xf16>
  %h = arith.truncf %r : tensor<64x64xf32> to tensor<64x64xf16>
  tile.store %o[%n, %n], %h : !tile.desc<64x64xf16>, tensor<64x64xf16>
  return
}

// -----

// A bf16 dot runs on tensor cores: mma accumulator, dot_op operands, warps
// stacked along M (64 rows / 16 = 4 warps).
// CHECK-LABEL: @tensor_core_dot
// CHECK: tile.convert_layout {{.*}} -> tensor<64x32xbf16, #tile.dot_op<opIdx = 0, parent = #tile.mma<warpsPerCTA = [4, 1]>, kWidth = 2>>
// CHECK: tile.convert_layout {{.*}} -> tensor<32x64xbf16, #tile.dot_op<opIdx = 1, parent = #tile.mma<warpsPerCTA = [4, 1]>, kWidth = 2>>
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #tile.mma<warpsPerCTA = [4, 1]>>
func.func @tensor_core_dot(%p: !tile.ptr<bf16>, %q: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %da = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x32xbf16>
  %db = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<32x64xbf16>
  %dc = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %a = tile.load %da[%n, %n] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16>
  %b = tile.load %db[%n, %n] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16>
  %z = arith.constant dense<0.0> : tensor<64x64xf32>
  %c = tile.dot %a, %b, %z : tensor<64x32xbf16>, tensor<32x64xbf16> -> tensor<64x64xf32>
  tile.store %dc[%n, %n], %c : !tile.desc<64x64xf32>, tensor<64x64xf32>
  return
}

// -----

// A row max carried through a loop takes the layout the loop yields (a slice
// of the mma layout), not its init's: no conversion inside the loop.
// CHECK-LABEL: @carried_row_max
// CHECK: scf.for {{.*}} -> (tensor<64xf32, #tile.slice<dim = 1, parent = #tile.mma<warpsPerCTA = [4, 1]>>>)
// CHECK-NOT: tile.convert_layout {{.*}} : tensor<64xf32
// CHECK: scf.yield
func.func @carried_row_max(%p: !tile.ptr<bf16>, %q: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %da = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x32xbf16>
  %db = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<32x64xbf16>
  %dm = tile.make_desc %q, [%n], [%n] : !tile.ptr<f32> -> !tile.desc<64xf32>
  %a = tile.load %da[%n, %n] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16>
  %init = arith.constant dense<0xFF800000> : tensor<64xf32>
  %z = arith.constant dense<0.0> : tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%m = %init) -> (tensor<64xf32>) : i32 {
    %b = tile.load %db[%i, %n] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16>
    %s = tile.dot %a, %b, %z : tensor<64x32xbf16>, tensor<32x64xbf16> -> tensor<64x64xf32>
    %rm = tile.reduce max %s, 1 : tensor<64x64xf32> -> tensor<64xf32>
    %mn = arith.maximumf %m, %rm : tensor<64xf32>
    scf.yield %mn : tensor<64xf32>
  }
  tile.store %dm[%n], %r : !tile.desc<64xf32>, tensor<64xf32>
  return
}

// -----

// f32 dots run on tensor cores only when they allow TF32; the accurate one
// stays on CUDA cores in blocked layouts.
// CHECK-LABEL: @tf32_dot
// CHECK: tile.dot {{.*}} {tf32} : tensor<64x32xf32, #tile.dot_op<opIdx = 0, parent = #tile.mma<warpsPerCTA = [4, 1]>, kWidth = 2>>, tensor<32x64xf32, #tile.dot_op<opIdx = 1, parent = #tile.mma<warpsPerCTA = [4, 1]>, kWidth = 2>> -> tensor<64x64xf32, #tile.mma<warpsPerCTA = [4, 1]>>
// CHECK: tile.dot {{.*}} -> tensor<64x64xf32, #tile.blocked
func.func @tf32_dot(%q: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %da = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x32xf32>
  %db = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<32x64xf32>
  %dc = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %a = tile.load %da[%n, %n] : !tile.desc<64x32xf32> -> tensor<64x32xf32>
  %b = tile.load %db[%n, %n] : !tile.desc<32x64xf32> -> tensor<32x64xf32>
  %z = arith.constant dense<0.0> : tensor<64x64xf32>
  %c = tile.dot %a, %b, %z {tf32} : tensor<64x32xf32>, tensor<32x64xf32> -> tensor<64x64xf32>
  %e = tile.dot %a, %b, %c : tensor<64x32xf32>, tensor<32x64xf32> -> tensor<64x64xf32>
  tile.store %dc[%n, %n], %e : !tile.desc<64x64xf32>, tensor<64x64xf32>
  return
}

// -----

// A gather reads as a load does; its row indices arrive sliced from that
// layout, each thread holding the indices of the rows it reads.
// CHECK-LABEL: @gather_takes_row_indices_sliced_from_its_layout
// CHECK: tile.iota : tensor<64xi32, #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>>
// CHECK: tile.convert_layout {{.*}} -> tensor<64xi32, #tile.slice<dim = 1, parent = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>>>
// CHECK: tile.gather {{.*}} -> tensor<64x64xf32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>>
func.func @gather_takes_row_indices_sliced_from_its_layout(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %rows = tile.iota : tensor<64xi32>
  %t = tile.gather %d[%rows, %n] : !tile.desc<64x64xf32>, tensor<64xi32> -> tensor<64x64xf32>
  tile.store %d[%n, %n], %t : !tile.desc<64x64xf32>, tensor<64x64xf32>
  return
}

// -----

// Q·Kᵀ at head dim 512 on 8 warps: the default layout would give each warp
// one n8 block, so the warps stack along M only and split K (the other 4
// warps hold copies: tile::getDotMmaLayout).
// CHECK-LABEL: @deep_narrow_dot_splits_k
// CHECK: tile.dot {{.*}} -> tensor<64x16xf32, #tile.mma<warpsPerCTA = [4, 1]>>
func.func @deep_narrow_dot_splits_k(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %dq = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x512xf32>
  %dk = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<512x16xf32>
  %do = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x16xf32>
  %q = tile.load %dq[%n, %n] : !tile.desc<64x512xf32> -> tensor<64x512xf32>
  %k = tile.load %dk[%n, %n] : !tile.desc<512x16xf32> -> tensor<512x16xf32>
  %z = arith.constant dense<0.0> : tensor<64x16xf32>
  %s = tile.dot %q, %k, %z {tf32} : tensor<64x512xf32>, tensor<512x16xf32> -> tensor<64x16xf32>
  tile.store %do[%n, %n], %s : !tile.desc<64x16xf32>, tensor<64x16xf32>
  return
}

// -----

// A [1, 1] index broadcast along a row: its own layout spreads the warps
// along the size-1 dimension, where every thread would hold the whole row
// (256 elements instead of 4); the small operand moves to the result's
// layout instead.
// CHECK-LABEL: @broadcast_moves_a_small_operand_that_would_replicate
// CHECK: tile.convert_layout {{.*}} : tensor<1x1xi32, {{.*}}> -> tensor<1x1xi32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [4, 2], order = [1, 0]>>
// CHECK: tile.broadcast {{.*}} -> tensor<1x256xi32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [4, 2], order = [1, 0]>>
func.func @broadcast_moves_a_small_operand_that_would_replicate(%p: !tile.ptr<i32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %i = tile.iota : tensor<1xi32>
  %e = tile.expand_dims %i, 1 : tensor<1xi32> -> tensor<1x1xi32>
  %b = tile.broadcast %e : tensor<1x1xi32> -> tensor<1x256xi32>
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<i32> -> !tile.desc<1x256xi32>
  tile.store %d[%n, %n], %b : !tile.desc<1x256xi32>, tensor<1x256xi32>
  return
}

// -----

// A reduction with a combine region takes the slice of its operand's layout,
// as tile.reduce does; a scan keeps its operand's. The region's scalar ops
// get no layouts.
// CHECK-LABEL: @combine_regions
// CHECK: %[[L:.*]] = tile.load {{.*}} -> tensor<4x256xf32, #[[B:.*]]>
// CHECK: tile.reduce_combine %[[L]] along 1 : tensor<4x256xf32, #[[B]]> -> tensor<4xf32, #tile.slice<dim = 1, parent = #[[B]]>>
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: tile.scan %[[L]] along 1 : tensor<4x256xf32, #[[B]]> -> tensor<4x256xf32, #[[B]]>
func.func @combine_regions(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<4x256xf32>
  %t = tile.load %d[%n, %n] : !tile.desc<4x256xf32> -> tensor<4x256xf32>
  %m = tile.reduce_combine %t along 1 : tensor<4x256xf32> -> tensor<4xf32> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.mulf %a, %b : f32
    tile.yield %c : f32
  }
  %s = tile.scan %t along 1 : tensor<4x256xf32> -> tensor<4x256xf32> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.addf %a, %b : f32
    tile.yield %c : f32
  }
  return
}

// -----

// Scores carried into the next iteration (attention's PIPELINE_QK) keep the
// dot's layout through what uses them: the loaded tile moves to the mma
// layout, not the scores to the load's.
// CHECK-LABEL: @carried_scores_keep_mma
// CHECK: scf.for
// CHECK-NOT: tile.convert_layout %{{.*}} : tensor<64x64xf32, #tile.mma
// CHECK: arith.addf %{{.*}}, %{{.*}} : tensor<64x64xf32, #tile.mma<warpsPerCTA = [4, 1]>>
// CHECK: scf.yield
func.func @carried_scores_keep_mma(%p: !tile.ptr<bf16>, %q: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %da = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x32xbf16>
  %db = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<32x64xbf16>
  %dx = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %a = tile.load %da[%n, %n] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16>
  %b0 = tile.load %db[%n, %n] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16>
  %z = arith.constant dense<0.0> : tensor<64x64xf32>
  %s0 = tile.dot %a, %b0, %z : tensor<64x32xbf16>, tensor<32x64xbf16> -> tensor<64x64xf32>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%s = %s0) -> (tensor<64x64xf32>) : i32 {
    %x = tile.load %dx[%i, %n] : !tile.desc<64x64xf32> -> tensor<64x64xf32>
    %y = arith.addf %s, %x : tensor<64x64xf32>
    tile.store %dx[%i, %n], %y : !tile.desc<64x64xf32>, tensor<64x64xf32>
    %b = tile.load %db[%i, %n] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16>
    %sn = tile.dot %a, %b, %z : tensor<64x32xbf16>, tensor<32x64xbf16> -> tensor<64x64xf32>
    scf.yield %sn : tensor<64x64xf32>
  }
  tile.store %dx[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32>
  return
}

// -----

// Two warpgroups on a 64-row dot split its 256 columns. On sm_80 (and in a
// kernel that keeps to mma.sync) their n8 blocks interleave; on sm_90a each
// warpgroup takes 128 contiguous columns, one wgmma's N.
// CHECK-LABEL: @warpgroups_split_columns
// CHECK: tile.dot {{.*}} -> tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2]>>
// CHECK-LABEL: @kept_to_mma_sync
// CHECK: tile.dot {{.*}} -> tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2]>>
// SM90-LABEL: @warpgroups_split_columns
// SM90: tile.convert_layout {{.*}} -> tensor<64x256xbf16, #tile.dot_op<opIdx = 1, parent = #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>, kWidth = 2>>
// SM90: tile.dot {{.*}} -> tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>>
// SM90-LABEL: @kept_to_mma_sync
// SM90: tile.dot {{.*}} -> tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2]>>
func.func @warpgroups_split_columns(%p: !tile.ptr<bf16>, %q: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %da = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  %db = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x256xbf16>
  %dc = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x256xf32>
  %a = tile.load %da[%n, %n] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16>
  %b = tile.load %db[%n, %n] : !tile.desc<64x256xbf16> -> tensor<64x256xbf16>
  %z = arith.constant dense<0.0> : tensor<64x256xf32>
  %c = tile.dot %a, %b, %z : tensor<64x64xbf16>, tensor<64x256xbf16> -> tensor<64x256xf32>
  tile.store %dc[%n, %n], %c : !tile.desc<64x256xf32>, tensor<64x256xf32>
  return
}
func.func @kept_to_mma_sync(%p: !tile.ptr<bf16>, %q: !tile.ptr<f32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32, tile.warpgroup_mma = false} {
  %da = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  %db = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<bf16> -> !tile.desc<64x256xbf16>
  %dc = tile.make_desc %q, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<64x256xf32>
  %a = tile.load %da[%n, %n] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16>
  %b = tile.load %db[%n, %n] : !tile.desc<64x256xbf16> -> tensor<64x256xbf16>
  %z = arith.constant dense<0.0> : tensor<64x256xf32>
  %c = tile.dot %a, %b, %z : tensor<64x64xbf16>, tensor<64x256xbf16> -> tensor<64x256xf32>
  tile.store %dc[%n, %n], %c : !tile.desc<64x256xf32>, tensor<64x256xf32>
  return
}
