//===- Error.cpp - Errors of the driver, NVRTC and bad input --------------===//

#include "tessera/runtime/Error.h"

#include "tessera/runtime/Driver.h"

#include <cstring>
#include <string>

using namespace tessera;

// Messages name the file without its directory: build paths say nothing.
static std::string where(const char *file, int line) {
  const char *slash = std::strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(line);
}

void tessera::checkCu(CUresult result, const char *expr, const char *file, int line,
                      const char *detail) {
  if (result == CUDA_SUCCESS)
    return;
  // The names come from the driver; without one (a failure before it loaded)
  // the number is all there is.
  const char *errName = nullptr, *errText = nullptr;
  const Driver &d = Driver::get();
  if (d.cuGetErrorName && d.cuGetErrorName(result, &errName) != CUDA_SUCCESS)
    errName = nullptr;
  if (d.cuGetErrorString && d.cuGetErrorString(result, &errText) != CUDA_SUCCESS)
    errText = nullptr;
  std::string msg = std::string(expr) + " failed: ";
  msg += errName ? std::string(errName) : "CUDA error " + std::to_string(int(result));
  if (errText)
    msg += std::string(" (") + errText + ")";
  msg += " at " + where(file, line);
  if (detail && *detail)
    msg += std::string("\n") + detail;
  throw Error(msg);
}

void tessera::checkNvrtc(nvrtcResult result, const char *expr, const char *file, int line) {
  if (result == NVRTC_SUCCESS)
    return;
  throw Error(std::string(expr) + " failed: " + nvrtcGetErrorString(result) + " at " +
              where(file, line));
}
