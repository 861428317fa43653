// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s --check-prefixes=CHECK,SM90
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_80" --tile-pipeline-copies --tile-publish-stagings="arch=sm_80" --convert-tile-to-gpu="arch=sm_80" | FileCheck %s --check-prefixes=CHECK,SM80
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" --convert-tile-to-gpu="arch=sm_90a" --canonicalize --cse | FileCheck %s --check-prefix=NSPLIT

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// P·V of attention in f32 with {tf32}: on every arch mma.sync m16n8k8 (no
// wgmma: its tf32 reads a staged B k-major only, and here V's rows are k). A (an f32 accumulator) stays
// in registers; its lane holds columns 2t and 2t+1 of each 8, which feed the
// instruction's k-slots t and t+4, so B (copied into shared memory with
// 16-byte cp.async of 4 f32, k along its rows) is read at rows 2t and 2t+1
// with 32-bit loads: two per n-block and k-step. 32 deep: 4 k-steps, 4
// n-blocks, 16 mma per 16-row block.
// CHECK-LABEL: gpu.func @register_a_tf32
// CHECK: cp.async.cg.shared.global [$0], [$1], 16, $2;
// CHECK: nvvm.cp.async.wait.group 0
// SM80-NOT: nvvm.fence.proxy
// SM90-NEXT: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: gpu.barrier
// CHECK-NOT: wgmma
// CHECK-COUNT-2: ld.shared.b32 $0, [$1];
// Operands round to nearest TF32 (half an ulp, 1 << 12, added to the bits).
// CHECK: %[[HALF_ULP:.*]] = arith.constant 4096 : i32
// CHECK: arith.addi %{{.*}}, %[[HALF_ULP]] : i32
// CHECK: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<tf32>, multiplicandBPtxType = #nvvm.mma_type<tf32>, shape = #nvvm.shape<m = 16, n = 8, k = 8>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK-COUNT-15: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8
// CHECK-NOT: mma.sync
// CHECK: gpu.return
func.func @register_a_tf32(%d: !tile.desc<32x32xf32>, %o: !tile.desc<64x32xf32>, %n: i32,
                           %p: tensor<64x32xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xf32, #mma> -> tensor<64x32xf32, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<32x32xf32> -> tensor<32x32xf32, #bl>
  %b = tile.convert_layout %v : tensor<32x32xf32, #bl> -> tensor<32x32xf32, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %b, %z {tf32} : tensor<64x32xf32, #opa>, tensor<32x32xf32, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Q·Kᵀ in f32 with {tf32}: both operands staged with k along their rows.
// sm_80: the fragments come from ldmatrix in the instruction's own k order
// (an 8 x 8 b16 matrix is 8 rows of 4 f32): per 8-deep k-step one x4 for A
// and one x4 for each pair of n-blocks. The tiles take twice the bytes of
// bf16 ones.
// sm_90a: wgmma m64n32k8 reads both through descriptors, 32 bytes further
// per k-step (descriptor units of 16). It would truncate the f32 values, so
// each thread rounds the chunks it copied to nearest tf32 in place, after
// its wait and before the barrier that publishes them: 4 of Q, 2 of K.
// CHECK-LABEL: gpu.func @shared_operands_tf32
// SM90: nvvm.cp.async.wait.group 0
// SM90-COUNT-6: ld.shared.v4.b32 {x0, x1, x2, x3}, [$0];\0Acvt.rna.tf32.f32 x0, x0;
// SM90: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// SM90-NEXT: gpu.barrier
// SM90: nvvm.wgmma.fence.aligned
// SM90: %[[PIN:.*]] = llvm.inline_asm has_side_effects "mov.b64 $0, $1;"
// SM90: arith.addi %[[PIN]], %c0_i64
// SM90: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 32, k = 8>, D[<f32>, <zero>], A[<tf32>, <one>, <row>], B[<tf32>, <one>, <col>]
// SM90: arith.addi %[[PIN]], %c2_i64
// SM90-NOT: mma.sync
// SM80-NOT: ld.shared.b32
// SM80-NOT: cvt.rna
// SM80: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// SM80-NOT: .trans
// SM80: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8>
// CHECK: gpu.return
func.func @shared_operands_tf32(%dq: !tile.desc<64x32xf32>, %dk: !tile.desc<32x32xf32>,
                                %o: !tile.desc<64x32xf32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %q = tile.load %dq[%n, %n] : !tile.desc<64x32xf32> -> tensor<64x32xf32, #bl>
  %a = tile.convert_layout %q : tensor<64x32xf32, #bl> -> tensor<64x32xf32, #opa>
  %k = tile.load %dk[%n, %n] : !tile.desc<32x32xf32> -> tensor<32x32xf32, #bl>
  %kt = tile.trans %k : tensor<32x32xf32, #bl> -> tensor<32x32xf32, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %kt, %z {tf32} : tensor<64x32xf32, #opa>, tensor<32x32xf32, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 2]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Two warpgroups side by side along N (#tile.mma<[4, 2]>, 8 warps): warp w
// holds the column blocks w / 4, w / 4 + 2, ..., so warpgroup c issues
// m64n16 over B's 8-row groups c, c + 2: its descriptor starts c groups
// (c·1024 bytes of a 128-byte swizzle) into the tile with twice the usual
// stride between groups (SBO 2048 bytes, 128 in the field at bit 32).
// CHECK-LABEL: gpu.func @warpgroups_along_n_tf32
// SM90: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 16, k = 8>
// SM90-NOT: mma.sync
// SM80: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8>
// CHECK: gpu.return
// NSPLIT-LABEL: gpu.func @warpgroups_along_n_tf32
// NSPLIT-DAG: %[[A_FIELDS:.*]] = arith.constant 4611686293338849280 : i64
// NSPLIT-DAG: %[[B_FIELDS:.*]] = arith.constant 4611686568199979008 : i64
// NSPLIT-DAG: %[[C1024:.*]] = arith.constant 1024 : i32
// NSPLIT: %[[GROUPS:.*]] = arith.muli %{{.*}}, %[[C1024]] : i32
// NSPLIT: arith.addi %{{.*}}, %[[GROUPS]] : i32
// NSPLIT: arith.ori %{{.*}}, %[[B_FIELDS]] : i64
// NSPLIT: arith.ori %{{.*}}, %[[A_FIELDS]] : i64
// NSPLIT: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 16, k = 8>
func.func @warpgroups_along_n_tf32(%dq: !tile.desc<64x32xf32>, %dk: !tile.desc<32x32xf32>,
                                   %o: !tile.desc<64x32xf32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %q = tile.load %dq[%n, %n] : !tile.desc<64x32xf32> -> tensor<64x32xf32, #bl>
  %a = tile.convert_layout %q : tensor<64x32xf32, #bl> -> tensor<64x32xf32, #opa>
  %k = tile.load %dk[%n, %n] : !tile.desc<32x32xf32> -> tensor<32x32xf32, #bl>
  %kt = tile.trans %k : tensor<32x32xf32, #bl> -> tensor<32x32xf32, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %kt, %z {tf32} : tensor<64x32xf32, #opa>, tensor<32x32xf32, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// K split between two groups of 4 warps (a 4-warp accumulator layout in an
// 8-warp kernel, tile::getDotMmaLayout): warp / 4 picks the group.
// sm_80: each group runs 4 of the 8 k-steps (2 n-blocks each: 8 mma), the
// second from zero.
// sm_90a: wgmma, one warpgroup per group, both issuing the same 4 k-steps
// through descriptors moved by the group's share (4 k-steps of 8 f32: one
// 128-byte panel, 8192 bytes of Q and 2048 of K), from zero (scale-d 0).
// Then, on both, each thread's 8 partial sums to the scratch at offset 0
// (no barrier first: the one that published Q and K came after every earlier
// use of the scratch), a barrier, and both groups' sums read back and added
// in group order.
// CHECK-LABEL: gpu.func @split_k_between_warp_groups
// SM80: arith.divui %{{.*}}, %c4_i32
// SM80: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32) {
// SM80-COUNT-8: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8>
// SM80: } else {
// SM80-COUNT-8: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8>
// SM90: arith.divui %{{.*}}, %c4_i32
// SM90-NOT: mma.sync
// SM90: wgmma.fence.sync.aligned;
// SM90-SAME: m64n16k8.f32.tf32.tf32 {{[^;]*}}, desc_a, desc_b, first_d, 1, 1;
// SM90-COUNT-2: m64n16k8.f32.tf32.tf32 {{[^;]*}}, desc_a, desc_b, scale_d, 1, 1;
// SM90-SAME: m64n16k8.f32.tf32.tf32 {{[^;]*}}, desc_a, desc_b, scale_d, 1, 1;\0A}"
// SM90-NEXT: nvvm.wgmma.commit.group.sync.aligned
// SM90: tile.warpgroup_wait {{.*}} {{.*}}pending = 0 : i32}
// CHECK-NOT: gpu.barrier
// CHECK-COUNT-8: memref.store %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK-COUNT-16: memref.load %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: mma
// CHECK: gpu.return
// NSPLIT-LABEL: gpu.func @split_k_between_warp_groups
// NSPLIT: %[[GROUP:.*]] = arith.divui %{{.*}}, %c4_i32 : i32
// NSPLIT: %[[K_SHARE:.*]] = arith.muli %[[GROUP]], %c2048_i32 : i32
// NSPLIT: arith.addi %{{.*}}, %[[K_SHARE]] : i32
// NSPLIT: %[[Q_SHARE:.*]] = arith.muli %[[GROUP]], %c8192_i32 : i32
// NSPLIT: arith.addi %{{.*}}, %[[Q_SHARE]] : i32
// NSPLIT: wgmma.mma_async
func.func @split_k_between_warp_groups(%dq: !tile.desc<64x64xf32>, %dk: !tile.desc<16x64xf32>,
                                       %o: !tile.desc<64x16xf32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %q = tile.load %dq[%n, %n] : !tile.desc<64x64xf32> -> tensor<64x64xf32, #bl>
  %a = tile.convert_layout %q : tensor<64x64xf32, #bl> -> tensor<64x64xf32, #opa>
  %k = tile.load %dk[%n, %n] : !tile.desc<16x64xf32> -> tensor<16x64xf32, #bl>
  %kt = tile.trans %k : tensor<16x64xf32, #bl> -> tensor<64x16xf32, #opb>
  %z = arith.constant dense<0.0> : tensor<64x16xf32, #mma>
  %c = tile.dot %a, %kt, %z {tf32} : tensor<64x64xf32, #opa>, tensor<64x16xf32, #opb> -> tensor<64x16xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x16xf32>, tensor<64x16xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// P·Vᵀᵀ of attention in f32 with {tf32}, V read transposed (k along the
// tile's rows) by a load that promises tf32 values: sm_90a runs wgmma with
// A from registers. The accumulator's lane holds columns 2t and 2t+1 of
// each 8, wgmma's A registers want t and t+4: each of the 4 registers of a
// k-step comes from two idx shuffles (lane 4g + t/2, or + 2) and a select by
// t's parity, then cvt.rna. B is published after its wait without being
// rounded in place. 32 deep: 4 k-steps of m64n32k8.
// CHECK-LABEL: gpu.func @register_a_tf32_wgmma
// SM90: nvvm.cp.async.wait.group 0
// SM90-NOT: cvt.rna
// SM90: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// SM90-NEXT: gpu.barrier
// SM90-COUNT-8: gpu.shuffle  idx
// SM90: cvt.rna.tf32.f32 $0, $1;
// SM90-NOT: mma.sync
// SM90: wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 {{[^;]*}}, {$18, $19, $20, $21}, desc_b, first_d, 1, 1;
// SM90-COUNT-3: wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32
// SM80-NOT: wgmma
// SM80: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8>
// CHECK: gpu.return
func.func @register_a_tf32_wgmma(%d: !tile.desc<32x32xf32>, %o: !tile.desc<64x32xf32>, %n: i32,
                                 %p: tensor<64x32xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xf32, #mma> -> tensor<64x32xf32, #opa>
  %vt = tile.load %d[%n, %n] {tf32_rounded} : !tile.desc<32x32xf32> -> tensor<32x32xf32, #bl>
  %b = tile.trans %vt : tensor<32x32xf32, #bl> -> tensor<32x32xf32, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %b, %z {tf32} : tensor<64x32xf32, #opa>, tensor<32x32xf32, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The split-K Q·Kᵀ of above in a one-stage loop over K tiles: K_{j+1} is
// copied right after the dot, with no barrier of its own: the exchange's
// barrier, after every thread's reads of K_j, covers it. (A copy after a dot
// without split K keeps its barrier: convert-tile-to-gpu.mlir.)
// CHECK-LABEL: gpu.func @split_k_refill
// CHECK: scf.for {{.*}} iter_args
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.barrier
// CHECK-NOT: gpu.barrier
// CHECK: memref.store %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: memref.load %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: gpu.barrier
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.yield
func.func @split_k_refill(%dq: !tile.desc<64x64xf32>, %dk: !tile.desc<16x64xf32>,
                          %o: !tile.desc<64x16xf32>, %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32, tile.num_stages = 1 : i32} {
  %q = tile.load %dq[%n, %n] : !tile.desc<64x64xf32> -> tensor<64x64xf32, #bl>
  %a = tile.convert_layout %q : tensor<64x64xf32, #bl> -> tensor<64x64xf32, #opa>
  %z = arith.constant dense<0.0> : tensor<64x16xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c16 = arith.constant 16 : i32
  %r = scf.for %i = %c0 to %n step %c16 iter_args(%acc = %z) -> (tensor<64x16xf32, #mma>) : i32 {
    %k = tile.load %dk[%i, %c0] : !tile.desc<16x64xf32> -> tensor<16x64xf32, #bl>
    %kt = tile.trans %k : tensor<16x64xf32, #bl> -> tensor<64x16xf32, #opb>
    %c = tile.dot %a, %kt, %acc {tf32} : tensor<64x64xf32, #opa>, tensor<64x16xf32, #opb> -> tensor<64x16xf32, #mma>
    scf.yield %c : tensor<64x16xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x16xf32>, tensor<64x16xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [8, 1], order = [1, 0]>
#blv = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [8, 4], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>
#pv = #tile.mma<warpsPerCTA = [4, 2]>
#opa2 = #tile.dot_op<opIdx = 0, parent = #pv, kWidth = 2>
#opb2 = #tile.dot_op<opIdx = 1, parent = #pv, kWidth = 2>

// The forward's two products in a one-stage loop: the split-K S = Q·Kᵀ, then
// P·V with P from registers. The Vᵀ tile P·V reads was refilled after P·V of
// the previous iteration; S's exchange waits for it (cp.async.wait_group 0,
// nothing copied since) and its barrier publishes it, so P·V neither waits
// nor synchronizes. Vᵀ's refill after P·V keeps its own barrier.
// CHECK-LABEL: gpu.func @split_k_exchange_publishes_next
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK: nvvm.cp.async.wait.group 0
// SM90: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK: gpu.barrier
// CHECK: memref.load %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: nvvm.cp.async.wait.group
// CHECK-NOT: gpu.barrier
// SM90: wgmma.mma_async.sync.aligned.m64n32k8
// SM80: nvvm.mma.sync {{.*}}#nvvm.mma_type<tf32>{{.*}}k = 8>
// CHECK: gpu.barrier
// CHECK: cp.async.cg.shared.global
// CHECK: scf.yield
func.func @split_k_exchange_publishes_next(%dq: !tile.desc<64x64xf32>, %dk: !tile.desc<16x64xf32>,
                                           %dv: !tile.desc<64x16xf32>, %o: !tile.desc<64x64xf32>,
                                           %n: i32) attributes {tile.kernel, tile.num_warps = 8 : i32, tile.num_stages = 1 : i32} {
  %q = tile.load %dq[%n, %n] : !tile.desc<64x64xf32> -> tensor<64x64xf32, #bl>
  %a = tile.convert_layout %q : tensor<64x64xf32, #bl> -> tensor<64x64xf32, #opa>
  %z = arith.constant dense<0.0> : tensor<64x16xf32, #mma>
  %z2 = arith.constant dense<0.0> : tensor<64x64xf32, #pv>
  %c0 = arith.constant 0 : i32
  %c16 = arith.constant 16 : i32
  %r = scf.for %i = %c0 to %n step %c16 iter_args(%acc = %z2) -> (tensor<64x64xf32, #pv>) : i32 {
    %k = tile.load %dk[%i, %c0] {tf32_rounded} : !tile.desc<16x64xf32> -> tensor<16x64xf32, #bl>
    %kt = tile.trans %k : tensor<16x64xf32, #bl> -> tensor<64x16xf32, #opb>
    %s = tile.dot %a, %kt, %z {tf32} : tensor<64x64xf32, #opa>, tensor<64x16xf32, #opb> -> tensor<64x16xf32, #mma>
    %sp = tile.convert_layout %s : tensor<64x16xf32, #mma> -> tensor<64x16xf32, #opa2>
    %vt = tile.load %dv[%c0, %i] {tf32_rounded} : !tile.desc<64x16xf32> -> tensor<64x16xf32, #blv>
    %v = tile.trans %vt : tensor<64x16xf32, #blv> -> tensor<16x64xf32, #opb2>
    %c = tile.dot %sp, %v, %acc {tf32} : tensor<64x16xf32, #opa2>, tensor<16x64xf32, #opb2> -> tensor<64x64xf32, #pv>
    scf.yield %c : tensor<64x64xf32, #pv>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x64xf32>, tensor<64x64xf32, #pv>
  return
}
