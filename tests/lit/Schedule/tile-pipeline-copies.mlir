// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory --tile-pipeline-copies | FileCheck %s

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Two stages (the default): the copy gets a second buffer after the loop's
// tiles; iteration 0's copy is issued before the loop, and iteration j
// copies tile j+1 (zeros past the last: an index past any tensor) into
// buffer (j+1) mod 2 while the dot reads buffer j mod 2. The last trip's
// copy is drained after the loop.
// CHECK-LABEL: func.func @two_stages
// CHECK: %[[BUF:.*]] = tile.shared_alloc [0, 2048] : !tile.shared<32x32xbf16, 2>
// CHECK: %[[RUNS:.*]] = arith.cmpi slt, %[[LB:.*]], %[[UB:.*]] : i32
// CHECK-NEXT: gpu.barrier
// CHECK: %[[FIRST:.*]] = arith.select %[[RUNS]], %[[LB]], %c2147483647_i32
// CHECK-NEXT: tile.async_copy %{{.*}}[%[[FIRST]], %{{.*}}], %[[BUF]][%{{.*}}] :
// CHECK: scf.for %[[IV:[^ ]*]] = %[[LB]] to %[[UB]] step %[[STEP:.*]] iter_args
// CHECK: %[[NEXT:.*]] = arith.addi %[[IV]], %[[STEP]] : i32
// CHECK: gpu.barrier
// CHECK: %[[K:.*]] = arith.divsi
// CHECK: %[[K1:.*]] = arith.addi %[[K]], %c1_i32
// CHECK: %[[SLOT:.*]] = arith.andi %[[K1]], %{{.*}} : i32
// CHECK: tile.async_copy %{{.*}}, %[[BUF]][%[[SLOT]]] {distance = 1 : i64}
// CHECK: %[[KNOW:.*]] = arith.divsi
// CHECK: %[[NOW:.*]] = arith.andi %[[KNOW]], %{{.*}} : i32
// CHECK: tile.shared_view %[[BUF]][%[[NOW]]] : !tile.shared<32x32xbf16, 2>
// CHECK: tile.dot
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: tile.async_wait 0
func.func @two_stages(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
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
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Four stages, one dot reading both copied tiles: the copies go after the
// dot, two iterations ahead, into the buffer the dot of two iterations back
// read, with no barrier of their own. Before the loop, two stages of
// copies, which share one barrier (only scalar code between them).
// CHECK-LABEL: func.func @four_stages_after_the_dot
// CHECK: tile.shared_alloc [0, 4096, 6144, 8192] : !tile.shared<32x32xbf16, 4>
// CHECK: tile.shared_alloc [2048, 10240, 12288, 14336] : !tile.shared<32x32xbf16, 4>
// CHECK: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK-COUNT-4: tile.async_copy
// CHECK: scf.for
// CHECK: tile.dot
// CHECK-NOT: gpu.barrier
// CHECK: tile.async_copy {{.*}} {distance = 2 : i64}
// CHECK-NOT: gpu.barrier
// CHECK: tile.async_copy {{.*}} {distance = 2 : i64}
// CHECK: scf.yield
func.func @four_stages_after_the_dot(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<32x32xf32>, %n: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32, tile.num_stages = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<32x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<32x32xf32, #mma>) : i32 {
    %u = tile.load %d[%c0, %i] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %a = tile.convert_layout %u : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opa>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<32x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<32x32xf32, #mma>
    scf.yield %c : tensor<32x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<32x32xf32>, tensor<32x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// One stage: the tile keeps its one buffer, refilled with the next
// iteration's tile right after its last reader, behind a barrier.
// CHECK-LABEL: func.func @one_stage
// CHECK: %[[BUF:.*]] = tile.shared_alloc [0] : !tile.shared<32x32xbf16>
// CHECK: tile.async_copy
// CHECK: scf.for
// CHECK: tile.shared_view %[[BUF]]
// CHECK: tile.dot
// CHECK: gpu.barrier
// CHECK: tile.async_copy {{.*}}, %[[BUF]][%{{.*}}] {distance = 1 : i64}
// CHECK-NEXT: scf.yield
func.func @one_stage(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                     %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32, tile.num_stages = 1 : i32} {
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


#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Two loops inside a persistent kernel's tile loop, one after the other in
// each trip: their staged B tiles share one sub-region of the tile loop's
// region (after its own A tile), and each loop's second buffers start at
// the region's end, so both loops' buffers lie at the same offsets (which
// lets a producer warpgroup give them one ring).
// CHECK-LABEL: func.func @sibling_loops
// CHECK: tile.shared_alloc [[[B0:[0-9]+]], [[B1:[0-9]+]]] : !tile.shared<64x128xbf16, 2>
// CHECK: tile.shared_alloc [[[B0]], [[B1]]] : !tile.shared<64x128xbf16, 2>
func.func @sibling_loops(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
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
