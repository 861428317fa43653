//===- Error.h - Errors of the driver, NVRTC and bad input ------*- C++ -*-===//
//
// tessera::Error itself lives in Support/Error.h (every layer throws it); this
// header adds the checks that turn a CUresult or nvrtcResult into one.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_ERROR_H
#define TESSERA_RUNTIME_ERROR_H

#include "tessera/Support/Error.h"

#include <cuda.h>
#include <nvrtc.h>

namespace tessera {

/// Does nothing on CUDA_SUCCESS; otherwise throws tessera::Error
/// "<expr> failed: <cuGetErrorName> (<cuGetErrorString>) at <file>:<line>",
/// with the names read from the dlopen'ed driver, then `detail` (a JIT log,
/// say) on the next line when it is not empty.
void checkCu(CUresult result, const char *expr, const char *file, int line,
             const char *detail = nullptr);

/// Does nothing on NVRTC_SUCCESS; otherwise throws tessera::Error
/// "<expr> failed: <nvrtcGetErrorString> at <file>:<line>".
void checkNvrtc(nvrtcResult result, const char *expr, const char *file, int line);

} // namespace tessera

/// Checks a driver call: TESSERA_CU_CHECK(d.cuMemAlloc(&ptr, bytes)).
#define TESSERA_CU_CHECK(expr) ::tessera::checkCu((expr), #expr, __FILE__, __LINE__)
/// Checks an NVRTC call: TESSERA_NVRTC_CHECK(nvrtcGetPTX(program, ptx)).
#define TESSERA_NVRTC_CHECK(expr) ::tessera::checkNvrtc((expr), #expr, __FILE__, __LINE__)

#endif // TESSERA_RUNTIME_ERROR_H
