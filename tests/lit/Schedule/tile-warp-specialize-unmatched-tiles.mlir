// RUN: tessera-opt %s --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma=arch=sm_90a --tile-warp-specialize=arch=sm_90a | FileCheck %s

// A persistent kernel's two loops per tile, with bounds that change from
// tile to tile, that do not copy alike (the second loop copies another
// tensor's blocks): they cannot share one ring, so tile-use-tma leaves
// them on cp.async (producerCanTakeTiles) and the kernel runs without a
// producer warpgroup, correct, rather than on fill numbers counted per tile.
// CHECK-LABEL: func.func @unmatched_rings
// CHECK-NOT: tile.warp_specialize producer_warps
// CHECK-NOT: tile.tma_copy
// CHECK: tile.async_copy
#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

func.func @unmatched_rings(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
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
      %db = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
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
