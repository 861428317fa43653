// RUN: tessera-opt %s --tile-remove-layout-conversions | FileCheck %s

#a = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#b = #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// A splat converted to another layout is rebuilt there; the round trip of %x
// through #b and back collapses to a single conversion that then folds away.
// CHECK-LABEL: @removes_what_moves_nothing
// CHECK-NOT: tile.convert_layout
// CHECK: tile.splat %arg1 : f32 -> tensor<512xf32, #{{.*}}>
// CHECK: arith.addf %arg0
func.func @removes_what_moves_nothing(%x: tensor<512xf32, #a>, %s: f32) -> tensor<512xf32, #a> {
  %y = tile.convert_layout %x : tensor<512xf32, #a> -> tensor<512xf32, #b>
  %z = tile.convert_layout %y : tensor<512xf32, #b> -> tensor<512xf32, #a>
  %v = tile.splat %s : f32 -> tensor<512xf32, #b>
  %w = tile.convert_layout %v : tensor<512xf32, #b> -> tensor<512xf32, #a>
  %r = arith.addf %z, %w : tensor<512xf32, #a>
  return %r : tensor<512xf32, #a>
}

// CHECK-LABEL: @keeps_real_conversions
// CHECK: tile.convert_layout %arg0
func.func @keeps_real_conversions(%x: tensor<512xf32, #a>) -> tensor<512xf32, #b> {
  %y = tile.convert_layout %x : tensor<512xf32, #a> -> tensor<512xf32, #b>
  return %y : tensor<512xf32, #b>
}
