//===- Error.h - Errors of Tessera's user-facing layers ---------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_ERROR_H
#define TESSERA_RUNTIME_ERROR_H

#include "tessera/Support/Error.h"

#include <cuda.h>
#include <nvrtc.h>

#include <string>

namespace tessera {

/// Throws tessera::Error for a failed driver call, with the call's text, the
/// error's name and description, and where it was made.
void checkCu(CUresult result, const char *expr, const char *file, int line);
void checkNvrtc(nvrtcResult result, const char *expr, const char *file, int line);

} // namespace tessera

#define TESSERA_CU_CHECK(expr) ::tessera::checkCu((expr), #expr, __FILE__, __LINE__)
#define TESSERA_NVRTC_CHECK(expr) ::tessera::checkNvrtc((expr), #expr, __FILE__, __LINE__)

#endif
