// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" | FileCheck %s --check-prefix=SM90
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="shifted-stores=false" | FileCheck %s --check-prefix=NOSHIFT

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

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A tile staged and filled after the last top-level loop (the attention
// forward's last V block in FlashAttention-3's order) takes the loops'
// region, behind the barrier before its copy: the B tile before the loop
// lives for the whole kernel at 0, the loop's and the last one's at 2048.
// CHECK-LABEL: func.func @after_the_loops
// CHECK-DAG: tile.shared_alloc [0] : !tile.shared<32x32xbf16>
// CHECK-DAG: tile.shared_alloc [2048] : !tile.shared<32x32xbf16>
// CHECK-DAG: tile.shared_alloc [2048] : !tile.shared<32x32xbf16>
// CHECK: scf.for
// CHECK: tile.dot
// CHECK: gpu.barrier
// CHECK-NEXT: tile.async_copy
// CHECK: tile.dot {{.*}}offsetB = 2048
func.func @after_the_loops(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                           %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %v0 = tile.load %d[%c0, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %b0 = tile.convert_layout %v0 : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %s = tile.dot %a, %b0, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  %r = scf.for %i = %c32 to %n step %c32 iter_args(%acc = %s) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  %vl = tile.load %d[%n, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %bl2 = tile.convert_layout %vl : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %last = tile.dot %a, %bl2, %r : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %last : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

// Sibling loops inside a top-level loop (a persistent kernel's key loops):
// after the tile the top-level loop's own body stages (A, hoisted), both
// loops' B tiles take one offset, and a barrier before the second loop keeps
// its tile's fill off the tile the first loop's dot may still read.
// SM90-LABEL: func.func @inner_sibling_loops
// SM90: scf.for
// SM90: scf.for
// SM90: tile.dot {{.*}} {staging = #tile.staging<offsetA = -1, offsetB = [[B:[0-9]+]],
// SM90: gpu.barrier
// SM90-NEXT: scf.for %{{.*}} = %{{.*}} to %arg7
// SM90: tile.dot {{.*}} {staging = #tile.staging<offsetA = -1, offsetB = [[B]],
#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

func.func @inner_sibling_loops(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                            %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                            %pid: i32, %tiles: i32, %programs: i32, %col: i32,
                            %out: !tile.desc<128x128xbf16>)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %c128 = arith.constant 128 : i32
  scf.for %t = %pid to %tiles step %programs : i32 {
    %row = arith.muli %t, %c128 : i32
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %c0] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    // The tile's split between the loops: t key blocks, then the rest.
    %mid = arith.muli %t, %c64 : i32
    %r1 = scf.for %k = %c0 to %mid step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
      %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
      %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
      %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
      %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
      scf.yield %d : tensor<128x128xf32, #mma>
    }
    %r2 = scf.for %k = %mid to %arg7 step %c64 iter_args(%acc = %r1) -> (tensor<128x128xf32, #mma>) : i32 {
      %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
      %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
      %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
      %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
      scf.yield %d : tensor<128x128xf32, #mma>
    }
    %h = arith.truncf %r2 : tensor<128x128xf32, #mma> to tensor<128x128xbf16, #mma>
    %s = tile.convert_layout %h : tensor<128x128xbf16, #mma> -> tensor<128x128xbf16, #bb>
    tile.store %out[%row, %col], %s : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #bb>
  }
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bl2 = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A persistent kernel's tile loop: A, loaded once per tile, is read by a dot
// in the tile's body and (hoisted) by the dot of the inner loop. One tile
// holds it for the trip, copied once per tile after the barrier that ends
// the previous tile's reads; the inner loop finds it ready, its copy waited
// for once before the loop (not stored from registers, nor fenced and
// synchronized on every inner trip).
// SM90-LABEL: func.func @tile_loop_copy
// SM90: %[[A:.*]] = tile.shared_alloc [0] : !tile.shared<64x32xbf16>
// SM90-NOT: tile.shared_alloc {{.*}}<64x32xbf16>
// SM90: scf.for
// SM90: gpu.barrier
// SM90-NEXT: tile.async_copy %{{.*}}, %[[A]]
// SM90-NOT: tile.store_staging
// SM90: tile.dot {{.*}}staging = #tile.staging<offsetA = 0, offsetB = {{[0-9]+}}, readyA = false,
// SM90: tile.async_wait 0
// SM90-NEXT: tile.fence_async_shared
// SM90-NEXT: gpu.barrier
// SM90-NEXT: scf.for
// SM90-NOT: tile.fence_async_shared
// SM90: tile.dot {{.*}}staging = #tile.staging<offsetA = 0, offsetB = {{[0-9]+}}, readyA = true,
func.func @tile_loop_copy(%d: !tile.desc<64x32xbf16>, %e: !tile.desc<32x32xbf16>,
                          %o: !tile.desc<64x32xf32>, %n: i32, %pid: i32, %tiles: i32,
                          %programs: i32, %p: tensor<32x32xf32, #bl2>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  scf.for %t = %pid to %tiles step %programs : i32 {
    %v = tile.load %d[%t, %c0] : !tile.desc<64x32xbf16> -> tensor<64x32xbf16, #bl>
    %a = tile.convert_layout %v : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opa>
    %h = arith.truncf %p : tensor<32x32xf32, #bl2> to tensor<32x32xbf16, #bl2>
    %b = tile.convert_layout %h : tensor<32x32xbf16, #bl2> -> tensor<32x32xbf16, #opb>
    %a2 = tile.convert_layout %v : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opa>
    %first = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %first) -> (tensor<64x32xf32, #mma>) : i32 {
      %w = tile.load %e[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
      %bw = tile.convert_layout %w : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
      %c = tile.dot %a2, %bw, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
      scf.yield %c : tensor<64x32xf32, #mma>
    }
    tile.store %o[%t, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  }
  return
}

// -----

#row = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [1, 32], warpsPerCTA = [4, 1], order = [1, 0]>

// shifted-stores: in a kernel without tensor-core dots (a softmax's), an
// unmasked 2-D bf16 block stored to a tensor that may take no 16-byte
// vectors (rows of 4095 elements) is staged: it takes the scratch space
// and goes out in shifted 16-byte vectors, and so an f32 block's. An
// aligned tensor's block and a masked one are not.
// CHECK-LABEL: func.func @stores_of_unaligned_rows
// CHECK: tile.store %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} staged : !tile.desc<4x256xbf16>
// CHECK: tile.store %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} : !tile.desc<4x256xbf16>
// CHECK: tile.store %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} mask %{{.*}} : !tile.desc<4x256xbf16>
// CHECK: tile.store %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} staged : !tile.desc<4x256xf32>
// NOSHIFT-LABEL: func.func @stores_of_unaligned_rows
// NOSHIFT-NOT: staged :
func.func @stores_of_unaligned_rows(%p: !tile.ptr<bf16>, %f: !tile.ptr<f32>, %rows: i32, %cols: i32,
                                    %stride: i32, %unit: i32, %row: i32,
                                    %v: tensor<4x256xbf16, #row>, %w: tensor<4x256xf32, #row>,
                                    %m: tensor<4x256xi1, #row>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %d = tile.make_desc %p, [%rows, %cols], [%stride, %unit] : !tile.ptr<bf16> -> !tile.desc<4x256xbf16>
  tile.store %d[%row, %c0], %v : !tile.desc<4x256xbf16>, tensor<4x256xbf16, #row>
  %a = tile.make_desc %p, [%rows, %cols], [%stride, %unit] {aligned} : !tile.ptr<bf16> -> !tile.desc<4x256xbf16>
  tile.store %a[%row, %c0], %v : !tile.desc<4x256xbf16>, tensor<4x256xbf16, #row>
  tile.store %d[%row, %c0], %v mask %m : !tile.desc<4x256xbf16>, tensor<4x256xbf16, #row>, tensor<4x256xi1, #row>
  %e = tile.make_desc %f, [%rows, %cols], [%stride, %unit] : !tile.ptr<f32> -> !tile.desc<4x256xf32>
  tile.store %e[%row, %c0], %w : !tile.desc<4x256xf32>, tensor<4x256xf32, #row>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A kernel with tensor-core dots keeps its shared memory for their tiles:
// its stores are not staged here (TMA kernels stage theirs after their
// loops: tile-use-tma).
// CHECK-LABEL: func.func @no_staged_stores_beside_dots
// CHECK-NOT: staged :
func.func @no_staged_stores_beside_dots(%p: !tile.ptr<bf16>, %rows: i32, %cols: i32, %stride: i32,
                                        %unit: i32, %a: tensor<64x64xbf16, #bl>,
                                        %b: tensor<64x64xbf16, #bl>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %cst = arith.constant dense<0.000000e+00> : tensor<64x64xf32, #mma>
  %oa = tile.convert_layout %a : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opa>
  %ob = tile.convert_layout %b : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
  %c = tile.dot %oa, %ob, %cst : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  %h = arith.truncf %c : tensor<64x64xf32, #mma> to tensor<64x64xbf16, #mma>
  %d = tile.make_desc %p, [%rows, %cols], [%stride, %unit] : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  tile.store %d[%c0, %c0], %h : !tile.desc<64x64xbf16>, tensor<64x64xbf16, #mma>
  return
}
