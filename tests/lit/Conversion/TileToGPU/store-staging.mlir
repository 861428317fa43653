// RUN: tessera-opt %s -split-input-file --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s
// RUN: tessera-opt %s -split-input-file --convert-tile-to-gpu="arch=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: tessera-opt %s -split-input-file --convert-tile-to-gpu="arch=sm_90a stmatrix-stagings=false" | FileCheck %s --check-prefix=PAIRS

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// A 16-bit mma accumulator staged on sm_90 (O, dK, dV before their TMA
// stores, dSᵀ before the dot that reads it): stmatrix x4 of the fragments,
// each thread's rows r, r + 8 and 8-column blocks c, c + 8 at once (64 x 64
// on 4 warps: four a thread), each lane giving one row's address, computed
// from a thread id read where the store is (not hoisted out of a loop).
// Before Hopper, and without stmatrix-stagings (the pipeline's default
// until a GPU has run it: TESSERA_STMATRIX=1), 4-byte stores of the pairs
// (sixteen a thread).
// Lane l addresses row l % 16 (matrices 0 and 2: rows 0-7, 1 and 3: rows
// 8-15) of chunk l / 16 (matrices 2 and 3 are the next 8 columns).
// CHECK-LABEL: gpu.func @matrices
// CHECK: %[[TID:.*]] = llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;"
// CHECK: %[[LANE:.*]] = arith.andi %[[TID]], %c31_i32
// CHECK: arith.andi %[[LANE]], %c15_i32
// CHECK: arith.shrui %[[LANE]], %c4_i32
// CHECK-COUNT-4: "stmatrix.sync.aligned.m8n8.x4.shared.b16 [$0], {$1, $2, $3, $4};"
// CHECK-NOT: st.shared
// SM80-LABEL: gpu.func @matrices
// SM80-NOT: stmatrix
// SM80-COUNT-16: "st.shared.b32 [$0], $1;"
// PAIRS-LABEL: gpu.func @matrices
// PAIRS-NOT: stmatrix
// PAIRS-COUNT-16: "st.shared.b32 [$0], $1;"
func.func @matrices(%t: tensor<64x64xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.store_staging %t at 0 : tensor<64x64xbf16, #mma>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// An odd number of 8-column blocks (24 columns) does not group into x4s:
// the pairs' 4-byte stores.
// CHECK-LABEL: gpu.func @odd_blocks
// CHECK-NOT: stmatrix
// CHECK: "st.shared.b32 [$0], $1;"
func.func @odd_blocks(%t: tensor<64x24xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.store_staging %t at 0 : tensor<64x24xbf16, #mma>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// A TMA add's f32 block in 32-byte panels (swizzle 32): 8-byte stores of
// the pairs, one panel per 8 columns, 64 rows x 32 bytes = 2048 bytes
// apart: a thread's pairs at columns 0 and 8 are a panel apart.
// CHECK-LABEL: gpu.func @narrow_panels
// CHECK: arith.muli %{{.*}}, %c2048_i32
// CHECK: "st.shared.v2.f32 [$0], {$1, $2};"
// CHECK-COUNT-15: "st.shared.v2.f32 [$0], {$1, $2};"
// CHECK-NOT: st.shared
func.func @narrow_panels(%t: tensor<64x64xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.store_staging %t at 0 exact swizzle 32 : tensor<64x64xf32, #mma>
  return
}
