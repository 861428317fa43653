// RUN: tessera-opt %s --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma=arch=sm_90a --tile-warp-specialize="arch=sm_90a shared-rings=false" | FileCheck %s

// tile-warp-specialize's shared-rings=false (TESSERA_SEPARATE_RINGS=1): two
// TMA loops in sequence after tile work keep a ring each, as before rings
// were shared: an "empty" set per loop; the producer clones the second
// loop's bound, fills the first loop's ring (a wait for the release of its
// previous fill from the second on), waits until both of its slots' last
// fills were released (the second ring shares their memory), then fills the
// second. The consumers' loops release the buffers of the iteration before
// at their top, and their last one after.
// CHECK-LABEL: func.func @sequence
// CHECK-COUNT-2: tile.mbarrier_init %{{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: %[[EMPTY1:.*]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[EMPTY1]] {count = 4 : i32}
// CHECK-NEXT: %[[EMPTY2:.*]] = tile.mbarrier_alloc {{[0-9]+}} : !tile.mbarriers<2>
// CHECK-NEXT: tile.mbarrier_init %[[EMPTY2]] {count = 4 : i32}
// CHECK-NEXT: tile.warp_specialize producer_warps(4) {
// CHECK: %[[MID:.*]] = arith.addi %arg14, %c64_i32
// CHECK: scf.for %{{.*}} = %c0_i32 to %[[MID]]
// CHECK: tile.mbarrier_wait %[[EMPTY1]]
// CHECK: tile.tma_copy {{.*}} {single_thread}
// CHECK: }
// CHECK-COUNT-2: tile.mbarrier_wait %[[EMPTY1]]
// CHECK: scf.for %{{.*}} = %[[MID]] to %arg7
// CHECK: tile.mbarrier_wait %[[EMPTY2]]
// CHECK: tile.tma_copy {{.*}} {single_thread}
// CHECK: } consumers {
// CHECK: tile.load
// CHECK: scf.for
// CHECK-NOT: tile.tma_copy
// CHECK: tile.mbarrier_arrive %[[EMPTY1]][%{{.*}}] if %{{.*}} {distance = 1 : i64}
// CHECK: tile.mbarrier_wait
// CHECK: tile.dot
// CHECK: tile.mbarrier_arrive %[[EMPTY1]][%{{.*}}] if %{{.*}} :
// CHECK: scf.for
// CHECK-NOT: tile.tma_copy
// CHECK: tile.mbarrier_arrive %[[EMPTY2]][%{{.*}}] if %{{.*}} {distance = 1 : i64}
// CHECK: tile.dot
// CHECK: tile.mbarrier_arrive %[[EMPTY2]][%{{.*}}] if %{{.*}} :
// CHECK-NOT: tile.tma_copy
// CHECK: return

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

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
