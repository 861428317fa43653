//===- NvJitLink.h - PTX to cubin with nvJitLink ----------------*- C++ -*-===//
#ifndef TESSERA_TARGET_NVJITLINK_H
#define TESSERA_TARGET_NVJITLINK_H

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace tessera {

/// What ptxas reported for one kernel.
struct ResourceUsage {
  unsigned registers = 0;
  unsigned spillStoreBytes = 0;
  unsigned spillLoadBytes = 0;
  unsigned stackBytes = 0;
  unsigned staticSharedBytes = 0;
  /// ptxas ran the kernel's wgmmas one at a time, each waited for before the
  /// next is issued (C75xx "wgmma.mma_async instructions are serialized",
  /// e.g. for a subroutine call anywhere in the kernel).
  bool wgmmaSerialized = false;
};

struct Cubin {
  std::vector<char> image;
  ResourceUsage usage;
  std::string infoLog;
};

/// Assembles `ptx` for `arch` (e.g. "sm_90a") into a cubin with nvJitLink and
/// parses the resource usage of `kernelName` from ptxas's verbose report.
llvm::Expected<Cubin> linkPTX(llvm::StringRef ptx, llvm::StringRef arch,
                              llvm::StringRef kernelName);

/// Version of the nvJitLink library in use, "major.minor".
std::string nvJitLinkVersion();

} // namespace tessera

#endif
