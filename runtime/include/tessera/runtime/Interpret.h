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
#include <string>
#include <utility>

namespace tessera {

/// Whether kernels run on the CPU interpreter.
bool interpreted();
/// Selects the interpreter (or the GPU) for this process; call it before any
/// tensor is made.
void setInterpreted(bool on);

/// The chip whose schedule the interpreter runs, or "" (the tile IR as
/// written). With TESSERA_INTERPRET=sm_90a (or setInterpretedSchedule), each
/// kernel goes through the compiler's tile, layout and schedule stages for
/// that chip first, and the interpreter runs what they made: shared buffers,
/// cp.async groups, TMA copies and their mbarriers (docs/COMPILER.md §3),
/// one program at a time; the device reports that chip (an H100's SMs and
/// shared memory), so the kernels' heuristics choose as they would on it.
/// Checks a schedule without a GPU: its copies' indices and slots, its
/// waits and barrier phases.
const std::string &interpretedArch();
/// Selects the interpreter running `arch`'s schedule ("": the tile IR).
void setInterpretedSchedule(const std::string &arch);

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
