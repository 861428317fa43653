// RUN: tessera-opt %s --pass-pipeline='builtin.module(gpu.module(tessera-tensor-map-params))' | FileCheck %s

// The arguments a kernel lists in tile.tensor_maps become 128-byte, 64-byte
// aligned by-value grid constants (CUDA's `const __grid_constant__
// CUtensorMap`), which NVPTX passes as `.param .align 64 .b8 [128]`; the
// list goes. Other kernels keep their arguments as they are.
// CHECK-LABEL: llvm.func @kernel
// CHECK-SAME: %arg0: !llvm.ptr<1>, %arg1: i32,
// CHECK-SAME: %arg2: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant},
// CHECK-SAME: %arg3: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// CHECK-NOT: tile.tensor_maps
// CHECK-LABEL: llvm.func @plain
// CHECK-SAME: (%{{.*}}: !llvm.ptr)
gpu.module @m {
  llvm.func @kernel(%a: !llvm.ptr<1>, %n: i32, %mapA: !llvm.ptr, %mapB: !llvm.ptr)
      attributes {gpu.kernel, nvvm.kernel, tile.tensor_maps = array<i64: 2, 3>} {
    llvm.return
  }
  llvm.func @plain(%p: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
    llvm.return
  }
}
