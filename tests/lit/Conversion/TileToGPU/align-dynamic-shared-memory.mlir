// RUN: tessera-opt %s --pass-pipeline="builtin.module(gpu.module(tessera-align-dynamic-shared-memory))" | FileCheck %s

// The dynamic shared memory symbol becomes an external array aligned to one
// period of the 128-byte swizzle; other globals are left alone.
// CHECK: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 1024 : i64} : !llvm.array<0 x i8>
// CHECK: llvm.mlir.global internal @table() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<4 x i8>
gpu.module @kernels {
  llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
  llvm.mlir.global internal @table() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<4 x i8>
}
