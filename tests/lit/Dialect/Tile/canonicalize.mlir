// RUN: tessera-opt %s -split-input-file -canonicalize | FileCheck %s

#a = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#b = #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// CHECK-LABEL: @convert_to_same_layout_folds
// CHECK-NOT: tile.convert_layout
// CHECK: return %arg0
func.func @convert_to_same_layout_folds(%x: tensor<512xf32, #a>) -> tensor<512xf32, #a> {
  %r = tile.convert_layout %x : tensor<512xf32, #a> -> tensor<512xf32, #a>
  return %r : tensor<512xf32, #a>
}

// -----

#a = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#b = #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// CHECK-LABEL: @convert_chain_keeps_last
// CHECK: %[[R:.*]] = tile.convert_layout %arg0 : tensor<512xf32, #{{.*}}> -> tensor<512xf32, #{{.*}}>
// CHECK-NEXT: return %[[R]]
func.func @convert_chain_keeps_last(%x: tensor<512xf32, #a>) -> tensor<512xf32, #b> {
  %y = tile.convert_layout %x : tensor<512xf32, #a> -> tensor<512xf32, #b>
  %z = tile.convert_layout %y : tensor<512xf32, #b> -> tensor<512xf32, #a>
  %w = tile.convert_layout %z : tensor<512xf32, #a> -> tensor<512xf32, #b>
  return %w : tensor<512xf32, #b>
}

// -----

#a = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#b = #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// CHECK-LABEL: @convert_of_splat_is_a_splat
// CHECK: %[[S:.*]] = tile.splat %arg0 : f32 -> tensor<512xf32, #[[B:.*]]>
// CHECK-NOT: tile.convert_layout
func.func @convert_of_splat_is_a_splat(%s: f32) -> tensor<512xf32, #b> {
  %x = tile.splat %s : f32 -> tensor<512xf32, #a>
  %y = tile.convert_layout %x : tensor<512xf32, #a> -> tensor<512xf32, #b>
  return %y : tensor<512xf32, #b>
}

// -----

#a = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#b = #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// CHECK-LABEL: @convert_of_constant_is_a_constant
// CHECK: arith.constant dense<2.000000e+00> : tensor<512xf32, #tile.blocked<sizePerThread = [1]
// CHECK-NOT: tile.convert_layout
func.func @convert_of_constant_is_a_constant() -> tensor<512xf32, #b> {
  %x = arith.constant dense<2.0> : tensor<512xf32, #a>
  %y = tile.convert_layout %x : tensor<512xf32, #a> -> tensor<512xf32, #b>
  return %y : tensor<512xf32, #b>
}

// -----

// CHECK-LABEL: @broadcast_to_same_shape_folds
// CHECK-NOT: tile.broadcast
func.func @broadcast_to_same_shape_folds(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %r = tile.broadcast %x : tensor<4x8xf32> -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}
