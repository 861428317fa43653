//===- Device.h - The GPU in use --------------------------------*- C++ -*-===//
//
// Tessera uses one device per process: $TESSERA_DEVICE, default 0, through
// its primary context (the one the CUDA runtime and other libraries share).
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_DEVICE_H
#define TESSERA_RUNTIME_DEVICE_H

#include <cstddef>
#include <string>

namespace tessera {

/// What Tessera needs to know about the device it runs on.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int ccMajor = 0, ccMinor = 0;
  int smCount = 0;
  /// Shared memory one block may use after opting in (above the 48 KiB default).
  size_t sharedPerBlockOptin = 0;
  size_t l2Bytes = 0;

  /// The architecture Tessera compiles for: "sm_80", "sm_86", "sm_89", and the
  /// architecture-specific "sm_90a", "sm_100a", "sm_120a" where the features
  /// Tessera uses (wgmma, setmaxnreg, tcgen05) exist only there.
  std::string arch() const;
};

/// The device in use: on first call opens the driver, picks device
/// $TESSERA_DEVICE (default 0), reads its properties and retains its primary
/// context; every call makes that context current on the calling thread.
/// Throws tessera::Error "no GPU: <reason>" without a GPU, and names
/// TESSERA_DEVICE when it is not a device's ordinal.
const DeviceInfo &currentDevice();

/// Makes the device's primary context current on the calling thread,
/// initialising the device on first use. Cheap when it already is current:
/// every runtime entry that calls the driver starts with it, so work may come
/// from any thread.
void makeContextCurrent();

/// As makeContextCurrent(), for destructors: never throws, does nothing
/// before the device was initialised, and returns whether a context is current.
bool makeContextCurrentNoThrow() noexcept;

/// Waits for all work on the device (cuCtxSynchronize).
void synchronizeDevice();

} // namespace tessera

#endif // TESSERA_RUNTIME_DEVICE_H
