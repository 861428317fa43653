// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory --tile-pipeline-copies --tile-publish-stagings --convert-tile-to-gpu | FileCheck %s
// With typed-async-copies (the TESSERA_NVPTX_SHORT_PTR experiment) each
// 16-byte copy is upstream's op on the shared address (a chunk's constant
// offset, where there is one, a GEP from it): the inline PTX's operands.
// RUN: tessera-opt %s -split-input-file --tile-allocate-shared-memory --tile-pipeline-copies --tile-publish-stagings --convert-tile-to-gpu=typed-async-copies=true | FileCheck %s --check-prefix=TYPED
// TYPED-LABEL: gpu.func @tensor_core_dot
// TYPED-NOT: cp.async.cg.shared.global
// TYPED: %[[BASE:.*]] = llvm.inttoptr %{{.*}} : i32 to !llvm.ptr<3>
// TYPED-NEXT: nvvm.cp.async.shared.global %[[BASE]], %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
// TYPED-NOT: cp.async.cg.shared.global
// TYPED: gpu.return

#l = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// Each kernel moves into a gpu.module of its own; a 1024-element tile over
// 128 threads is a vector<8xf32> per thread; loads and stores are predicated.
// A load whose whole tile lies inside the tensor with a unit last stride
// (one test for all threads: sge 0, sle size) reads its runs as 16-byte
// vectors, 16 bytes apart (the thread's two runs of 4); otherwise run by
// run, element by element where a run crosses the end.
// CHECK-LABEL: gpu.module @add
// CHECK: gpu.func @add(%{{.*}}: !llvm.ptr<1>, %{{.*}}: i32, %{{.*}}: i32) kernel attributes {nvvm.maxntid = array<i32: 128, 1, 1>, tile.num_warps = 4 : i32}
// CHECK: gpu.block_id x
// CHECK: arith.cmpi sle
// CHECK: arith.cmpi sge
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-NOT: scf.if
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xf32>
// CHECK-NOT: scf.if
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xf32>
// CHECK: } else {
// CHECK: arith.cmpi ult
// CHECK: scf.if %{{.*}} -> (f32) {
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> f32
// CHECK: vector.from_elements {{.*}} : vector<8xf32>
// CHECK: arith.addf {{.*}} : vector<8xf32>
// CHECK: llvm.inline_asm "ex2.approx.ftz.f32 $0, $1;"
// CHECK: scf.if
// CHECK: llvm.store
// CHECK: gpu.return
func.func @add(%x: !tile.ptr<f32>, %n: i32, %s: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %pid = tile.program_id 0
  %d = tile.make_desc %x, [%n], [%s] : !tile.ptr<f32> -> !tile.desc<1024xf32>
  %t = tile.load %d[%pid] : !tile.desc<1024xf32> -> tensor<1024xf32, #l>
  %u = arith.addf %t, %t : tensor<1024xf32, #l>
  %e = math.exp %u : tensor<1024xf32, #l>
  tile.store %d[%pid], %e : !tile.desc<1024xf32>, tensor<1024xf32, #l>
  return
}

// -----

#l = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// A kernel that asks for two CTAs per SM (tile.ctas_per_sm), without a
// producer warpgroup: launched with .minnctapersm 2, so that ptxas fits its
// registers to half the SM.
// CHECK-LABEL: gpu.module @two_per_sm
// CHECK: gpu.func @two_per_sm({{.*}}) kernel attributes {nvvm.maxntid = array<i32: 128, 1, 1>, nvvm.minctasm = 2 : i32, tile.num_warps = 4 : i32}
func.func @two_per_sm(%x: !tile.ptr<f32>, %n: i32, %s: i32) attributes {tile.kernel, tile.num_warps = 4 : i32, tile.ctas_per_sm = 2 : i32} {
  %pid = tile.program_id 0
  %d = tile.make_desc %x, [%n], [%s] : !tile.ptr<f32> -> !tile.desc<1024xf32>
  %t = tile.load %d[%pid] : !tile.desc<1024xf32> -> tensor<1024xf32, #l>
  tile.store %d[%pid], %t : !tile.desc<1024xf32>, tensor<1024xf32, #l>
  return
}

// -----

#p = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>
#s = #tile.slice<dim = 1, parent = #p>

// A row spread over 4 warps reduces in registers, then by butterfly shuffles
// within each warp (lanes 1, 2, 4, 8, 16 apart), then through one shared word
// per warp: lane 0 of each warp writes its part, a barrier, and every thread
// combines the 4 words in warp order. No pass over the row in shared memory.
// expand_dims and broadcast are register shuffles.
// CHECK-LABEL: gpu.func @row_max
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32
// CHECK: gpu.shuffle xor %{{.*}}, %c16_i32
// CHECK: memref.view {{.*}} to memref<4xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK-NEXT: memref.store {{.*}} : memref<4xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK-COUNT-4: memref.load {{.*}} : memref<4xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: scf.for
// CHECK: vector.shuffle
// CHECK: vector.shuffle
func.func @row_max(%x: tensor<1x512xf32, #p>) attributes {tile.kernel} {
  %m = tile.reduce max %x, 1 : tensor<1x512xf32, #p> -> tensor<1xf32, #s>
  %e = tile.expand_dims %m, 1 : tensor<1xf32, #s> -> tensor<1x1xf32, #p>
  %b = tile.broadcast %e : tensor<1x1xf32, #p> -> tensor<1x512xf32, #p>
  return
}

// -----

#p = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>
#s = #tile.slice<dim = 1, parent = #p>

// 16-bit elements do not shuffle: the tile goes to shared memory between
// barriers, and each thread combines its row there; the op records the
// bytes it needs.
// CHECK-LABEL: gpu.func @row_max_f16
// CHECK: gpu.barrier
// CHECK: memref.store {{.*}} : memref<512xf16, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: arith.maximumf
func.func @row_max_f16(%x: tensor<1x512xf16, #p>) attributes {tile.kernel} {
  %m = tile.reduce max %x, 1 : tensor<1x512xf16, #p> -> tensor<1xf16, #s>
  return
}

// -----

#c = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#a = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>

// tile.dot on CUDA cores: both operands through shared memory, then one FMA
// per accumulator element per k.
// CHECK-LABEL: gpu.func @dot
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<32xf32>)
// CHECK: arith.extf {{.*}} : f16 to f32
// CHECK: llvm.intr.fma
func.func @dot(%a: tensor<64x32xf16, #a>, %b: tensor<32x64xf16, #a>, %acc: tensor<64x64xf32, #c>) attributes {tile.kernel} {
  %r = tile.dot %a, %b, %acc : tensor<64x32xf16, #a>, tensor<32x64xf16, #a> -> tensor<64x64xf32, #c>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Tensor cores: the B tile is copied from global memory straight into a
// swizzled shared tile with cp.async (16 bytes a thread), the dot waits for it,
// reads fragments with ldmatrix (.trans: the tile is k-major) and issues one
// mma.sync per 16x8x16 block; the row max is 2 shuffles per row (a row
// lives in 4 lanes) for the 2 rows a thread holds.
// The A operand, an mma result, is used in registers: no conversion code.
// A misaligned tensor takes the other branch. Rows of unit stride (at any
// even address: a row of 59 elements) go as 16-byte chunks, one per thread
// here: the two aligned vectors around the chunk, shifted into place (funnel
// shifts), one 16-byte shared store; element by element where the vectors
// would pass the tensor's last byte. Strided rows: a loop over the
// 32 x 32 elements, 128 threads apart, one 16-bit shared store per element
// (not unrolled per element: that was half of an attention kernel's code),
// each thread's eight loads issued before its eight stores so that they
// wait for memory together (one at a time, the loop was latency-bound).
// CHECK-LABEL: gpu.func @tensor_core_dot
// CHECK: cp.async.cg.shared.global [$0{{(\+[0-9]+)?}}], [$1], 16, $2;
// CHECK: } else {
// CHECK: scf.if
// CHECK: %[[CTID:.*]] = llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;"
// CHECK: scf.for %{{.*}} = %[[CTID]] to %c128_i32{{(_[0-9]+)?}} step %c128_i32
// CHECK-COUNT-2: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xi32>
// CHECK: } else {
// CHECK-COUNT-8: llvm.load %{{.*}} : !llvm.ptr<1> -> i16
// CHECK-COUNT-4: llvm.intr.fshr
// CHECK-NOT: st.shared
// CHECK: st.shared.v4.b32
// CHECK: } else {
// CHECK: %[[TID:.*]] = llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;"
// CHECK: scf.for %{{.*}} = %[[TID]] to %c1024_i32{{(_[0-9]+)?}} step %c1024_i32
// CHECK-COUNT-8: llvm.load
// CHECK-NOT: st.shared
// CHECK-COUNT-8: st.shared.b16
// CHECK-NOT: st.shared
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.barrier
// CHECK: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-COUNT-4: nvvm.mma.sync {{.*}}#nvvm.mma_type<bf16>{{.*}}k = 16>
// CHECK-COUNT-4: gpu.shuffle  xor
// CHECK-NOT: gpu.shuffle
// CHECK: gpu.return
func.func @tensor_core_dot(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64xf32>, %n: i32,
                           %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %v = tile.load %d[%n, %n] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  %m = tile.reduce max %c, 1 : tensor<64x32xf32, #mma> -> tensor<64xf32, #tile.slice<dim = 1, parent = #mma>>
  tile.store %o[%n], %m : !tile.desc<64xf32>, tensor<64xf32, #tile.slice<dim = 1, parent = #mma>>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The same copy through a descriptor the launch found aligned
// (`make_desc {aligned}`: rows of whole 16-byte vectors) at a column known to
// be a multiple of a vector (%n x 32): the cp.async path alone, with no
// run-time check of strides, base or column and no element-by-element
// branch, each chunk copied whole (16 bytes) or not at all. Its stores need
// no element path either: a pair of f32 is inside the tensor or outside it.
// CHECK-LABEL: gpu.func @aligned_copy
// CHECK-NOT: llvm.ptrtoint
// CHECK-NOT: arith.minsi
// CHECK: cp.async.cg.shared.global [$0{{(\+[0-9]+)?}}], [$1], 16, $2;
// CHECK-NOT: } else {
// CHECK-NOT: st.shared.b16
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.if
// CHECK-NEXT: vector.from_elements
// CHECK-NEXT: llvm.store {{.*}} : vector<2xf32>
// CHECK-NEXT: }
// CHECK-NOT: else
// CHECK: gpu.return
func.func @aligned_copy(%pb: !tile.ptr<bf16>, %po: !tile.ptr<f32>, %n: i32,
                        %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c1 = arith.constant 1 : i32
  %c32 = arith.constant 32 : i32
  %col = arith.muli %n, %c32 : i32
  %d = tile.make_desc %pb, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<32x32xbf16>
  %o = tile.make_desc %po, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<64x32xf32>
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %v = tile.load %d[%n, %col] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c = tile.dot %a, %b, %z : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
  tile.store %o[%n, %col], %c : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>

// An aligned descriptor read and written at a column nothing is known of
// (%n may be 3): vectors there would be misaligned, so the vector paths also
// check that the column is a multiple of the vector (8 bf16 for the load, a
// pair of f32 for the store), and keep the element paths.
// CHECK-LABEL: gpu.func @aligned_tensor_any_column
// CHECK: %[[LOW:.*]] = arith.andi %arg2, %c7_i32 : i32
// CHECK: arith.cmpi eq, %[[LOW]], %c0
// CHECK: llvm.load {{.*}} -> vector<8xbf16>
// CHECK: } else {
// CHECK: llvm.load {{.*}} -> bf16
// CHECK: arith.andi %arg2, %c1_i32
// CHECK: llvm.store {{.*}} : vector<2xf32>
// CHECK: } else {
// CHECK: llvm.store {{.*}} : f32
// CHECK: gpu.return
func.func @aligned_tensor_any_column(%pb: !tile.ptr<bf16>, %po: !tile.ptr<f32>, %n: i32)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %pb, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<bf16> -> !tile.desc<32x32xbf16>
  %o = tile.make_desc %po, [%n, %n], [%n, %c1] {aligned} : !tile.ptr<f32> -> !tile.desc<32x32xf32>
  %v = tile.load %d[%n, %n] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
  %w = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #mma>
  %f = arith.extf %w : tensor<32x32xbf16, #mma> to tensor<32x32xf32, #mma>
  tile.store %o[%n, %n], %f : !tile.desc<32x32xf32>, tensor<32x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Software pipelining: the B tile loaded at row %i of each iteration gets two
// shared tiles (2048 bytes each, after the first); the first iteration's copy
// is issued before the loop, and each iteration copies row %i + step into the
// other tile (index past any tensor, so zeros, after the last) and waits for
// all but that newest copy before its dot.
// CHECK-LABEL: gpu.func @pipelined_dot
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for %[[IV:.*]] = %[[LB:.*]] to %[[UB:.*]] step %[[STEP:.*]] iter_args
// CHECK: %[[NEXT:.*]] = arith.addi %[[IV]], %[[STEP]]
// CHECK: arith.cmpi slt, %[[NEXT]], %[[UB]]
// CHECK: gpu.barrier
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK: nvvm.mma.sync {{.*}}k = 16>
func.func @pipelined_dot(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                         %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The same loop with tile.num_stages = 1: one shared tile, the first
// iteration's copied before the loop; each iteration waits for its tile,
// runs its dot and then refills the tile with the next iteration's (a
// barrier first: every warp is done reading it), which loads while the
// iteration ends and the next begins. The last refill (zeros) is drained
// after the loop.
// CHECK-LABEL: gpu.func @single_stage_dot
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK-NOT: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: gpu.barrier
// CHECK-COUNT-8: nvvm.mma.sync {{.*}}k = 16>
// CHECK: gpu.barrier
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.yield
// CHECK-NEXT: }
// CHECK-NEXT: nvvm.cp.async.wait.group 0
func.func @single_stage_dot(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                            %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32, tile.num_stages = 1 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Two sibling loops (attention's unmasked and masked key loops) stage their B
// tiles into the same shared region: 2 x 2048 bytes in all, not 4 x 2048;
// a barrier lets the first loop's readers finish before the second loop's
// first copy, and no allocation attribute is left on the loops.
// CHECK-LABEL: gpu.func @sibling_loops
// CHECK: scf.for
// CHECK: nvvm.mma.sync {{.*}}k = 16>
// CHECK: gpu.barrier
// CHECK-NEXT: arith.cmpi slt
// CHECK: cp.async.cg.shared.global
// CHECK: scf.for
// CHECK-NOT: tile.shared_end
// CHECK: gpu.return
func.func @sibling_loops(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                         %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  %a2 = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %s = scf.for %i = %n to %n step %c32 iter_args(%acc = %r) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a2, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %s : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>
#s = #tile.slice<dim = 1, parent = #mma>

// tile.atomic_add: with unit inner stride (checked at run time), one
// pointer per run of a thread's elements along the last dimension and the
// offsets in the instructions (an m16n8 fragment: columns 2t, 2t+1, then the
// next 8-column block 32 bytes on); each red is predicated on the element
// being inside the tensor. Otherwise element by element.
// CHECK-LABEL: gpu.func @atomic_add_fragment
// CHECK: scf.if
// CHECK: llvm.getelementptr
// CHECK: llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $2, 0;\0A@p red.global.add.f32 [$0], $1;\0A}", "l,f,r"
// CHECK: red.global.add.f32 [$0+4], $1;
// CHECK: red.global.add.f32 [$0+32], $1;
// CHECK: } else {
// CHECK: red.global.add.f32 [$0], $1;
func.func @atomic_add_fragment(%d: !tile.desc<64x16xf32>, %n: i32, %t: tensor<64x16xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.atomic_add %d[%n, %n], %t : !tile.desc<64x16xf32>, tensor<64x16xf32, #mma>
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>
#s = #tile.slice<dim = 1, parent = #mma>

// A row slice of an mma tile is held by the 4 lanes of a quad: only the
// lane whose column bits are 0 adds it (lane & 3 == 0), so each element is
// added once.
// CHECK-LABEL: gpu.func @atomic_add_replicated
// CHECK: arith.andi %{{.*}}, %c3_i32{{.*}} : i32
// CHECK: %[[OWNER:.*]] = arith.cmpi eq, %{{.*}}, %c0_i32
// CHECK: arith.andi %[[OWNER]], %{{.*}} : i1
// CHECK: red.global.add.f32
func.func @atomic_add_replicated(%d: !tile.desc<64xf32>, %n: i32, %t: tensor<64xf32, #s>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.atomic_add %d[%n], %t : !tile.desc<64xf32>, tensor<64xf32, #s>
  return
}

// -----

#g = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#r = #tile.slice<dim = 1, parent = #g>

// A gather: each of the thread's 8 rows of a 64 x 64 tile over 128 threads
// takes its index from the thread's own sliced row indices (no shuffles),
// checks it unsigned against the row count (-1 reads padding) and reads its
// run of 4 as one 16-byte vector where the run is inside, element by
// element otherwise. There is no whole-tile path: any index may be outside.
// CHECK-LABEL: gpu.func @gather_rows
// CHECK-COUNT-8: vector.extract %{{.*}}[{{[0-7]}}] : i32 from vector<8xi32>
// CHECK: arith.cmpi ult
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32) {
// CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xf32>
// CHECK: } else {
// CHECK: scf.if %{{.*}} -> (f32) {
// CHECK: llvm.load %{{.*}} : !llvm.ptr<1> -> f32
// CHECK-NOT: scf.if %{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32
// CHECK: gpu.return
func.func @gather_rows(%x: !tile.ptr<f32>, %n: i32, %rows: tensor<64xi32, #r>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c1 = arith.constant 1 : i32
  %d = tile.make_desc %x, [%n, %n], [%n, %c1] : !tile.ptr<f32> -> !tile.desc<64x64xf32>
  %t = tile.gather %d[%rows, %n] : !tile.desc<64x64xf32>, tensor<64xi32, #r> -> tensor<64x64xf32, #g>
  tile.store %d[%n, %n], %t : !tile.desc<64x64xf32>, tensor<64x64xf32, #g>
  return
}

// -----

#r = #tile.blocked<sizePerThread = [2, 4], threadsPerWarp = [2, 16], warpsPerCTA = [4, 1], order = [1, 0]>
#rs = #tile.slice<dim = 1, parent = #r>

// A row rescale marked tile.skip_unit_factor: each warp votes on whether
// all its factors are exactly 1 and multiplies only if not; an empty
// side-effecting statement keeps LLVM from speculating the multiplies.
// Unmarked, the same product is a plain multiply.
// CHECK-LABEL: gpu.func @rescale_rows
// CHECK: %[[F0:.*]] = arith.cmpf oeq
// CHECK: %[[F1:.*]] = arith.cmpf oeq
// CHECK: %[[BOTH:.*]] = arith.andi %[[F0]], %[[F1]] : i1
// CHECK: %[[ALL:.*]] = nvvm.vote.sync all %{{.*}}, %[[BOTH]] -> i1
// CHECK: %[[R:.*]] = scf.if %[[ALL]] -> (vector<8xf32>) {
// CHECK-NEXT: scf.yield %[[X:.*]] : vector<8xf32>
// CHECK-NEXT: } else {
// CHECK-NEXT: llvm.inline_asm has_side_effects "", ""
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[X]], %{{.*}} : vector<8xf32>
// CHECK-NEXT: scf.yield %[[M]] : vector<8xf32>
// CHECK-NOT: nvvm.vote.sync
// CHECK: arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK-NOT: nvvm.vote.sync
func.func @rescale_rows(%x: tensor<16x64xf32, #r>, %f: tensor<16xf32, #rs>) attributes {tile.kernel} {
  %e = tile.expand_dims %f, 1 : tensor<16xf32, #rs> -> tensor<16x1xf32, #r>
  %b = tile.broadcast %e : tensor<16x1xf32, #r> -> tensor<16x64xf32, #r>
  %y = arith.mulf %x, %b {tile.skip_unit_factor} : tensor<16x64xf32, #r>
  %z = arith.mulf %x, %b : tensor<16x64xf32, #r>
  return
}

// -----

#l = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// Philox's mulhilo (dsl::randint): arith.mului_extended on a tile is the same
// op on each thread's vector, both halves (NVPTX makes mul.lo and mul.hi.u32).
// CHECK-LABEL: gpu.module @mulhilo
// CHECK: %[[LO:.*]], %[[HI:.*]] = arith.mului_extended %{{.*}}, %{{.*}} : vector<8xi32>
// CHECK: arith.xori %[[LO]], %[[HI]] : vector<8xi32>
func.func @mulhilo(%x: !tile.ptr<i32>, %n: i32, %s: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %pid = tile.program_id 0
  %d = tile.make_desc %x, [%n], [%s] : !tile.ptr<i32> -> !tile.desc<1024xi32>
  %t = tile.load %d[%pid] : !tile.desc<1024xi32> -> tensor<1024xi32, #l>
  %lo, %hi = arith.mului_extended %t, %t : tensor<1024xi32, #l>
  %y = arith.xori %lo, %hi : tensor<1024xi32, #l>
  tile.store %d[%pid], %y : !tile.desc<1024xi32>, tensor<1024xi32, #l>
  return
}

// -----

#l = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// sin and cos reduce the argument to [-π, π] (k = rint(x/2π), two fmas with
// 2π split in two) before the hardware's approximation; erf is A&S 7.1.26
// with the approximate exp2.
// Upstream's NVVM conversion would turn LLVM's rint, fabs, copysign, floor
// and ceil into libdevice calls: they are single PTX instructions instead.
// CHECK-LABEL: gpu.module @math
// CHECK: llvm.inline_asm "cvt.rni.f32.f32 $0, $1;"
// CHECK: llvm.intr.fma
// CHECK: llvm.intr.fma
// CHECK: llvm.inline_asm "sin.approx.ftz.f32 $0, $1;"
// CHECK: llvm.inline_asm "cos.approx.ftz.f32 $0, $1;"
// CHECK: llvm.inline_asm "abs.f32 $0, $1;"
// CHECK: ex2.approx.ftz.f32
// CHECK: llvm.inline_asm "copysign.f32 $0, $1, $2;"
// CHECK: llvm.inline_asm "cvt.rmi.f32.f32 $0, $1;"
// CHECK: llvm.inline_asm "cvt.rpi.f32.f32 $0, $1;"
func.func @math(%x: !tile.ptr<f32>, %n: i32, %s: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %pid = tile.program_id 0
  %d = tile.make_desc %x, [%n], [%s] : !tile.ptr<f32> -> !tile.desc<1024xf32>
  %t = tile.load %d[%pid] : !tile.desc<1024xf32> -> tensor<1024xf32, #l>
  %a = math.sin %t : tensor<1024xf32, #l>
  %b = math.cos %a : tensor<1024xf32, #l>
  %c = math.erf %b : tensor<1024xf32, #l>
  %e = math.floor %c : tensor<1024xf32, #l>
  %f = math.ceil %e : tensor<1024xf32, #l>
  tile.store %d[%pid], %f : !tile.desc<1024xf32>, tensor<1024xf32, #l>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// The same loop with tile.num_stages = 3: three shared tiles (the load's own
// and two after it); iterations 0 and 1 are copied before the loop, each in a
// group of its own, and iteration j copies row %i + 2·step into buffer
// (j + 2) mod 3, the one iteration j - 1 read (after the barrier), then waits
// for all but the two newest groups: tiles j + 1 and j + 2 load during its dot.
// CHECK-LABEL: gpu.func @three_stage_dot
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for %[[IV:.*]] = %[[LB:.*]] to %[[UB:.*]] step %[[STEP:.*]] iter_args
// CHECK: %[[AHEAD:.*]] = arith.muli %[[STEP]], %c2_i32
// CHECK: %[[NEXT:.*]] = arith.addi %[[IV]], %[[AHEAD]]
// CHECK: arith.cmpi slt, %[[NEXT]], %[[UB]]
// CHECK: gpu.barrier
// CHECK: arith.remui %{{.*}}, %c3_i32
// CHECK: cp.async.cg.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 2
// CHECK: nvvm.mma.sync {{.*}}k = 16>
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
func.func @three_stage_dot(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                           %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32, tile.num_stages = 3 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1, 8], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>
#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// Four stages, one dot reading the copied tile: the copies go after it, two
// iterations ahead, into the buffer the dot of two iterations back read, with
// no barrier of their own (the dot's, after every warp finished with that
// one, covers them): two copies before the loop, and the dot leaves one group
// (the next tile's, issued in the iteration before) in flight. With wgmma the
// dot's group may then stay in flight into the next iteration
// (wgmma-across-iterations.mlir).
// CHECK-LABEL: gpu.func @four_stage_dot
// CHECK-COUNT-2: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: gpu.barrier
// CHECK: nvvm.mma.sync {{.*}}k = 16>
// CHECK: arith.muli %{{.*}}, %c2_i32
// CHECK-NOT: gpu.barrier
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.yield
func.func @four_stage_dot(%d: !tile.desc<32x32xbf16>, %o: !tile.desc<64x32xf32>, %n: i32,
                          %p: tensor<64x32xbf16, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32, tile.num_stages = 4 : i32} {
  %a = tile.convert_layout %p : tensor<64x32xbf16, #mma> -> tensor<64x32xbf16, #opa>
  %z = arith.constant dense<0.0> : tensor<64x32xf32, #mma>
  %c0 = arith.constant 0 : i32
  %c32 = arith.constant 32 : i32
  %r = scf.for %i = %c0 to %n step %c32 iter_args(%acc = %z) -> (tensor<64x32xf32, #mma>) : i32 {
    %v = tile.load %d[%i, %c0] : !tile.desc<32x32xbf16> -> tensor<32x32xbf16, #bl>
    %b = tile.convert_layout %v : tensor<32x32xbf16, #bl> -> tensor<32x32xbf16, #opb>
    %c = tile.dot %a, %b, %acc : tensor<64x32xbf16, #opa>, tensor<32x32xbf16, #opb> -> tensor<64x32xf32, #mma>
    scf.yield %c : tensor<64x32xf32, #mma>
  }
  tile.store %o[%n, %n], %r : !tile.desc<64x32xf32>, tensor<64x32xf32, #mma>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// Atomics with old values: one llvm.atomicrmw / cmpxchg per element inside
// the tensor (relaxed, GPU scope), by the element's owner. 64 elements on 128
// threads: threads hold copies, so the owners hand the old values out
// through shared memory (256 bytes of scratch) between barriers.
// CHECK-LABEL: gpu.func @atomics
// CHECK: scf.if
// CHECK: llvm.atomicrmw fmax %{{.*}}, %{{.*}} syncscope("device") monotonic : !llvm.ptr<1>, f32
// CHECK: gpu.barrier
// CHECK: memref.store
// CHECK: gpu.barrier
// CHECK: memref.load
// CHECK: gpu.barrier
// CHECK: llvm.cmpxchg %{{.*}}, %{{.*}}, %{{.*}} syncscope("device") monotonic monotonic : !llvm.ptr<1>, i32
func.func @atomics(%d: !tile.desc<64xf32>, %e: !tile.desc<64xi32>, %n: i32, %t: tensor<64xf32, #bl>,
                   %k: tensor<64xi32, #bl>, %o: !tile.desc<64xf32>, %oi: !tile.desc<64xi32>)
    attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %old = tile.atomic_rmw max %d[%n], %t : !tile.desc<64xf32>, tensor<64xf32, #bl>
  tile.store %o[%n], %old : !tile.desc<64xf32>, tensor<64xf32, #bl>
  %c = tile.atomic_cas %e[%n], %k, %k : !tile.desc<64xi32>, tensor<64xi32, #bl>
  tile.store %oi[%n], %c : !tile.desc<64xi32>, tensor<64xi32, #bl>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [1], order = [0]>

// A masked store: a run goes as one vector when it lies inside the tensor
// and its whole mask is set, else element by element, each element written
// where it is inside and its mask is set.
// CHECK-LABEL: gpu.func @masked_store
// CHECK: %[[M:.*]] = vector.extract %{{.*}}[0] : i1 from vector<4xi1>
// CHECK: scf.if
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<1>
// CHECK: } else {
// CHECK: arith.andi %{{.*}}, %[[M]] : i1
// CHECK: scf.if
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<1>
func.func @masked_store(%d: !tile.desc<128xf32>, %n: i32, %t: tensor<128xf32, #bl>,
                        %m: tensor<128xi1, #bl>) attributes {tile.kernel, tile.num_warps = 1 : i32} {
  tile.store %d[%n], %t mask %m : !tile.desc<128xf32>, tensor<128xf32, #bl>, tensor<128xi1, #bl>
  return
}

// -----

#bl = #tile.blocked<sizePerThread = [1], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// device_print: one gpu.printf per element, by its owner (4 elements on 128
// threads: the others hold copies), the value as a double; a scalar from
// thread 0.
// CHECK-LABEL: gpu.func @print
// CHECK: scf.if
// CHECK: gpu.printf "row pid (%d, %d, %d) idx (%d): %f\0A", %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i32, i32, i32, i32, f64
// CHECK: gpu.printf "n pid (%d, %d, %d) idx (): %d\0A", %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i32, i32, i32, i32
func.func @print(%t: tensor<4xf32, #bl>, %n: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  tile.print "row" %t : tensor<4xf32, #bl>
  tile.print "n" %n : i32
  return
}

// -----

#p = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>
#s = #tile.slice<dim = 1, parent = #p>

// A combine region reduces as tile.reduce does: its ops cloned wherever two
// elements meet, in registers, after each butterfly shuffle and over the
// warps' shared words.
// CHECK-LABEL: gpu.func @row_product
// CHECK-COUNT-3: arith.mulf {{.*}} : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32
// CHECK-NEXT: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c16_i32
// CHECK-NEXT: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// CHECK-COUNT-3: arith.mulf {{.*}} : f32
// CHECK-NOT: tile.yield
func.func @row_product(%x: tensor<1x512xf32, #p>) attributes {tile.kernel} {
  %m = tile.reduce_combine %x along 1 : tensor<1x512xf32, #p> -> tensor<1xf32, #s> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.mulf %a, %b : f32
    tile.yield %c : f32
  }
  return
}

// -----

#p = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>

// A scan of one 512-long row over 128 threads: 32 segments of 16 (no more
// than sqrt(2·512)), a word of padding after each (512 + 32 words), their
// totals after the data (2176 bytes on). Each job scans its segment in
// place, a barrier, then combines the totals before it and applies that
// prefix in front of each element of its segment.
// CHECK-LABEL: gpu.func @row_cumsum
// CHECK: memref.view {{.*}}[%c0][] {{.*}} to memref<544xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}}[%c2176][] {{.*}} to memref<32xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK-COUNT-4: memref.store {{.*}} : memref<544xf32
// CHECK: gpu.barrier
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %c32{{.*}} step %c128
// CHECK: scf.for {{.*}} = %c1{{.*}} to %c16{{.*}} iter_args
// CHECK: arith.addf
// CHECK: memref.store {{.*}} : memref<544xf32
// CHECK: memref.store {{.*}} : memref<32xf32
// CHECK: gpu.barrier
// CHECK: scf.if
// CHECK: scf.for {{.*}} iter_args
// CHECK: arith.addf
// CHECK: scf.for
// CHECK: arith.addf
// CHECK: memref.store {{.*}} : memref<544xf32
// CHECK: gpu.barrier
// CHECK-COUNT-4: memref.load {{.*}} : memref<544xf32
func.func @row_cumsum(%x: tensor<1x512xf32, #p>) attributes {tile.kernel} {
  %m = tile.scan %x along 1 : tensor<1x512xf32, #p> -> tensor<1x512xf32, #p> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.addf %a, %b : f32
    tile.yield %c : f32
  }
  return
}

// -----

#p = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [4, 8], warpsPerCTA = [4, 1], order = [1, 0]>

// Along a column, adjacent lines are adjacent words: no padding. 32 lines
// of 128 in 4 segments fill the 128 threads; `reverse` walks each line from
// row 127 down.
// CHECK-LABEL: gpu.func @column_cumsum_reverse
// CHECK: memref.view {{.*}} to memref<4096xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}}[%c16384][] {{.*}} to memref<128xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for {{.*}} step %c128
// CHECK: arith.subi %c127
func.func @column_cumsum_reverse(%x: tensor<128x32xf32, #p>) attributes {tile.kernel} {
  %m = tile.scan %x along 0 reverse : tensor<128x32xf32, #p> -> tensor<128x32xf32, #p> {
  ^bb0(%a: f32, %b: f32):
    %c = arith.addf %a, %b : f32
    tile.yield %c : f32
  }
  return
}

// -----

#l = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// One cf.assert per thread on the conjunction of its elements (convert-gpu-to-nvvm
// makes it a call of __assertfail); a scalar condition asserts as it is.
// CHECK-LABEL: gpu.func @asserts
// CHECK-COUNT-3: arith.andi %{{.*}}, %{{.*}} : i1
// CHECK-NEXT: cf.assert %{{.*}}, "below the limit"
// CHECK: cf.assert %{{.*}}, "scalar"
func.func @asserts(%t: tensor<512xi1, #l>, %c: i1) attributes {tile.kernel} {
  tile.assert %t, "below the limit" : tensor<512xi1, #l>
  tile.assert %c, "scalar" : i1
  return
}

// -----

#p = #tile.blocked<sizePerThread = [1, 4], threadsPerWarp = [1, 32], warpsPerCTA = [1, 4], order = [1, 0]>
#s = #tile.slice<dim = 1, parent = #p>

// Tiles reduced together (a max and its index) shuffle alike: both values
// of the partner lane at each step, then the region picks; across the four
// warps, one shared word per warp for each tile (f32 at 0, i32 at 16).
// CHECK-LABEL: gpu.func @row_argmax
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32{{.*}} : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32{{.*}} : i32
// CHECK-NEXT: arith.cmpf ogt
// CHECK: memref.view {{.*}}[%c0{{.*}}][] {{.*}} to memref<4xf32, #gpu.address_space<workgroup>>
// CHECK: memref.view {{.*}}[%c16{{.*}}][] {{.*}} to memref<4xi32, #gpu.address_space<workgroup>>
// CHECK: scf.if
// CHECK-NEXT: memref.store {{.*}} : memref<4xf32
// CHECK-NEXT: memref.store {{.*}} : memref<4xi32
func.func @row_argmax(%x: tensor<1x512xf32, #p>, %i: tensor<1x512xi32, #p>) attributes {tile.kernel} {
  %m:2 = tile.reduce_combine %x, %i along 1 : tensor<1x512xf32, #p>, tensor<1x512xi32, #p> -> tensor<1xf32, #s>, tensor<1xi32, #s> {
  ^bb0(%a: f32, %ai: i32, %b: f32, %bi: i32):
    %gt = arith.cmpf ogt, %b, %a : f32
    %v = arith.select %gt, %b, %a : f32
    %k = arith.select %gt, %bi, %ai : i32
    tile.yield %v, %k : f32, i32
  }
  return
}

// -----

#mma = #tile.mma<warpsPerCTA = [4, 1]>
#opa = #tile.dot_op<opIdx = 0, parent = #mma, kWidth = 2>
#opb = #tile.dot_op<opIdx = 1, parent = #mma, kWidth = 2>

// mma.sync is upstream's typed op: f16 operands enter it as pairs of halves,
// bf16 (above) and tf32 as 32-bit words; 64x8 on 4 warps is one block a warp.
// CHECK-LABEL: gpu.func @f16_registers_dot
// CHECK: llvm.bitcast %{{.*}} : i32 to vector<2xf16>
// CHECK: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {{.*}}k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK-NOT: nvvm.mma.sync
// CHECK: gpu.return
func.func @f16_registers_dot(%a: tensor<64x16xf16, #opa>, %b: tensor<16x8xf16, #opb>, %acc: tensor<64x8xf32, #mma>) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %r = tile.dot %a, %b, %acc : tensor<64x16xf16, #opa>, tensor<16x8xf16, #opb> -> tensor<64x8xf32, #mma>
  return
}

// -----

#l = #tile.blocked<sizePerThread = [4], threadsPerWarp = [32], warpsPerCTA = [4], order = [0]>

// A store in a loop: a run that may cross the tensor's end is written
// element by element from a thread id read in that branch, so that LLVM
// cannot hoist each element's predicate and offset out of the loop and keep
// them live across it (a row loop's stores held them all: RMSNorm's backward
// took 123 registers, now 96). The vector path keeps the shared accesses.
// CHECK-LABEL: gpu.func @store_in_a_loop
// CHECK: scf.for
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xf32>
// CHECK: } else {
// CHECK-NEXT: llvm.inline_asm has_side_effects "mov.u32 $0, %tid.x;"
// CHECK: scf.if
// CHECK-NEXT: llvm.store %{{.*}} : f32, !llvm.ptr<1>
// CHECK: gpu.return
func.func @store_in_a_loop(%x: !tile.ptr<f32>, %n: i32, %s: i32, %rows: i32) attributes {tile.kernel, tile.num_warps = 4 : i32} {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %v = arith.constant dense<1.0> : tensor<512xf32, #l>
  scf.for %r = %c0 to %rows step %c1 : i32 {
    %d = tile.make_desc %x, [%n], [%s] : !tile.ptr<f32> -> !tile.desc<512xf32>
    tile.store %d[%r], %v : !tile.desc<512xf32>, tensor<512xf32, #l>
  }
  return
}
