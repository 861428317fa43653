//===- Device.cpp - The GPU in use ----------------------------------------===//

#include "tessera/runtime/Device.h"

#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <atomic>
#include <cerrno>
#include <cstdlib>

using namespace tessera;

std::string DeviceInfo::arch() const {
  if (ccMajor == 0)
    return "interpreter";
  std::string a = "sm_" + std::to_string(ccMajor) + std::to_string(ccMinor);
  // wgmma, setmaxnreg and tcgen05 exist only in the architecture-specific
  // targets, which Hopper (9.0) and the Blackwell families (10.x, 12.x) have.
  if ((ccMajor == 9 && ccMinor == 0) || ccMajor == 10 || ccMajor == 12)
    a += "a";
  return a;
}

namespace {

struct DeviceState {
  DeviceInfo info;
  CUcontext context = nullptr;
};

// Set once the device is initialised: lets destructors find the context
// without initialising anything, or throwing.
std::atomic<CUcontext> primaryContext{nullptr};

int deviceOrdinal(const Driver &d) {
  int count = 0;
  TESSERA_CU_CHECK(d.cuDeviceGetCount(&count));
  const char *env = std::getenv("TESSERA_DEVICE");
  if (!env || !*env)
    return 0;
  char *end = nullptr;
  errno = 0;
  long ordinal = std::strtol(env, &end, 10);
  if (errno || *end || ordinal < 0 || ordinal >= count)
    throw Error("TESSERA_DEVICE: expected a device ordinal in [0, " + std::to_string(count) +
                "), got '" + env + "'");
  return int(ordinal);
}

DeviceState initDevice() {
  const Driver &d = Driver::get();
  d.require();
  DeviceState st;
  st.info.ordinal = deviceOrdinal(d);
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
  st.info.sharedPerBlockOptin = size_t(attr(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN));
  st.info.l2Bytes = size_t(attr(CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE));
  // The primary context is shared with the CUDA runtime and other libraries in
  // the process, and stays retained until exit.
  TESSERA_CU_CHECK(d.cuDevicePrimaryCtxRetain(&st.context, dev));
  primaryContext.store(st.context);
  // Tensors come from the device's stream-ordered pool (DeviceBuffer), which
  // keeps what is freed for the next allocation instead of handing it back
  // at each synchronisation: per-call scratch (the backward's statistics,
  // padded head dims) then costs no cuMemAlloc, as with PyTorch's caching
  // allocator.
  CUmemoryPool pool;
  TESSERA_CU_CHECK(d.cuDeviceGetDefaultMemPool(&pool, dev));
  cuuint64_t keepAll = ~cuuint64_t(0);
  TESSERA_CU_CHECK(d.cuMemPoolSetAttribute(pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keepAll));
  return st;
}

DeviceState &state() {
  // A throw leaves the static uninitialised: the next call tries again and
  // gives the same reason.
  static DeviceState s = initDevice();
  return s;
}

} // namespace

const DeviceInfo &tessera::currentDevice() {
  if (interpreted()) {
    static const DeviceInfo cpu = [] {
      DeviceInfo info;
      info.name = "Tessera CPU interpreter";
      info.sharedPerBlockOptin = size_t(1) << 30;
      return info;
    }();
    // Running a chip's schedule: that chip, as an H100 (A100) has it, so
    // that the kernels choose their blocks as there.
    auto chip = [](const char *name, int ccMajor, int sms, size_t sharedKiB, size_t l2MiB) {
      DeviceInfo info;
      info.name = name;
      info.ccMajor = ccMajor;
      info.smCount = sms;
      info.sharedPerBlockOptin = sharedKiB * 1024;
      info.l2Bytes = l2MiB * 1024 * 1024;
      return info;
    };
    static const DeviceInfo hopper =
        chip("Tessera CPU interpreter, sm_90a schedule", 9, 132, 227, 50);
    static const DeviceInfo ampere =
        chip("Tessera CPU interpreter, sm_80 schedule", 8, 108, 163, 40);
    const std::string &arch = interpretedArch();
    return arch == "sm_90a" ? hopper : arch == "sm_80" ? ampere : cpu;
  }
  makeContextCurrent();
  return state().info;
}

void tessera::makeContextCurrent() {
  if (interpreted())
    return;
  CUcontext context = state().context;
  const Driver &d = Driver::get();
  // Asking the driver rather than caching per thread: other libraries in the
  // process (the CUDA runtime, PyTorch) may switch the thread's context.
  CUcontext current = nullptr;
  TESSERA_CU_CHECK(d.cuCtxGetCurrent(&current));
  if (current != context)
    TESSERA_CU_CHECK(d.cuCtxSetCurrent(context));
}

bool tessera::makeContextCurrentNoThrow() noexcept {
  CUcontext context = primaryContext.load();
  if (!context)
    return false;
  const Driver &d = Driver::get();
  CUcontext current = nullptr;
  if (d.cuCtxGetCurrent(&current) == CUDA_SUCCESS && current == context)
    return true;
  return d.cuCtxSetCurrent(context) == CUDA_SUCCESS;
}

void tessera::synchronizeDevice() {
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuCtxSynchronize());
}
