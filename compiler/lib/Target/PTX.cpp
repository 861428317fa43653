//===- PTX.cpp - Serializing a gpu.module to PTX --------------------------===//

#include "tessera/Target/PTX.h"

#include "mlir/Dialect/GPU/IR/CompilationInterfaces.h"
#include "llvm/Support/TargetSelect.h"

#include <mutex>

extern "C" {
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

using namespace mlir;

FailureOr<std::string> tessera::serializeToPTX(gpu::GPUModuleOp module) {
  static std::once_flag initNVPTX;
  std::call_once(initNVPTX, [] {
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });
  ArrayAttr targets = module.getTargetsAttr();
  if (!targets || targets.size() != 1)
    return module.emitError("expects exactly one NVVM target attached");
  auto target = dyn_cast<gpu::TargetAttrInterface>(targets[0]);
  if (!target)
    return module.emitError("target does not implement serialization: ") << targets[0];
  gpu::TargetOptions options({}, {}, {}, {}, gpu::CompilationTarget::Assembly);
  std::optional<SmallVector<char, 0>> ptx = target.serializeToObject(module, options);
  if (!ptx)
    return module.emitError("NVPTX back end failed to produce PTX");
  return std::string(ptx->begin(), ptx->end());
}
