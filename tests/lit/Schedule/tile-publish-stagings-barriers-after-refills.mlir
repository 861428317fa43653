// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a barriers-after-refills=false" | FileCheck %s --check-prefix=OFF

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// P is stored from registers into its tile on every trip; the only dot that
// reads it also reads Q's ring, which the body refills right after its first
// barrier. That dot is waited for before the barrier of the next trip's
// refill, and nothing between that barrier and P's stores reads P: the
// stores need no barrier of their own (with the option off they get one).
// CHECK-LABEL: func.func @reader_reads_the_ring
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK-NEXT: arith.subi
// CHECK: tile.async_copy {{.*}} {distance = 1 : i64}
// CHECK: gpu.barrier
// CHECK-NEXT: %[[S:.*]] = tile.dot
// CHECK-NOT: gpu.barrier
// CHECK: tile.store_staging %{{.*}} at 8192
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.dot
// OFF-LABEL: func.func @reader_reads_the_ring
// OFF: tile.convert_layout
// OFF: gpu.barrier
// OFF-NEXT: tile.store_staging %{{.*}} at 8192
// OFF-NEXT: tile.fence_async_shared
// OFF-NEXT: gpu.barrier
// OFF-NEXT: tile.dot
func.func @reader_reads_the_ring(%dq: !tile.desc<64x64xbf16>, %o: !tile.desc<64x64xf32>, %n: i32,
                                 %k: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %q = tile.load %dq[%i, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
    %qt = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %s = tile.dot %k, %qt, %z : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    %h = arith.truncf %s : tensor<64x64xf32, #mma> to tensor<64x64xbf16, #mma>
    %pb = tile.convert_layout %h : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
    %qa = tile.convert_layout %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opa>
    %c = tile.dot %qa, %pb, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    scf.yield %c : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// P's reader takes its other operand from registers: nothing makes it wait
// before the refill's barrier, so P's stores keep their barrier.
// CHECK-LABEL: func.func @reader_outside_the_ring
// CHECK: tile.convert_layout
// CHECK: gpu.barrier
// CHECK-NEXT: tile.store_staging %{{.*}} at 8192
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.dot
func.func @reader_outside_the_ring(%dq: !tile.desc<64x64xbf16>, %o: !tile.desc<64x64xf32>, %n: i32,
                                   %k: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %q = tile.load %dq[%i, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
    %qt = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %s = tile.dot %k, %qt, %z : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    %h = arith.truncf %s : tensor<64x64xf32, #mma> to tensor<64x64xbf16, #mma>
    %pb = tile.convert_layout %h : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
    %c = tile.dot %k, %pb, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    scf.yield %c : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// No copies in the loop, so no refill barrier to lean on: the barrier stays.
// CHECK-LABEL: func.func @no_refill
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK-NEXT: tile.store_staging
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.dot
func.func @no_refill(%o: !tile.desc<64x64xf32>, %n: i32, %k: tensor<64x64xbf16, #opa>,
                     %p: tensor<64x64xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %h = arith.truncf %p : tensor<64x64xf32, #mma> to tensor<64x64xbf16, #mma>
    %pb = tile.convert_layout %h : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opb>
    %c = tile.dot %k, %pb, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    scf.yield %c : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}
