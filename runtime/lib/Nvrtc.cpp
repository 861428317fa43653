//===- Nvrtc.cpp - CUDA C++ compiled at run time --------------------------===//

#include "tessera/runtime/Nvrtc.h"

#include "tessera/runtime/Error.h"

#include <nvrtc.h>

using namespace tessera;

std::string tessera::compileCudaToPtx(const std::string &source, const std::string &programName,
                                      const std::string &arch,
                                      const std::vector<std::string> &options) {
  if (arch.rfind("sm_", 0) != 0)
    throw Error("arch: expected sm_XY, got '" + arch + "'");
  nvrtcProgram program;
  TESSERA_NVRTC_CHECK(
      nvrtcCreateProgram(&program, source.c_str(), programName.c_str(), 0, nullptr, nullptr));
  struct Destroy {
    nvrtcProgram &p;
    ~Destroy() { nvrtcDestroyProgram(&p); }
  } destroy{program};
  std::vector<std::string> all = {"--gpu-architecture=compute_" + arch.substr(3), "-std=c++17"};
  all.insert(all.end(), options.begin(), options.end());
  std::vector<const char *> argv;
  for (const std::string &o : all)
    argv.push_back(o.c_str());
  nvrtcResult result = nvrtcCompileProgram(program, int(argv.size()), argv.data());
  if (result != NVRTC_SUCCESS) {
    size_t logSize = 0;
    nvrtcGetProgramLogSize(program, &logSize);
    std::string log(logSize, '\0');
    nvrtcGetProgramLog(program, log.data());
    throw Error("NVRTC failed to compile '" + programName + "' for " + arch + ": " +
                nvrtcGetErrorString(result) + "\n" + log);
  }
  size_t ptxSize = 0;
  TESSERA_NVRTC_CHECK(nvrtcGetPTXSize(program, &ptxSize));
  std::string ptx(ptxSize, '\0');
  TESSERA_NVRTC_CHECK(nvrtcGetPTX(program, ptx.data()));
  return ptx;
}

std::string tessera::nvrtcVersion() {
  int major = 0, minor = 0;
  TESSERA_NVRTC_CHECK(::nvrtcVersion(&major, &minor));
  return std::to_string(major) + "." + std::to_string(minor);
}
