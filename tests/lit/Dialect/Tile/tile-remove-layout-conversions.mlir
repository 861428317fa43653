// RUN: tessera-opt %s --tile-remove-layout-conversions | FileCheck %s
// RUN: tessera-opt %s --tile-remove-layout-conversions="hoist-row-conversions=false" | FileCheck %s --check-prefix=STAY

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

#bl = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// A mask computed from iotas is recomputed in the mma layout of the scores it
// selects, back to the iota itself (made in a slice of the mma layout).
// CHECK-LABEL: @recomputes_index_math
// CHECK-NOT: tile.convert_layout
// CHECK: tile.iota : tensor<64xi32, #tile.slice<dim = 0, parent = #tile.mma<warpsPerCTA = [4, 1]>>>
// CHECK: tile.expand_dims {{.*}} -> tensor<1x64xi32, #tile.mma<warpsPerCTA = [4, 1]>>
// CHECK: tile.broadcast {{.*}} -> tensor<64x64xi32, #tile.mma<warpsPerCTA = [4, 1]>>
// CHECK: arith.cmpi slt, {{.*}} : tensor<64x64xi32, #tile.mma<warpsPerCTA = [4, 1]>>
func.func @recomputes_index_math(%s: tensor<64x64xf32, #mma>, %n: i32) -> tensor<64x64xf32, #mma> {
  %i = tile.iota : tensor<64xi32, #tile.slice<dim = 0, parent = #bl>>
  %e = tile.expand_dims %i, 0 : tensor<64xi32, #tile.slice<dim = 0, parent = #bl>> -> tensor<1x64xi32, #bl>
  %b = tile.broadcast %e : tensor<1x64xi32, #bl> -> tensor<64x64xi32, #bl>
  %limit = tile.splat %n : i32 -> tensor<64x64xi32, #bl>
  %valid = arith.cmpi slt, %b, %limit : tensor<64x64xi32, #bl>
  %m = tile.convert_layout %valid : tensor<64x64xi1, #bl> -> tensor<64x64xi1, #mma>
  %ninf = arith.constant dense<0xFF800000> : tensor<64x64xf32, #mma>
  %r = arith.select %m, %s, %ninf : tensor<64x64xi1, #mma>, tensor<64x64xf32, #mma>
  return %r : tensor<64x64xf32, #mma>
}

// A transpose feeding a tensor-core operand is made in the operand layout
// (the dot stages its source in shared memory); a load is not, so that it
// can be copied whole.
// CHECK-LABEL: @transposes_into_operand_layout
// CHECK: %[[T:.*]] = tile.load
// CHECK-SAME: #tile.blocked
// CHECK: tile.trans %[[T]] : {{.*}} -> tensor<64x32xbf16, #tile.dot_op<opIdx = 1
// CHECK: %[[V:.*]] = tile.load
// CHECK: tile.convert_layout %[[V]]
func.func @transposes_into_operand_layout(%d: !tile.desc<32x64xbf16>, %n: i32) -> (tensor<64x32xbf16, #opb>, tensor<32x64xbf16, #opb>) {
  %k = tile.load %d[%n, %n] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16, #bl>
  %kt = tile.trans %k : tensor<32x64xbf16, #bl> -> tensor<64x32xbf16, #bl>
  %b = tile.convert_layout %kt : tensor<64x32xbf16, #bl> -> tensor<64x32xbf16, #opb>
  %v = tile.load %d[%n, %n] : !tile.desc<32x64xbf16> -> tensor<32x64xbf16, #bl>
  %vb = tile.convert_layout %v : tensor<32x64xbf16, #bl> -> tensor<32x64xbf16, #opb>
  return %b, %vb : tensor<64x32xbf16, #opb>, tensor<32x64xbf16, #opb>
}

#r4 = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>
#r8 = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>

// A row's scale broadcast along 4096 columns, used in its own layout and in
// another: the broadcast is rebuilt for the other user, so what moves between
// threads is the one-element scale, not the 4096-element tile (RMSNorm's
// backward converted 16 KiB per row before).
// CHECK-LABEL: @rebuilds_a_shared_broadcast
// CHECK: tile.convert_layout %arg0 : tensor<1xf32, {{.*}}sizePerThread = [1, 4]{{.*}} -> tensor<1xf32, #tile.slice<dim = 1, parent = #tile.blocked<sizePerThread = [1, 8]
// CHECK-NEXT: tile.expand_dims
// CHECK-NEXT: tile.broadcast {{.*}} -> tensor<1x4096xf32, #tile.blocked<sizePerThread = [1, 8]
// CHECK-NOT: tile.convert_layout
// CHECK: return
func.func @rebuilds_a_shared_broadcast(%r: tensor<1xf32, #tile.slice<dim = 1, parent = #r4>>,
                                       %x: tensor<1x4096xf32, #r4>, %y: tensor<1x4096xf32, #r8>)
    -> (tensor<1x4096xf32, #r4>, tensor<1x4096xf32, #r8>) {
  %e = tile.expand_dims %r, 1 : tensor<1xf32, #tile.slice<dim = 1, parent = #r4>> -> tensor<1x1xf32, #r4>
  %b = tile.broadcast %e : tensor<1x1xf32, #r4> -> tensor<1x4096xf32, #r4>
  %u = arith.mulf %x, %b : tensor<1x4096xf32, #r4>
  %c = tile.convert_layout %b : tensor<1x4096xf32, #r4> -> tensor<1x4096xf32, #r8>
  %v = arith.mulf %y, %c : tensor<1x4096xf32, #r8>
  return %u, %v : tensor<1x4096xf32, #r4>, tensor<1x4096xf32, #r8>
}

#row = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [1, 32], warpsPerCTA = [2, 4], order = [1, 0]>
#vec = #tile.blocked<sizePerThread = [8], threadsPerWarp = [32], warpsPerCTA = [8], order = [0]>

// A weight loaded before a loop and converted inside it, to the columns of
// the loop's rows: the load is made again in the wanted layout right after
// the original, outside the loop, not on every trip.
// CHECK-LABEL: @load_stays_outside_the_loop
// CHECK: tile.load %arg0[%{{.*}}] : !tile.desc<1024xbf16> -> tensor<1024xbf16, #tile.slice<dim = 0
// CHECK: scf.for
// CHECK-NOT: tile.load
// CHECK-NOT: tile.convert_layout
// CHECK: scf.yield
func.func @load_stays_outside_the_loop(%w: !tile.desc<1024xbf16>, %x: tensor<2x1024xf32, #row>,
                                       %n: i32) -> tensor<2x1024xf32, #row> {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %wt = tile.load %w[%c0] : !tile.desc<1024xbf16> -> tensor<1024xbf16, #vec>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %x) -> (tensor<2x1024xf32, #row>) : i32 {
    %wc = tile.convert_layout %wt : tensor<1024xbf16, #vec> -> tensor<1024xbf16, #tile.slice<dim = 0, parent = #row>>
    %we = arith.extf %wc : tensor<1024xbf16, #tile.slice<dim = 0, parent = #row>> to tensor<1024xf32, #tile.slice<dim = 0, parent = #row>>
    %w2 = tile.expand_dims %we, 0 : tensor<1024xf32, #tile.slice<dim = 0, parent = #row>> -> tensor<1x1024xf32, #row>
    %wb = tile.broadcast %w2 : tensor<1x1024xf32, #row> -> tensor<2x1024xf32, #row>
    %s = arith.addf %acc, %wb : tensor<2x1024xf32, #row>
    scf.yield %s : tensor<2x1024xf32, #row>
  }
  return %r : tensor<2x1024xf32, #row>
}

#acc = #tile.mma<warpsPerCTA = [4, 2], columnBlock = 32>
#opa = #tile.dot_op<opIdx = 0, parent = #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>, kWidth = 2>

// A conversion does not move above what would make it move more bytes: not
// above a truncation (the f32 input is twice the bf16 result) and not above a
// product whose two operands would each cross (attention's backward on two
// warpgroups: dSᵀ = Pᵀ ∘ (dPᵀ - D) then converts once, in bf16, instead of
// Pᵀ and dPᵀ in f32). Above a broadcast of a load it still moves (the load
// is made again in the new layout).
// CHECK-LABEL: @moves_no_more_bytes
// CHECK: %[[D:.*]] = arith.subf %arg1
// CHECK: %[[M:.*]] = arith.mulf %arg0, %[[D]] : tensor<64x64xf32, #tile.mma
// CHECK: %[[T:.*]] = arith.truncf %[[M]] : tensor<64x64xf32, #tile.mma{{.*}} to tensor<64x64xbf16, #tile.mma
// CHECK: tile.convert_layout %[[T]] : tensor<64x64xbf16, #tile.mma{{.*}} -> tensor<64x64xbf16, #tile.dot_op
// CHECK: tile.load {{.*}} -> tensor<64xf32, #tile.slice<dim = 0, parent = #tile.dot_op
// CHECK-NOT: tile.convert_layout
// CHECK: tile.broadcast {{.*}} -> tensor<64x64xf32, #tile.dot_op
// CHECK: tile.convert_layout %arg5
// CHECK: arith.subf {{.*}} : tensor<64x64xf32, #tile.dot_op
func.func @moves_no_more_bytes(%p: tensor<64x64xf32, #acc>, %dp: tensor<64x64xf32, #acc>, %delta: tensor<64x64xf32, #acc>, %row: !tile.desc<64xf32>, %i: i32, %s: tensor<64x64xf32, #acc>) -> (tensor<64x64xbf16, #opa>, tensor<64x64xf32, #opa>) {
  %d = arith.subf %dp, %delta : tensor<64x64xf32, #acc>
  %m = arith.mulf %p, %d : tensor<64x64xf32, #acc>
  %t = arith.truncf %m : tensor<64x64xf32, #acc> to tensor<64x64xbf16, #acc>
  %a = tile.convert_layout %t : tensor<64x64xbf16, #acc> -> tensor<64x64xbf16, #opa>
  %l = tile.load %row[%i] : !tile.desc<64xf32> -> tensor<64xf32, #tile.slice<dim = 0, parent = #acc>>
  %e = tile.expand_dims %l, 0 : tensor<64xf32, #tile.slice<dim = 0, parent = #acc>> -> tensor<1x64xf32, #acc>
  %b = tile.broadcast %e : tensor<1x64xf32, #acc> -> tensor<64x64xf32, #acc>
  %c = tile.convert_layout %b : tensor<64x64xf32, #acc> -> tensor<64x64xf32, #opa>
  %sc = tile.convert_layout %s : tensor<64x64xf32, #acc> -> tensor<64x64xf32, #opa>
  %r = arith.subf %sc, %c : tensor<64x64xf32, #opa>
  return %a, %r : tensor<64x64xbf16, #opa>, tensor<64x64xf32, #opa>
}

#hrow = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>
#htile = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#hacc = #tile.mma<warpsPerCTA = [4, 1]>

// A row vector made before a loop and converted in it (the dQ program's
// rows of L) moves the same data every iteration: the conversion moves in
// front of the loops, out of both; a whole tile's conversion stays (held
// across the loop it would cost a thread dozens of registers).
// CHECK-LABEL: @hoists_invariant_row_conversions
// CHECK: tile.convert_layout %arg0 : tensor<64xf32, #{{.*}}> -> tensor<64xf32, #tile.slice
// CHECK-NEXT: scf.for
// CHECK-NEXT: scf.for
// CHECK-NEXT: tile.convert_layout %arg1
// CHECK-NEXT: tile.expand_dims
// With hoist-row-conversions=false it stays in the inner loop.
// STAY-LABEL: @hoists_invariant_row_conversions
// STAY: scf.for
// STAY-NEXT: scf.for
// STAY-NEXT: tile.convert_layout %arg1
// STAY-NEXT: tile.convert_layout %arg0
func.func @hoists_invariant_row_conversions(%l: tensor<64xf32, #hrow>, %t: tensor<64x64xf32, #htile>,
                                            %n: i32) -> tensor<64x64xf32, #hacc> {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %zero = arith.constant dense<0.0> : tensor<64x64xf32, #hacc>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%a = %zero) -> (tensor<64x64xf32, #hacc>) : i32 {
    %r2 = scf.for %j = %c0 to %n step %c1 iter_args(%b = %a) -> (tensor<64x64xf32, #hacc>) : i32 {
      %tt = tile.convert_layout %t : tensor<64x64xf32, #htile> -> tensor<64x64xf32, #hacc>
      %lr = tile.convert_layout %l : tensor<64xf32, #hrow> -> tensor<64xf32, #tile.slice<dim = 1, parent = #hacc>>
      %le = tile.expand_dims %lr, 1 : tensor<64xf32, #tile.slice<dim = 1, parent = #hacc>> -> tensor<64x1xf32, #hacc>
      %lb = tile.broadcast %le : tensor<64x1xf32, #hacc> -> tensor<64x64xf32, #hacc>
      %s = arith.addf %b, %tt : tensor<64x64xf32, #hacc>
      %s2 = arith.subf %s, %lb : tensor<64x64xf32, #hacc>
      scf.yield %s2 : tensor<64x64xf32, #hacc>
    }
    scf.yield %r2 : tensor<64x64xf32, #hacc>
  }
  return %r : tensor<64x64xf32, #hacc>
}
