// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_80" --tile-pipeline-copies --tile-publish-stagings="arch=sm_80" --convert-tile-to-gpu="arch=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory="arch=sm_90a" --tile-pipeline-copies --tile-publish-stagings="arch=sm_90a" --convert-tile-to-gpu="arch=sm_90a typed-wgmma=false" | FileCheck %s --check-prefix=INLINE

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// P·V of attention on sm_90a: A (an mma result) stays in registers, B (a
// 32x32 tile, k along its rows: MN-major) is copied into a 64-byte-swizzled
// shared tile and read by the tensor cores through a descriptor: LBO = the
// 2048-byte panel (128 << 16), SBO = 8 rows of 64 bytes (32 << 32), swizzle
// mode 2 (64 bytes). The generic-proxy copies are fenced for the async
// proxy before the barrier; one asm block issues both k-steps (the second
// 16 rows = 1024 bytes further, 64 in descriptor units) with the transpose
// flag for B, then commits; a second one waits, its results tied to the
// accumulators (tessera-defer-wgmma-waits may move it later).
// CHECK-LABEL: gpu.func @register_a_mn_major_b
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>
// CHECK-NEXT: gpu.barrier
// CHECK: arith.constant -9223371899407433728 : i64
// The accumulator is zero: scale-d is false for the first k-step, and the
// accumulator registers go in undefined.
// CHECK: arith.constant 0 : i32
// CHECK-NEXT: llvm.mlir.undef : f32
// CHECK-NEXT: llvm.inline_asm has_side_effects
// CHECK-SAME: setp.ne.b32 first_d, $17, 0;
// CHECK-SAME: setp.eq.b32 scale_d, $17, $17;
// CHECK-SAME: wgmma.fence.sync.aligned;
// CHECK-SAME: add.s64 desc_b, $16, 0;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {$0, $1, $8, $9, $2, $3, $10, $11, $4, $5, $12, $13, $6, $7, $14, $15}, {$18, $19, $20, $21}, desc_b, first_d, 1, 1, 1;
// CHECK-SAME: add.s64 desc_b, $16, 64;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {{.*}}, {$22, $23, $24, $25}, desc_b, scale_d, 1, 1, 1;
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-16: llvm.extractvalue
// CHECK-NEXT: tile.warpgroup_wait {{.*}} {{.*}}pending = 0 : i32} : (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) -> (f32,
// CHECK-NOT: mma.sync
// CHECK: gpu.return
// On sm_80 the same dot is mma.sync, and nothing is fenced.
// SM80-LABEL: gpu.func @register_a_mn_major_b
// SM80-NOT: nvvm.fence.proxy
// SM80-NOT: wgmma
// SM80: nvvm.mma.sync {{.*}}k = 16>
func.func @register_a_mn_major_b(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                                 %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Q·Kᵀ with d = 128: both operands staged k-major in 128-byte-swizzled
// tiles of two 64-column panels (8192 bytes each: LBO 512 << 16; SBO 1024
// bytes = 64 << 32; mode 1). Each k-step moves 32 bytes (2 units) along a
// panel row, the fifth starts the second panel (8192 bytes = 512 units);
// no transposes. The tiles start on 1024-byte boundaries. Both operands
// staged: upstream's ops, one nvvm.wgmma.mma_async per k-step on the
// descriptors pinned after the fence (an opaque move, so that LLVM cannot
// hoist the eight k-steps' descriptors out of a loop), the accumulator
// struct threaded through them; k-step 0 does not read the zero accumulator.
// CHECK-LABEL: gpu.func @shared_a_k_major_b
// CHECK: %[[B:.*]] = arith.ori %{{.*}}, %c4611686293338849280_i64 : i64
// CHECK: %[[A:.*]] = arith.ori %{{.*}}, %c4611686293338849280_i64{{.*}} : i64
// CHECK-NEXT: nvvm.wgmma.fence.aligned
// CHECK-NEXT: %[[UNDEF:.*]] = llvm.mlir.undef : !llvm.struct<(f32, f32,
// CHECK-NEXT: %[[PA:.*]] = llvm.inline_asm has_side_effects "mov.b64 $0, $1;", "=l,l" %[[A]] : (i64) -> i64
// CHECK-NEXT: %[[PB:.*]] = llvm.inline_asm has_side_effects "mov.b64 $0, $1;", "=l,l" %[[B]] : (i64) -> i64
// CHECK: %[[B0:.*]] = arith.addi %[[PB]], %c0_i64
// CHECK: %[[A0:.*]] = arith.addi %[[PA]], %c0_i64
// CHECK-NEXT: %[[D0:.*]] = nvvm.wgmma.mma_async %[[A0]], %[[B0]], %[[UNDEF]], <m = 64, n = 64, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// CHECK: %[[B1:.*]] = arith.addi %[[PB]], %c2_i64
// CHECK: %[[A1:.*]] = arith.addi %[[PA]], %c2_i64
// CHECK-NEXT: %[[D1:.*]] = nvvm.wgmma.mma_async %[[A1]], %[[B1]], %[[D0]], <m = 64, n = 64, k = 16>, D[<f32>, <one>]
// CHECK: arith.addi %[[PB]], %c512_i64
// CHECK: arith.addi %[[PA]], %c512_i64
// CHECK-COUNT-4: nvvm.wgmma.mma_async
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-COUNT-32: llvm.extractvalue
// CHECK-NEXT: tile.warpgroup_wait {{.*}} {{.*}}pending = 0 : i32}
// CHECK-NOT: llvm.inline_asm {{.*}}wgmma.mma_async
// Or (typed-wgmma=false) one inline PTX statement, as for A in registers.
// INLINE-LABEL: gpu.func @shared_a_k_major_b
// INLINE: arith.constant 4611686293338849280 : i64
// INLINE: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {$0, $1, $16, $17,
// INLINE-SAME: desc_a, desc_b, first_d, 1, 1, 0, 0;
// INLINE-SAME: add.s64 desc_b, $32, 2;
// INLINE-SAME: add.s64 desc_a, $33, 2;
// INLINE-SAME: add.s64 desc_b, $32, 6;
// INLINE-SAME: add.s64 desc_b, $32, 512;
// INLINE-SAME: add.s64 desc_a, $33, 512;
// INLINE-SAME: add.s64 desc_b, $32, 514;
// INLINE: tile.warpgroup_wait {{.*}} {{.*}}pending = 0 : i32}
// SM80-LABEL: gpu.func @shared_a_k_major_b
// SM80: ldmatrix
func.func @shared_a_k_major_b(%dq: !tile.desc<64x128xbf16>, %dk: !tile.desc<64x128xbf16>,
                              %o: !tile.desc<64x64xf32>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %q = tile.load %dq[%n, %n] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bl>
  %a = tile.convert_layout %q : tensor<64x128xbf16, #bl> -> tensor<64x128xbf16, #opa>
  %k = tile.load %dk[%n, %n] : !tile.desc<64x128xbf16> -> tensor<64x128xbf16, #bl>
  %kt = tile.trans %k : tensor<64x128xbf16, #bl> -> tensor<128x64xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c = tile.dot %a, %kt, %z : tensor<64x128xbf16, #opa>, tensor<128x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [2, 2]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Warps side by side along N do not form warpgroups of the accumulator:
// mma.sync even on sm_90a.
// CHECK-LABEL: gpu.func @warps_along_n
// CHECK-NOT: wgmma
// CHECK: nvvm.mma.sync {{.*}}k = 16>
func.func @warps_along_n(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                         %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// dV += Pᵀ·dO of the attention backward at d 256 on two warpgroups: B (dO,
// 64 x 256, MN-major) in four 128-byte-swizzled panels of 8192 bytes. Each
// warpgroup takes its contiguous 128 columns (columnBlock): one m64n128k16
// per k-step through a descriptor that starts at its first panel, warp
// column c = warp / 4 at c · 16384 bytes.
// (LBO 8192 bytes = 512 << 16, SBO 1024 = 64 << 32, mode 1.) Each k-step
// moves 16 rows of 128 bytes (128 descriptor units).
// CHECK-LABEL: gpu.func @warpgroups_side_by_side_mn_major_b
// CHECK: %[[COL:.*]] = arith.divui %{{.*}}, %c4_i32{{.*}} : i32
// CHECK-NEXT: %c16384_i32 = arith.constant 16384 : i32
// CHECK-NEXT: arith.muli %[[COL]], %c16384_i32 : i32
// CHECK: arith.constant 4611686293338849280 : i64
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: llvm.inline_asm has_side_effects "mov.b64 $0, $1;"
// CHECK-NEXT: %[[PB:.*]] = llvm.inline_asm has_side_effects "mov.b64 $0, $1;"
// CHECK: arith.addi %[[PB]], %c0_i64
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 128, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK: arith.addi %[[PB]], %c128_i64
// CHECK-NOT: mma.sync
// CHECK: gpu.return
// INLINE-LABEL: gpu.func @warpgroups_side_by_side_mn_major_b
// INLINE: wgmma.fence.sync.aligned;
// INLINE-SAME: add.s64 desc_b, $64, 0;
// INLINE-SAME: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{.*}}, desc_a, desc_b, first_d, 1, 1, 0, 1;
// INLINE-SAME: add.s64 desc_b, $64, 128;
// SM80-LABEL: gpu.func @warpgroups_side_by_side_mn_major_b
// SM80: nvvm.mma.sync {{.*}}k = 16>
func.func @warpgroups_side_by_side_mn_major_b(%d: !tile.desc<64x256xbf16>, %o: !tile.desc<64x256xf32>, %n: i32,
                                              %p: tensor<64x64xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %a = tile.convert_layout %p : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<64x256xbf16> -> tensor<64x256xbf16, #bl>
  %b = tile.convert_layout %v : tensor<64x256xbf16, #bl> -> tensor<64x256xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x256xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x64xbf16, #opa>, tensor<64x256xbf16, #opb> -> tensor<64x256xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x256xf32>, tensor<64x256xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 2], columnBlock = 32>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Half a panel each (the FlashAttention-3 backward's dQᵀ = Kᵀ dSᵀ: dSᵀ
// 64 x 64, MN-major, one 128-byte-swizzled panel): warpgroup c's 32
// columns start 64 bytes into the panel's rows, its descriptor there, one
// m64n32k16 per k-step.
// CHECK-LABEL: gpu.func @warpgroups_half_panels_mn_major_b
// CHECK: %[[COL:.*]] = arith.divui %{{.*}}, %c4_i32{{.*}} : i32
// CHECK-NEXT: %[[SHARE:.*]] = arith.constant 64 : i32
// CHECK-NEXT: arith.muli %[[COL]], %[[SHARE]] : i32
// CHECK: nvvm.wgmma.mma_async {{.*}} <m = 64, n = 32, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <row>]
// CHECK-NOT: mma.sync
// CHECK: gpu.return
func.func @warpgroups_half_panels_mn_major_b(%d: !tile.desc<64x64xbf16>, %o: !tile.desc<64x64xf32>, %n: i32,
                                             %p: tensor<64x64xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %a = tile.convert_layout %p : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<64x64xbf16> -> tensor<64x64xbf16, #bl>
  %b = tile.convert_layout %v : tensor<64x64xbf16, #bl> -> tensor<64x64xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x64xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x64xbf16, #opa>, tensor<64x64xbf16, #opb> -> tensor<64x64xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x64xf32>, tensor<64x64xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [8, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 2]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The same dot with the warp columns interleaved every 8 columns: no
// descriptor reaches a warpgroup's columns inside the panels, so mma.sync.
// CHECK-LABEL: gpu.func @warpgroups_interleaved_mn_major_b
// CHECK-NOT: wgmma.mma_async
// CHECK: nvvm.mma.sync {{.*}}k = 16>
func.func @warpgroups_interleaved_mn_major_b(%d: !tile.desc<64x256xbf16>, %o: !tile.desc<64x256xf32>, %n: i32,
                                             %p: tensor<64x64xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 8 : i32} {
  %a = tile.convert_layout %p : tensor<64x64xbf16, #mma> -> tensor<64x64xbf16, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<64x256xbf16> -> tensor<64x256xbf16, #bl>
  %b = tile.convert_layout %v : tensor<64x256xbf16, #bl> -> tensor<64x256xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x256xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x64xbf16, #opa>, tensor<64x256xbf16, #opb> -> tensor<64x256xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x256xf32>, tensor<64x256xf32, #mma>
  return
}
