//===- PtxasLog.h - Reading ptxas's verbose report --------------*- C++ -*-===//
#ifndef TESSERA_LIB_TARGET_PTXASLOG_H
#define TESSERA_LIB_TARGET_PTXASLOG_H

#include "tessera/Target/NvJitLink.h"

#include "llvm/ADT/StringRef.h"

namespace tessera::detail {

/// The resource usage of `kernel` in ptxas's verbose report (nvJitLink's
/// info log or the executable's -v output).
ResourceUsage parsePtxasUsage(llvm::StringRef log, llvm::StringRef kernel);

} // namespace tessera::detail

#endif
