//===- Passes.h - The schedule level's passes -------------------*- C++ -*-===//
#ifndef TESSERA_SCHEDULE_PASSES_H
#define TESSERA_SCHEDULE_PASSES_H

#include "tessera/Dialect/Tile/IR/TileDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/Pass.h"

namespace tessera {
#define GEN_PASS_DECL
#include "tessera/Schedule/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "tessera/Schedule/Passes.h.inc"
} // namespace tessera

#endif
