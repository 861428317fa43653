//===- Device.h - The GPU in use --------------------------------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_DEVICE_H
#define TESSERA_RUNTIME_DEVICE_H

#include <cstddef>
#include <string>

namespace tessera {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int ccMajor = 0, ccMinor = 0;
  int smCount = 0;
  size_t sharedPerBlockOptin = 0;
  size_t l2Bytes = 0;
  /// The architecture Tessera compiles for: sm_80, sm_86, sm_89, sm_90a, ...
  std::string arch() const;
};

/// Device $TESSERA_DEVICE (default 0): opens the driver, retains the primary
/// context and makes it current on the calling thread. Throws without a GPU.
const DeviceInfo &currentDevice();

/// Makes the device's primary context current on this thread (cheap).
void makeContextCurrent();

} // namespace tessera

#endif
