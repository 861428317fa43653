//===- Device.cpp - The GPU in use ----------------------------------------===//

#include "tessera/runtime/Device.h"

#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <cstdlib>
#include <mutex>

using namespace tessera;

std::string DeviceInfo::arch() const {
  std::string a = "sm_" + std::to_string(ccMajor) + std::to_string(ccMinor);
  // wgmma, setmaxnreg and friends need the architecture-specific target.
  if (ccMajor == 9 || ccMajor == 10 || ccMajor == 12)
    a += "a";
  return a;
}

namespace {
struct DeviceState {
  DeviceInfo info;
  CUcontext context = nullptr;
};

DeviceState &state() {
  static DeviceState s = [] {
    Driver &d = Driver::get();
    d.require();
    DeviceState st;
    if (const char *env = std::getenv("TESSERA_DEVICE"))
      st.info.ordinal = std::atoi(env);
    CUdevice dev;
    TESSERA_CU_CHECK(d.cuDeviceGet(&dev, st.info.ordinal));
    char name[256] = {};
    TESSERA_CU_CHECK(d.cuDeviceGetName(name, sizeof(name), dev));
    st.info.name = name;
    auto attr = [&](CUdevice_attribute a) {
      int v = 0;
      TESSERA_CU_CHECK(d.cuDeviceGetAttribute(&v, a, dev));
      return v;
    };
    st.info.ccMajor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
    st.info.ccMinor = attr(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    st.info.smCount = attr(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
    st.info.sharedPerBlockOptin = attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
    st.info.l2Bytes = attr(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
    TESSERA_CU_CHECK(d.cuDevicePrimaryCtxRetain(&st.context, dev));
    return st;
  }();
  return s;
}
} // namespace

const DeviceInfo &tessera::currentDevice() {
  makeContextCurrent();
  return state().info;
}

void tessera::makeContextCurrent() {
  DeviceState &s = state();
  thread_local CUcontext current = nullptr;
  if (current != s.context) {
    TESSERA_CU_CHECK(Driver::get().cuCtxSetCurrent(s.context));
    current = s.context;
  }
}
