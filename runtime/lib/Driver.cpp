//===- Driver.cpp - The CUDA driver, opened at run time -------------------===//

#include "tessera/runtime/Driver.h"

#include "tessera/runtime/Error.h"

#include <dlfcn.h>

using namespace tessera;

Driver &Driver::get() {
  static Driver driver;
  return driver;
}

Driver::Driver() {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    reason = "libcuda.so.1 not found: no NVIDIA driver on this machine";
    return;
  }
  bool missing = false;
  std::string missingName;
  // cuda.h maps several names to versioned symbols (cuMemAlloc -> cuMemAlloc_v2);
  // look up the versioned one the header means, then the plain one.
  auto resolve = [&](auto &fn, const char *versioned, const char *plain) {
    void *sym = dlsym(lib, versioned);
    if (!sym && plain)
      sym = dlsym(lib, plain);
    if (!sym && !missing) {
      missing = true;
      missingName = versioned;
    }
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
#define STR2(x) #x
#define STR(x) STR2(x)
#define RESOLVE(name) resolve(name, STR(name), #name)
  // STR(name) expands cuda.h's macro (cuMemAlloc -> "cuMemAlloc_v2").
  RESOLVE(cuInit);
  RESOLVE(cuDriverGetVersion);
  RESOLVE(cuGetErrorName);
  RESOLVE(cuGetErrorString);
  RESOLVE(cuDeviceGet);
  RESOLVE(cuDeviceGetCount);
  RESOLVE(cuDeviceGetName);
  RESOLVE(cuDeviceGetAttribute);
  RESOLVE(cuDevicePrimaryCtxRetain);
  RESOLVE(cuCtxSetCurrent);
  RESOLVE(cuCtxGetCurrent);
  RESOLVE(cuCtxSynchronize);
  RESOLVE(cuMemAlloc);
  RESOLVE(cuMemFree);
  RESOLVE(cuMemcpyHtoD);
  RESOLVE(cuMemcpyDtoH);
  RESOLVE(cuMemcpyDtoD);
  RESOLVE(cuMemsetD8);
  RESOLVE(cuMemsetD8Async);
  RESOLVE(cuModuleLoadData);
  RESOLVE(cuModuleUnload);
  RESOLVE(cuModuleGetFunction);
  RESOLVE(cuFuncGetAttribute);
  RESOLVE(cuFuncSetAttribute);
  RESOLVE(cuLaunchKernel);
  RESOLVE(cuStreamCreate);
  RESOLVE(cuStreamDestroy);
  RESOLVE(cuStreamSynchronize);
  RESOLVE(cuEventCreate);
  RESOLVE(cuEventDestroy);
  RESOLVE(cuEventRecord);
  RESOLVE(cuEventSynchronize);
  RESOLVE(cuEventElapsedTime);
#undef RESOLVE
#undef STR
#undef STR2
  if (missing) {
    reason = "the CUDA driver lacks " + missingName + ": driver too old";
    return;
  }
  if (CUresult r = cuInit(0); r != CUDA_SUCCESS) {
    const char *n = nullptr;
    cuGetErrorName(r, &n);
    reason = std::string("cuInit failed: ") + (n ? n : "unknown error");
    return;
  }
  int count = 0;
  if (cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0) {
    reason = "the CUDA driver sees no device";
    return;
  }
  ok = true;
}

void Driver::require() const {
  if (!ok)
    throw Error("no GPU: " + reason);
}

bool tessera::gpuAvailable() { return Driver::get().available(); }
