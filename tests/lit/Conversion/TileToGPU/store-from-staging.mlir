// RUN: tessera-opt %s --convert-tile-to-gpu="arch=sm_90a" | FileCheck %s

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
