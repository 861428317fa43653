//===- Interpret.cpp - Kernels on the CPU through the same API ------------===//

#include "tessera/runtime/Interpret.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

using namespace tessera;

namespace {
std::atomic<int> mode{-1};
std::mutex allocationsMutex;
std::map<uintptr_t, size_t> allocations;
} // namespace

/// TESSERA_INTERPRET's chip (sm_...), read with the mode.
static std::string &scheduleArch() {
  static std::string arch;
  return arch;
}

bool tessera::interpreted() {
  int m = mode.load();
  if (m < 0) {
    const char *env = std::getenv("TESSERA_INTERPRET");
    std::string value = env ? env : "";
    if (value.rfind("sm_", 0) == 0)
      scheduleArch() = value;
    m = value == "1" || !scheduleArch().empty();
    mode.store(m);
  }
  return m == 1;
}

void tessera::setInterpreted(bool on) {
  scheduleArch().clear();
  mode.store(on ? 1 : 0);
}

const std::string &tessera::interpretedArch() {
  interpreted();
  return scheduleArch();
}

void tessera::setInterpretedSchedule(const std::string &arch) {
  scheduleArch() = arch;
  mode.store(1);
}

void *detail::allocateHost(size_t bytes) {
  size_t size = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void *p = std::aligned_alloc(64, size);
  if (!p)
    return nullptr;
  std::lock_guard<std::mutex> lock(allocationsMutex);
  allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  return p;
}

void detail::freeHost(void *p) noexcept {
  if (!p)
    return;
  {
    std::lock_guard<std::mutex> lock(allocationsMutex);
    allocations.erase(reinterpret_cast<uintptr_t>(p));
  }
  std::free(p);
}

std::optional<std::pair<void *, size_t>> detail::findHostAllocation(uintptr_t address) {
  std::lock_guard<std::mutex> lock(allocationsMutex);
  auto it = allocations.upper_bound(address);
  if (it == allocations.begin())
    return std::nullopt;
  --it;
  if (address > it->first + it->second)
    return std::nullopt;
  return std::make_pair(reinterpret_cast<void *>(it->first), it->second);
}
