// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma=arch=sm_90a --tile-warp-specialize=arch=sm_90a | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma=arch=sm_90a --tile-warp-specialize=arch=sm_90a --tile-publish-stagings=arch=sm_90a --convert-tile-to-gpu=arch=sm_90a --canonicalize | FileCheck %s --check-prefix=GPU

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The TMA loop of a four-stage matmul, split: an "empty" barrier set for the
// loop's buffers (one arrival per consumer warp: 4), initialized before the
// split. The producer loops over the same iterations: from the second fill
// of a slot on (iteration 4) it waits for slot j mod 4 to be released
// (parity of the previous fill's number, j / 4 - 1), then issues iteration
// j's copies on its one thread, unpredicated. The consumers' loop has no
// copies and no opening barrier; iteration j >= 2 releases the buffers of
// iteration j - 2 first, then waits for its own tiles as before; after the
// loop its last two iterations' buffers are released. The copies before
// the loop are gone.
// CHECK-LABEL: func.func @matmul
// CHECK: tile.mbarrier_init %[[EMPTY:[^ ]*]] {count = 4 : i32} : !tile.mbarriers<4>
// CHECK-NEXT: tile.warp_specialize producer_warps(4) {
// CHECK-NEXT: scf.for %[[IV:[^ ]*]] = %[[LB:[^ ]*]] to %[[UB:[^ ]*]] step %[[STEP:[^ ]*]] : i32 {
// CHECK: %[[J:.*]] = arith.divsi
// CHECK: %[[SLOT:.*]] = arith.remui %[[J]], %{{.*}} : i32
// CHECK: %[[FILL:.*]] = arith.divui %[[J]], %{{.*}} : i32
// CHECK: %[[REFILL:.*]] = arith.cmpi sge, %[[FILL]], %{{.*}} : i32
// CHECK: scf.if %[[REFILL]] {
// CHECK: %[[PREV:.*]] = arith.subi %[[FILL]], %c1
// CHECK: %[[PARITY:.*]] = arith.andi %[[PREV]], %c1
// CHECK: tile.mbarrier_wait %[[EMPTY]][%[[SLOT]]], %[[PARITY]]
// CHECK: }
// CHECK-NOT: tile.mbarrier_arrive
// CHECK: tile.tma_copy %{{.*}}, %{{.*}} {single_thread} : !tile.tensormap<128x64xbf16, 0>
// CHECK: tile.tma_copy %{{.*}}, %{{.*}} {single_thread} : !tile.tensormap<64x64xbf16, 5>
// CHECK: } consumers {
// CHECK-NEXT: scf.for %[[CIV:[^ ]*]] = {{.*}} iter_args
// CHECK-NOT: gpu.barrier
// CHECK-NOT: tile.tma_copy
// CHECK: %[[STARTED:.*]] = arith.cmpi sge, %{{.*}}, %c2
// CHECK: %[[RELEASED:.*]] = arith.remui
// CHECK-NEXT: tile.mbarrier_arrive %[[EMPTY]][%[[RELEASED]]] if %[[STARTED]] {distance = 2 : i64}
// CHECK-NOT: tile.tma_copy
// CHECK: tile.mbarrier_wait
// CHECK: tile.mbarrier_wait
// CHECK-NEXT: tile.dot {{.*}}readyA = true, readyB = true
// CHECK: scf.yield
// CHECK: %[[N:.*]] = arith.maxsi
// CHECK: %[[LAST2:.*]] = arith.subi %[[N]], %c2
// CHECK: %[[RAN2:.*]] = arith.cmpi sge, %[[LAST2]]
// CHECK: %[[SLOT2:.*]] = arith.remui %[[LAST2]]
// CHECK-NEXT: tile.mbarrier_arrive %[[EMPTY]][%[[SLOT2]]] if %[[RAN2]] :
// CHECK: %[[LAST1:.*]] = arith.subi %[[N]], %c1
// CHECK: tile.mbarrier_arrive %[[EMPTY]]
// CHECK: tile.store
// CHECK: }
// CHECK-NEXT: return

// Lowered: 4 + 4 warps (256 threads). Threads 0-127 run the consumers; the
// first thread after them the producer. The consumers' scratch barrier of
// the epilogue is named barrier 1 for 128 threads, and their wgmma group
// still runs into the next iteration (released two iterations later).
// GPU-LABEL: gpu.func @matmul
// GPU-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// GPU: %[[CONSUMER:.*]] = arith.cmpi slt, %[[TID:.*]], %c128_i32 : i32
// GPU-NEXT: scf.if %[[CONSUMER]] {
// GPU: nvvm.mbarrier.arrive
// GPU: may_cross_iterations = true
// GPU: nvvm.barrier id = %c1_i32 number_of_threads = %c128_i32
// GPU: %[[PRODUCER:.*]] = arith.cmpi eq, %[[TID]], %c128_i32 : i32
// GPU-NEXT: scf.if %[[PRODUCER]] {
// GPU: nvvm.cp.async.bulk.tensor.shared.cluster.global
// GPU-NOT: gpu.barrier
// GPU: gpu.return
func.func @matmul(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32, %out: !tile.desc<128x128xbf16>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  %h = arith.truncf %r : tensor<128x128xf32, #mma> to tensor<128x128xbf16, #mma>
  %t = tile.convert_layout %h : tensor<128x128xbf16, #mma> -> tensor<128x128xbf16, #bb>
  tile.store %out[%row, %col], %t : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #bb>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The kernel asks for two CTAs per SM (tile.ctas_per_sm): the split carries
// that register budget, the lowering launches with .minnctapersm 2 (128
// registers per thread for 256 threads) and hands the producer's to the
// consumers within it: 232 for the 4 consumer warps, 24 for the producer.
// CHECK-LABEL: func.func @matmul_two_ctas
// CHECK: tile.warp_specialize producer_warps(4) ctas_per_sm(2) {
// GPU-LABEL: gpu.func @matmul_two_ctas
// GPU-SAME: nvvm.minctasm = 2 : i32
// GPU: nvvm.setmaxregister  increase 232
// GPU: nvvm.setmaxregister  decrease 24
func.func @matmul_two_ctas(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32, %out: !tile.desc<128x128xbf16>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize, tile.ctas_per_sm = 2 : i32} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  %h = arith.truncf %r : tensor<128x128xf32, #mma> to tensor<128x128xbf16, #mma>
  %t = tile.convert_layout %h : tensor<128x128xbf16, #mma> -> tensor<128x128xbf16, #bb>
  tile.store %out[%row, %col], %t : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #bb>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Persistent: the split comes before the tile loop. The producer runs the
// tile loop too (its tile's row computed again from the trip) and, inside,
// every k-step's copies, waiting for a slot from its second fill on, the
// fill counted across trips; the consumers' tile loop holds their k-loop
// and, after it, the release of its last two k-steps' buffers, so that the
// producer loads the next tile while they store this one; the barrier that
// kept each tile's first copies from refilling buffers still being read
// goes with them.
// CHECK-LABEL: func.func @persistent
// CHECK: tile.warp_specialize producer_warps(4) {
// CHECK-NEXT: scf.for %[[PT:[^ ]*]] = %[[PID:[^ ]*]] to %{{.*}} step %[[NP:[^ ]*]] : i32 {
// CHECK: %[[PTRIP:.*]] = arith.divsi %{{.*}}, %[[NP]]
// CHECK: scf.for
// CHECK: arith.muli %[[PTRIP]],
// CHECK: tile.mbarrier_wait
// CHECK: %[[PROW:.*]] = arith.muli %[[PT]], %c128
// CHECK: tile.tma_copy %{{.*}}[%[[PROW]], %{{.*}}], {{.*}} {single_thread}
// CHECK: } consumers {
// CHECK-NEXT: scf.for %[[CT:[^ ]*]] = %[[PID]] to
// CHECK-NOT: gpu.barrier
// CHECK: scf.for {{.*}} iter_args
// CHECK: tile.mbarrier_arrive {{.*}} {distance = 2 : i64}
// CHECK: scf.yield
// CHECK: tile.mbarrier_arrive
// CHECK: tile.mbarrier_arrive
// CHECK: tile.store
func.func @persistent(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                      %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                      %pid: i32, %tiles: i32, %programs: i32, %col: i32, %out: !tile.desc<128x128xf32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %c128 = arith.constant 128 : i32
  scf.for %t = %pid to %tiles step %programs : i32 {
    %row = arith.muli %t, %c128 : i32
    %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
      %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
      %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
      %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
      %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
      %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
      %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
      %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
      scf.yield %d : tensor<128x128xf32, #mma>
    }
    tile.store %out[%row, %col], %r : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  }
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Persistent, with tile work before the one TMA loop of each tile and a
// ring of two (the attention forward's on whole key blocks: Q's load, then
// the key loop): the producer's tile loop computes the loop's bound again
// (computed inside the tile loop, the same on every trip) and fills the
// ring of two, its fills counted across trips; the consumers copy A
// themselves (cp.async) and release the buffers of the iteration before at
// the top of each (distance 1), and the last one after the loop.
// CHECK-LABEL: func.func @persistent_two_stages
// CHECK: tile.mbarrier_init %{{[0-9]+}} : !tile.mbarriers<2>
// CHECK: %[[EMPTY:.*]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[EMPTY]] {count = 4 : i32}
// CHECK-NEXT: tile.warp_specialize producer_warps(4) {
// CHECK-NEXT: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} : i32 {
// CHECK: %[[END:.*]] = arith.addi %arg14, %c64_i32
// CHECK: scf.for %{{.*}} = %c0_i32 to %[[END]] step %c64_i32
// CHECK: tile.mbarrier_wait %[[EMPTY]]
// CHECK: tile.tma_copy {{.*}} {single_thread}
// CHECK: } consumers {
// CHECK-NEXT: scf.for
// CHECK: tile.async_copy
// CHECK: scf.for {{.*}} iter_args
// CHECK-NOT: tile.tma_copy
// CHECK: tile.mbarrier_arrive %[[EMPTY]][%{{.*}}] if %{{.*}} {distance = 1 : i64}
// CHECK: scf.yield
// CHECK: tile.mbarrier_arrive %[[EMPTY]]
// CHECK: tile.store
func.func @persistent_two_stages(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                                 %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                                 %pid: i32, %tiles: i32, %programs: i32, %col: i32, %half: i32,
                                 %out: !tile.desc<128x128xbf16>)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %c128 = arith.constant 128 : i32
  scf.for %t = %pid to %tiles step %programs : i32 {
    %row = arith.muli %t, %c128 : i32
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %c0] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %end = arith.addi %half, %c64 : i32
    %r = scf.for %k = %c0 to %end step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
      %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
      %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
      %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
      %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
      scf.yield %d : tensor<128x128xf32, #mma>
    }
    %h = arith.truncf %r : tensor<128x128xf32, #mma> to tensor<128x128xbf16, #mma>
    %s = tile.convert_layout %h : tensor<128x128xbf16, #mma> -> tensor<128x128xbf16, #bb>
    tile.store %out[%row, %col], %s : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #bb>
  }
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Persistent, two TMA loops per tile whose bounds change from tile to tile
// (the attention forward on causal tiles: unmasked key blocks up to the
// tile's diagonal, then the masked ones past it). The loops' tiles share
// one sub-region (tile-allocate-shared-memory), so their rings are one: the
// producer's tile loop carries the ring's iterations so far, computes each
// loop's bounds again from the tile and counts on from loop to loop; the
// consumers' tile loop carries the same count (an iteration argument, the
// tile's trips added at its end), from which each loop's views, waits and
// releases count.
// CHECK-LABEL: func.func @persistent_tiles
// CHECK: %[[BUF:[0-9a-z_]+]] = tile.shared_alloc {{.*}} : !tile.shared<64x128xbf16, 2>
// CHECK-NEXT: %[[FULL:[0-9a-z_]+]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[FULL]] : !tile.mbarriers<2>
// CHECK-NOT: tile.shared_alloc
// CHECK: %[[EMPTY:[0-9a-z_]+]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[EMPTY]] {count = 4 : i32}
// CHECK-NEXT: tile.warp_specialize producer_warps(4) {
// CHECK: %{{.*}} = scf.for %[[T:[0-9a-z_]+]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[PBASE:[0-9a-z_]+]] = %{{.*}}) -> (i32) : i32 {
// CHECK: %[[MID:[0-9a-z_]+]] = arith.muli %[[T]], %c64_i32
// CHECK: scf.for %{{.*}} = %c0_i32{{.*}} to %[[MID]]
// CHECK: %[[G1:[0-9a-z_]+]] = arith.addi %[[PBASE]], %{{.*}}
// CHECK: %[[S1:[0-9a-z_]+]] = arith.remui %[[G1]], %c2_i32
// CHECK: tile.mbarrier_wait %[[EMPTY]][%[[S1]]]
// CHECK: tile.tma_copy {{.*}}, %[[BUF]][%[[S1]]], %[[FULL]] {single_thread}
// CHECK: %[[PBASE2:[0-9a-z_]+]] = arith.addi %[[PBASE]], %{{.*}}
// CHECK: scf.for %{{.*}} = %[[MID]] to %arg7
// CHECK: %[[G2:[0-9a-z_]+]] = arith.addi %[[PBASE2]], %{{.*}}
// CHECK: tile.tma_copy {{.*}}, %[[BUF]][%{{.*}}], %[[FULL]] {single_thread}
// CHECK: %[[PNEXT:[0-9a-z_]+]] = arith.addi %[[PBASE2]], %{{.*}}
// CHECK: scf.yield %[[PNEXT]] : i32
// CHECK: } consumers {
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[CBASE:[0-9a-z_]+]] = %{{.*}}) -> (i32) : i32 {
// CHECK: scf.for {{.*}} iter_args
// CHECK-NOT: tile.tma_copy
// CHECK: arith.addi %[[CBASE]], %{{.*}}
// CHECK: tile.mbarrier_wait %[[FULL]]
// CHECK: tile.dot
// CHECK: tile.mbarrier_arrive %[[EMPTY]]
// CHECK: %[[CBASE2:[0-9]+]] = arith.addi %[[CBASE]], %{{[0-9]+}} : i32
// CHECK-NEXT: scf.for {{.*}} iter_args
// CHECK: arith.addi %[[CBASE2]], %{{.*}}
// CHECK: tile.mbarrier_wait %[[FULL]]
// CHECK: tile.dot
// CHECK: tile.mbarrier_arrive %[[EMPTY]]
// CHECK: tile.store
// CHECK: scf.yield %{{.*}} : i32
func.func @persistent_tiles(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                            %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                            %pid: i32, %tiles: i32, %programs: i32, %col: i32,
                            %out: !tile.desc<128x128xbf16>)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize} {
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

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Tile work before two TMA loops in sequence (FlashAttention's forward: Q,
// then the unmasked key blocks, then the masked ones; two stages, copies
// one iteration ahead). The split comes before A's load, which the
// consumers make. The loops' rings match (the same copy into buffers at the
// same offsets), so they share one: the second loop's buffer and barriers
// become the first's, and its iterations count on from the first's trips
// (ring iteration g = base + j, slot g mod 2, phase parity (g / 2) mod 2),
// in the producer, which clones the second loop's bound and waits for the
// release of each slot's previous fill only, and in the consumers, whose
// loops release the buffers of the iteration before at their top, and their
// last one after.
// CHECK-LABEL: func.func @sequence
// CHECK: %[[BUF:.*]] = tile.shared_alloc {{.*}} : !tile.shared<64x128xbf16, 2>
// CHECK-NEXT: %[[FULL:.*]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[FULL]] : !tile.mbarriers<2>
// CHECK-NEXT: %[[EMPTY:.*]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[EMPTY]] {count = 4 : i32}
// CHECK-NEXT: tile.warp_specialize producer_warps(4) {
// CHECK: %[[MID:.*]] = arith.addi %arg14, %c64_i32
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[MID]]
// CHECK: %[[G1:.*]] = arith.addi %c0_i32, %{{.*}}
// CHECK: %[[S1:.*]] = arith.remui %[[G1]], %c2_i32
// CHECK: tile.mbarrier_wait %[[EMPTY]][%[[S1]]]
// CHECK: tile.tma_copy {{.*}}, %[[BUF]][%[[S1]]], %[[FULL]] {single_thread}
// CHECK: }
// CHECK-NOT: tile.mbarrier_wait
// CHECK: %[[BASE:.*]] = arith.addi %c0_i32, %{{.*}}
// CHECK: scf.for %{{.*}} = %[[MID]] to %arg7
// CHECK: %[[G2:.*]] = arith.addi %[[BASE]], %{{.*}}
// CHECK: %[[S2:.*]] = arith.remui %[[G2]], %c2_i32
// CHECK: tile.mbarrier_wait %[[EMPTY]][%[[S2]]]
// CHECK: tile.tma_copy {{.*}}, %[[BUF]][%[[S2]]], %[[FULL]] {single_thread}
// CHECK: } consumers {
// CHECK: tile.load
// CHECK: scf.for
// CHECK-NOT: tile.tma_copy
// CHECK: tile.mbarrier_arrive %[[EMPTY]][%{{.*}}] if %{{.*}} {distance = 1 : i64}
// CHECK: tile.shared_view %[[BUF]]
// CHECK: tile.mbarrier_wait %[[FULL]]
// CHECK: tile.dot
// CHECK: tile.mbarrier_arrive %[[EMPTY]][%{{.*}}] if %{{.*}} :
// CHECK: %[[TRIPS:.*]] = arith.maxsi
// CHECK: scf.for
// CHECK-NOT: tile.tma_copy
// CHECK: %[[RG:.*]] = arith.addi %[[TRIPS]], %{{.*}}
// CHECK: %[[RS:.*]] = arith.remui %[[RG]]
// CHECK: tile.mbarrier_arrive %[[EMPTY]][%[[RS]]] if %{{.*}} {distance = 1 : i64}
// CHECK: %[[CG:.*]] = arith.addi %[[TRIPS]], %{{.*}}
// CHECK: %[[CS:.*]] = arith.remui %[[CG]], %c2_i32
// CHECK: %[[CF:.*]] = arith.divui %[[CG]], %c2_i32
// CHECK: %[[CP:.*]] = arith.andi %[[CF]], %c1_i32
// CHECK: tile.shared_view %[[BUF]][%[[CS]]]
// CHECK: tile.mbarrier_wait %[[FULL]][%[[CS]]], %[[CP]]
// CHECK: tile.dot
// CHECK: tile.mbarrier_arrive %[[EMPTY]][%{{.*}}] if %{{.*}} :
// CHECK-NOT: tile.tma_copy
// CHECK: return
func.func @sequence(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                    %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                    %row: i32, %col: i32, %out: !tile.desc<128x128xbf16>, %c1: i32, %half: i32)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
  %a = tile.load %da[%row, %c0] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
  %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
  // A bound computed after the tile work: the producer clones it.
  %mid = arith.addi %half, %c64 : i32
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
  %t = tile.convert_layout %h : tensor<128x128xbf16, #mma> -> tensor<128x128xbf16, #bb>
  tile.store %out[%row, %col], %t : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #bb>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [8, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Ping-pong (tile.ping_pong, two consumer warpgroups): in both loops the
// warpgroups take turns issuing the dot, handing the turn over right after
// the issue; warpgroup 1 gives the first turn, warpgroup 0 takes back the
// last. Lowered: warpgroup w syncs on named barrier 2 + w and arrives on the
// other's (256 threads), the first and last turns guarded by the warpgroup.
// CHECK-LABEL: func.func @ping_pong
// CHECK: } consumers {
// CHECK-NEXT: tile.turn_start
// CHECK: scf.for
// CHECK: tile.turn_wait
// CHECK-NEXT: tile.dot
// CHECK-NEXT: tile.turn_pass
// CHECK: scf.for
// CHECK: tile.turn_wait
// CHECK-NEXT: tile.dot
// CHECK-NEXT: tile.turn_pass
// CHECK: tile.store
// CHECK-NEXT: tile.turn_finish
// GPU-LABEL: gpu.func @ping_pong
// GPU-DAG: %[[C256:.*]] = arith.constant 256 : i32
// GPU-DAG: %[[C2:.*]] = arith.constant 2 : i32
// GPU: scf.if
// GPU: nvvm.barrier.arrive id = %[[C2]] number_of_threads = %[[C256]]
// GPU: nvvm.barrier id = %{{.*}} number_of_threads = %[[C256]]
// GPU: llvm.inline_asm has_side_effects "{{.*}}wgmma.mma_async
// GPU: nvvm.barrier.arrive id = %{{.*}} number_of_threads = %[[C256]]
// GPU: nvvm.barrier id = %[[C2]] number_of_threads = %[[C256]]
func.func @ping_pong(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                     %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                     %row: i32, %col: i32, %out: !tile.desc<128x128xbf16>, %c1: i32, %half: i32)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 8 : i32, tile.tma,
                tile.warp_specialize, tile.ping_pong} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
  %a = tile.load %da[%row, %c0] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
  %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
  %mid = arith.addi %half, %c64 : i32
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
  %t = tile.convert_layout %h : tensor<128x128xbf16, #mma> -> tensor<128x128xbf16, #bb>
  tile.store %out[%row, %col], %t : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #bb>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [8, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A turn holds the products issued back to back (FlashAttention-3's S_j and
// P_{j-1}·V_{j-1}) and ends before the exponential: the product after it
// is issued outside the turn.
// CHECK-LABEL: func.func @ping_pong_two_products
// CHECK: scf.for
// CHECK: tile.turn_wait
// CHECK-NEXT: = tile.dot %
// CHECK-NEXT: = tile.dot %
// CHECK-NEXT: tile.turn_pass
// CHECK-NEXT: math.exp2
// CHECK-NEXT: = tile.dot %
// CHECK: scf.yield
func.func @ping_pong_two_products(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                                  %row: i32, %col: i32, %out: !tile.desc<128x128xf32>)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 8 : i32, tile.tma,
                tile.warp_specialize, tile.ping_pong} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
  %a = tile.load %da[%row, %c0] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
  %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
  %r:2 = scf.for %k = %c0 to %arg7 step %c64 iter_args(%acc = %cst, %acc2 = %cst) -> (tensor<128x128xf32, #mma>, tensor<128x128xf32, #mma>) : i32 {
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %ob2 = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %ob3 = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %s = tile.dot %oa, %ob, %cst : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    %d = tile.dot %oa, %ob2, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    %e = math.exp2 %s : tensor<128x128xf32, #mma>
    %d2 = tile.dot %oa, %ob3, %e : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d, %d2 : tensor<128x128xf32, #mma>, tensor<128x128xf32, #mma>
  }
  %sum = arith.addf %r#0, %r#1 : tensor<128x128xf32, #mma>
  tile.store %out[%row, %col], %sum : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [8, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Ping-pong in a persistent kernel (the consumers' key loops inside a tile
// loop): not applied, no turns (the attention forward hung so on the GPU).
// CHECK-LABEL: func.func @ping_pong_persistent
// CHECK: tile.warp_specialize producer_warps(4) {
// CHECK-NOT: tile.turn_
// CHECK: return
func.func @ping_pong_persistent(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                                %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                                %pid: i32, %tiles: i32, %programs: i32, %col: i32,
                                %out: !tile.desc<128x128xbf16>)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 8 : i32, tile.tma,
                tile.warp_specialize, tile.ping_pong} {
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
