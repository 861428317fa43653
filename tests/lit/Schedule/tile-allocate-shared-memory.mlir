// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" | FileCheck %s --check-prefix=SM90

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A load whose only user stages a dot operand becomes an async copy into a
// buffer of its own, after a barrier (the buffer's last readers are done),
// and a view the staging reads. The dot records its tiles; A, converted from
// registers in the same distribution, is not staged.
// CHECK-LABEL: func.func @copied_operand
// CHECK: %[[BUF:.*]] = tile.shared_alloc [0] : !tile.shared<32x32xbf16>
// CHECK: scf.for %[[IV:[^ ]*]] =
// CHECK: %[[SLOT:.*]] = arith.constant 0 : i32
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.async_copy %{{.*}}[%[[IV]], %{{.*}}], %[[BUF]][%[[SLOT]]] : !tile.desc<32x32xbf16>, !tile.shared<32x32xbf16> as tensor<32x32xbf16, #tile.blocked
// CHECK-NEXT: %[[VIEW:.*]] = tile.shared_view %[[BUF]][%[[SLOT]]]
// CHECK-NEXT: %[[B:.*]] = tile.convert_layout %[[VIEW]]
// CHECK-NEXT: tile.dot %{{.*}}, %[[B]], %{{.*}} {staging = #tile.staging<offsetA = -1, offsetB = 0, readyA = false, readyB = false, publishNext = none>}
// CHECK-NOT: tile.load
func.func @copied_operand(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                          %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bl2 = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A loaded before the loop and staged there lives for the whole kernel: its
// copy is waited for once, before the loop (wait, then on sm_90a the async-
// proxy fence, then a barrier), and the dot finds it ready on every trip.
// B, stored from registers (an f32 tile rounded to bf16 first), is not ready.
// Tiles start on 1024-byte boundaries, after nothing (no scratch).
// CHECK-LABEL: func.func @hoisted_copy
// CHECK: %[[A:.*]] = tile.shared_alloc [0] : !tile.shared<64x32xbf16>
// CHECK: gpu.barrier
// CHECK-NEXT: tile.async_copy %{{.*}}, %[[A]]
// CHECK: tile.async_wait 0
// CHECK-NOT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: scf.for
// CHECK: tile.dot {{.*}}staging = #tile.staging<offsetA = 0, offsetB = 4096, readyA = true, readyB = false, publishNext = none>
// SM90-LABEL: func.func @hoisted_copy
// SM90: tile.async_wait 0
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: scf.for
func.func @hoisted_copy(%d: !tile.desc<64x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
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

// Sibling loops: the tiles staged in each start at the same offset (the
// first loop's are dead once it ends), with a barrier before the second.
// CHECK-LABEL: func.func @sibling_loops
// CHECK: %[[B0:.*]] = tile.shared_alloc [0] : !tile.shared<32x32xbf16>
// CHECK: %[[B1:.*]] = tile.shared_alloc [0] : !tile.shared<32x32xbf16>
// CHECK: scf.for
// CHECK: tile.async_copy %{{.*}}, %[[B0]]
// CHECK: gpu.barrier
// CHECK-NEXT: scf.for
// CHECK: tile.async_copy %{{.*}}, %[[B1]]
func.func @sibling_loops(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                         %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  %r2 = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %r) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%c0, %i] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r2 : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}
