//===- Error.cpp - Errors of Tessera's user-facing layers -----------------===//

#include "tessera/runtime/Error.h"

#include "tessera/runtime/Driver.h"

#include <cstring>

using namespace tessera;

static std::string where(const char *file, int line) {
  const char *slash = std::strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

void tessera::checkCu(CUresult result, const char *expr, const char *file, int line) {
  if (result == CUDA_SUCCESS)
    return;
  const char *errName = nullptr, *errText = nullptr;
  Driver &d = Driver::get();
  if (d.cuGetErrorName)
    d.cuGetErrorName(result, &errName);
  if (d.cuGetErrorString)
    d.cuGetErrorString(result, &errText);
  throw Error(std::string(expr) + " failed: " + (errName ? errName : "CUDA error " + std::to_string(int(result))) +
              (errText ? std::string(" (") + errText + ")" : "") + " at " + where(file, line));
}

void tessera::checkNvrtc(nvrtcResult result, const char *expr, const char *file, int line) {
  if (result == NVRTC_SUCCESS)
    return;
  throw Error(std::string(expr) + " failed: " + nvrtcGetErrorString(result) + " at " +
              where(file, line));
}
