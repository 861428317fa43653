//===- Nvrtc.cpp - CUDA C++ compiled at run time --------------------------===//

#include "tessera/runtime/Nvrtc.h"

#include "tessera/runtime/Error.h"

#include <nvrtc.h>

#include <cctype>

using namespace tessera;

/// "sm_" then digits, then an optional "a" (architecture-specific) or "f"
/// (family) suffix.
static bool isSmArch(const std::string &arch) {
  if (arch.rfind("sm_", 0) != 0)
    return false;
  size_t i = 3;
  while (i < arch.size() && std::isdigit(static_cast<unsigned char>(arch[i])))
    ++i;
  if (i == 3)
    return false;
  return i == arch.size() || (i + 1 == arch.size() && (arch[i] == 'a' || arch[i] == 'f'));
}

namespace {
/// Destroys the program on every way out.
struct Program {
  nvrtcProgram handle = nullptr;
  ~Program() {
    if (handle)
      nvrtcDestroyProgram(&handle);
  }
};
} // namespace

std::string tessera::compileCudaToPtx(const std::string &source, const std::string &programName,
                                      const std::string &arch,
                                      const std::vector<std::string> &options) {
  if (!isSmArch(arch))
    throw Error("compileCudaToPtx: arch: expected sm_<major><minor> with an optional a or f "
                "suffix (e.g. sm_90a), got '" +
                arch + "'");
  std::string where = "NVRTC failed to compile '" + programName + "' for " + arch;
  Program program;
  if (nvrtcResult r = nvrtcCreateProgram(&program.handle, source.c_str(), programName.c_str(), 0,
                                         nullptr, nullptr);
      r != NVRTC_SUCCESS)
    throw Error(where + ": nvrtcCreateProgram failed: " + nvrtcGetErrorString(r));

  // compute_* rather than sm_*: NVRTC then stops at PTX, which the driver
  // compiles for the exact device on load.
  std::vector<std::string> all = {"--gpu-architecture=compute_" + arch.substr(3), "-std=c++17"};
  all.insert(all.end(), options.begin(), options.end());
  std::vector<const char *> argv;
  for (const std::string &o : all)
    argv.push_back(o.c_str());
  nvrtcResult result = nvrtcCompileProgram(program.handle, int(argv.size()), argv.data());
  if (result != NVRTC_SUCCESS) {
    size_t logSize = 0;
    std::string log;
    if (nvrtcGetProgramLogSize(program.handle, &logSize) == NVRTC_SUCCESS && logSize > 1) {
      log.resize(logSize);
      if (nvrtcGetProgramLog(program.handle, log.data()) != NVRTC_SUCCESS)
        log.clear();
      while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
        log.pop_back();
    }
    throw Error(where + ": " + nvrtcGetErrorString(result) + "\n" +
                (log.empty() ? std::string("(NVRTC wrote no log)") : log));
  }
  size_t ptxSize = 0;
  TESSERA_NVRTC_CHECK(nvrtcGetPTXSize(program.handle, &ptxSize));
  std::string ptx(ptxSize, '\0');
  TESSERA_NVRTC_CHECK(nvrtcGetPTX(program.handle, ptx.data()));
  // The size counts the terminating NUL; a std::string keeps its own.
  while (!ptx.empty() && ptx.back() == '\0')
    ptx.pop_back();
  return ptx;
}

std::string tessera::nvrtcVersion() {
  int major = 0, minor = 0;
  TESSERA_NVRTC_CHECK(::nvrtcVersion(&major, &minor));
  return std::to_string(major) + "." + std::to_string(minor);
}
