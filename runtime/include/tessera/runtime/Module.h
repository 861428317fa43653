//===- Module.h - Loaded GPU code and kernel launches -----------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_MODULE_H
#define TESSERA_RUNTIME_MODULE_H

#include "tessera/runtime/Stream.h"

#include <cuda.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace tessera {

/// GPU code loaded into the current device's context: a cubin, or PTX that
/// the driver compiles for the device on load. Unloaded on destruction.
/// Move-only.
class Module {
public:
  Module() = default;
  ~Module();
  Module(Module &&other) noexcept;
  Module &operator=(Module &&other) noexcept;
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  /// Loads a cubin or PTX text image (cuModuleLoadData). Throws "no GPU: ..."
  /// without a GPU, and the driver's error with its JIT log when PTX does not
  /// compile for the device.
  static Module loadData(const std::string &image);

  /// The kernel `name` (its symbol: extern "C" or mangled); throws
  /// tessera::Error naming it when the module has none.
  CUfunction function(const std::string &name) const;

  CUmodule handle() const { return module; }

private:
  void unload() noexcept;

  CUmodule module = nullptr;
};

/// Kernel parameters packed for cuLaunchKernel's kernelParams: each value is
/// stored at its own alignment and passed by address, in order of add().
class KernelArgs {
public:
  /// Appends a kernel parameter: a plain value (a CUdeviceptr, a scalar, a
  /// struct of them) that the kernel takes by value.
  template <typename T> KernelArgs &add(const T &value) {
    static_assert(std::is_trivially_copyable_v<T>, "kernel arguments are plain values");
    static_assert(alignof(T) <= alignof(Chunk), "kernel arguments are aligned to at most 16");
    size_t offset = (used + alignof(T) - 1) / alignof(T) * alignof(T);
    used = offset + sizeof(T);
    storage.resize((used + sizeof(Chunk) - 1) / sizeof(Chunk));
    std::memcpy(bytes() + offset, &value, sizeof(T));
    offsets.push_back(offset);
    return *this;
  }

  /// Parameter `i` read back as a T (the type it was added as).
  template <typename T> T get(size_t i) const {
    static_assert(std::is_trivially_copyable_v<T>, "kernel arguments are plain values");
    T value;
    std::memcpy(&value, reinterpret_cast<const unsigned char *>(storage.data()) + offsets.at(i),
                sizeof(T));
    return value;
  }

  /// Number of parameters added.
  size_t size() const { return offsets.size(); }
  /// Byte offset of parameter `i` in the packed storage.
  size_t offsetOf(size_t i) const { return offsets.at(i); }
  /// Bytes the packed parameters span.
  size_t sizeBytes() const { return used; }
  /// kernelParams for cuLaunchKernel: one pointer per parameter, valid until
  /// the next add() or the builder's destruction.
  void **pointers();

  /// Records a tensor parameter (added as pointer, sizes, strides) and
  /// whether it allows 16-byte vectors and TMA: base a multiple of 16 bytes,
  /// unit last stride, a last dimension of whole 16-byte vectors, every other
  /// stride a positive multiple of 16 bytes that spans the dimensions after
  /// it (kernels::detail::vectorAligned). Kernels are
  /// specialised on alignedTensors(), bit i for the i-th tensor recorded.
  void noteTensor(bool aligned);
  uint64_t alignedTensors() const { return alignedMask; }

private:
  // Storage in 16-byte aligned chunks, so that every offset is aligned for its
  // type in memory too.
  struct alignas(16) Chunk {
    unsigned char bytes[16];
  };
  unsigned char *bytes() { return reinterpret_cast<unsigned char *>(storage.data()); }

  std::vector<Chunk> storage;
  size_t used = 0;
  std::vector<size_t> offsets;
  std::vector<void *> ptrs;
  uint64_t alignedMask = 0;
  unsigned tensors = 0;
};

/// Launch geometry: programs (blocks) in the grid, threads in a block, and
/// dynamic shared memory in bytes.
struct LaunchConfig {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned sharedBytes = 0;
};

/// Launches `function` on `stream`. Checks the grid (x up to 2^31-1, y and z
/// up to 65535, none 0) and block (up to 1024 threads) and throws naming the
/// bad dimension; raises the function's dynamic shared memory limit first
/// when it needs more than the default 48 KiB, and throws when the device
/// cannot give that much.
void launch(CUfunction function, const LaunchConfig &config, KernelArgs &args,
            Stream &stream = Stream::defaultStream());

} // namespace tessera

#endif // TESSERA_RUNTIME_MODULE_H
