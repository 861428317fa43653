// RUN: tessera-opt %s --tessera-pipeline="arch=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: tessera-opt %s --tessera-pipeline="arch=sm_90a" | FileCheck %s --check-prefix=SM90

// The whole pipeline ends in the LLVM dialect with the NVVM target attached.
// SM80: gpu.module @scale [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">]
// SM80: llvm.func @scale({{.*}}) attributes {gpu.kernel, nvvm.kernel, nvvm.maxntid = array<i32: 128, 1, 1>
// SM80-NOT: tile.{{load|store|splat|make_desc|program_id}}
// SM80-NOT: vector.
// SM80-NOT: scf.
// SM90: gpu.module @scale [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx81">]
func.func @scale(%x: !tile.ptr<f32>, %n: i32, %s: f32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %pid = tile.program_id 0
  %c1 = arith.constant 1 : i32
  %c256 = arith.constant 256 : i32
  %off = arith.muli %pid, %c256 : i32
  %d = tile.make_desc %x, [%n], [%c1] : !tile.ptr<f32> -> !tile.desc<256xf32>
  %t = tile.load %d[%off] : !tile.desc<256xf32> -> tensor<256xf32>
  %v = tile.splat %s : f32 -> tensor<256xf32>
  %r = arith.mulf %t, %v : tensor<256xf32>
  tile.store %d[%off], %r : !tile.desc<256xf32>, tensor<256xf32>
  return
}
