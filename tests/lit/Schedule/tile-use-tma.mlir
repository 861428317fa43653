// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma=arch=sm_90a | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_80 --tile-pipeline-copies --tile-use-tma=arch=sm_80 | FileCheck %s --check-prefix=SM80
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma="arch=sm_90a stage-row-vectors=false" | FileCheck %s --check-prefix=GLOBAL
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma="arch=sm_90a narrow-add-panels=false" | FileCheck %s --check-prefix=WIDE
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma="arch=sm_90a shifted-stores=false" | FileCheck %s --check-prefix=REGS

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A matmul's k-loop, four stages, both tensors aligned: each input gets a
// tensor map parameter (boxes of one 64-column panel: one for A's 128x64
// tile, two for B's 64x128), appended after the others and naming its
// pointer parameter; each buffer a set of four mbarriers after the shared
// tiles, initialized at the start. The first two iterations' copies go
// before the loop, predicated on being in range instead of zero-filled.
// In the loop a barrier opens the body, the copies of iteration j + 2
// follow it, then each buffer's readers wait on barrier j mod 4 with parity
// (j / 4) mod 2, and the dot finds both tiles ready. Nothing is left to
// drain after the loop.
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: %[[MAPA:[^:]*]]: !tile.tensormap<128x64xbf16, 0>,
// CHECK-SAME: %[[MAPB:[^:]*]]: !tile.tensormap<64x64xbf16, 5>)
// CHECK: %[[A:.*]] = tile.shared_alloc [0, 32768, 49152, 65536] : !tile.shared<128x64xbf16, 4>
// CHECK-NEXT: %[[BARA:.*]] = tile.mbarrier_alloc 131072 : !tile.mbarriers<4>
// CHECK-NEXT: tile.mbarrier_init %[[BARA]] : !tile.mbarriers<4>
// CHECK: %[[B:.*]] = tile.shared_alloc [16384, 81920, 98304, 114688] : !tile.shared<64x128xbf16, 4>
// CHECK-NEXT: %[[BARB:.*]] = tile.mbarrier_alloc 131104 : !tile.mbarriers<4>
// CHECK-NEXT: tile.mbarrier_init %[[BARB]] : !tile.mbarriers<4>
// CHECK: %[[RUNS0:.*]] = arith.cmpi slt
// CHECK: tile.tma_copy %[[MAPA]][%{{.*}}, %{{.*}}], %[[A]][%{{.*}}], %[[BARA]] if %[[RUNS0]] :
// CHECK: tile.tma_copy %[[MAPB]][%{{.*}}, %{{.*}}], %[[B]][%{{.*}}], %[[BARB]] if %[[RUNS0]] :
// CHECK: tile.tma_copy %[[MAPA]]
// CHECK: tile.tma_copy %[[MAPB]]
// CHECK: scf.for %[[IV:[^ ]*]] = %[[LB:[^ ]*]] to %[[UB:[^ ]*]] step %[[STEP:[^ ]*]] iter_args
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: tile.dot
// CHECK: %[[RUNS:.*]] = arith.cmpi slt, %{{.*}}, %[[UB]] : i32
// CHECK-NOT: tile.dot
// CHECK: tile.tma_copy %[[MAPA]][{{.*}}], %[[A]][%{{.*}}], %[[BARA]] if %[[RUNS]] {distance = 2 : i64}
// CHECK-NOT: tile.dot
// CHECK: tile.tma_copy %[[MAPB]][{{.*}}], %[[B]][%{{.*}}], %[[BARB]] if %{{.*}} {distance = 2 : i64}
// CHECK: %[[SLOTA:.*]] = arith.remui
// CHECK: tile.shared_view %[[A]][%[[SLOTA]]]
// CHECK: %[[SLOTB:.*]] = arith.remui
// CHECK: tile.shared_view %[[B]][%[[SLOTB]]]
// CHECK: %[[ROUND:.*]] = arith.divui %{{.*}}, %c4_i32
// CHECK: %[[PARITY:.*]] = arith.andi %[[ROUND]], %c1_i32
// CHECK-NEXT: tile.mbarrier_wait %[[BARA]][%[[SLOTA]]], %[[PARITY]] : !tile.mbarriers<4>
// CHECK: tile.mbarrier_wait %[[BARB]][%[[SLOTB]]]
// CHECK-NEXT: tile.dot {{.*}}readyA = true, readyB = true
// CHECK-NOT: gpu.barrier
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NOT: tile.async_wait
// CHECK-NOT: tile.async_copy
// CHECK: return

// On sm_80 nothing changes: cp.async copies, no tensor maps.
// SM80-LABEL: func.func @matmul
// SM80-NOT: tensormap
// SM80: tile.async_copy
// SM80-NOT: tile.tma_copy
// SM80: tile.async_wait 0
func.func @matmul(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32) -> tensor<128x128xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
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
  return %r : tensor<128x128xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// B's strides may not be 16-byte multiples (no {aligned}): TMA cannot
// describe it, and the loop keeps cp.async for both tiles (one wait
// discipline per loop).
// CHECK-LABEL: func.func @unaligned
// CHECK-NOT: tensormap
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_wait 0
func.func @unaligned(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                     %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                     %row: i32, %col: i32) -> tensor<128x128xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 3 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  return %r : tensor<128x128xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Two stages, the kernel not asking for TMA (no tile.tma): unchanged.
// CHECK-LABEL: func.func @not_asked
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_copy
func.func @not_asked(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                     %row: i32, %b: tensor<64x128xbf16, #opb>) -> tensor<128x128xf32, #mma>
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %d = tile.dot %oa, %b, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  return %r : tensor<128x128xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A persistent kernel: the k-loop runs once per trip of a tile loop, with
// the same bounds every trip. Its copies move onto TMA too, the first two
// inside the tile loop; the barriers' phases count on across trips: trip t
// finds slot s filled t * ceil((n - s) / 4) times before it (n k-steps a
// trip), so iteration j waits for parity (t * f(j mod 4) + j / 4) mod 2.
// CHECK-LABEL: func.func @persistent
// CHECK: scf.for %[[T:[^ ]*]] = %[[PID:[^ ]*]] to %{{.*}} step %[[NP:[^ ]*]] : i32 {
// CHECK: tile.tma_copy
// CHECK: scf.for %[[IV:[^ ]*]] = %{{.*}} to %[[UB:[^ ]*]] step %{{.*}} iter_args
// CHECK-NEXT: gpu.barrier
// CHECK: tile.tma_copy {{.*}} {distance = 2 : i64}
// CHECK: tile.convert_layout
// CHECK: tile.convert_layout
// CHECK: %[[J:.*]] = arith.divsi
// CHECK: %[[FILL:.*]] = arith.divui %[[J]], %c4
// CHECK: %[[TD:.*]] = arith.subi %[[T]], %[[PID]]
// CHECK: %[[TRIP:.*]] = arith.divsi %[[TD]], %[[NP]]
// CHECK: %[[N:.*]] = arith.maxsi
// CHECK: %[[S:.*]] = arith.remui %[[J]], %c4
// CHECK: %[[LEFT:.*]] = arith.subi %[[N]], %[[S]]
// CHECK: %[[UP:.*]] = arith.addi %[[LEFT]], %c3
// CHECK: %[[EACHTRIP:.*]] = arith.divui %[[UP]], %c4
// CHECK: %[[BEFORE:.*]] = arith.muli %[[TRIP]], %[[EACHTRIP]]
// CHECK: %[[NUMBER:.*]] = arith.addi %[[BEFORE]], %[[FILL]]
// CHECK: %[[PARITY:.*]] = arith.andi %[[NUMBER]], %c1
// CHECK-NEXT: tile.mbarrier_wait %{{.*}}[%{{.*}}], %[[PARITY]]
func.func @persistent(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                      %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                      %pid: i32, %tiles: i32, %programs: i32, %col: i32, %out: !tile.desc<128x128xf32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
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

// A kernel of two-CTA clusters whose CTAs read the same B blocks
// ({cluster_shared}): B's copies (two panels, one per CTA) are multicast,
// A's stay each CTA's own. Peers write into each other's buffers and
// barriers, so the barriers after their initialization, at the top of the
// body and at the kernel's end are the cluster's.
// CHECK-LABEL: func.func @clustered
// CHECK: tile.mbarrier_init
// CHECK-NEXT: tile.cluster_barrier
// CHECK: tile.mbarrier_init
// CHECK-NEXT: tile.cluster_barrier
// CHECK: tile.tma_copy %{{.*}} : !tile.tensormap<128x64xbf16, 0>
// CHECK: tile.tma_copy {{.*}} {multicast = 2 : i64} : !tile.tensormap<64x64xbf16, 5>
// CHECK: scf.for
// CHECK-NEXT: tile.cluster_barrier
// CHECK-NOT: gpu.barrier
// CHECK: tile.tma_copy {{.*}} {distance = 2 : i64} : !tile.tensormap<128x64xbf16, 0>
// CHECK: tile.tma_copy {{.*}} {distance = 2 : i64, multicast = 2 : i64} : !tile.tensormap<64x64xbf16, 5>
// CHECK: scf.yield
// CHECK: tile.cluster_barrier
// CHECK-NEXT: return
// SM80-LABEL: func.func @clustered
// SM80-NOT: tile.cluster_barrier
// SM80: return
func.func @clustered(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                     %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                     %row: i32, %col: i32) -> tensor<128x128xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.cluster_size = 2 : i32} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned, cluster_shared} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  return %r : tensor<128x128xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// B's tile is one panel (64 columns): it cannot be shared out between the
// two CTAs, so nothing is multicast and the CTA's own barriers serve.
// CHECK-LABEL: func.func @one_panel
// CHECK-NOT: multicast
// CHECK-NOT: tile.cluster_barrier
// CHECK: return
func.func @one_panel(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                     %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                     %row: i32, %col: i32) -> tensor<128x64xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.cluster_size = 2 : i32} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x64xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x64xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned, cluster_shared} : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x64xbf16, #bb> -> tensor<64x64xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<128x64xf32, #mma>
    scf.yield %d : tensor<128x64xf32, #mma>
  }
  return %r : tensor<128x64xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// tile.tma_stores: the block stored after the loop (128 x 128 bf16, two
// panels) goes out through a staging tile at the start of the shared memory
// (the pipeline's buffers, dead by then; 32 KiB, below the barriers) and a
// tensor map of its own: written there once every warp is done with the
// space, fenced for the async proxy and published, sent by TMA, and the
// space held until TMA has read it (the issuing thread waits, then a
// barrier). The f32 store stays a plain store (TMA stores 16-bit blocks;
// f32 blocks go by TMA only as adds, below).
// CHECK-LABEL: func.func @stores
// CHECK-SAME: %[[MAPC:[^:]*]]: !tile.tensormap<128x64xbf16, 12>)
// CHECK: scf.for
// CHECK: scf.yield
// CHECK: %[[H:.*]] = arith.truncf
// CHECK: %[[STAGING:.*]] = tile.shared_alloc [0] : !tile.shared<128x128xbf16>
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[H]] at 0
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.tma_store %[[STAGING]], %[[MAPC]][%{{.*}}, %{{.*}}]
// CHECK-NEXT: tile.tma_store_wait
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: tile.tma_store
// CHECK: tile.store
func.func @stores(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32, %pc: !tile.ptr<bf16>, %pc_rows: i32, %pc_cols: i32,
                  %pc_stride: i32, %pc_unit: i32, %pd: !tile.ptr<f32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.tma_stores} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
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
  %dc = tile.make_desc %pc, [%pc_rows, %pc_cols], [%pc_stride, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x128xbf16>
  tile.store %dc[%row, %col], %h : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #mma>
  %dd = tile.make_desc %pd, [%arg1, %arg7], [%arg7, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<128x128xf32>
  tile.store %dd[%row, %col], %r : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A 16-bit block of a tensor TMA cannot describe (no `aligned`: rows of 111
// elements) goes through the same staging tile with shifted-stores: written
// there once every warp is done with the space, published, and every
// thread stores from it (no fence: no async proxy reads it; the kernel
// gains the loads' tensor maps only).
// The second block's first barrier keeps the space until the first's stores
// have read it. Without shifted-stores the registers store both (REGS).
// CHECK-LABEL: func.func @stores_of_misaligned_rows
// CHECK-SAME: %{{.*}}: !tile.tensormap<64x64xbf16, 5>) attributes
// CHECK: scf.for
// CHECK: scf.yield
// CHECK: %[[H:.*]] = arith.truncf
// CHECK: %[[DC:.*]] = tile.make_desc
// CHECK-NEXT: %[[STAGING:.*]] = tile.shared_alloc [0] : !tile.shared<128x128xbf16>
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[H]] at 0
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_from_staging %[[STAGING]], %[[DC]][%{{.*}}, %{{.*}}] : !tile.shared<128x128xbf16>, !tile.desc<128x128xbf16>
// CHECK: %[[DD:.*]] = tile.make_desc
// CHECK-NEXT: %[[SECOND:.*]] = tile.shared_alloc [0] : !tile.shared<128x128xbf16>
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[H]] at 0
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_from_staging %[[SECOND]], %[[DD]]
// CHECK-NOT: tile.store
// CHECK: return
// REGS-LABEL: func.func @stores_of_misaligned_rows
// REGS-NOT: tile.store_from_staging
// REGS: tile.store %{{.*}}, %{{.*}} : !tile.desc<128x128xbf16>
// REGS: tile.store %{{.*}}, %{{.*}} : !tile.desc<128x128xbf16>
func.func @stores_of_misaligned_rows(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32, %pc: !tile.ptr<bf16>, %pc_rows: i32, %pc_cols: i32,
                  %pc_stride: i32, %pc_unit: i32)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.tma_stores} {
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
  %dc = tile.make_desc %pc, [%pc_rows, %pc_cols], [%pc_stride, %pc_unit] : !tile.ptr<bf16> -> !tile.desc<128x128xbf16>
  tile.store %dc[%row, %col], %h : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #mma>
  %dd = tile.make_desc %pc, [%pc_rows, %pc_cols], [%pc_stride, %pc_unit] : !tile.ptr<bf16> -> !tile.desc<128x128xbf16>
  tile.store %dd[%col, %row], %h : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The same beside a producer warpgroup: the stores follow every loop, whose
// fills the consumers have all waited for, so the ring's memory is free; the
// barriers become the consumers' own (tile-warp-specialize's lowering).
// CHECK-LABEL: func.func @stores_beside_a_producer
// CHECK-SAME: %[[MAPC:[^:]*]]: !tile.tensormap<128x64xbf16, 12>)
// CHECK: scf.for
// CHECK: scf.yield
// CHECK: %[[H:.*]] = arith.truncf
// CHECK: %[[STAGING:.*]] = tile.shared_alloc [0] : !tile.shared<128x128xbf16>
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[H]] at 0
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.tma_store %[[STAGING]], %[[MAPC]][%{{.*}}, %{{.*}}]
// CHECK-NEXT: tile.tma_store_wait
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: tile.tma_store
// CHECK: tile.store
func.func @stores_beside_a_producer(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32, %pc: !tile.ptr<bf16>, %pc_rows: i32, %pc_cols: i32,
                  %pc_stride: i32, %pc_unit: i32, %pd: !tile.ptr<f32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.tma_stores, tile.warp_specialize} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
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
  %dc = tile.make_desc %pc, [%pc_rows, %pc_cols], [%pc_stride, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x128xbf16>
  tile.store %dc[%row, %col], %h : !tile.desc<128x128xbf16>, tensor<128x128xbf16, #mma>
  %dd = tile.make_desc %pd, [%arg1, %arg7], [%arg7, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<128x128xf32>
  tile.store %dd[%row, %col], %r : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Clusters around a persistent kernel's tile loop: its programs may run
// different numbers of tiles, so a multicast could land in a peer that never
// waits for it. Nothing is multicast; the CTA's own barriers serve.
// CHECK-LABEL: func.func @persistent_clustered
// CHECK-NOT: multicast
// CHECK-NOT: tile.cluster_barrier
// CHECK: return
func.func @persistent_clustered(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                                %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                                %pid: i32, %tiles: i32, %programs: i32, %col: i32, %out: !tile.desc<128x128xf32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.cluster_size = 2 : i32} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %c128 = arith.constant 128 : i32
  scf.for %t = %pid to %tiles step %programs : i32 {
    %row = arith.muli %t, %c128 : i32
    %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
      %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
      %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
      %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned, cluster_shared} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
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

// A batched matmul's k-loop over the matrices of rank-3 tensors at batch
// index %i (tile.at): the tensor maps are of the whole tensors (rank = 3),
// and every copy's coordinates lead with %i, then the row and the column.
// B's view at batch %i mod its batch size is a view like any other.
// CHECK-LABEL: func.func @batched
// CHECK-SAME: %[[MAPA:[^:]*]]: !tile.tensormap<128x64xbf16, 0, rank = 3>,
// CHECK-SAME: %[[MAPB:[^:]*]]: !tile.tensormap<64x64xbf16, 7, rank = 3>)
// CHECK: tile.tma_copy %[[MAPA]][%[[I:[^,]*]], %{{.*}}, %{{.*}}], %{{.*}}[%{{.*}}], %{{.*}} if
// CHECK: tile.tma_copy %[[MAPB]][%[[IB:[^,]*]], %{{.*}}, %{{.*}}], %{{.*}}[%{{.*}}], %{{.*}} if
// CHECK: scf.for
// CHECK: tile.tma_copy %[[MAPA]][%[[I]], %{{.*}}, %{{.*}}], {{.*}} {distance = 2 : i64}
// CHECK: tile.tma_copy %[[MAPB]][%[[IB]], %{{.*}}, %{{.*}}], {{.*}} {distance = 2 : i64}
// CHECK-NOT: tile.async_copy
// CHECK: return
func.func @batched(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                   %arg5: i32, %arg6: i32,
                   %arg7: !tile.ptr<bf16>, %arg8: i32, %arg9: i32, %arg10: i32, %arg11: i32,
                   %arg12: i32, %arg13: i32,
                   %i: i32, %row: i32, %col: i32) -> tensor<128x128xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %a = tile.at %arg0[%i] strides [%arg4] : !tile.ptr<bf16>
  %ib = arith.remsi %i, %arg8 : i32
  %b = tile.at %arg7[%ib] strides [%arg11] : !tile.ptr<bf16>
  %r = scf.for %k = %c0 to %arg3 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %a, [%arg2, %arg3], [%arg5, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %ta = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %b, [%arg9, %arg10], [%arg12, %arg13] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %tb = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %ta : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %tb : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  return %r : tensor<128x128xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The launch encodes a tensor map from the tensor's own sizes and strides:
// a view whose descriptor has other sizes (A's rows here: %row, not
// %arg2), or whose tile.at strides are not its leading ones (B's: %arg12,
// not %arg11), is no block of the tensor TMA would copy. Both keep cp.async.
// CHECK-LABEL: func.func @not_the_tensors_own
// CHECK-NOT: tensormap
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_copy
// CHECK: return
func.func @not_the_tensors_own(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32,
                               %arg4: i32, %arg5: i32, %arg6: i32,
                               %arg7: !tile.ptr<bf16>, %arg8: i32, %arg9: i32, %arg10: i32,
                               %arg11: i32, %arg12: i32, %arg13: i32,
                               %i: i32, %row: i32, %col: i32) -> tensor<128x128xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %a = tile.at %arg0[%i] strides [%arg4] : !tile.ptr<bf16>
  %b = tile.at %arg7[%i] strides [%arg12] : !tile.ptr<bf16>
  %r = scf.for %k = %c0 to %arg3 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %a, [%row, %arg3], [%arg5, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %ta = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %b, [%arg9, %arg10], [%arg12, %arg13] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %tb = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %ta : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %tb : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    scf.yield %d : tensor<128x128xf32, #mma>
  }
  return %r : tensor<128x128xf32, #mma>
}

// -----

// Two dots back to back, the first waiting for and publishing the second's
// copied tile too (publishNext = at_start: one cp.async wait and one barrier
// for both, attention's backward). On TMA each waits for its own tile's
// barrier, right before it, and publishes nothing.
// CHECK-LABEL: func.func @publishes_next
// CHECK-SAME: %[[MAPB:[^:]*]]: !tile.tensormap<64x64xbf16, 5>, %[[MAPC:[^:]*]]: !tile.tensormap<64x64xbf16, 10>)
// CHECK: scf.for
// CHECK: tile.tma_copy %[[MAPB]][{{.*}}], %{{.*}}, %[[BARB:[0-9]+]] if {{.*}} {distance = 1 : i64}
// CHECK: tile.tma_copy %[[MAPC]][{{.*}}], %{{.*}}, %[[BARC:[0-9]+]] if {{.*}} {distance = 1 : i64}
// CHECK: tile.mbarrier_wait %[[BARB]]
// CHECK-NEXT: tile.dot {{.*}}readyB = true, publishNext = none
// CHECK: tile.mbarrier_wait %[[BARC]]
// CHECK-NEXT: tile.dot {{.*}}readyB = true, publishNext = none
// CHECK-NOT: tile.async_copy
#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>
func.func @publishes_next(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                          %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                          %arg10: !tile.ptr<bf16>, %arg11: i32, %arg12: i32, %arg13: i32, %arg14: i32,
                          %row: i32, %col: i32) -> tensor<64x128xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<64x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  %a = tile.load %da[%row, %c0] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #ba>
  %oa = tile.convert_layout %a : tensor<64x64xbf16, #ba> -> tensor<64x64xbf16, #opa>
  %r = scf.for %k = %c0 to %arg7 step %c64 iter_args(%acc = %cst) -> (tensor<64x128xf32, #mma>) : i32 {
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %dc = tile.make_desc %arg10, [%arg11, %arg12], [%arg13, %arg14] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %c = tile.load %dc[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d1 = tile.dot %oa, %ob, %acc : tensor<64x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<64x128xf32, #mma>
    %oc = tile.convert_layout %c : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d2 = tile.dot %oa, %oc, %d1 : tensor<64x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<64x128xf32, #mma>
    scf.yield %d2 : tensor<64x128xf32, #mma>
  }
  return %r : tensor<64x128xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// tile.atomic_add of f32 blocks into aligned tensors becomes a TMA bulk add
// (tile.tma_store add) from a staging tile of its own, placed after the
// loop's buffers and before their barriers (128 x 128 f32: 64 KiB at
// 131072; the second, 64 x 32, at 196608), each with a tensor map of 32-byte
// panels (8 f32 columns: an mma accumulator's pairs meet in the same banks
// of wider ones, addStagingSwizzle). In the loop the block is written once the
// previous iteration's add has read the tile: the wait goes before the
// barrier that opens the body. Outside a loop the wait and a barrier of its
// own come first. The kernel waits for the last add's read before it
// returns. An unaligned tensor keeps tile.atomic_add.
// CHECK-LABEL: func.func @adds
// CHECK-SAME: %[[MAPD:[^:]*]]: !tile.tensormap<128x8xf32, 12>,
// CHECK-SAME: %[[MAPE:[^:]*]]: !tile.tensormap<64x8xf32, 17>)
// CHECK-DAG: %[[SMALL:.*]] = tile.shared_alloc [196608] : !tile.shared<64x32xf32, 1, swizzle = 32>
// CHECK-DAG: %[[STAGING:.*]] = tile.shared_alloc [131072] : !tile.shared<128x128xf32, 1, swizzle = 32>
// CHECK: tile.mbarrier_alloc 204800 : !tile.mbarriers<4>
// CHECK: scf.for
// CHECK-NEXT: tile.tma_store_wait
// CHECK-NEXT: gpu.barrier
// CHECK: %[[D:.*]] = tile.dot
// CHECK-NEXT: tile.store_staging %[[D]] at 131072 exact swizzle 32 : tensor<128x128xf32, #tile.mma
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.tma_store add %[[STAGING]], %[[MAPD]][%{{.*}}, %{{.*}}] : !tile.shared<128x128xf32, 1, swizzle = 32>, !tile.tensormap<128x8xf32, 12>
// CHECK-NEXT: }
// CHECK: tile.tma_store_wait
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %{{.*}} at 196608 exact swizzle 32 : tensor<64x32xf32, #tile.mma
// CHECK-NEXT: tile.fence_async_shared
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.tma_store add %[[SMALL]], %[[MAPE]]
// CHECK-NOT: tile.tma_store
// CHECK: tile.atomic_add
// CHECK-NEXT: tile.tma_store_wait
// CHECK-NEXT: return

// Without narrow-add-panels (the pipeline's default until a GPU has run
// them: TESSERA_NARROW_ADD_PANELS=1), the widest panels: 128 bytes.
// WIDE-LABEL: func.func @adds
// WIDE-SAME: !tile.tensormap<128x32xf32, 12>
// WIDE-SAME: !tile.tensormap<64x32xf32, 17>
// WIDE: tile.shared_alloc [196608] : !tile.shared<64x32xf32>{{$}}
// WIDE: tile.store_staging %{{.*}} at 131072 exact : tensor<128x128xf32

// SM80-LABEL: func.func @adds
// SM80-NOT: tile.tma_store
// SM80-COUNT-3: tile.atomic_add
func.func @adds(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                %row: i32, %col: i32, %pd: !tile.ptr<f32>, %pd_rows: i32, %pd_cols: i32,
                %pd_stride: i32, %pd_unit: i32, %pe: !tile.ptr<f32>, %pe_rows: i32,
                %pe_cols: i32, %pe_stride: i32, %pe_unit: i32)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %ones = arith.constant dense<1.000000e+00> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %dd = tile.make_desc %pd, [%pd_rows, %pd_cols], [%pd_stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<128x128xf32>
  scf.for %k = %c0 to %arg2 step %c64 : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %cst : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    tile.atomic_add %dd[%row, %k], %d : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  }
  %de = tile.make_desc %pe, [%pe_rows, %pe_cols], [%pe_stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x32xf32>
  tile.atomic_add %de[%row, %col], %ones : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  %du = tile.make_desc %pe, [%pe_rows, %pe_cols], [%pe_stride, %c1] : !tile.ptr<f32> -> !tile.desc<64x32xf32>
  tile.atomic_add %du[%row, %col], %ones : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#blocked = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>

// A block in another layout than an mma accumulator's keeps the widest
// panels (128 bytes, 32 f32 columns): its stores are not quads' pairs.
// CHECK-LABEL: func.func @blocked_add
// CHECK-SAME: !tile.tensormap<64x32xf32, 0>
// CHECK: tile.shared_alloc [0] : !tile.shared<64x64xf32>{{$}}
// CHECK: tile.store_staging %{{.*}} at 0 exact : tensor<64x64xf32, #tile.blocked
func.func @blocked_add(%pd: !tile.ptr<f32>, %rows: i32, %cols: i32, %stride: i32, %unit: i32,
                       %row: i32, %col: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32, tile.tma} {
  %ones = arith.constant dense<1.000000e+00> : tensor<64x64xf32, #blocked>
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %pd, [%rows, %cols], [%stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  tile.atomic_add %d[%row, %col], %ones : !tile.desc<64x64xf32>, tensor<64x64xf32, #blocked>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// A TMA add, then a TMA store whose staging tile (at 0) covers the add's
// (at 0 too: the kernel has no other shared memory): the store's staging is
// written only after the add has read its tile (the wait before the
// store's first barrier).
// CHECK-LABEL: func.func @add_then_store
// CHECK: %[[ADDS:.*]] = tile.shared_alloc [0] : !tile.shared<64x64xf32, 1, swizzle = 32>
// CHECK: tile.tma_store add %[[ADDS]]
// CHECK: tile.shared_alloc [0] : !tile.shared<64x64xbf16>
// CHECK-NEXT: tile.tma_store_wait
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %{{.*}} at 0 : tensor<64x64xbf16
func.func @add_then_store(%pd: !tile.ptr<f32>, %rows: i32, %cols: i32, %stride: i32, %unit: i32,
                          %pc: !tile.ptr<bf16>, %crows: i32, %ccols: i32, %cstride: i32,
                          %cunit: i32, %row: i32, %col: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32, tile.tma, tile.tma_stores} {
  %ones = arith.constant dense<1.000000e+00> : tensor<64x64xf32, #mma>
  %half = arith.constant dense<1.000000e+00> : tensor<64x64xbf16, #mma>
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %pd, [%rows, %cols], [%stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  tile.atomic_add %d[%row, %col], %ones : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  %dc = tile.make_desc %pc, [%crows, %ccols], [%cstride, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x64xbf16>
  tile.store %dc[%row, %col], %half : !tile.desc<64x64xbf16>, tensor<64x64xbf16, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// In a kernel that asks for a producer warpgroup, tile-warp-specialize will
// take the barrier that opens the body away: the add waits for the previous
// add's read right before its own barrier (the consumers' by then).
// CHECK-LABEL: func.func @adds_beside_a_producer
// CHECK: scf.for
// CHECK-NEXT: gpu.barrier
// CHECK-NOT: tile.tma_store_wait
// CHECK: %[[D:.*]] = tile.dot
// CHECK-NEXT: tile.tma_store_wait
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: tile.store_staging %[[D]] at {{[0-9]+}} exact
func.func @adds_beside_a_producer(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32,
                                  %arg4: i32, %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32,
                                  %arg8: i32, %arg9: i32, %row: i32, %col: i32,
                                  %pd: !tile.ptr<f32>, %pd_rows: i32, %pd_cols: i32,
                                  %pd_stride: i32, %pd_unit: i32)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warp_specialize} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %dd = tile.make_desc %pd, [%pd_rows, %pd_cols], [%pd_stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<128x128xf32>
  scf.for %k = %c0 to %arg2 step %c64 : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %cst : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    tile.atomic_add %dd[%row, %k], %d : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  }
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// An add under an scf.if keeps tile.atomic_add: the bulk add's barriers
// would be inside a branch.
// CHECK-LABEL: func.func @add_under_if
// CHECK: scf.if
// CHECK-NEXT: tile.atomic_add
// CHECK-NOT: tile.tma_store
func.func @add_under_if(%pd: !tile.ptr<f32>, %rows: i32, %cols: i32, %stride: i32, %unit: i32,
                        %row: i32, %col: i32, %cond: i1)
    attributes {tile.kernel, tile.num_warps = 4 : i32, tile.tma} {
  %ones = arith.constant dense<1.000000e+00> : tensor<64x64xf32, #mma>
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %pd, [%rows, %cols], [%stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  scf.if %cond {
    tile.atomic_add %d[%row, %col], %ones : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  }
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// An inner loop whose bound is computed inside the tile loop from values
// before it only (the same every trip) runs on TMA, as one with the bound
// defined before the loop does; one whose bound depends on the trip keeps
// cp.async (the phases could not count on across trips).
// CHECK-LABEL: func.func @bounds_inside_the_trip
// CHECK: scf.for
// CHECK: %[[END:.*]] = arith.subi %arg2, %c64
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[END]]
// CHECK-NEXT: gpu.barrier
// CHECK: tile.tma_copy {{.*}} {distance = 2 : i64}
// CHECK: %[[VARYING:.*]] = arith.subi %arg2, %[[T:.*]] : i32
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[VARYING]]
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_copy
func.func @bounds_inside_the_trip(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32,
                                  %arg4: i32, %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32,
                                  %arg8: i32, %arg9: i32, %pid: i32, %tiles: i32,
                                  %programs: i32, %col: i32, %out: !tile.desc<128x128xf32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c64 = arith.constant 64 : i32
  %c128 = arith.constant 128 : i32
  scf.for %t = %pid to %tiles step %programs : i32 {
    %row = arith.muli %t, %c128 : i32
    %end = arith.subi %arg2, %c64 : i32
    %r = scf.for %k = %c0 to %end step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
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
    %varying = arith.subi %arg2, %t : i32
    %s = scf.for %k = %c0 to %varying step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
      %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
      %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
      %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
      %b = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
      %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
      %ob = tile.convert_layout %b : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
      %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
      scf.yield %d : tensor<128x128xf32, #mma>
    }
    tile.store %out[%row, %col], %s : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  }
  return
}

// -----

// Without a producer, a loop that continues the one before it (lower bound
// the first's upper one, the same step) and copies alike (the same tensor
// map, indices of the same form, buffers at the same offsets) shares its
// ring (shared-rings): one buffer and one barrier set. Where the first's
// range is whole steps (checked when the kernel runs), the first loop's
// copy before it and its lookahead copy run on to the second's upper bound
// (they bring the second's first tile), and the second's copy before it is
// off; else that copy runs, into the slot its iteration counts on to. The
// second's iterations count on from the first's trips (slot and phase of
// its view, wait and own lookahead copy).
// CHECK-LABEL: func.func @continued_loops
// CHECK: %[[BUF:.*]] = tile.shared_alloc {{.*}} : !tile.shared<64x128xbf16, 2>
// CHECK-NEXT: %[[FULL:.*]] = tile.mbarrier_alloc
// CHECK-NEXT: tile.mbarrier_init %[[FULL]]
// CHECK-NOT: tile.shared_alloc
// CHECK: %[[MID:.*]] = arith.addi %arg14, %c64_i32
// CHECK: %[[SPAN:.*]] = arith.subi %[[MID]], %c0_i32
// CHECK: %[[REM:.*]] = arith.remsi %[[SPAN]], %c64_i32
// CHECK: %[[WHOLE:.*]] = arith.andi
// CHECK: %[[END:.*]] = arith.select %[[WHOLE]], %arg7, %[[MID]] : i32
// CHECK: %[[FIRST:.*]] = arith.cmpi slt, %{{.*}}, %[[END]] : i32
// CHECK-NEXT: tile.tma_copy %arg15[%c0_i32, %arg11], %[[BUF]][%{{.*}}], %[[FULL]] if %[[FIRST]]
// CHECK-NEXT: scf.for %{{.*}} = %c0_i32 to %[[MID]]
// CHECK: %[[AHEAD:.*]] = arith.cmpi slt, %{{.*}}, %[[END]] : i32
// CHECK-NEXT: tile.tma_copy {{.*}}, %[[BUF]][%{{.*}}], %[[FULL]] if %[[AHEAD]] {distance = 1 : i64}
// CHECK: scf.yield
// CHECK: %[[TRIPS:.*]] = arith.maxsi
// CHECK: %[[PARTIAL:.*]] = arith.xori %[[WHOLE]], %true
// CHECK: %[[OFF:.*]] = arith.andi %{{.*}}, %[[PARTIAL]] : i1
// CHECK: %[[PG:.*]] = arith.addi %[[TRIPS]], %{{.*}}
// CHECK: %[[PS:.*]] = arith.remui %[[PG]], %c2_i32
// CHECK: tile.tma_copy %arg15[%[[MID]], %arg11], %[[BUF]][%[[PS]]], %[[FULL]] if %[[OFF]]
// CHECK: scf.for %{{.*}} = %[[MID]] to %arg7
// CHECK: %[[G:.*]] = arith.addi %[[TRIPS]], %{{.*}}
// CHECK: %[[SLOT:.*]] = arith.remui %[[G]], %c2_i32
// CHECK: tile.tma_copy {{.*}}, %[[BUF]][%{{.*}}], %[[FULL]] if %{{.*}} {distance = 1 : i64}
// CHECK: tile.shared_view %[[BUF]][%[[SLOT]]]
// CHECK: tile.mbarrier_wait %[[FULL]][%[[SLOT]]]
// SM80-LABEL: func.func @continued_loops
// SM80-NOT: tile.tma_copy
#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

func.func @continued_loops(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                    %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                    %row: i32, %col: i32, %out: !tile.desc<128x128xbf16>, %c1: i32, %half: i32)
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma} {
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

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// f32 tiles a tf32 wgmma reads (attention's K at TF32): TMA copies them
// where their loads promise tf32 values (attention_prepare_kv rounded K),
// boxes of one 32-column panel (128 bytes of f32); a tile the schedule must
// round in place after its wait (no promise) keeps cp.async, whose wait
// the rounding follows, and so does a promised tile that tf32 mma.sync
// reads (a kernel kept off wgmma): only tf32 wgmma's f32 tiles go by TMA.
// CHECK-LABEL: func.func @tf32_rounded_by_tma
// CHECK: tile.tma_copy %{{.*}} : !tile.tensormap<32x32xf32, 0>, !tile.shared<32x64xf32, 2>
// CHECK-NOT: tile.async_copy
// CHECK-LABEL: func.func @tf32_to_round_by_cp_async
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_copy
// CHECK-LABEL: func.func @tf32_mma_sync_by_cp_async
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_copy
func.func @tf32_rounded_by_tma(%arg0: !tile.ptr<f32>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                               %q: tensor<64x64xf32, #opa>) -> tensor<64x32xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %j = %c0 to %arg1 step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %dk = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<f32> -> !tile.desc<32x64xf32>
    %k = tile.load %dk[%j, %c0] {tf32_rounded} : !tile.desc<32x64xf32> -> tensor<32x64xf32, #bl>
    %kt = tile.trans %k : tensor<32x64xf32, #bl> -> tensor<64x32xf32, #opb>
    %s = tile.dot %q, %kt, %acc {tf32} : tensor<64x64xf32, #opa>, tensor<64x32xf32, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %s : tensor<64x32xf32, #mma>
  }
  return %r : tensor<64x32xf32, #mma>
}
func.func @tf32_to_round_by_cp_async(%arg0: !tile.ptr<f32>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                                     %q: tensor<64x64xf32, #opa>) -> tensor<64x32xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %j = %c0 to %arg1 step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %dk = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<f32> -> !tile.desc<32x64xf32>
    %k = tile.load %dk[%j, %c0] : !tile.desc<32x64xf32> -> tensor<32x64xf32, #bl>
    %kt = tile.trans %k : tensor<32x64xf32, #bl> -> tensor<64x32xf32, #opb>
    %s = tile.dot %q, %kt, %acc {tf32} : tensor<64x64xf32, #opa>, tensor<64x32xf32, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %s : tensor<64x32xf32, #mma>
  }
  return %r : tensor<64x32xf32, #mma>
}
func.func @tf32_mma_sync_by_cp_async(%arg0: !tile.ptr<f32>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                               %q: tensor<64x64xf32, #opa>) -> tensor<64x32xf32, #mma>
    attributes {tile.kernel, tile.num_stages = 2 : i32, tile.num_warps = 4 : i32, tile.tma,
                tile.warpgroup_mma = false} {
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %j = %c0 to %arg1 step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %dk = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<f32> -> !tile.desc<32x64xf32>
    %k = tile.load %dk[%j, %c0] {tf32_rounded} : !tile.desc<32x64xf32> -> tensor<32x64xf32, #bl>
    %kt = tile.trans %k : tensor<32x64xf32, #bl> -> tensor<64x32xf32, #opb>
    %s = tile.dot %q, %kt, %acc {tf32} : tensor<64x64xf32, #opa>, tensor<64x32xf32, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %s : tensor<64x32xf32, #mma>
  }
  return %r : tensor<64x32xf32, #mma>
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>
#row = #tile.slice<dim = 0, parent = #mma>

// A row vector the loop loads (64 f32 of row h = k / 64 of the (b, h, n)
// tensor L, as the attention backward loads L and D) comes by TMA beside
// the tiles: a map of one-row boxes (its row the tile.at's last index), a
// ring of four one-row buffers on 128 bytes after the tiles' barriers and
// barriers of its own; its copies go after B's, before the loop and in it,
// under their predicates, into their slots, with k's arithmetic cloned
// (the iteration's k: the first two before the loop, two ahead in it).
// The load becomes a wait on the buffer's barrier and a 1-D view. Without
// stage-row-vectors, or where L's strides do not allow 16-byte vectors,
// it stays a load.
// CHECK-LABEL: func.func @row_vector
// CHECK-SAME: %[[MAPL:[^:]*]]: !tile.tensormap<1x64xf32, 10, rank = 3>)
// CHECK: %[[L:.*]] = tile.shared_alloc [131200, 131456, 131712, 131968] : !tile.shared<1x64xf32, 4>
// CHECK-NEXT: %[[BARL:.*]] = tile.mbarrier_alloc 132224 : !tile.mbarriers<4>
// CHECK-NEXT: tile.mbarrier_init %[[BARL]]
// CHECK: %[[RUNS0:.*]] = arith.cmpi slt
// CHECK: tile.tma_copy %[[MAPB:arg[0-9]+]][%{{.*}}, %{{.*}}], %{{.*}}[%[[SLOT0:[a-z0-9_]+]]], %{{.*}} if %[[RUNS0]] : !tile.tensormap<64x64xbf16, 5>
// CHECK-NEXT: %[[H0:.*]] = arith.divsi %{{.*}}, %c64
// CHECK-NEXT: tile.tma_copy %[[MAPL]][%arg17, %[[H0]], %{{.*}}], %[[L]][%[[SLOT0]]], %[[BARL]] if %[[RUNS0]] :
// CHECK: tile.tma_copy %[[MAPB]]{{.*}} : !tile.tensormap<64x64xbf16, 5>
// CHECK-NEXT: arith.divsi
// CHECK-NEXT: tile.tma_copy %[[MAPL]]
// CHECK: scf.for %[[IV:[^ ]*]] =
// CHECK-NEXT: gpu.barrier
// CHECK: tile.tma_copy %[[MAPB]][{{.*}}], %{{.*}}[%[[SLOT:[a-z0-9_]+]]], %{{.*}} if %[[RUNS:[a-z0-9_]+]] {distance = 2 : i64}
// CHECK: %[[H:.*]] = arith.divsi
// CHECK-NEXT: tile.tma_copy %[[MAPL]][%arg17, %[[H]], %{{.*}}], %[[L]][%[[SLOT]]], %[[BARL]] if %[[RUNS]] {distance = 2 : i64}
// CHECK-NOT: tile.load
// CHECK: tile.mbarrier_wait %[[BARL]][%[[LSLOT:[a-z0-9_]+]]], %{{.*}} : !tile.mbarriers<4>
// CHECK-NEXT: %[[LV:.*]] = tile.shared_view %[[L]][%[[LSLOT]]] : !tile.shared<1x64xf32, 4> -> tensor<64xf32, #tile.slice<dim = 0, parent = #tile.mma<warpsPerCTA = [4, 1]>>>
// CHECK: arith.addf %{{.*}}, %[[LV]]
// CHECK-NOT: tile.load
// CHECK: return
// GLOBAL-LABEL: func.func @row_vector
// GLOBAL-NOT: tile.shared<1x64xf32
// GLOBAL: tile.load %{{.*}} : !tile.desc<64xf32> -> tensor<64xf32
// GLOBAL-LABEL: func.func @unaligned_row_vector
// GLOBAL: tile.load %{{.*}} : !tile.desc<64xf32> -> tensor<64xf32
// CHECK-LABEL: func.func @unaligned_row_vector
// CHECK-NOT: tile.shared<1x64xf32
// CHECK: tile.load %{{.*}} : !tile.desc<64xf32> -> tensor<64xf32
func.func @row_vector(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                      %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                      %arg10: !tile.ptr<f32>, %arg11: i32, %arg12: i32, %arg13: i32,
                      %arg14: i32, %arg15: i32, %arg16: i32,
                      %b: i32, %row: i32, %col: i32) -> (tensor<128x128xf32, #mma>, tensor<64xf32, #row>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %zero = arith.constant dense<0.000000e+00> : tensor<64xf32, #row>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %r:2 = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst, %sum = %zero) -> (tensor<128x128xf32, #mma>, tensor<64xf32, #row>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %bt = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %h = arith.divsi %k, %c64 : i32
    %lh = tile.at %arg10[%b, %h] strides [%arg14, %arg15] : !tile.ptr<f32>
    %dl = tile.make_desc %lh, [%arg13], [%c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64xf32>
    %l = tile.load %dl[%col] : !tile.desc<64xf32> -> tensor<64xf32, #row>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %bt : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    %s = arith.addf %sum, %l : tensor<64xf32, #row>
    scf.yield %d, %s : tensor<128x128xf32, #mma>, tensor<64xf32, #row>
  }
  return %r#0, %r#1 : tensor<128x128xf32, #mma>, tensor<64xf32, #row>
}

func.func @unaligned_row_vector(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                                %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                                %arg10: !tile.ptr<f32>, %arg11: i32, %arg12: i32, %arg13: i32,
                                %arg14: i32, %arg15: i32, %arg16: i32,
                                %b: i32, %row: i32, %col: i32) -> (tensor<128x128xf32, #mma>, tensor<64xf32, #row>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %zero = arith.constant dense<0.000000e+00> : tensor<64xf32, #row>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %r:2 = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst, %sum = %zero) -> (tensor<128x128xf32, #mma>, tensor<64xf32, #row>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %bt = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %h = arith.divsi %k, %c64 : i32
    %lh = tile.at %arg10[%b, %h] strides [%arg14, %arg15] : !tile.ptr<f32>
    %dl = tile.make_desc %lh, [%arg13], [%c1] : !tile.ptr<f32> -> !tile.desc<64xf32>
    %l = tile.load %dl[%col] : !tile.desc<64xf32> -> tensor<64xf32, #row>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %bt : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    %s = arith.addf %sum, %l : tensor<64xf32, #row>
    scf.yield %d, %s : tensor<128x128xf32, #mma>, tensor<64xf32, #row>
  }
  return %r#0, %r#1 : tensor<128x128xf32, #mma>, tensor<64xf32, #row>
}
