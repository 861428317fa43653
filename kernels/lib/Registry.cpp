//===- Registry.cpp - Tessera's kernels by name ---------------------------===//

#include "tessera/kernels/Registry.h"

#include "tessera/kernels/Launch.h"
#include "tessera/kernels/attention.h"
#include "tessera/kernels/basic.h"
#include "tessera/kernels/seed.h"
#include "tessera/runtime/Error.h"

#include "KernelSourcesFingerprint.h"

#include <cstdlib>

using namespace tessera;
using namespace tessera::kernels;

int64_t KernelConfig::get(const std::string &constName) const {
  auto it = constants.find(constName);
  if (it == constants.end())
    throw Error("kernel config has no constant '" + constName + "'");
  return it->second;
}

std::string KernelConfig::keyWith(uint64_t aligned) const {
  std::string k = "dtype=" + std::string(name(dtype)) + ",num_warps=" + std::to_string(numWarps);
  for (auto &[n, v] : constants)
    k += "," + n + "=" + std::to_string(v);
  if (aligned)
    k += ",aligned_tensors=" + std::to_string(aligned);
  return k;
}

KernelConfig KernelConfig::parse(const std::string &key) {
  KernelConfig config;
  bool sawDType = false, sawWarps = false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find(',', start);
    if (end == std::string::npos)
      end = key.size();
    std::string item = key.substr(start, end - start);
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw Error("kernel config '" + key + "': expected NAME=VALUE items, got '" + item + "'");
    std::string n = item.substr(0, eq), v = item.substr(eq + 1);
    if (n == "dtype") {
      std::optional<DType> d = parseDType(v);
      if (!d)
        throw Error("kernel config '" + key + "': unknown dtype '" + v + "'");
      config.dtype = *d;
      sawDType = true;
    } else {
      char *rest = nullptr;
      long long value = std::strtoll(v.c_str(), &rest, 10);
      if (v.empty() || *rest)
        throw Error("kernel config '" + key + "': '" + n + "' is not an integer");
      if (n == "aligned_tensors") {
        config.alignedTensors = std::strtoull(v.c_str(), nullptr, 10);
      } else if (n == "num_warps") {
        config.numWarps = unsigned(value);
        sawWarps = true;
      } else {
        config.constants[n] = value;
      }
    }
    start = end + 1;
  }
  if (!sawDType || !sawWarps)
    throw Error("kernel config '" + key + "': expected dtype and num_warps");
  return config;
}

namespace {
std::map<std::string, KernelDef> &allKernels() {
  static std::map<std::string, KernelDef> all = [] {
    std::map<std::string, KernelDef> r;
    for (const Kernel &k : detail::basicKernels())
      r[k.name()] = k.def();
    attention::detail::registerAttentionKernels(r);
    attention::detail::registerAttentionBackwardKernels(r);
    attention::detail::registerSeedKernels(r);
    for (auto &[kernelName, def] : r)
      def.version = detail::shippedKernelVersion();
    return r;
  }();
  return all;
}
} // namespace

const std::map<std::string, KernelDef> &kernels::registry() { return allKernels(); }

const std::string &kernels::detail::shippedKernelVersion() {
  static const std::string version = std::string("tessera-") + TESSERA_KERNEL_SOURCES_FINGERPRINT;
  return version;
}

void kernels::detail::addToRegistry(const KernelDef &def) {
  if (!allKernels().emplace(def.name, def).second)
    throw Error("a kernel named '" + def.name + "' is registered already");
}

const KernelDef &kernels::lookup(const std::string &kernelName) {
  auto it = registry().find(kernelName);
  if (it != registry().end())
    return it->second;
  std::string known;
  for (auto &[n, d] : registry())
    known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown kernel '" + kernelName + "'; known kernels: " + known);
}

KernelConfig kernels::makeConfig(const KernelDef &def, DType dtype, unsigned numWarps,
                                 const std::map<std::string, int64_t> &overrides) {
  bool dtypeOk = false;
  for (DType d : def.dtypes)
    dtypeOk |= d == dtype;
  if (!dtypeOk)
    throw Error("kernel '" + def.name + "' does not support dtype " + std::string(name(dtype)));
  KernelConfig config;
  config.dtype = dtype;
  config.numWarps = numWarps;
  config.constants = def.defaults;
  for (auto &[n, v] : overrides) {
    if (!config.constants.count(n))
      throw Error("kernel '" + def.name + "' has no constant '" + n + "'");
    config.constants[n] = v;
  }
  return config;
}
