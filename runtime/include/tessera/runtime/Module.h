//===- Module.h - Loaded GPU code and kernel launches -----------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_MODULE_H
#define TESSERA_RUNTIME_MODULE_H

#include "tessera/runtime/Stream.h"

#include <cuda.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace tessera {

/// A module loaded into the current context: a cubin, or PTX the driver JITs.
class Module {
public:
  Module() = default;
  ~Module();
  Module(Module &&other) noexcept;
  Module &operator=(Module &&other) noexcept;
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  static Module loadData(const std::string &image);
  /// The kernel `name`; throws tessera::Error naming it if the module has none.
  CUfunction function(const std::string &name) const;

private:
  CUmodule module = nullptr;
};

/// Kernel parameters, packed for cuLaunchKernel: each value is stored with
/// its own alignment and passed by address.
class KernelArgs {
public:
  template <typename T>
  KernelArgs &add(const T &value) {
    static_assert(std::is_trivially_copyable_v<T>, "kernel arguments are plain values");
    size_t offset = (storage.size() + alignof(T) - 1) / alignof(T) * alignof(T);
    storage.resize(offset + sizeof(T));
    std::memcpy(storage.data() + offset, &value, sizeof(T));
    offsets.push_back(offset);
    return *this;
  }
  size_t size() const { return offsets.size(); }
  size_t offsetOf(size_t i) const { return offsets.at(i); }
  /// kernelParams for cuLaunchKernel (valid until the next add()).
  void **pointers();

private:
  // 16-byte aligned storage so every offset is aligned for its type.
  struct alignas(16) Chunk {
    unsigned char bytes[16];
  };
  std::vector<unsigned char> storage;
  std::vector<Chunk> aligned;
  std::vector<size_t> offsets;
  std::vector<void *> ptrs;
};

struct LaunchConfig {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned sharedBytes = 0;
};

/// Launches `function` on `stream`, raising its dynamic shared memory limit
/// first when it needs more than the default 48 KiB. Checks the grid.
void launch(CUfunction function, const LaunchConfig &config, KernelArgs &args, Stream &stream);

} // namespace tessera

#endif
