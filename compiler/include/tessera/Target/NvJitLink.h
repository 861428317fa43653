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
  /// ptxas left the kernel's setmaxnreg out (C7504: nvJitLink assembles
  /// relocatable code, where it does): a warp-specialized kernel's
  /// consumers then keep the launch's register count.
  bool registerHandoffIgnored = false;
};

struct Cubin {
  std::vector<char> image;
  ResourceUsage usage;
  std::string infoLog;
};

/// Assembles `ptx` for `arch` (e.g. "sm_90a") into a cubin and parses the
/// resource usage of `kernelName` from ptxas's verbose report. With
/// nvJitLink, in-process; kernels that move registers between warps
/// (setmaxnreg) with the ptxas executable where there is one (ptxasPath):
/// nvJitLink assembles relocatable code, in which ptxas ignores setmaxnreg,
/// and only a whole-program assembly honours it.
llvm::Expected<Cubin> linkPTX(llvm::StringRef ptx, llvm::StringRef arch,
                              llvm::StringRef kernelName);

/// The ptxas executable of whole-program assemblies: $TESSERA_PTXAS, else
/// $CUDA_HOME/bin/ptxas, /usr/local/cuda/bin/ptxas or ptxas on the PATH;
/// empty where there is none (TESSERA_PTXAS= set empty turns it off).
const std::string &ptxasPath();

/// Assembles `ptx` as a whole program with the ptxas at `ptxas`.
llvm::Expected<Cubin> assembleWithPtxas(llvm::StringRef ptxas, llvm::StringRef ptx,
                                        llvm::StringRef arch, llvm::StringRef kernelName);

/// Version of the nvJitLink library in use, "major.minor".
std::string nvJitLinkVersion();

} // namespace tessera

#endif
