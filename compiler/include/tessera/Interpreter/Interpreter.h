//===- Interpreter.h - Run tile programs on the CPU -------------*- C++ -*-===//
//
// Executes the grid of programs of a `tile` kernel on the CPU, exactly as
// written: tiles are dense row-major arrays, f16 and bf16 results are rounded
// to their format after every operation (round to nearest even), block loads
// outside a tensor read its padding and stores outside it are dropped, as on
// the GPU. Every global access is also checked against the allocation its
// pointer argument came from; one outside it is an error naming the op, its
// location and the element. For tests and debugging without a GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_INTERPRETER_INTERPRETER_H
#define TESSERA_INTERPRETER_INTERPRETER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>

namespace tessera::interp {

/// One kernel argument, in the order of the kernel's parameters.
struct Arg {
  enum class Kind { Pointer, I32, F32 };
  Kind kind = Kind::I32;
  void *base = nullptr; ///< start of the allocation a pointer argument points into
  size_t bytes = 0;     ///< its size
  int32_t i = 0;
  float f = 0;

  static Arg pointer(void *base, size_t bytes) {
    Arg a;
    a.kind = Kind::Pointer;
    a.base = base;
    a.bytes = bytes;
    return a;
  }
  static Arg i32(int32_t v) {
    Arg a;
    a.kind = Kind::I32;
    a.i = v;
    return a;
  }
  static Arg f32(float v) {
    Arg a;
    a.kind = Kind::F32;
    a.f = v;
    return a;
  }
};

struct LaunchGrid {
  unsigned x = 1, y = 1, z = 1;
};

/// Runs every program of `grid` of the single `tile.kernel` function in
/// `module` (tile IR; layout encodings, if any, are ignored), in order.
llvm::Error run(mlir::ModuleOp module, LaunchGrid grid, llvm::ArrayRef<Arg> args);

} // namespace tessera::interp

#endif
