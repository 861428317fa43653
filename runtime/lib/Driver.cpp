//===- Driver.cpp - The CUDA driver, opened at run time -------------------===//

#include "tessera/runtime/Driver.h"

#include "tessera/runtime/Error.h"

#include <cstring>
#include <dlfcn.h>

using namespace tessera;

// Expands cuda.h's macro before quoting: TESSERA_SYMBOL(cuMemAlloc) is
// "cuMemAlloc_v2", the symbol whose signature decltype(&::cuMemAlloc) names.
#define TESSERA_QUOTE(x) #x
#define TESSERA_SYMBOL(x) TESSERA_QUOTE(x)

/// An older symbol with the same signature, for drivers that predate the one
/// cuda.h names; null if there is none. Only same-signature pairs belong here:
/// cuMemAlloc (v1) takes a 32-bit pointer and must never stand in for
/// cuMemAlloc_v2.
static const char *compatibleFallback(const char *symbol) {
  // cuEventElapsedTime_v2 came with CUDA 12.8; before it the plain one.
  if (std::strcmp(symbol, "cuEventElapsedTime_v2") == 0)
    return "cuEventElapsedTime";
  return nullptr;
}

static std::string versionString(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

Driver &Driver::get() {
  static Driver driver;
  return driver;
}

Driver::Driver() {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    if (!why || std::strstr(why, "No such file"))
      reason = "libcuda.so.1 not found: no NVIDIA driver on this machine";
    else
      reason = std::string("libcuda.so.1 could not be loaded: ") + why;
    return;
  }
  // The library stays open for the life of the process: kernels, modules and
  // memory handed out through it may outlive any owner that could close it.
  std::string missing;
  auto resolve = [&](auto &fn, const char *symbol) {
    void *sym = dlsym(lib, symbol);
    if (!sym)
      if (const char *older = compatibleFallback(symbol))
        sym = dlsym(lib, older);
    if (!sym)
      missing += (missing.empty() ? "" : ", ") + std::string(symbol);
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
#define TESSERA_DRIVER_RESOLVE(name) resolve(name, TESSERA_SYMBOL(name));
  TESSERA_DRIVER_ENTRY_POINTS(TESSERA_DRIVER_RESOLVE)
#undef TESSERA_DRIVER_RESOLVE

  if (cuDriverGetVersion && cuDriverGetVersion(&driverVersion) != CUDA_SUCCESS)
    driverVersion = 0;
  if (!missing.empty()) {
    reason = "the CUDA driver (" + versionString(driverVersion) + ") lacks " + missing +
             ": it is older than the CUDA " + versionString(CUDA_VERSION) +
             " headers Tessera was built with";
    return;
  }
  if (CUresult r = cuInit(0); r != CUDA_SUCCESS) {
    if (r == CUDA_ERROR_STUB_LIBRARY) {
      reason = "cuInit failed: CUDA_ERROR_STUB_LIBRARY: the libcuda found is the toolkit's link "
               "stub, not an NVIDIA driver";
      return;
    }
    const char *errName = nullptr, *errText = nullptr;
    cuGetErrorName(r, &errName);
    cuGetErrorString(r, &errText);
    reason = std::string("cuInit failed: ") +
             (errName ? errName : "CUDA error " + std::to_string(int(r))) +
             (errText ? std::string(" (") + errText + ")" : "");
    return;
  }
  int count = 0;
  if (CUresult r = cuDeviceGetCount(&count); r != CUDA_SUCCESS || count == 0) {
    reason = "no CUDA device: the driver (" + versionString(driverVersion) + ") sees none";
    return;
  }
  ok = true;
}

void Driver::require() const {
  if (!ok)
    throw Error("no GPU: " + reason);
}

bool tessera::gpuAvailable() { return Driver::get().available(); }
