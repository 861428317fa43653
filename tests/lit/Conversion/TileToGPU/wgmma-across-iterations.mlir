// RUN: tessera-opt %s --pass-pipeline="builtin.module(tile-allocate-shared-memory{arch=sm_90a}, tile-pipeline-copies, tile-publish-stagings{arch=sm_90a}, convert-tile-to-gpu{arch=sm_90a}, canonicalize, cse, gpu.module(tessera-defer-wgmma-waits))" | FileCheck %s
// RUN: tessera-opt %s --pass-pipeline="builtin.module(tile-allocate-shared-memory{arch=sm_90a}, tile-pipeline-copies, tile-publish-stagings{arch=sm_90a}, convert-tile-to-gpu{arch=sm_90a typed-wgmma=false}, canonicalize, cse, gpu.module(tessera-defer-wgmma-waits))" | FileCheck %s

// A matmul k-loop of four stages on wgmma: the one dot reads both copied
// tiles, so the copies go after it, two iterations ahead, into the buffer of
// two iterations back (no barrier of their own; the dot waits for all but the
// next tile's two groups), the wait of the dot's group marks that it may
// run into the next iteration, and tessera-defer-wgmma-waits keeps it in
// flight across the back edge: the body ends with `wait_group 1` (the group
// before is done: the next copy may refill what it read), the accumulators
// go round the loop untouched into the next issue, and one `wait_group 0`
// after the loop takes them, tied to their registers.
// CHECK-LABEL: gpu.func @matmul_k_loop
// CHECK: scf.for {{.*}} iter_args
// CHECK: nvvm.cp.async.wait.group 2
// CHECK: gpu.barrier
// CHECK: wgmma.mma_async
// CHECK: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: wgmma.wait_group
// CHECK-NOT: gpu.barrier
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: "wgmma.wait_group.sync.aligned 1;"
// CHECK-NEXT: scf.yield
// CHECK: "wgmma.wait_group.sync.aligned 0;", "=f,{{.*}},0,1,2
// CHECK: gpu.return
#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>
func.func @matmul_k_loop(%pa: !tile.ptr<bf16>, %pb: !tile.ptr<bf16>, %pc: !tile.ptr<f32>, %n: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32, tile.num_stages = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c32 = arith.constant 32 : i32
  %da = tile.make_desc %pa, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x32xbf16>
  %db = tile.make_desc %pb, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<32x32xbf16>
  %dc = tile.make_desc %pc, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x32xf32>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %r = scf.for %k = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %la = tile.load %da[%c0, %k] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16, #bl>
    %a = tile.convert_layout %la : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opa>
    %lb = tile.load %db[%k, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %lb : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %dc[%c0, %c0], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}
