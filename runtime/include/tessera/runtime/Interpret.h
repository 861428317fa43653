//===- Interpret.h - Kernels on the CPU through the same API ----*- C++ -*-===//
//
// With TESSERA_INTERPRET=1 (or setInterpreted(true) before the first tensor
// is made), Tessera runs without a GPU: device tensors live in host memory,
// streams and events are host-side, and the JIT hands each kernel's tile IR
// to the interpreter instead of compiling it. The kernels' entry points
// (attention::forward, ...) are called exactly as on the GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_INTERPRET_H
#define TESSERA_RUNTIME_INTERPRET_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

namespace tessera {

/// Whether kernels run on the CPU interpreter.
bool interpreted();
/// Selects the interpreter (or the GPU) for this process; call it before any
/// tensor is made.
void setInterpreted(bool on);

namespace detail {
/// Host allocations standing in for device memory, so that the interpreter
/// can bound-check every access against the buffer a pointer came from.
void *allocateHost(size_t bytes);
void freeHost(void *p) noexcept;
/// The allocation (base, bytes) that holds `address`.
std::optional<std::pair<void *, size_t>> findHostAllocation(uintptr_t address);
} // namespace detail

} // namespace tessera

#endif
