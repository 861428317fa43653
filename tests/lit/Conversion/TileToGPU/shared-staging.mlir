// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A tile staged by two dots (Q in attention's backward: transposed for
// K Qᵀ, as is for dSᵀ Q) is one shared tile and one cp.async copy, double
// buffered (2 x 8192 bytes, not 4); the first dot waits for it, the second
// finds it ready (no wait, fence or barrier). The last trip's copy (zeros)
// is drained after the loop.
// CHECK-LABEL: gpu.func @one_tile_two_dots
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK-COUNT-4: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: gpu.barrier
// CHECK: wgmma.mma_async.sync.aligned.m64n64k16
// CHECK: tile.warpgroup_wait {{.*}} {{.*}}pending = 0 : i32}
// CHECK-NOT: gpu.barrier
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK: wgmma.mma_async.sync.aligned.m64n64k16
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.return
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

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// attention's dK/dV program: K copied before the GQA loop is waited for once
// there (its dots inside find it ready); only the innermost loop is
// pipelined, its first copies made on every outer trip, in the outer body;
// copies made back to back share one barrier; the second dot, right after
// the first and reading only copied tiles, has its copy waited for by the
// first (one wait and barrier for both); the inner loop's last copies are
// drained before the next outer trip. K 8192 + (Q, V) x 2 x 8192 bytes.
// CHECK-LABEL: gpu.func @nested_loops
// CHECK: gpu.barrier
// CHECK-COUNT-4: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK-COUNT-4: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK-NOT: gpu.barrier
// CHECK-COUNT-4: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: gpu.barrier
// CHECK-COUNT-4: cp.async.cg.shared.global
// CHECK-NOT: gpu.barrier
// CHECK-COUNT-4: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.wait.group 2
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK-NEXT: gpu.barrier
// CHECK: wgmma.mma_async
// CHECK-NOT: gpu.barrier
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK: wgmma.mma_async
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: nvvm.cp.async.wait.group 0
// CHECK: scf.yield
func.func @nested_loops(%dk: !tile.desc<64x64xbf16>, %dq: !tile.desc<64x64xbf16>, %dv: !tile.desc<64x64xbf16>,
                        %o: !tile.desc<64x64xf32>, %n: i32, %g: i32, %p: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %kl = tile.load %dk[%n, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
  %k = tile.convert_layout %kl : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opa>
  %r = scf.for %h = %c0 to %g step %c1 iter_args(%outer = %z) -> (tensor<64x64xf32, #mma>) : i32 {
    %s = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %outer) -> (tensor<64x64xf32, #mma>) : i32 {
      %q = tile.load %dq[%i, %h] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
      %v = tile.load %dv[%i, %h] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
      %qt = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
      %c = tile.dot %k, %qt, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
      %vb = tile.convert_layout %v : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
      %d = tile.dot %p, %vb, %c : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
      scf.yield %d : tensor<64x64xf32, #mma>
    }
    scf.yield %s : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A value staged into two tiles (one for the whole kernel, for the dot
// before the loop; one in the loop's region, for the dot that converts it
// there) cannot be filled by one copy: it is loaded into registers and each
// staging stores its own tile.
// CHECK-LABEL: gpu.func @two_tiles_one_value
// CHECK-NOT: cp.async.cg.shared.global
// CHECK: gpu.return
func.func @two_tiles_one_value(%dq: !tile.desc<64x64xbf16>, %o: !tile.desc<64x64xf32>, %n: i32,
                               %p: tensor<64x64xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %q = tile.load %dq[%n, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
  %qb = tile.trans %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
  %c = tile.dot %p, %qb, %z : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  %r = scf.for %i = %c0 to %n step %c64 iter_args(%acc = %c) -> (tensor<64x64xf32, #mma>) : i32 {
    %qa = tile.convert_layout %q : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
    %d = tile.dot %p, %qa, %acc : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
    scf.yield %d : tensor<64x64xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}
