//===- Driver.h - The CUDA driver, opened at run time -----------*- C++ -*-===//
//
// Nothing in Tessera links libcuda: the driver is opened with dlopen on first
// use, so every binary starts on a machine without a GPU and says why when
// asked to launch.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_DRIVER_H
#define TESSERA_RUNTIME_DRIVER_H

#include <cuda.h>

#include <string>

namespace tessera {

class Driver {
public:
  /// The process's driver, opened (and cuInit called) on first use.
  static Driver &get();

  bool available() const { return ok; }
  /// Why the driver cannot be used ("libcuda.so.1 not found: ...").
  const std::string &unavailableReason() const { return reason; }
  /// Throws tessera::Error "no GPU: <reason>" when unavailable.
  void require() const;

#define TESSERA_DRIVER_FN(name) decltype(&::name) name = nullptr;
  TESSERA_DRIVER_FN(cuInit)
  TESSERA_DRIVER_FN(cuDriverGetVersion)
  TESSERA_DRIVER_FN(cuGetErrorName)
  TESSERA_DRIVER_FN(cuGetErrorString)
  TESSERA_DRIVER_FN(cuDeviceGet)
  TESSERA_DRIVER_FN(cuDeviceGetCount)
  TESSERA_DRIVER_FN(cuDeviceGetName)
  TESSERA_DRIVER_FN(cuDeviceGetAttribute)
  TESSERA_DRIVER_FN(cuDevicePrimaryCtxRetain)
  TESSERA_DRIVER_FN(cuCtxSetCurrent)
  TESSERA_DRIVER_FN(cuCtxGetCurrent)
  TESSERA_DRIVER_FN(cuCtxSynchronize)
  TESSERA_DRIVER_FN(cuMemAlloc)
  TESSERA_DRIVER_FN(cuMemFree)
  TESSERA_DRIVER_FN(cuMemcpyHtoD)
  TESSERA_DRIVER_FN(cuMemcpyDtoH)
  TESSERA_DRIVER_FN(cuMemcpyDtoD)
  TESSERA_DRIVER_FN(cuMemsetD8)
  TESSERA_DRIVER_FN(cuMemsetD8Async)
  TESSERA_DRIVER_FN(cuModuleLoadData)
  TESSERA_DRIVER_FN(cuModuleUnload)
  TESSERA_DRIVER_FN(cuModuleGetFunction)
  TESSERA_DRIVER_FN(cuFuncGetAttribute)
  TESSERA_DRIVER_FN(cuFuncSetAttribute)
  TESSERA_DRIVER_FN(cuLaunchKernel)
  TESSERA_DRIVER_FN(cuStreamCreate)
  TESSERA_DRIVER_FN(cuStreamDestroy)
  TESSERA_DRIVER_FN(cuStreamSynchronize)
  TESSERA_DRIVER_FN(cuEventCreate)
  TESSERA_DRIVER_FN(cuEventDestroy)
  TESSERA_DRIVER_FN(cuEventRecord)
  TESSERA_DRIVER_FN(cuEventSynchronize)
  TESSERA_DRIVER_FN(cuEventElapsedTime)
#undef TESSERA_DRIVER_FN

private:
  Driver();
  bool ok = false;
  std::string reason;
};

/// True when a CUDA driver and at least one device are present.
bool gpuAvailable();

} // namespace tessera

#endif
