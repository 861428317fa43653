//===- Nvrtc.h - CUDA C++ compiled at run time ------------------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_NVRTC_H
#define TESSERA_RUNTIME_NVRTC_H

#include <string>
#include <vector>

namespace tessera {

/// PTX of CUDA C++ `source` for `arch` (e.g. "sm_90a"), through NVRTC. Needs
/// no GPU. Throws tessera::Error with the program's name and NVRTC's log.
std::string compileCudaToPtx(const std::string &source, const std::string &programName,
                             const std::string &arch, const std::vector<std::string> &options = {});

/// "major.minor" of the NVRTC library.
std::string nvrtcVersion();

} // namespace tessera

#endif
