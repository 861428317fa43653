// RUN: tessera-opt %s -split-input-file --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s

// may_cross_barriers on a wgmma group's wait (schedule::
// nothingAfterWritesWhatItReads): nothing after the dot in its block writes a
// shared tile it reads, so tessera-defer-wgmma-waits may keep the group in
// flight through the barriers and stores that publish the next dot's tile.

#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The second product's B is staged at 8192, past the first's [0, 8192):
// the first group may cross the barriers; so may the second, with nothing
// after it.
// CHECK-LABEL: func @disjoint_stagings
// CHECK: tile.warpgroup_wait {{.*}} {may_cross_barriers = true, pending = 0 : i32}
// CHECK: tile.warpgroup_wait {{.*}} {may_cross_barriers = true, pending = 0 : i32}
func.func @disjoint_stagings(%o: !tile.desc<64x64xf32>, %n: i32, %p: tensor<64x64xbf16, #mma>,
                             %q: tensor<64x64xbf16, #mma>, %r: tensor<64x64xbf16, #mma>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opa>
  %b = tile.convert_layout %q : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  gpu.barrier
  tile.store_staging %q at 0 : tensor<64x64xbf16, #mma>
  tile.fence_async_shared
  gpu.barrier
  %c = tile.dot %a, %b, %z {staging = #tile.staging<offsetA = -1, offsetB = 0, readyA = false, readyB = false, publishNext = none>} : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  %b2 = tile.convert_layout %r : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
  gpu.barrier
  tile.store_staging %r at 8192 : tensor<64x64xbf16, #mma>
  tile.fence_async_shared
  gpu.barrier
  %c2 = tile.dot %a, %b2, %z {staging = #tile.staging<offsetA = -1, offsetB = 8192, readyA = false, readyB = false, publishNext = none>} : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c2 : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A store into the first group's tile [0, 8192) after it (its tile taken
// for other data), and an mbarrier arrive after the second (it may free a
// buffer for a producer's next copy): neither group may cross; the third may.
// CHECK-LABEL: func @overwritten_or_freed
// CHECK: tile.warpgroup_wait {{.*}} {pending = 0 : i32}
// CHECK: tile.warpgroup_wait {{.*}} {pending = 0 : i32}
// CHECK: tile.warpgroup_wait {{.*}} {may_cross_barriers = true, pending = 0 : i32}
func.func @overwritten_or_freed(%o: !tile.desc<64x64xf32>, %n: i32, %p: tensor<64x64xbf16, #mma>,
                                %q: tensor<64x64xbf16, #mma>, %r: tensor<64x64xbf16, #mma>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opa>
  %b = tile.convert_layout %q : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %bars = tile.mbarrier_alloc 24576 : !tile.mbarriers<1>
  gpu.barrier
  tile.store_staging %q at 0 : tensor<64x64xbf16, #mma>
  tile.fence_async_shared
  gpu.barrier
  %c = tile.dot %a, %b, %z {staging = #tile.staging<offsetA = -1, offsetB = 0, readyA = false, readyB = false, publishNext = none>} : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  %b2 = tile.convert_layout %r : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
  gpu.barrier
  tile.store_staging %r at 0 : tensor<64x64xbf16, #mma>
  tile.store_staging %r at 8192 : tensor<64x64xbf16, #mma>
  tile.fence_async_shared
  gpu.barrier
  %c2 = tile.dot %a, %b2, %z {staging = #tile.staging<offsetA = -1, offsetB = 8192, readyA = false, readyB = false, publishNext = none>} : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  tile.mbarrier_arrive %bars[%c0] : !tile.mbarriers<1>
  %b3 = tile.convert_layout %q : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
  gpu.barrier
  tile.store_staging %q at 16384 : tensor<64x64xbf16, #mma>
  tile.fence_async_shared
  gpu.barrier
  %c3 = tile.dot %a, %b3, %z {staging = #tile.staging<offsetA = -1, offsetB = 16384, readyA = false, readyB = false, publishNext = none>} : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c2 : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c3 : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}
