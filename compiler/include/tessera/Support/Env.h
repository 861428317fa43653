//===- Env.h - Tessera's environment switches ----------------*- C++ -*-===//
#ifndef TESSERA_SUPPORT_ENV_H
#define TESSERA_SUPPORT_ENV_H

#include <cstdlib>
#include <string_view>

namespace tessera {

/// Whether the environment variable `name` is on: set, not empty, not "0".
/// Every on/off switch of every layer reads it this way (docs/DEVICE.md), so
/// TESSERA_X=1 means the same everywhere.
inline bool envFlag(const char *name) {
  const char *value = std::getenv(name);
  return value && *value && std::string_view(value) != "0";
}

} // namespace tessera

#endif
