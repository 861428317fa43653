// RUN: tessera-opt %s | tessera-opt | FileCheck %s

// CHECK-LABEL: @every_op
func.func @every_op(%p: !tile.ptr<f16>, %n: i32, %s: f32) attributes {tile.kernel} {
  // CHECK: tile.program_id 0
  %pid = tile.program_id 0
  // CHECK: tile.num_programs 1
  %np = tile.num_programs 1
  %c1 = arith.constant 1 : i32
  // CHECK: tile.addptr %{{.*}}, %{{.*}} : !tile.ptr<f16>, i32
  %q = tile.addptr %p, %pid : !tile.ptr<f16>, i32
  // CHECK: tile.at %{{.*}}[%{{.*}}, %{{.*}}] strides [%{{.*}}, %{{.*}}] : !tile.ptr<f16>
  %v = tile.at %p[%pid, %np] strides [%n, %n] : !tile.ptr<f16>
  // CHECK: tile.make_desc {{.*}} : !tile.ptr<f16> -> !tile.desc<16x32xf16, nan>
  %d = tile.make_desc %q, [%n, %n], [%n, %c1] : !tile.ptr<f16> -> !tile.desc<16x32xf16, nan>
  // CHECK: tile.load %{{.*}}[%{{.*}}, %{{.*}}] : !tile.desc<16x32xf16, nan> -> tensor<16x32xf16>
  %t = tile.load %d[%pid, %c1] : !tile.desc<16x32xf16, nan> -> tensor<16x32xf16>
  // CHECK: tile.trans
  %tt = tile.trans %t : tensor<16x32xf16> -> tensor<32x16xf16>
  // CHECK: tile.splat %{{.*}} : f32 -> tensor<16x16xf32>
  %acc = tile.splat %s : f32 -> tensor<16x16xf32>
  // CHECK: tile.dot
  %c = tile.dot %t, %tt, %acc : tensor<16x32xf16>, tensor<32x16xf16> -> tensor<16x16xf32>
  // CHECK: tile.reduce max %{{.*}}, 1 : tensor<16x16xf32> -> tensor<16xf32>
  %m = tile.reduce max %c, 1 : tensor<16x16xf32> -> tensor<16xf32>
  // CHECK: tile.expand_dims %{{.*}}, 1 : tensor<16xf32> -> tensor<16x1xf32>
  %e = tile.expand_dims %m, 1 : tensor<16xf32> -> tensor<16x1xf32>
  // CHECK: tile.broadcast %{{.*}} : tensor<16x1xf32> -> tensor<16x16xf32>
  %b = tile.broadcast %e : tensor<16x1xf32> -> tensor<16x16xf32>
  // CHECK: tile.iota : tensor<16xi32>
  %i = tile.iota : tensor<16xi32>
  %h = arith.truncf %b : tensor<16x16xf32> to tensor<16x16xf16>
  %d2 = tile.make_desc %p, [%n, %n], [%n, %c1] : !tile.ptr<f16> -> !tile.desc<16x16xf16>
  // CHECK: tile.store %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} : !tile.desc<16x16xf16>, tensor<16x16xf16>
  tile.store %d2[%pid, %np], %h : !tile.desc<16x16xf16>, tensor<16x16xf16>
  return
}

// CHECK-LABEL: @atomic_add_round_trip
// CHECK: tile.atomic_add %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}} : !tile.desc<16x16xf32>, tensor<16x16xf32>
func.func @atomic_add_round_trip(%p: !tile.ptr<f32>, %n: i32, %t: tensor<16x16xf32>) {
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %p, [%n, %n], [%n, %c1] : !tile.ptr<f32> -> !tile.desc<16x16xf32>
  tile.atomic_add %d[%n, %n], %t : !tile.desc<16x16xf32>, tensor<16x16xf32>
  return
}

// CHECK-LABEL: @layouts_round_trip
// CHECK: #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
// CHECK: #tile.slice<dim = 1, parent = #tile.blocked
func.func @layouts_round_trip(%x: tensor<64x64xf32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>>) {
  %r = tile.reduce sum %x, 1 : tensor<64x64xf32, #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>> -> tensor<64xf32, #tile.slice<dim = 1, parent = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>>>
  return
}

// The default columnBlock (8) is not printed; any other is.
// CHECK-LABEL: @mma_layouts_round_trip
// CHECK-SAME: tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2]>>
// CHECK-SAME: tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>>
func.func @mma_layouts_round_trip(%x: tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2], columnBlock = 8>>,
                                  %y: tensor<64x256xf32, #tile.mma<warpsPerCTA = [4, 2], columnBlock = 128>>) {
  return
}

// CHECK-LABEL: @gather_round_trip
// CHECK: tile.gather %{{.*}}[%{{.*}}, %{{.*}}] : !tile.desc<16x32xf32>, tensor<16xi32> -> tensor<16x32xf32>
func.func @gather_round_trip(%p: !tile.ptr<f32>, %n: i32, %rows: tensor<16xi32>) {
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %p, [%n, %n], [%n, %c1] : !tile.ptr<f32> -> !tile.desc<16x32xf32>
  %t = tile.gather %d[%rows, %n] : !tile.desc<16x32xf32>, tensor<16xi32> -> tensor<16x32xf32>
  return
}

// A load that promises tf32 values (a tensor written rounded).
// CHECK-LABEL: @tf32_rounded_load
// CHECK: tile.load %{{.*}}[%{{.*}}, %{{.*}}] {tf32_rounded} : !tile.desc<16x32xf32> -> tensor<16x32xf32>
func.func @tf32_rounded_load(%p: !tile.ptr<f32>, %n: i32) attributes {tile.kernel} {
  %d = tile.make_desc %p, [%n, %n], [%n, %n] : !tile.ptr<f32> -> !tile.desc<16x32xf32>
  %t = tile.load %d[%n, %n] {tf32_rounded} : !tile.desc<16x32xf32> -> tensor<16x32xf32>
  return
}

// -----

// A descriptor the launch found aligned for 16-byte vectors.
// CHECK-LABEL: func.func @aligned_desc
// CHECK: tile.make_desc %{{.*}}, [%{{.*}}, %{{.*}}], [%{{.*}}, %{{.*}}] {aligned} : !tile.ptr<f16> -> !tile.desc<64x64xf16>
func.func @aligned_desc(%p: !tile.ptr<f16>, %n: i32) -> !tile.desc<64x64xf16> {
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %p, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<f16> -> !tile.desc<64x64xf16>
  return %d : !tile.desc<64x64xf16>
}

// The schedule level's ops and types.

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#blf = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
// CHECK-LABEL: @schedule_ops
func.func @schedule_ops(%d: !tile.desc<32x64xbf16>, %f: !tile.desc<32x32xf32>, %i: i32, %slot: i32) {
  // CHECK: tile.shared_alloc [1024, 5120] : !tile.shared<32x64xbf16, 2>
  %buf = tile.shared_alloc [1024, 5120] : !tile.shared<32x64xbf16, 2>
  // CHECK: tile.shared_alloc [0] : !tile.shared<32x32xf32>
  %fbuf = tile.shared_alloc [0] : !tile.shared<32x32xf32>
  // CHECK: tile.shared_alloc [8192] : !tile.shared<32x32xf32, 1, swizzle = 32>
  %narrow = tile.shared_alloc [8192] : !tile.shared<32x32xf32, 1, swizzle = 32>
  // CHECK: tile.async_copy %{{.*}}[%{{.*}}, %{{.*}}], %{{.*}}[%{{.*}}] {distance = 1 : i64} : !tile.desc<32x64xbf16>, !tile.shared<32x64xbf16, 2> as tensor<32x64xbf16, #tile.blocked
  tile.async_copy %d[%i, %i], %buf[%slot] {distance = 1} : !tile.desc<32x64xbf16>, !tile.shared<32x64xbf16, 2> as tensor<32x64xbf16, #bl>
  // CHECK: tile.async_wait 1
  tile.async_wait 1
  // CHECK: tile.shared_view %{{.*}}[%{{.*}}] : !tile.shared<32x64xbf16, 2> -> tensor<32x64xbf16, #tile.blocked
  %v = tile.shared_view %buf[%slot] : !tile.shared<32x64xbf16, 2> -> tensor<32x64xbf16, #bl>
  // CHECK: tile.round_shared_to_tf32 %{{.*}}[%{{.*}}] : !tile.shared<32x32xf32> as tensor<32x32xf32, #tile.blocked
  tile.round_shared_to_tf32 %fbuf[%slot] : !tile.shared<32x32xf32> as tensor<32x32xf32, #blf>
  // CHECK: tile.fence_async_shared
  tile.fence_async_shared
  // CHECK: tile.store_from_staging %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : !tile.shared<32x64xbf16>, !tile.desc<32x64xbf16>
  %staging = tile.shared_alloc [0] : !tile.shared<32x64xbf16>
  tile.store_from_staging %staging, %d[%i, %i] : !tile.shared<32x64xbf16>, !tile.desc<32x64xbf16>
  return
}

// The TMA ops: a 32 x 128 tile copied as two 64-column boxes.
// CHECK-LABEL: @tma_ops
func.func @tma_ops(%map: !tile.tensormap<32x64xbf16, 0>, %i: i32, %slot: i32, %p: i1,
                   %map4: !tile.tensormap<32x64xbf16, 5, rank = 4>) {
  // CHECK: %[[BUF:.*]] = tile.shared_alloc [0, 8192] : !tile.shared<32x128xbf16, 2>
  %buf = tile.shared_alloc [0, 8192] : !tile.shared<32x128xbf16, 2>
  // CHECK: %[[BARS:.*]] = tile.mbarrier_alloc 16384 : !tile.mbarriers<2>
  %bars = tile.mbarrier_alloc 16384 : !tile.mbarriers<2>
  // CHECK: tile.mbarrier_init %[[BARS]] : !tile.mbarriers<2>
  tile.mbarrier_init %bars : !tile.mbarriers<2>
  // CHECK: tile.tma_copy %{{.*}}[%{{.*}}, %{{.*}}], %[[BUF]][%{{.*}}], %[[BARS]] if %{{.*}} {distance = 1 : i64} : !tile.tensormap<32x64xbf16, 0>, !tile.shared<32x128xbf16, 2>, !tile.mbarriers<2>
  tile.tma_copy %map[%i, %i], %buf[%slot], %bars if %p {distance = 1} : !tile.tensormap<32x64xbf16, 0>, !tile.shared<32x128xbf16, 2>, !tile.mbarriers<2>
  // CHECK: tile.tma_copy %{{.*}}[%{{.*}}, %{{.*}}], %[[BUF]][%{{.*}}], %[[BARS]] : !tile.tensormap
  tile.tma_copy %map[%i, %i], %buf[%slot], %bars : !tile.tensormap<32x64xbf16, 0>, !tile.shared<32x128xbf16, 2>, !tile.mbarriers<2>
  // A map of a rank-4 tensor: two leading coordinates before the row.
  // CHECK: tile.tma_copy %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], %[[BUF]][%{{.*}}], %[[BARS]] : !tile.tensormap<32x64xbf16, 5, rank = 4>
  tile.tma_copy %map4[%i, %i, %i, %i], %buf[%slot], %bars : !tile.tensormap<32x64xbf16, 5, rank = 4>, !tile.shared<32x128xbf16, 2>, !tile.mbarriers<2>
  // CHECK: tile.mbarrier_wait %[[BARS]][%{{.*}}], %{{.*}} : !tile.mbarriers<2>
  tile.mbarrier_wait %bars[%slot], %i : !tile.mbarriers<2>
  // CHECK: tile.warp_specialize producer_warps(4) {
  // CHECK-NEXT: tile.tma_copy {{.*}} {single_thread}
  // CHECK-NEXT: } consumers {
  // CHECK-NEXT: tile.mbarrier_arrive %[[BARS]][%{{.*}}] if %{{.*}} {distance = 2 : i64} : !tile.mbarriers<2>
  // CHECK-NEXT: }
  tile.warp_specialize producer_warps(4) {
    tile.tma_copy %map[%i, %i], %buf[%slot], %bars {single_thread} : !tile.tensormap<32x64xbf16, 0>, !tile.shared<32x128xbf16, 2>, !tile.mbarriers<2>
  } consumers {
    tile.mbarrier_arrive %bars[%slot] if %p {distance = 2} : !tile.mbarriers<2>
  }
  return
}

// CHECK-LABEL: @atomics_round_trip
func.func @atomics_round_trip(%d: !tile.desc<64xf32>, %e: !tile.desc<64xi32>, %n: i32,
                              %t: tensor<64xf32>, %k: tensor<64xi32>) -> (tensor<64xf32>, tensor<64xi32>) {
  // CHECK: tile.atomic_rmw max %{{.*}}[%{{.*}}], %{{.*}} : !tile.desc<64xf32>, tensor<64xf32>
  %old = tile.atomic_rmw max %d[%n], %t : !tile.desc<64xf32>, tensor<64xf32>
  // CHECK: tile.atomic_rmw xchg %{{.*}}[%{{.*}}], %{{.*}} : !tile.desc<64xi32>, tensor<64xi32>
  %x = tile.atomic_rmw xchg %e[%n], %k : !tile.desc<64xi32>, tensor<64xi32>
  // CHECK: tile.atomic_cas %{{.*}}[%{{.*}}], %{{.*}}, %{{.*}} : !tile.desc<64xi32>, tensor<64xi32>
  %c = tile.atomic_cas %e[%n], %k, %x : !tile.desc<64xi32>, tensor<64xi32>
  return %old, %c : tensor<64xf32>, tensor<64xi32>
}

// CHECK-LABEL: @masked_store_round_trip
func.func @masked_store_round_trip(%d: !tile.desc<64xf32>, %n: i32, %t: tensor<64xf32>, %m: tensor<64xi1>) {
  // CHECK: tile.store %{{.*}}[%{{.*}}], %{{.*}} mask %{{.*}} : !tile.desc<64xf32>, tensor<64xf32>, tensor<64xi1>
  tile.store %d[%n], %t mask %m : !tile.desc<64xf32>, tensor<64xf32>, tensor<64xi1>
  return
}

// CHECK-LABEL: @combine_regions_round_trip
func.func @combine_regions_round_trip(%t: tensor<16x32xf32>, %k: tensor<64xi32>, %s: f32)
    -> (tensor<16xf32>, tensor<16x32xf32>, tensor<64xi32>) {
  // CHECK: tile.reduce_combine %{{.*}} along 1 : tensor<16x32xf32> -> tensor<16xf32> {
  // CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32):
  // CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A]], %[[B]] : f32
  // CHECK-NEXT: tile.yield %[[P]] : f32
  %p = tile.reduce_combine %t along 1 : tensor<16x32xf32> -> tensor<16xf32> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.mulf %a, %b : f32
    tile.yield %c : f32
  }
  // A value from above (a run-time scalar) may take part.
  // CHECK: tile.scan %{{.*}} along 0 reverse : tensor<16x32xf32> -> tensor<16x32xf32> {
  // CHECK: arith.addf
  // CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
  %q = tile.scan %t along 0 reverse : tensor<16x32xf32> -> tensor<16x32xf32> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.addf %a, %b : f32
    %d = arith.mulf %c, %s : f32
    tile.yield %d : f32
  }
  // CHECK: tile.scan %{{.*}} along 0 : tensor<64xi32> -> tensor<64xi32> {
  // CHECK: arith.maxsi
  %m = tile.scan %k along 0 : tensor<64xi32> -> tensor<64xi32> {
  ^bb0(%a: i32, %b: i32):
    %c = arith.maxsi %a, %b : i32
    tile.yield %c : i32
  }
  return %p, %q, %m : tensor<16xf32>, tensor<16x32xf32>, tensor<64xi32>
}

// CHECK-LABEL: @assert_round_trip
func.func @assert_round_trip(%t: tensor<64xi1>, %c: i1) {
  // CHECK: tile.assert %{{.*}}, "in range" : tensor<64xi1>
  tile.assert %t, "in range" : tensor<64xi1>
  // CHECK: tile.assert %{{.*}}, "scalar" : i1
  tile.assert %c, "scalar" : i1
  return
}

// Tiles reduced and scanned together: the region takes the left elements of
// each, then the right ones.
// CHECK-LABEL: @combined_tiles_round_trip
func.func @combined_tiles_round_trip(%x: tensor<16x32xf32>, %i: tensor<16x32xi32>)
    -> (tensor<16xf32>, tensor<16xi32>, tensor<16x32xf32>, tensor<16x32xi32>) {
  // CHECK: tile.reduce_combine %{{.*}}, %{{.*}} along 1 : tensor<16x32xf32>, tensor<16x32xi32> -> tensor<16xf32>, tensor<16xi32> {
  // CHECK-NEXT: ^bb0(%{{.*}}: f32, %{{.*}}: i32, %{{.*}}: f32, %{{.*}}: i32):
  // CHECK: tile.yield %{{.*}}, %{{.*}} : f32, i32
  %m:2 = tile.reduce_combine %x, %i along 1 : tensor<16x32xf32>, tensor<16x32xi32> -> tensor<16xf32>, tensor<16xi32> {
  ^bb0(%a: f32, %ai: i32, %b: f32, %bi: i32):
    %gt = arith.cmpf ogt, %b, %a : f32
    %v = arith.select %gt, %b, %a : f32
    %k = arith.select %gt, %bi, %ai : i32
    tile.yield %v, %k : f32, i32
  }
  // CHECK: tile.scan %{{.*}}, %{{.*}} along 1 : tensor<16x32xf32>, tensor<16x32xi32> -> tensor<16x32xf32>, tensor<16x32xi32> {
  %s:2 = tile.scan %x, %i along 1 : tensor<16x32xf32>, tensor<16x32xi32> -> tensor<16x32xf32>, tensor<16x32xi32> {
  ^bb0(%a: f32, %ai: i32, %b: f32, %bi: i32):
    %v = arith.addf %a, %b : f32
    %k = arith.addi %ai, %bi : i32
    tile.yield %v, %k : f32, i32
  }
  return %m#0, %m#1, %s#0, %s#1 : tensor<16xf32>, tensor<16xi32>, tensor<16x32xf32>, tensor<16x32xi32>
}
