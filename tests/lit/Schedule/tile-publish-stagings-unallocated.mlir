// RUN: not tessera-opt %s --tile-publish-stagings 2>&1 | FileCheck %s

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Without tile-allocate-shared-memory a staged operand has no tile to be
// stored into or waited for: an error naming the dot, not a crash.
// CHECK: error: 'tile.dot' op stages an operand but has no shared tiles: run tile-allocate-shared-memory first
func.func @unallocated(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                       %a: tensor<64x32xbf16, #opa>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %v = tile.load %d[%n, %n] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %n], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}
