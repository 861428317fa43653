//===- Error.h - The exception Tessera's user-facing layers throw -*- C++ -*-===//
#ifndef TESSERA_SUPPORT_ERROR_H
#define TESSERA_SUPPORT_ERROR_H

#include <stdexcept>

namespace tessera {

/// Thrown for bad input (the message names the argument, what was expected
/// and what came) and for failures of the driver, NVRTC or the compiler.
/// Inside compiler/ failures are llvm::Error; the DSL, runtime and kernels
/// turn them into this.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace tessera

#endif
