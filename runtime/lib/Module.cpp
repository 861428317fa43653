//===- Module.cpp - Loaded GPU code and kernel launches -------------------===//

#include "tessera/runtime/Module.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <utility>

using namespace tessera;

Module::~Module() {
  if (module)
    Driver::get().cuModuleUnload(module);
}

Module::Module(Module &&other) noexcept : module(std::exchange(other.module, nullptr)) {}

Module &Module::operator=(Module &&other) noexcept {
  if (this != &other) {
    if (module)
      Driver::get().cuModuleUnload(module);
    module = std::exchange(other.module, nullptr);
  }
  return *this;
}

Module Module::loadData(const std::string &image) {
  Driver::get().require();
  makeContextCurrent();
  Module m;
  // PTX must be NUL-terminated; a cubin is read by its ELF header.
  TESSERA_CU_CHECK(Driver::get().cuModuleLoadData(&m.module, image.c_str()));
  return m;
}

CUfunction Module::function(const std::string &name) const {
  CUfunction f = nullptr;
  CUresult r = Driver::get().cuModuleGetFunction(&f, module, name.c_str());
  if (r == CUDA_ERROR_NOT_FOUND)
    throw Error("kernel '" + name + "' is not in the loaded module");
  TESSERA_CU_CHECK(r);
  return f;
}

void **KernelArgs::pointers() {
  aligned.assign((storage.size() + 15) / 16, Chunk{});
  if (!storage.empty())
    std::memcpy(aligned.data(), storage.data(), storage.size());
  ptrs.clear();
  for (size_t offset : offsets)
    ptrs.push_back(reinterpret_cast<unsigned char *>(aligned.data()) + offset);
  return ptrs.data();
}

void tessera::launch(CUfunction function, const LaunchConfig &config, KernelArgs &args,
                     Stream &stream) {
  static const char *names[] = {"x", "y", "z"};
  for (int i = 0; i < 3; ++i) {
    if (config.grid[i] == 0)
      throw Error(std::string("launch: grid ") + names[i] + " is 0; expected at least 1 program");
    if (i > 0 && config.grid[i] > 65535)
      throw Error(std::string("launch: grid ") + names[i] + " is " + std::to_string(config.grid[i]) +
                  "; the GPU allows at most 65535");
  }
  makeContextCurrent();
  Driver &d = Driver::get();
  if (config.sharedBytes > 48 * 1024) {
    const DeviceInfo &dev = currentDevice();
    if (config.sharedBytes > dev.sharedPerBlockOptin)
      throw Error("launch: the kernel needs " + std::to_string(config.sharedBytes) +
                  " bytes of shared memory; this GPU allows " +
                  std::to_string(dev.sharedPerBlockOptin));
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
