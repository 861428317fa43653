//===- Module.cpp - Loaded GPU code and kernel launches -------------------===//

#include "tessera/runtime/Module.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <cstdint>
#include <string>
#include <utility>

using namespace tessera;

Module::~Module() { unload(); }

Module::Module(Module &&other) noexcept : module(std::exchange(other.module, nullptr)) {}

Module &Module::operator=(Module &&other) noexcept {
  if (this != &other) {
    unload();
    module = std::exchange(other.module, nullptr);
  }
  return *this;
}

void Module::unload() noexcept {
  if (module && makeContextCurrentNoThrow())
    Driver::get().cuModuleUnload(module);
  module = nullptr;
}

Module Module::loadData(const std::string &image) {
  if (image.empty())
    throw Error("Module::loadData: image: expected a cubin or PTX, got 0 bytes");
  makeContextCurrent();
  // PTX is compiled here by the driver, and its log is the only account of
  // why that failed. One byte is kept back so that the log stays terminated.
  char log[8192] = {};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof(log) - 1))};
  Module m;
  // c_str(): PTX must be NUL-terminated; a cubin is read by its ELF header.
  CUresult r = Driver::get().cuModuleLoadDataEx(&m.module, image.c_str(), 2, options, values);
  checkCu(r, "cuModuleLoadDataEx(image)", __FILE__, __LINE__, log);
  return m;
}

CUfunction Module::function(const std::string &name) const {
  if (!module)
    throw Error("Module::function: no module is loaded (looking for kernel '" + name + "')");
  makeContextCurrent();
  CUfunction f = nullptr;
  CUresult r = Driver::get().cuModuleGetFunction(&f, module, name.c_str());
  if (r == CUDA_ERROR_NOT_FOUND)
    throw Error("Module::function: name: expected a kernel of the module, got '" + name +
                "' (extern \"C\" kernels keep their name; others are mangled)");
  TESSERA_CU_CHECK(r);
  return f;
}

void **KernelArgs::pointers() {
  ptrs.clear();
  for (size_t offset : offsets)
    ptrs.push_back(bytes() + offset);
  return ptrs.data();
}

void KernelArgs::noteTensor(bool aligned) {
  // Beyond 64 tensors a kernel is compiled for any alignment.
  if (aligned && tensors < 64)
    alignedMask |= uint64_t(1) << tensors;
  ++tensors;
}

/// Throws naming `what` (e.g. "grid.y") unless 1 <= value <= max.
static void checkDim(const char *what, unsigned value, unsigned max) {
  if (value == 0 || value > max)
    throw Error(std::string("launch: ") + what + ": expected 1 to " + std::to_string(max) +
                ", got " + std::to_string(value));
}

void tessera::launch(CUfunction function, const LaunchConfig &config, KernelArgs &args,
                     Stream &stream) {
  checkDim("grid.x", config.grid[0], 0x7fffffffu);
  checkDim("grid.y", config.grid[1], 65535);
  checkDim("grid.z", config.grid[2], 65535);
  checkDim("block.x", config.block[0], 1024);
  checkDim("block.y", config.block[1], 1024);
  checkDim("block.z", config.block[2], 64);
  unsigned long long threads = 1ull * config.block[0] * config.block[1] * config.block[2];
  if (threads > 1024)
    throw Error("launch: block: expected at most 1024 threads, got " +
                std::to_string(config.block[0]) + "x" + std::to_string(config.block[1]) + "x" +
                std::to_string(config.block[2]) + " = " + std::to_string(threads));
  if (!function)
    throw Error("launch: function: expected a kernel, got null");
  makeContextCurrent();
  const Driver &d = Driver::get();
  if (config.sharedBytes > 48 * 1024) {
    const DeviceInfo &dev = currentDevice();
    if (config.sharedBytes > dev.sharedPerBlockOptin)
      throw Error("launch: sharedBytes: expected at most " +
                  std::to_string(dev.sharedPerBlockOptin) + " bytes on " + dev.name + ", got " +
                  std::to_string(config.sharedBytes));
    // Raised only when below: the limit is the function's, shared by every
    // launch, and another may have set it higher already.
    int limit = 0;
    TESSERA_CU_CHECK(
        d.cuFuncGetAttribute(&limit, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, function));
    if (unsigned(limit) < config.sharedBytes)
      TESSERA_CU_CHECK(d.cuFuncSetAttribute(
          function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(config.sharedBytes)));
  }
  TESSERA_CU_CHECK(d.cuLaunchKernel(function, config.grid[0], config.grid[1], config.grid[2],
                                    config.block[0], config.block[1], config.block[2],
                                    config.sharedBytes, stream.handle(), args.pointers(), nullptr));
}
