// RUN: tessera-opt %s --convert-tile-to-gpu=arch=sm_90a | FileCheck %s
// RUN: tessera-opt %s --convert-tile-to-gpu=arch=sm_80 | FileCheck %s --check-prefix=SM80

#mma = #tile.mma<warpsPerCTA = [4, 1]>

// tile.atomic_add on sm_90: a thread's consecutive column pairs of an m16n8
// fragment (columns 2t, 2t+1) go out as one red.global.add.v2.f32 where the
// base is 8-byte aligned and the outer stride and first column even (checked
// at run time), each element alone otherwise; sm_80 has no vector red.
// CHECK-LABEL: gpu.func @atomic_add_pairs
// CHECK: llvm.ptrtoint
// CHECK: scf.if
// CHECK: llvm.inline_asm has_side_effects "{\0A.reg .pred pv, px, py;{{.*}}@pv red.global.add.v2.f32 [$0+0], {$1, $2};\0A@px red.global.add.f32 [$0+0], $1;\0A@py red.global.add.f32 [$0+4], $2;\0A}", "l,f,f,r,r,r"
// CHECK: red.global.add.v2.f32 [$0+32], {$1, $2};
// CHECK: } else {
// CHECK-NOT: v2.f32
// CHECK: red.global.add.f32 [$0], $1;
// SM80-LABEL: gpu.func @atomic_add_pairs
// SM80-NOT: v2.f32
// SM80: red.global.add.f32 [$0+4], $1;
func.func @atomic_add_pairs(%d: !tile.desc<64x16xf32>, %n: i32, %t: tensor<64x16xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.atomic_add %d[%n, %n], %t : !tile.desc<64x16xf32>, tensor<64x16xf32, #mma>
  return
}
