// RUN: tessera-opt %s -split-input-file --pass-pipeline="builtin.module(gpu.module(tessera-defer-wgmma-waits))" | FileCheck %s

// Two independent products: the first's wait sinks past the second's issue
// (leaving that group running: wait_group 1) and past the independent
// global load, to its first use; the pure use moves behind it. The second
// wait follows to the store, which writes memory and stops both.
// CHECK-LABEL: gpu.func @two_products
// CHECK: "issue a"
// CHECK-NEXT: "issue b"
// CHECK-NEXT: llvm.load
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 1;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.fmul
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.store
gpu.module @two_products {
  gpu.func @two_products(%a: f32, %b: f32, %p: !llvm.ptr<1>) kernel {
    %ia = llvm.inline_asm has_side_effects {tile.wgmma_issue} "issue a", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
    %wa = llvm.inline_asm has_side_effects {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;", "=f,0" %ea : (f32) -> !llvm.struct<(f32)>
    %ra = llvm.extractvalue %wa[0] : !llvm.struct<(f32)>
    %ib = llvm.inline_asm has_side_effects {tile.wgmma_issue} "issue b", "=f,0" %b : (f32) -> !llvm.struct<(f32)>
    %eb = llvm.extractvalue %ib[0] : !llvm.struct<(f32)>
    %wb = llvm.inline_asm has_side_effects {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;", "=f,0" %eb : (f32) -> !llvm.struct<(f32)>
    %rb = llvm.extractvalue %wb[0] : !llvm.struct<(f32)>
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
// control flow that only loads is passed; a product inside a loop is waited
// for before the yield.
// CHECK-LABEL: gpu.func @stops
// CHECK: "issue a"
// CHECK-NEXT: scf.if
// CHECK: llvm.load
// CHECK: } else {
// CHECK: }
// CHECK-NEXT: llvm.inline_asm has_side_effects "cp.async.wait_group 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: "issue b"
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: {tile.wgmma_wait = false}
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;"
// CHECK: scf.for
// CHECK-NEXT: "issue c"
// CHECK-NEXT: llvm.fadd
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: {tile.wgmma_wait = false}
// CHECK-NEXT: llvm.extractvalue
// CHECK-NEXT: scf.yield
gpu.module @stops {
  gpu.func @stops(%a: f32, %c: i1, %p: !llvm.ptr<1>, %addr: i32, %n: i32) kernel {
    %ia = llvm.inline_asm has_side_effects {tile.wgmma_issue} "issue a", "=f,0" %a : (f32) -> !llvm.struct<(f32)>
    %ea = llvm.extractvalue %ia[0] : !llvm.struct<(f32)>
    %wa = llvm.inline_asm has_side_effects {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;", "=f,0" %ea : (f32) -> !llvm.struct<(f32)>
    %ra = llvm.extractvalue %wa[0] : !llvm.struct<(f32)>
    %l = scf.if %c -> (f32) {
      %x = llvm.load %p : !llvm.ptr<1> -> f32
      scf.yield %x : f32
    } else {
      scf.yield %a : f32
    }
    llvm.inline_asm has_side_effects "cp.async.wait_group 0;", "" : () -> ()
    gpu.barrier
    %ib = llvm.inline_asm has_side_effects {tile.wgmma_issue} "issue b", "=f,0" %l : (f32) -> !llvm.struct<(f32)>
    %eb = llvm.extractvalue %ib[0] : !llvm.struct<(f32)>
    %wb = llvm.inline_asm has_side_effects {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;", "=f,0" %eb : (f32) -> !llvm.struct<(f32)>
    %rb = llvm.extractvalue %wb[0] : !llvm.struct<(f32)>
    llvm.inline_asm has_side_effects "st.shared.b32 [$0], $1;", "r,f" %addr, %a : (i32, f32) -> ()
    %sum = llvm.fadd %ra, %rb : f32
    %c0 = arith.constant 0 : i32
    %c1 = arith.constant 1 : i32
    %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %sum) -> (f32) : i32 {
      %ic = llvm.inline_asm has_side_effects {tile.wgmma_issue} "issue c", "=f,0" %acc : (f32) -> !llvm.struct<(f32)>
      %ec = llvm.extractvalue %ic[0] : !llvm.struct<(f32)>
      %wc = llvm.inline_asm has_side_effects {tile.wgmma_wait = false} "wgmma.wait_group.sync.aligned 0;", "=f,0" %ec : (f32) -> !llvm.struct<(f32)>
      %rc = llvm.extractvalue %wc[0] : !llvm.struct<(f32)>
      %other = llvm.fadd %a, %a : f32
      scf.yield %rc : f32
    }
    llvm.store %r, %p : f32, !llvm.ptr<1>
    gpu.return
  }
}
