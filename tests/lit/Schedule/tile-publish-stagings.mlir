// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory --tile-pipeline-copies --tile-publish-stagings | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" | FileCheck %s --check-prefix=SM90

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bl2 = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A copied before the loop is waited for there (tile-allocate-shared-memory)
// and ready in it. B, computed in registers on every trip, is stored into
// its tile between a barrier (the previous trip's dot has read it) and the
// barrier that publishes it; on sm_90a the async-proxy fence comes first,
// since wgmma reads the tile. Nothing is copied in the loop: no wait.
// CHECK-LABEL: func.func @stored_operand
// CHECK: scf.for
// CHECK: %[[H:.*]] = arith.truncf
// CHECK-NEXT: %[[B:.*]] = tile.convert_layout %[[H]]
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[H]] at 4096 : tensor<32x32xbf16, #tile.blocked
// CHECK-NOT: tile.async_wait
// CHECK-NOT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.dot %{{.*}}, %[[B]]
// SM90-LABEL: func.func @stored_operand
// SM90: scf.for
// SM90: gpu.barrier
// SM90-NEXT: tile.store_staging
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.dot
func.func @stored_operand(%d: !tile.desc<64x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                          %p: tensor<32x32xf32, #bl2>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %v = tile.load %d[%c0, %c0] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16, #bl>
  %a = tile.convert_layout %v : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %h = arith.truncf %p : tensor<32x32xf32, #bl2> to tensor<32x32xbf16, #bl2>
    %b = tile.convert_layout %h : tensor<32x32xbf16, #bl2> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A tile two dots read (Q in attention's backward): the first waits for the
// copy of this iteration, leaving the one of the next (issued after it, two
// stages) in flight, and publishes it; the second finds it ready: nothing
// between the dots.
// CHECK-LABEL: func.func @one_tile_two_dots
// CHECK: scf.for
// CHECK: tile.async_wait 1
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: %[[S:.*]] = tile.dot
// CHECK-NEXT: %[[QB:.*]] = tile.convert_layout
// CHECK-NEXT: tile.dot %{{.*}}, %[[QB]]
// SM90-LABEL: func.func @one_tile_two_dots
// SM90: tile.async_wait 1
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.dot
// SM90-NOT: gpu.barrier
// SM90: tile.dot
func.func @one_tile_two_dots(%dq: !tile.desc<64x64xbf16>, %o: !tile.desc<64x64xf32>, %n: i32,
                             %k: tensor<64x64xbf16, #opa>, %p: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %q = tile.load %dq[%i, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
    %qt = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %s = tile.dot %k, %qt, %z : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    %qb = tile.convert_layout %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %c = tile.dot %p, %qb, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    %d = arith.addf %c, %s : tensor<64x64xf32, #mma>
    scf.yield %d : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A copied f32 tile a tf32 wgmma reads is rounded in place after the wait
// and before the fence (wgmma would truncate it), on sm_90a only: mma.sync
// rounds in registers.
// CHECK-LABEL: func.func @tf32_copied
// CHECK: tile.async_wait 0
// CHECK-NOT: tile.round_shared_to_tf32
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.dot
// SM90-LABEL: func.func @tf32_copied
// SM90: %[[BUF:.*]] = tile.shared_alloc
// SM90: tile.async_wait 0
// SM90-NEXT: tile.round_shared_to_tf32 %[[BUF]][%{{.*}}] : !tile.shared<32x64xf32> as tensor<32x64xf32, #tile.blocked
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.dot
func.func @tf32_copied(%dk: !tile.desc<32x64xf32>, %o: !tile.desc<64x32xf32>, %n: i32,
                       %q: tensor<64x64xf32, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %k = tile.load %dk[%n, %n] : !tile.desc<32x64xf32> -> tensor<32x64xf32, #bl>
  %kt = tile.trans %k : tensor<32x64xf32, #bl> -> tensor<64x32xf32, #opb>
  %s = tile.dot %q, %kt, %z {tf32} : tensor<64x64xf32, #opa>, tensor<64x32xf32, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %s : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// publishNext = at_start (attention's dK/dV loop): the first dot waits for
// its own copied tile and the second dot's (both copied a trip earlier; the
// two copies this trip issued for the next stay in flight) and publishes
// both with one barrier; the second dot, reading copied tiles only, gets
// nothing.
// SM90-LABEL: func.func @two_dots_one_barrier
// SM90: scf.for
// SM90: tile.async_wait 2
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.dot {{.*}}publishNext = at_start
// SM90-NOT: gpu.barrier
// SM90-NOT: tile.async_wait
// SM90: tile.dot
// SM90: scf.yield
func.func @two_dots_one_barrier(%dq: !tile.desc<64x64xbf16>, %dv: !tile.desc<64x64xbf16>,
                                %o: !tile.desc<64x64xf32>, %n: i32, %k: tensor<64x64xbf16, #opa>,
                                %p: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %s = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %q = tile.load %dq[%i, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
    %v = tile.load %dv[%i, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
    %qt = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %c = tile.dot %k, %qt, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    %vb = tile.convert_layout %v : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %d = tile.dot %p, %vb, %c : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    scf.yield %d : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %s : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A staging hoisted out of its dot's loop (Qᵀ for the inner loop), of a
// value computed in registers, is stored once, where it is converted,
// between two barriers; the staging beside the dot of the outer body is
// stored before that dot, into the same tile (the value's, for the trip).
// CHECK-LABEL: func.func @hoisted_register_staging
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[Q:[^ ]*]] at 0
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.dot
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[Q]] at 0
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.trans %[[Q]]
// CHECK-NEXT: scf.for
// CHECK-NOT: tile.store_staging
// CHECK: tile.dot
func.func @hoisted_register_staging(%dq: !tile.desc<64x64xbf16>, %o: !tile.desc<64x64xf32>, %n: i32,
                                    %p: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %q0 = tile.load %dq[%i, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
    %q = arith.addf %q0, %q0 : tensor<64x64xbf16, #bl>
    %qa = tile.convert_layout %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %c = tile.dot %p, %qa, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    %qb = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %s = scf.for %j = %c0 to %n step %c64 iter_args(%inner = %c) -> (tensor<64x64xf32, #mma>) : i32 {
      %d = tile.dot %p, %qb, %inner : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
      scf.yield %d : tensor<64x64xf32, #mma>
    }
    scf.yield %s : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bl2 = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A TMA add's guard (tile-use-tma: the wait for the previous add's read of
// the staging tile, then a barrier) right after a dot whose stored operand
// this pass publishes by a barrier: the wait moves before that barrier and
// the guard's own goes, since nothing between them writes shared memory and
// the dot reads nothing the staging store writes (@guard_merged). And B's
// store needs no barrier before it: its one reader's result is staged for
// the add before the barrier that publishes the add, so the previous trip's
// read of B is done there (@stored_operand, whose dot result is only
// carried, keeps it). Where the staging tile is the dot's B tile the guard
// and B's store keep their barriers (@guard_kept).
// SM90-LABEL: func.func @guard_merged
// SM90: scf.for
// SM90: tile.convert_layout
// SM90-NEXT: tile.store_staging %{{.*}} at 4096 :
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: tile.tma_store_wait
// SM90-NEXT: gpu.barrier
// SM90-NEXT: %[[C:.*]] = tile.dot
// SM90-NEXT: tile.store_staging %[[C]] at 65536 exact
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.tma_store add
// SM90-LABEL: func.func @guard_kept
// SM90: scf.for
// SM90: tile.convert_layout
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.store_staging %{{.*}} at 4096 :
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: %[[C:.*]] = tile.dot
// SM90-NEXT: tile.tma_store_wait
// SM90-NEXT: gpu.barrier
// SM90-NEXT: tile.store_staging %[[C]] at 4096 exact
func.func @guard_merged(%d: !tile.desc<64x32xbf16>, %n: i32, %p: tensor<32x32xf32, #bl2>,
                        %map: !tile.tensormap<64x32xf32, 12>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %staging = tile.shared_alloc [65536] : !tile.shared<64x32xf32>
  %v = tile.load %d[%c0, %c0] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16, #bl>
  %a = tile.convert_layout %v : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  scf.for %i = %c0 to %n step %c32 : i32 {
    %h = arith.truncf %p : tensor<32x32xf32, #bl2> to tensor<32x32xbf16, #bl2>
    %b = tile.convert_layout %h : tensor<32x32xbf16, #bl2> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    tile.tma_store_wait
    gpu.barrier
    tile.store_staging %c at 65536 exact : tensor<64x32xf32, #mma>
    tile.fence_async_shared
    gpu.barrier
    tile.tma_store add %staging, %map[%i, %c0] : !tile.shared<64x32xf32>, !tile.tensormap<64x32xf32, 12>
  }
  tile.tma_store_wait
  return
}
func.func @guard_kept(%d: !tile.desc<64x32xbf16>, %n: i32, %p: tensor<32x32xf32, #bl2>,
                      %map: !tile.tensormap<64x32xf32, 12>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %staging = tile.shared_alloc [4096] : !tile.shared<64x32xf32>
  %v = tile.load %d[%c0, %c0] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16, #bl>
  %a = tile.convert_layout %v : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  scf.for %i = %c0 to %n step %c32 : i32 {
    %h = arith.truncf %p : tensor<32x32xf32, #bl2> to tensor<32x32xbf16, #bl2>
    %b = tile.convert_layout %h : tensor<32x32xbf16, #bl2> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    tile.tma_store_wait
    gpu.barrier
    tile.store_staging %c at 4096 exact : tensor<64x32xf32, #mma>
    tile.fence_async_shared
    gpu.barrier
    tile.tma_store add %staging, %map[%i, %c0] : !tile.shared<64x32xf32>, !tile.tensormap<64x32xf32, 12>
  }
  tile.tma_store_wait
  return
}
