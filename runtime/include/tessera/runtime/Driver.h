//===- Driver.h - The CUDA driver, opened at run time -----------*- C++ -*-===//
//
// Nothing in Tessera links libcuda: the driver is opened with dlopen on first
// use, so every binary starts on a machine without a GPU and says why when
// asked for one. Entry points are typed from cuda.h's own declarations, and
// looked up under the versioned names its macros map them to
// (cuMemAlloc -> cuMemAlloc_v2), so a call through Driver means what the same
// call through cuda.h would.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_DRIVER_H
#define TESSERA_RUNTIME_DRIVER_H

#include <cuda.h>

#include <string>

/// Every driver entry point Tessera calls; X(name) with name as cuda.h spells
/// it. To call another one, add it here.
#define TESSERA_DRIVER_ENTRY_POINTS(X)                                                             \
  X(cuInit)                                                                                        \
  X(cuDriverGetVersion)                                                                            \
  X(cuGetErrorName)                                                                                \
  X(cuGetErrorString)                                                                              \
  X(cuDeviceGet)                                                                                   \
  X(cuDeviceGetCount)                                                                              \
  X(cuDeviceGetName)                                                                               \
  X(cuDeviceGetAttribute)                                                                          \
  X(cuDevicePrimaryCtxRetain)                                                                      \
  X(cuCtxSetCurrent)                                                                               \
  X(cuCtxGetCurrent)                                                                               \
  X(cuCtxSynchronize)                                                                              \
  X(cuMemAllocAsync)                                                                               \
  X(cuMemFreeAsync)                                                                                \
  X(cuDeviceGetDefaultMemPool)                                                                     \
  X(cuMemPoolSetAttribute)                                                                         \
  X(cuMemcpyHtoD)                                                                                  \
  X(cuMemcpyDtoH)                                                                                  \
  X(cuMemcpyHtoDAsync)                                                                             \
  X(cuMemcpyDtoHAsync)                                                                             \
  X(cuMemcpyDtoDAsync)                                                                             \
  X(cuMemsetD8)                                                                                    \
  X(cuMemsetD8Async)                                                                               \
  X(cuModuleLoadData)                                                                              \
  X(cuModuleLoadDataEx)                                                                            \
  X(cuModuleUnload)                                                                                \
  X(cuModuleGetFunction)                                                                           \
  X(cuFuncGetAttribute)                                                                            \
  X(cuFuncSetAttribute)                                                                            \
  X(cuLaunchKernel)                                                                                \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor)                                                   \
  X(cuTensorMapEncodeTiled)                                                                        \
  X(cuStreamCreate)                                                                                \
  X(cuStreamDestroy)                                                                               \
  X(cuStreamSynchronize)                                                                           \
  X(cuStreamWaitEvent)                                                                             \
  X(cuEventCreate)                                                                                 \
  X(cuEventDestroy)                                                                                \
  X(cuEventRecord)                                                                                 \
  X(cuEventSynchronize)                                                                            \
  X(cuEventElapsedTime)

namespace tessera {

/// The process's CUDA driver: libcuda opened with dlopen, its entry points as
/// typed function pointers. Call them as `Driver::get().cuMemAlloc(&p, n)`
/// through TESSERA_CU_CHECK. They are null when the driver is unavailable, so
/// API entries call require() (or makeContextCurrent(), which does) first.
class Driver {
public:
  /// The driver, opened and initialised (cuInit) on first use. Never throws:
  /// failures leave it unavailable, with the reason kept.
  static Driver &get();

  /// True when libcuda loaded, has every entry point, and sees a device.
  bool available() const { return ok; }
  /// Why the driver cannot be used, e.g. "libcuda.so.1 not found: no NVIDIA
  /// driver on this machine"; empty when available.
  const std::string &unavailableReason() const { return reason; }
  /// Throws tessera::Error "no GPU: <reason>" when unavailable.
  void require() const;
  /// cuDriverGetVersion's answer (13000 for CUDA 13.0); 0 without a driver.
  int version() const { return driverVersion; }

#define TESSERA_DRIVER_DECLARE(name) decltype(&::name) name = nullptr;
  TESSERA_DRIVER_ENTRY_POINTS(TESSERA_DRIVER_DECLARE)
#undef TESSERA_DRIVER_DECLARE

private:
  Driver();
  bool ok = false;
  int driverVersion = 0;
  std::string reason;
};

/// True when a CUDA driver and at least one device are present.
bool gpuAvailable();

} // namespace tessera

#endif // TESSERA_RUNTIME_DRIVER_H
