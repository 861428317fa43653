// RUN: tessera-opt %s -split-input-file --pass-pipeline="builtin.module(gpu.module(tessera-defer-wgmma-waits))" | FileCheck %s
// RUN: tessera-opt %s -split-input-file --pass-pipeline="builtin.module(gpu.module(tessera-defer-wgmma-waits{past-mbarrier-waits=false}))" | FileCheck %s --check-prefix=AT
// RUN: tessera-opt %s -split-input-file --pass-pipeline="builtin.module(gpu.module(tessera-defer-wgmma-waits{past-barriers=false}))" | FileCheck %s --check-prefix=BAR
// RUN: tessera-opt %s -split-input-file --pass-pipeline="builtin.module(gpu.module(tessera-defer-wgmma-waits{merge-stacked=false}))" | FileCheck %s --check-prefix=STACK

// A wgmma group is its issue (inline assembly of the instructions) and its
// commit (nvvm.wgmma.commit.group.sync.aligned); tile.warpgroup_wait takes
// the accumulators. The pass places each wait, then lowers it to
// wgmma.wait_group with the accumulators tied to its results.

// Two independent products: the first's wait sinks past the second's issue
// (leaving that group running: wait_group 1) and past the independent
// global load, to its first use; the pure use moves behind it. The second
// wait follows to the store, which writes memory and stops both.
// CHECK-LABEL: gpu.func @two_products
// CHECK: "issue a"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: "issue b"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.load
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 1;", "=f,0"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.fmul
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;", "=f,0"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.store
// CHECK-NOT: tile.warpgroup_wait
gpu.module @two_products {
  gpu.func @two_products(%a: f32, %b: f32, %p: !llvm.ptr<1>) kernel {
    %ia = llvm.inline_asm has_side_effects "issue a", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
    %ra = tile.warpgroup_wait %ea {pending = 0 : i32} : (f32) -> f32
    %ib = llvm.inline_asm has_side_effects "issue b", "=f,0" %b : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %eb = llvm.extractvalue %ib[0] : !llvm.struct<(f32)>
    %rb = tile.warpgroup_wait %eb {pending = 0 : i32} : (f32) -> f32
    %x = llvm.load %p : !llvm.ptr<1> -> f32
    %s = llvm.fmul %ra, %x : f32
    llvm.store %s, %p : f32, !llvm.ptr<1>
    llvm.store %rb, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// A barrier stops the wait (after it, other threads may overwrite the
// tiles the product reads), and so does a shared-memory store; structured
// control flow that only loads is passed, and so is a wait for copies; a
// product inside a loop is waited for before the yield.
// CHECK-LABEL: gpu.func @stops
// CHECK: "issue a"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: scf.if
// CHECK: llvm.load
// CHECK: } else {
// CHECK: }
// CHECK-NEXT: nvvm.cp.async.wait.group 0
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: "issue b"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;"
// CHECK: scf.for
// CHECK-NEXT: "issue c"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.fadd
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: scf.yield
gpu.module @stops {
  gpu.func @stops(%a: f32, %c: i1, %p: !llvm.ptr<1>, %addr: i32, %n: i32) kernel {
    %ia = llvm.inline_asm has_side_effects "issue a", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
    %ra = tile.warpgroup_wait %ea {pending = 0 : i32} : (f32) -> f32
    %l = scf.if %c -> (f32) {
      %x = llvm.load %p : !llvm.ptr<1> -> f32
      scf.yield %x : f32
    } else {
      scf.yield %a : f32
    }
    nvvm.cp.async.wait.group 0
    gpu.barrier
    %ib = llvm.inline_asm has_side_effects "issue b", "=f,0" %l : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %eb = llvm.extractvalue %ib[0] : !llvm.struct<(f32)>
    %rb = tile.warpgroup_wait %eb {pending = 0 : i32} : (f32) -> f32
    llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;", "r,f" %addr, %a : (i32, f32) -> ()
    %sum = llvm.fadd %ra, %rb : f32
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %sum) -> (f32) : i32 {
      %ic = llvm.inline_asm has_side_effects "issue c", "=f,0" %acc : (f32) -> !llvm.struct<(f32)>
      nvvm.wgmma.commit.group.sync.aligned
      %ec = llvm.extractvalue %ic[0] : !llvm.struct<(f32)>
      %rc = tile.warpgroup_wait %ec {pending = 0 : i32} : (f32) -> f32
      %other = llvm.fadd %a, %a : f32
      scf.yield %rc : f32
    }
    llvm.store %r, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// A group that may cross iterations (a matmul's k-loop, its accumulators
// going round into the same issue): the body ends with wait_group 1, and
// one wait_group 0 after the loop takes the accumulators.
// CHECK-LABEL: gpu.func @across_iterations
// CHECK: scf.for
// CHECK: "issue"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: "wgmma.wait_group.sync.aligned 1;", ""
// CHECK-NEXT: scf.yield
// CHECK: "wgmma.wait_group.sync.aligned 0;", "=f,0"
// CHECK: llvm.store
gpu.module @across_iterations {
  gpu.func @across_iterations(%a: f32, %p: !llvm.ptr<1>, %n: i32) kernel {
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %z = vector.broadcast %a : f32 to vector<1xf32>
    %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %z) -> (vector<1xf32>) : i32 {
      %e = vector.extract %acc[0] : f32 from vector<1xf32>
      %ic = llvm.inline_asm has_side_effects "issue", "=f,0" %e : (f32) -> !llvm.struct<(f32)>
      nvvm.wgmma.commit.group.sync.aligned
      %ec = llvm.extractvalue %ic[0] : !llvm.struct<(f32)>
      %rc = tile.warpgroup_wait %ec {pending = 0 : i32, may_cross_iterations = true} : (f32) -> f32
      %v = vector.from_elements %rc : vector<1xf32>
      scf.yield %v : vector<1xf32>
    }
    %x = vector.extract %r[0] : f32 from vector<1xf32>
    llvm.store %x, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// Atomic adds to global memory (tile.atomic_add's predicated red, which
// opens with its predicate's declaration) neither touch shared memory nor
// synchronize: a running product passes them, and its wait stops at the
// shared store after them. (Found by its instruction: a check of the text's
// start alone missed it.)
// CHECK-LABEL: gpu.func @passes_atomic_adds
// CHECK: "issue a"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $2, 0;\0A@p red.global.add.f32 [$0], $1;\0A}"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;"
gpu.module @passes_atomic_adds {
  gpu.func @passes_atomic_adds(%a: f32, %v: f32, %p: !llvm.ptr<1>, %add: i32, %addr: i32) kernel {
    %ia = llvm.inline_asm has_side_effects "issue a", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
    %ra = tile.warpgroup_wait %ea {pending = 0 : i32} : (f32) -> f32
    llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $2, 0;\0A@p red.global.add.f32 [$0], $1;\0A}", "l,f,r" %p, %v, %add : (!llvm.ptr<1>, f32, i32) -> ()
    llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;", "r,f" %addr, %ra : (i32, f32) -> ()
    gpu.return
  }
}

// -----

// Typed groups (convert-tile-to-gpu's typed-wgmma): the fence, the
// accumulator struct packed after it, an nvvm.wgmma.mma_async per k-step,
// the commit. The first wait sinks past the second group, which does not
// read its result, and stops at the fence of the third, which accumulates
// onto it: it lands before that fence (nothing may write an accumulator
// between the fence and the instructions), the second group still running.
// CHECK-LABEL: gpu.func @typed_groups
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: nvvm.wgmma.fence.aligned
// CHECK-NEXT: llvm.mlir.undef
// CHECK-NEXT: llvm.insertvalue %arg1
// CHECK-NEXT: nvvm.wgmma.mma_async
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: "wgmma.wait_group.sync.aligned 1;"
// CHECK-NEXT: %[[R0:.*]] = llvm.extractvalue
// CHECK-NEXT: nvvm.wgmma.fence.aligned
// CHECK-NEXT: llvm.mlir.undef
// CHECK-NEXT: llvm.insertvalue %[[R0]]
// CHECK-NEXT: nvvm.wgmma.mma_async
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: tile.warpgroup_wait
// CHECK: gpu.return
!acc = !llvm.struct<(f32, f32, f32, f32, f32, f32, f32, f32)>
gpu.module @typed_groups {
  gpu.func @typed_groups(%a: f32, %b: f32, %da: i64, %db: i64, %p: !llvm.ptr<1>) kernel {
    nvvm.wgmma.fence.aligned
    %u0 = llvm.mlir.undef : !acc
    %s0 = llvm.insertvalue %a, %u0[0] : !acc
    %i0 = nvvm.wgmma.mma_async %da, %db, %s0, #nvvm.shape<m = 64, n = 16, k = 16>, D [<f32>, #nvvm.wgmma_scale_out<one>], A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], B [<bf16>, #nvvm.wgmma_scale_in<one>, <col>] : !acc -> !acc
    nvvm.wgmma.commit.group.sync.aligned
    %e0 = llvm.extractvalue %i0[0] : !acc
    %r0 = tile.warpgroup_wait %e0 {pending = 0 : i32} : (f32) -> f32
    nvvm.wgmma.fence.aligned
    %u1 = llvm.mlir.undef : !acc
    %s1 = llvm.insertvalue %b, %u1[0] : !acc
    %i1 = nvvm.wgmma.mma_async %da, %db, %s1, #nvvm.shape<m = 64, n = 16, k = 16>, D [<f32>, #nvvm.wgmma_scale_out<one>], A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], B [<bf16>, #nvvm.wgmma_scale_in<one>, <col>] : !acc -> !acc
    nvvm.wgmma.commit.group.sync.aligned
    %e1 = llvm.extractvalue %i1[0] : !acc
    %r1 = tile.warpgroup_wait %e1 {pending = 0 : i32} : (f32) -> f32
    nvvm.wgmma.fence.aligned
    %u2 = llvm.mlir.undef : !acc
    %s2 = llvm.insertvalue %r0, %u2[0] : !acc
    %i2 = nvvm.wgmma.mma_async %da, %db, %s2, #nvvm.shape<m = 64, n = 16, k = 16>, D [<f32>, #nvvm.wgmma_scale_out<one>], A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], B [<bf16>, #nvvm.wgmma_scale_in<one>, <col>] : !acc -> !acc
    nvvm.wgmma.commit.group.sync.aligned
    %e2 = llvm.extractvalue %i2[0] : !acc
    %r2 = tile.warpgroup_wait %e2 {pending = 0 : i32} : (f32) -> f32
    llvm.store %r1, %p : f32, !llvm.ptr<1>
    llvm.store %r2, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// A product that continues another's accumulator (S = Q_0 K_0ᵀ + Q_1 K_1ᵀ,
// a head dim in two pieces): the second group, of the first's shape, reads
// the first's result only as its accumulators, so it joins the chain with
// no wait between (the hardware orders same-shape wgmmas on the same
// registers), past the mbarrier wait for its tiles; its own wait covers
// both. A third group of another shape (n = 32) that accumulates onto the
// second's result is waited for as before.
// CHECK-LABEL: gpu.func @chained_groups
// CHECK: nvvm.wgmma.mma_async {{.*}} n = 16
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: wgmma.wait_group
// CHECK: mbarrier.try_wait.parity
// CHECK-NOT: wgmma.wait_group
// CHECK: nvvm.wgmma.fence.aligned
// CHECK-NEXT: llvm.mlir.undef
// CHECK-NEXT: llvm.insertvalue
// CHECK-NEXT: nvvm.wgmma.mma_async {{.*}} n = 16
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;"
// CHECK: nvvm.wgmma.fence.aligned
// CHECK: nvvm.wgmma.mma_async {{.*}} n = 32
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK: "wgmma.wait_group.sync.aligned 0;"
// CHECK-NOT: tile.warpgroup_wait
// CHECK: gpu.return
!acc16 = !llvm.struct<(f32, f32, f32, f32, f32, f32, f32, f32)>
!acc32 = !llvm.struct<(f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)>
gpu.module @chained_groups {
  gpu.func @chained_groups(%a: f32, %da: i64, %db: i64, %bar: i32, %phase: i32, %p: !llvm.ptr<1>) kernel {
    nvvm.wgmma.fence.aligned
    %u0 = llvm.mlir.undef : !acc16
    %s0 = llvm.insertvalue %a, %u0[0] : !acc16
    %i0 = nvvm.wgmma.mma_async %da, %db, %s0, #nvvm.shape<m = 64, n = 16, k = 16>, D [<f32>, #nvvm.wgmma_scale_out<one>], A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], B [<bf16>, #nvvm.wgmma_scale_in<one>, <col>] : !acc16 -> !acc16
    nvvm.wgmma.commit.group.sync.aligned
    %e0 = llvm.extractvalue %i0[0] : !acc16
    %r0 = tile.warpgroup_wait %e0 {pending = 0 : i32} : (f32) -> f32
    %c0 = arith.constant 0 : i32
    %w = scf.while (%t = %c0) : (i32) -> i32 {
      %done = llvm.inline_asm has_side_effects "{ .reg .pred p; mbarrier.try_wait.parity.shared.b64 p, [$1], $2, $3; selp.u32 $0, 1, 0, p; }", "=r,r,r,r" %bar, %phase, %c0 : (i32, i32, i32) -> i32
      %waiting = arith.cmpi eq, %done, %c0 : i32
      scf.condition(%waiting) %t : i32
    } do {
    ^bb0(%t: i32):
      scf.yield %t : i32
    }
    nvvm.wgmma.fence.aligned
    %u1 = llvm.mlir.undef : !acc16
    %s1 = llvm.insertvalue %r0, %u1[0] : !acc16
    %i1 = nvvm.wgmma.mma_async %da, %db, %s1, #nvvm.shape<m = 64, n = 16, k = 16>, D [<f32>, #nvvm.wgmma_scale_out<one>], A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], B [<bf16>, #nvvm.wgmma_scale_in<one>, <col>] : !acc16 -> !acc16
    nvvm.wgmma.commit.group.sync.aligned
    %e1 = llvm.extractvalue %i1[0] : !acc16
    %r1 = tile.warpgroup_wait %e1 {pending = 0 : i32} : (f32) -> f32
    nvvm.wgmma.fence.aligned
    %u2 = llvm.mlir.undef : !acc32
    %s2 = llvm.insertvalue %r1, %u2[0] : !acc32
    %i2 = nvvm.wgmma.mma_async %da, %db, %s2, #nvvm.shape<m = 64, n = 32, k = 16>, D [<f32>, #nvvm.wgmma_scale_out<one>], A [<bf16>, #nvvm.wgmma_scale_in<one>, <row>], B [<bf16>, #nvvm.wgmma_scale_in<one>, <col>] : !acc32 -> !acc32
    nvvm.wgmma.commit.group.sync.aligned
    %e2 = llvm.extractvalue %i2[0] : !acc32
    %r2 = tile.warpgroup_wait %e2 {pending = 0 : i32} : (f32) -> f32
    llvm.store %r2, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// An mbarrier wait (the next product's tiles arriving) does not stop a
// wait: FlashAttention-3's order issues S_j, waits for V_{j-1}'s copy and
// issues P_{j-1}·V_{j-1} behind it, then reads S_j with the second group
// still running (wait_group 1).
// CHECK-LABEL: gpu.func @past_mbarrier_wait
// CHECK: "issue s"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: wgmma.wait_group
// CHECK: mbarrier.try_wait.parity
// CHECK-NOT: wgmma.wait_group
// CHECK: "issue pv"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 1;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.fmul
// With past-mbarrier-waits=false (TESSERA_WAITS_AT_MBARRIERS=1) it stops there.
// AT-LABEL: gpu.func @past_mbarrier_wait
// AT: "issue s"
// AT-NEXT: nvvm.wgmma.commit.group.sync.aligned
// AT: "wgmma.wait_group.sync.aligned 0;"
// AT: mbarrier.try_wait.parity
gpu.module @past_mbarrier_wait {
  gpu.func @past_mbarrier_wait(%a: f32, %b: f32, %bar: i32, %phase: i32, %p: !llvm.ptr<1>) kernel {
    %is = llvm.inline_asm has_side_effects "issue s", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %es = llvm.extractvalue %is[0] : !llvm.struct<(f32)>
    %rs = tile.warpgroup_wait %es {pending = 0 : i32} : (f32) -> f32
    %c0 = arith.constant 0 : i32
    %w = scf.while (%t = %c0) : (i32) -> i32 {
      %done = llvm.inline_asm has_side_effects "{ .reg .pred p; mbarrier.try_wait.parity.shared.b64 p, [$1], $2, $3; selp.u32 $0, 1, 0, p; }", "=r,r,r,r" %bar, %phase, %c0 : (i32, i32, i32) -> i32
      %waiting = arith.cmpi eq, %done, %c0 : i32
      scf.condition(%waiting) %t : i32
    } do {
    ^bb0(%t: i32):
      scf.yield %t : i32
    }
    %ipv = llvm.inline_asm has_side_effects "issue pv", "=f,0" %b : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %epv = llvm.extractvalue %ipv[0] : !llvm.struct<(f32)>
    %rpv = tile.warpgroup_wait %epv {pending = 0 : i32} : (f32) -> f32
    %x = llvm.fmul %rs, %rs : f32
    llvm.store %x, %p : f32, !llvm.ptr<1>
    llvm.store %rpv, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// FlashAttention-3's order: P·V reads the previous iteration's P from
// registers ("r" operands) while this iteration makes the next P. ptxas gives
// the carried P one register, so the conversion that makes it moves behind
// the wait for P·V, its f32 input tied through the wait (one more "=f" and
// tied operand per element); made before it, ptxas serializes every wgmma.
// CHECK-LABEL: gpu.func @carried_register_operand
// CHECK: scf.for
// CHECK: "issue pv"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NOT: arith.truncf
// CHECK: "wgmma.wait_group.sync.aligned 0;", "=f,=f,=f,0,1,2"
// CHECK: arith.truncf {{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK-NEXT: scf.yield
gpu.module @carried_register_operand {
  gpu.func @carried_register_operand(%acc0: f32, %p0: vector<2xbf16>, %s: vector<2xf32>, %q: !llvm.ptr<1>, %n: i32) kernel {
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %r:2 = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %acc0, %p = %p0) -> (f32, vector<2xbf16>) : i32 {
      %a = llvm.bitcast %p : vector<2xbf16> to i32
      %ipv = llvm.inline_asm has_side_effects "issue pv", "=f,r,0" %a, %acc : (i32, f32) -> !llvm.struct<(f32)>
      nvvm.wgmma.commit.group.sync.aligned
      %epv = llvm.extractvalue %ipv[0] : !llvm.struct<(f32)>
      %rpv = tile.warpgroup_wait %epv {pending = 0 : i32} : (f32) -> f32
      %e = llvm.fmul %s, %s : vector<2xf32>
      %next = arith.truncf %e : vector<2xf32> to vector<2xbf16>
      scf.yield %rpv, %next : f32, vector<2xbf16>
    }
    llvm.store %r#0, %q : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// A group nothing after it overwrites (may_cross_barriers, from
// convert-tile-to-gpu): its wait passes the barriers and shared stores that
// publish the next product's tile, to the first use of its accumulators:
// there the next product's wait stands too, and the two are one.
// Without the flag (@stops above) the first barrier stops it.
// CHECK-LABEL: gpu.func @crosses_barriers
// CHECK: "issue a"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;"
// CHECK-NEXT: nvvm.barrier0
// CHECK-NEXT: "issue b"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: "wgmma.wait_group.sync.aligned 0;", "=f,=f,0,1"
// CHECK: llvm.store
// With past-barriers=false the first barrier stops it.
// BAR-LABEL: gpu.func @crosses_barriers
// BAR: "issue a"
// BAR-NEXT: nvvm.wgmma.commit.group.sync.aligned
// BAR-NEXT: llvm.extractvalue
// BAR-NEXT: "wgmma.wait_group.sync.aligned 0;"
// BAR-NEXT: llvm.extractvalue
// BAR-NEXT: gpu.barrier
gpu.module @crosses_barriers {
  gpu.func @crosses_barriers(%a: f32, %b: f32, %p: !llvm.ptr<1>, %addr: i32) kernel {
    %ia = llvm.inline_asm has_side_effects "issue a", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
    %ra = tile.warpgroup_wait %ea {pending = 0 : i32, may_cross_barriers = true} : (f32) -> f32
    gpu.barrier
    llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;", "r,f" %addr, %b : (i32, f32) -> ()
    nvvm.barrier0
    %ib = llvm.inline_asm has_side_effects "issue b", "=f,0" %b : (f32) -> !llvm.struct<(f32)>
    nvvm.wgmma.commit.group.sync.aligned
    %eb = llvm.extractvalue %ib[0] : !llvm.struct<(f32)>
    %rb = tile.warpgroup_wait %eb {pending = 0 : i32} : (f32) -> f32
    llvm.store %ra, %p : f32, !llvm.ptr<1>
    llvm.store %rb, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}

// -----

// Waits that sink to the same point (the end of a loop body: dV's and
// dK's in the dK/dV program) become one that waits as the later does; the
// packing of the first's accumulators moves behind it. ptxas serialized
// every wgmma of a kernel with `wait_group 1; wait_group 0` stacked there
// where a group's accumulators were read while a later group ran (C7514).
// Work on the first's accumulators keeps the waits apart (@two_products).
// CHECK-LABEL: gpu.func @stacked_waits
// CHECK: "issue b"
// CHECK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;", "=f,=f,0,1"
// CHECK-NOT: wgmma.wait_group
// CHECK: vector.from_elements
// CHECK: scf.yield
// With merge-stacked=false they stay apart.
// STACK-LABEL: gpu.func @stacked_waits
// STACK: "issue b"
// STACK-NEXT: nvvm.wgmma.commit.group.sync.aligned
// STACK-NEXT: llvm.extractvalue
// STACK-NEXT: "wgmma.wait_group.sync.aligned 1;"
// STACK: vector.from_elements
// STACK: "wgmma.wait_group.sync.aligned 0;"
gpu.module @stacked_waits {
  gpu.func @stacked_waits(%a: f32, %b: f32, %n: index) kernel {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %init = vector.from_elements %a : vector<1xf32>
    %r:2 = scf.for %i = %c0 to %n step %c1 iter_args(%va = %init, %sb = %b) -> (vector<1xf32>, f32) {
      %xa = vector.extract %va[0] : f32 from vector<1xf32>
      %ia = llvm.inline_asm has_side_effects "issue a", "=f,0" %xa : (f32) -> !llvm.struct<(f32)>
      nvvm.wgmma.commit.group.sync.aligned
      %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
      %ra = tile.warpgroup_wait %ea {pending = 0 : i32} : (f32) -> f32
      %ib = llvm.inline_asm has_side_effects "issue b", "=f,0" %sb : (f32) -> !llvm.struct<(f32)>
      nvvm.wgmma.commit.group.sync.aligned
      %pa = vector.from_elements %ra : vector<1xf32>
      %eb = llvm.extractvalue %ib[0] : !llvm.struct<(f32)>
      %rb = tile.warpgroup_wait %eb {pending = 0 : i32} : (f32) -> f32
      scf.yield %pa, %rb : vector<1xf32>, f32
    }
    gpu.return
  }
}
