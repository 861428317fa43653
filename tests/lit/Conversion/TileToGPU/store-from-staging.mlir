// RUN: tessera-opt %s -split-input-file --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s

// A 128 x 128 bf16 block stored from its staging tile (tile-use-tma's
// shifted stores, for tensors TMA cannot describe). Where the rows have unit
// stride and the indices are not negative (checked at run time): a loop of
// 128 x 17 vectors over the 128 threads, each the row's aligned 16 bytes of
// global memory, its address (the row's first element's, rounded down, plus
// 16 bytes a vector) and the shift of the tile's two chunks it straddles
// (m, the first element's place in its vector, in elements); one 16-byte
// store where the vector lies inside the row's elements, else element by
// element, each element inside. Other strides: every element of the tile
// from shared memory, one by one.
// CHECK-LABEL: gpu.func @misaligned_rows
// CHECK: %[[UNIT:.*]] = arith.cmpi eq, %{{.*}}, %c1_i32
// CHECK: scf.if
// CHECK: %[[TID:.*]] = llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;"
// CHECK: scf.for %[[K:.*]] = %[[TID]] to %c2176_i32 step %c128_i32
// CHECK-DAG: %[[ROW:.*]] = arith.divui %[[K]], %c17_i32
// CHECK-DAG: %[[VEC:.*]] = arith.remui %[[K]], %c17_i32
// CHECK: %[[ADDR:.*]] = llvm.ptrtoint
// CHECK: %[[LOW4:.*]] = arith.andi %[[ADDR]], %c15_i64
// CHECK: %[[M:.*]] = arith.shrui %{{.*}}, %c1_i32
// CHECK: arith.andi %[[ADDR]], %c-16_i64
// CHECK-COUNT-2: "ld.shared.v4.b32 {$0, $1, $2, $3}, [$4];"
// CHECK-COUNT-4: llvm.intr.fshr
// CHECK: scf.if
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr
// CHECK: } else {
// CHECK-COUNT-8: llvm.store %{{.*}}, %{{.*}} {alignment = 2 : i64} : i16, !llvm.ptr
// CHECK: } else {
// CHECK: scf.for %{{.*}} = %{{.*}} to %c16384_i32 step %c128_i32
// CHECK: "ld.shared.b16 $0, [$1];"
// CHECK: llvm.store %{{.*}}, %{{.*}} : i16, !llvm.ptr
func.func @misaligned_rows(%p: !tile.ptr<bf16>, %rows: i32, %cols: i32, %stride: i32,
                           %unit: i32, %row: i32, %col: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %d = tile.make_desc %p, [%rows, %cols], [%stride, %unit] : !tile.ptr<bf16> -> !tile.desc<128x128xbf16>
  %s = tile.shared_alloc [0] : !tile.shared<128x128xbf16>
  tile.store_from_staging %s, %d[%row, %col] : !tile.shared<128x128xbf16>, !tile.desc<128x128xbf16>
  return
}

// -----

#row = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [1, 32], warpsPerCTA = [4, 1], order = [1, 0]>

// A staged store (tile-allocate-shared-memory's shifted stores: a softmax's
// rows of 4095 elements): where the rows have unit stride, take no vectors
// (the run-time check of the unstaged path, negated) and the indices are not
// negative, the block goes through the scratch space, each thread's runs of
// 8 as one 16-byte shared store between two barriers, and out as above
// (4 x 33 vectors over 128 threads); else the thread's runs as unstaged: 16-byte
// stores where the tensor takes them, else element by element.
// CHECK-LABEL: gpu.func @staged
// CHECK: %[[VEC:.*]] = arith.andi
// CHECK: %[[NOVEC:.*]] = arith.xori %{{.*}}, %true
// CHECK: scf.if
// CHECK: gpu.barrier
// CHECK: "st.shared.v4.b32 [$0], {$1, $2, $3, $4};"
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %{{.*}} to %c132_i32 step %c128_i32
// CHECK-COUNT-2: "ld.shared.v4.b32 {$0, $1, $2, $3}, [$4];"
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr
// CHECK: } else {
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr
// CHECK: llvm.store %{{.*}}, %{{.*}} : bf16, !llvm.ptr
func.func @staged(%p: !tile.ptr<bf16>, %rows: i32, %cols: i32, %stride: i32, %unit: i32,
                  %row: i32, %v: tensor<4x256xbf16, #row>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %d = tile.make_desc %p, [%rows, %cols], [%stride, %unit] : !tile.ptr<bf16> -> !tile.desc<4x256xbf16>
  tile.store %d[%row, %c0], %v staged : !tile.desc<4x256xbf16>, tensor<4x256xbf16, #row>
  return
}

// -----

#row = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [4, 1], order = [1, 0]>

// The same for f32 (rows of 4095 floats, 4-byte aligned): the scratch holds
// the exact values (8-byte stores of the pairs, not rounded to tf32 as a
// dot's operand), four elements to a vector (4 x 33 vectors), a
// shift by whole words (selects; the funnel shift by 0), 4-byte stores at a
// row's ends.
// CHECK-LABEL: gpu.func @staged_f32
// CHECK: scf.if
// CHECK: gpu.barrier
// CHECK-NOT: cvt.rna.tf32
// CHECK: "st.shared.v2.f32 [$0], {$1, $2};"
// CHECK-NOT: cvt.rna.tf32
// CHECK: gpu.barrier
// CHECK: scf.for %{{.*}} = %{{.*}} to %c132_i32 step %c128_i32
// CHECK-COUNT-2: "ld.shared.v4.b32 {$0, $1, $2, $3}, [$4];"
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr
// CHECK: } else {
// CHECK-COUNT-4: llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr
func.func @staged_f32(%p: !tile.ptr<f32>, %rows: i32, %cols: i32, %stride: i32, %unit: i32,
                      %row: i32, %v: tensor<4x128xf32, #row>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %d = tile.make_desc %p, [%rows, %cols], [%stride, %unit] : !tile.ptr<f32> -> !tile.desc<4x128xf32>
  tile.store %d[%row, %c0], %v staged : !tile.desc<4x128xf32>, tensor<4x128xf32, #row>
  return
}
