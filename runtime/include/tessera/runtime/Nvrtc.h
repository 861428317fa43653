//===- Nvrtc.h - CUDA C++ compiled at run time ------------------*- C++ -*-===//
//
// For small hand-written kernels (test references, utilities); Tessera's own
// kernels go through the tile compiler and the JIT.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_NVRTC_H
#define TESSERA_RUNTIME_NVRTC_H

#include <string>
#include <vector>

namespace tessera {

/// PTX of CUDA C++ `source` for `arch` ("sm_80", "sm_90a", ...; compiled as
/// --gpu-architecture=compute_80, compute_90a, ...) through NVRTC, with C++17
/// and `options` added. Needs no GPU: Module::loadData compiles the PTX for
/// the device. Kernels meant to be found by name should be extern "C".
/// Throws tessera::Error naming `arch` when it is malformed, and with
/// `programName` and NVRTC's log when the source does not compile.
std::string compileCudaToPtx(const std::string &source, const std::string &programName,
                             const std::string &arch, const std::vector<std::string> &options = {});

/// "major.minor" of the NVRTC library in use.
std::string nvrtcVersion();

} // namespace tessera

#endif // TESSERA_RUNTIME_NVRTC_H
