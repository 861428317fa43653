// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory=arch=sm_90a --tile-pipeline-copies --tile-use-tma=arch=sm_90a --tile-publish-stagings=arch=sm_90a --convert-tile-to-gpu=arch=sm_90a --canonicalize --cse | FileCheck %s

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The lowering of TMA copies and mbarriers to upstream's NVVM ops. The
// tensor maps are pointer arguments the kernel lists (tile.tensor_maps) for
// tessera-tensor-map-params. Thread 0 initializes each buffer's four
// barriers, then a fence and a barrier publish them. A copy: thread 0, when
// in range, arms the slot's barrier with the tile's bytes (A: 128 rows x 64
// bf16 = 16384; B: 64 x 128 = 16384 in two panels) and issues one 2-D bulk
// tensor copy per 64-column panel, coordinates column first, into the
// shared::cluster window (the CTA's 32-bit shared address, no generic
// one between); B's second panel starts 64 columns and 8192 bytes
// on. Every thread tries the parity of its slot's barrier, and traps after
// 2^20 tries rather than hang.
// CHECK-LABEL: gpu.func @matmul
// CHECK-SAME: %[[MAPA:[^:]*]]: !llvm.ptr, %[[MAPB:[^:]*]]: !llvm.ptr)
// CHECK-SAME: tile.tensor_maps = array<i64: 13, 14>
// CHECK: scf.if
// CHECK-COUNT-4: nvvm.mbarrier.init %{{.*}}, %c1_i32
// CHECK: nvvm.fence.mbarrier.init
// CHECK-NEXT: gpu.barrier
// CHECK: scf.if
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[BAR:.*]], %c16384_i32 : !llvm.ptr<3>, i32
// CHECK-NOT: llvm.addrspacecast
// CHECK: %[[DST:.*]] = llvm.inttoptr %{{.*}} : i32 to !llvm.ptr<7>
// CHECK-NEXT: nvvm.cp.async.bulk.tensor.shared.cluster.global %[[DST]], %[[MAPA]], %[[BAR]], box[%{{.*}}, %{{.*}}]
// CHECK: scf.for
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[BARB:.*]], %c16384_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPB]], %[[BARB]], box[%[[COL:[^,]*]], %[[ROW:[a-z0-9_%]*]]]
// CHECK: %[[NEXTPANEL:.*]] = arith.addi %{{.*}}, %c8192_i32
// CHECK: %[[COL2:.*]] = arith.addi %[[COL]], %c64_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPB]], %[[BARB]], box[%[[COL2]], %[[ROW]]]
// CHECK: scf.while
// CHECK: llvm.inline_asm has_side_effects "{ .reg .pred p; mbarrier.try_wait.parity.shared.b64 p, [$1], $2, $3; selp.u32 $0, 1, 0, p; }", "=r,r,r,r" %{{.*}}, %{{.*}}, %c10000000_i32
// CHECK: arith.cmpi eq, %{{.*}}, %c1048576_i32
// CHECK-NEXT: scf.if
// CHECK: llvm.intr.trap
// CHECK: mbarrier.try_wait.parity
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK: wgmma.mma_async
func.func @matmul(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                  %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                  %row: i32, %col: i32, %out: !tile.desc<128x128xf32>)
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
  tile.store %out[%row, %col], %r : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Maps of rank-3 tensors (tile.at at batch index %i): each copy is a 3-D
// bulk tensor copy, coordinates innermost first: the column (the k-step for
// A, the panel's column for B), the row, then the batch index (%i for A,
// %i mod B's batch for B).
// CHECK-LABEL: gpu.func @batched
// CHECK-SAME: %[[I:[a-z0-9]+]]: i32, %{{[a-z0-9]+}}: !llvm.struct
// CHECK-SAME: %[[MAPA:[^:]*]]: !llvm.ptr, %[[MAPB:[^:]*]]: !llvm.ptr)
// CHECK: %[[IB:.*]] = arith.remsi %[[I]]
// CHECK: scf.for
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPA]], %{{.*}}, box[%{{.*}}, %{{.*}}, %[[I]]]
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPB]], %{{.*}}, box[%{{.*}}, %{{.*}}, %[[IB]]]
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPB]], %{{.*}}, box[%{{.*}}, %{{.*}}, %[[IB]]]
func.func @batched(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                   %arg5: i32, %arg6: i32,
                   %arg7: !tile.ptr<bf16>, %arg8: i32, %arg9: i32, %arg10: i32, %arg11: i32,
                   %arg12: i32, %arg13: i32,
                   %row: i32, %col: i32, %i: i32, %out: !tile.desc<128x128xf32>)
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
  tile.store %out[%row, %col], %r : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// An f32 block added into an aligned tensor (tile.atomic_add, TMA on): the
// threads write it into its staging tile (8-byte stores of the accumulator
// fragments, 32-byte panels: tile-use-tma's addStagingSwizzle), fence for
// the async proxy and meet at a barrier; thread 0 issues one bulk tensor add
// per 8-column panel (32 bytes: 64 rows x 32 = 2048 bytes apart) and
// commits them, and waits for their reads (`read`) only before the kernel
// returns. No element-wise reduction is left.
// CHECK-LABEL: gpu.func @adds
// CHECK-SAME: %[[MAP:[^:]*]]: !llvm.ptr)
// CHECK: llvm.inline_asm has_side_effects "st.shared.v2.f32
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// CHECK-NEXT: gpu.barrier
// CHECK: scf.if
// CHECK: nvvm.cp.async.bulk.tensor.reduce %[[MAP]], %{{.*}}, box[%[[COL:[^,]*]], %[[ROW:[a-z0-9_%]*]]] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK: %[[COL2:.*]] = arith.addi %[[COL]], %c8_i32
// CHECK: arith.addi %{{.*}}, %c2048_i32
// CHECK: nvvm.cp.async.bulk.tensor.reduce %[[MAP]], %{{.*}}, box[%[[COL2]], %[[ROW]]] {redKind = #nvvm.tma_redux_kind<add>}
// CHECK-COUNT-6: nvvm.cp.async.bulk.tensor.reduce %[[MAP]]
// CHECK-NEXT: nvvm.cp.async.bulk.commit.group
// CHECK: scf.if
// CHECK-NEXT: nvvm.cp.async.bulk.wait_group 0 {read}
// CHECK-NOT: red.global
// CHECK: gpu.return
func.func @adds(%pd: !tile.ptr<f32>, %rows: i32, %cols: i32, %stride: i32, %unit: i32,
                %row: i32, %col: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32, tile.tma} {
  %ones = arith.constant dense<1.000000e+00> : tensor<64x64xf32, #mma>
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %pd, [%rows, %cols], [%stride, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  tile.atomic_add %d[%row, %col], %ones : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#ba = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#bb = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>
#row = #tile.slice<dim = 0, parent = #mma>

// A row vector (128 f32 of row h of a (b, h, n) tensor) by TMA: a 3-D bulk
// tensor copy of one box, coordinates column first, then h and b, arming
// its barrier with 512 bytes; in the loop each thread reads the 32 elements
// its accumulator columns need (pairs: 2 x 8 consecutive columns of each
// 8-column group) as 16 8-byte shared loads at constant offsets from one
// address.
// CHECK-LABEL: gpu.func @row_vector
// CHECK-SAME: %[[MAPL:[^:]*]]: !llvm.ptr) kernel
// CHECK: nvvm.mbarrier.arrive.expect_tx %[[BARL:.*]], %c512_i32
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPL]], %[[BARL]], box[%c0_i32, %arg18, %arg17]
// CHECK: scf.for
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[MAPL]], %{{.*}}, box[%{{.*}}, %arg18, %arg17]
// CHECK: llvm.load %[[FIRST:[0-9]+]] {alignment = 8 : i64} : !llvm.ptr<3> -> vector<2xf32>
// CHECK-COUNT-15: llvm.getelementptr %[[FIRST]][{{[0-9]+}}] : (!llvm.ptr<3>) -> !llvm.ptr<3>, i8
// CHECK-NOT: llvm.load {{.*}}!llvm.ptr<1> -> f32
func.func @row_vector(%arg0: !tile.ptr<bf16>, %arg1: i32, %arg2: i32, %arg3: i32, %arg4: i32,
                      %arg5: !tile.ptr<bf16>, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32,
                      %arg10: !tile.ptr<f32>, %arg11: i32, %arg12: i32, %arg13: i32,
                      %arg14: i32, %arg15: i32, %arg16: i32,
                      %b: i32, %h: i32, %row: i32, %col: i32, %out: !tile.ptr<f32>)
    attributes {tile.kernel, tile.num_stages = 4 : i32, tile.num_warps = 4 : i32, tile.tma} {
  %cst = arith.constant dense<0.000000e+00> : tensor<128x128xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c64 = arith.constant 64 : i32
  %r = scf.for %k = %c0 to %arg2 step %c64 iter_args(%acc = %cst) -> (tensor<128x128xf32, #mma>) : i32 {
    %da = tile.make_desc %arg0, [%arg1, %arg2], [%arg3, %arg4] {aligned} : !tile.ptr<bf16> -> !tile.desc<128x64xbf16>
    %a = tile.load %da[%row, %k] : !tile.desc<128x64xbf16> -> tensor<128x64xbf16, #ba>
    %db = tile.make_desc %arg5, [%arg6, %arg7], [%arg8, %arg9] {aligned} : !tile.ptr<bf16> -> !tile.desc<64x128xbf16>
    %bt = tile.load %db[%k, %col] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bb>
    %lh = tile.at %arg10[%b, %h] strides [%arg14, %arg15] : !tile.ptr<f32>
    %dl = tile.make_desc %lh, [%arg13], [%c1] {aligned} : !tile.ptr<f32> -> !tile.desc<128xf32>
    %l = tile.load %dl[%k] : !tile.desc<128xf32> -> tensor<128xf32, #row>
    %oa = tile.convert_layout %a : tensor<128x64xbf16, #ba> -> tensor<128x64xbf16, #opa>
    %ob = tile.convert_layout %bt : tensor<64x128xbf16, #bb> -> tensor<64x128xbf16, #opb>
    %d = tile.dot %oa, %ob, %acc : tensor<128x64xbf16, #opa>, tensor<64x128xbf16, #opb> -> tensor<128x128xf32, #mma>
    %le = tile.expand_dims %l, 0 : tensor<128xf32, #row> -> tensor<1x128xf32, #mma>
    %lb = tile.broadcast %le : tensor<1x128xf32, #mma> -> tensor<128x128xf32, #mma>
    %s = arith.addf %d, %lb : tensor<128x128xf32, #mma>
    scf.yield %s : tensor<128x128xf32, #mma>
  }
  %do = tile.make_desc %out, [%c64, %c64], [%c64, %c1] : !tile.ptr<f32> -> !tile.desc<128x128xf32>
  tile.store %do[%c0, %c0], %r : !tile.desc<128x128xf32>, tensor<128x128xf32, #mma>
  return
}
