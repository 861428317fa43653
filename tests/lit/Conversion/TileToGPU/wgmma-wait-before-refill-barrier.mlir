// RUN: tessera-opt %s --pass-pipeline="builtin.module(tile-allocate-shared-memory{arch=sm_90a}, tile-pipeline-copies, tile-publish-stagings{arch=sm_90a}, convert-tile-to-gpu{arch=sm_90a}, canonicalize, cse, gpu.module(tessera-defer-wgmma-waits))" | FileCheck %s

// What tile-publish-stagings' barriers-after-refills leans on: P, stored from
// registers on every trip without a barrier of its own, is read by a wgmma
// that reads Q's ring too. That wgmma may not run into the next trip (it
// reads a tile the next trip stores: Wgmma.cpp's mayRunIntoNextIteration),
// so its wait closes the body, and the refill's barrier that opens the next
// trip follows it in every thread. Should the wait leave the body, the P
// stores would race with the previous trip's read.
// CHECK-LABEL: gpu.func @exchange
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK: cp.async.cg.shared.global
// CHECK: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NOT: gpu.barrier
// CHECK: stmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK: nvvm.fence.proxy
// CHECK-NEXT: gpu.barrier
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NOT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: scf.yield
#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>
func.func @exchange(%pq: !tile.ptr<bf16>, %pk: !tile.ptr<bf16>, %pc: !tile.ptr<f32>, %n: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %dq = tile.make_desc %pq, [%n, %c64], [%c64, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  %dk = tile.make_desc %pk, [%c64, %c64], [%c64, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  %dc = tile.make_desc %pc, [%c64, %c64], [%c64, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %lk = tile.load %dk[%c0, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
  %k = tile.convert_layout %lk : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
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
  tile.store %dc[%c0, %c0], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}
