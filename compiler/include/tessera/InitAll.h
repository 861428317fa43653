//===- InitAll.h - Register everything Tessera's compiler uses --*- C++ -*-===//
#ifndef TESSERA_INITALL_H
#define TESSERA_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace tessera {

/// The tile dialect, the upstream dialects it lowers through, their LLVM
/// conversion interfaces, the NVVM target and the LLVM IR translations.
void registerTesseraDialects(mlir::DialectRegistry &registry);

/// Tessera's passes, the upstream passes its pipeline uses, and the
/// `tessera-pipeline` pipeline.
void registerTesseraPasses();

} // namespace tessera

#endif
