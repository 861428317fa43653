//===- PTX.cpp - Serializing a gpu.module to PTX --------------------------===//

#include "tessera/Target/PTX.h"

#include "tessera/Support/Env.h"

#include "mlir/Dialect/GPU/IR/CompilationInterfaces.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Operator.h"
#include "llvm/IR/OptBisect.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <mutex>
#include <string_view>

extern "C" {
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

using namespace mlir;

namespace {

/// Skips the legacy pass manager's straight-line strength reduction
/// ("slsr", which the NVPTX back end always adds): its candidates' poison
/// checks (ScalarEvolution::canReuseInstruction) scan the long blocks of an
/// attention kernel, 60-70 ms of its compile.
struct SkipStrengthReduction : llvm::OptPassGate {
  bool isEnabled() const override { return true; }
  bool shouldRunPass(llvm::StringRef pass, llvm::StringRef) const override {
    return pass != "slsr";
  }
};

} // namespace

bool tessera::shortSharedPointers() {
  static const bool enabled = envFlag("TESSERA_NVPTX_SHORT_PTR");
  return enabled;
}

bool tessera::typedWarpgroupMma() {
  static const bool enabled = !envFlag("TESSERA_INLINE_WGMMA");
  return enabled;
}

bool tessera::waitsAtMBarriers() {
  static const bool enabled = envFlag("TESSERA_WAITS_AT_MBARRIERS");
  return enabled;
}

bool tessera::waitsAtBarriers() {
  static const bool enabled = envFlag("TESSERA_WAITS_AT_BARRIERS");
  return enabled;
}

bool tessera::stackedWaits() {
  static const bool enabled = envFlag("TESSERA_STACKED_WAITS");
  return enabled;
}

bool tessera::barrierPerStaging() {
  static const bool enabled = envFlag("TESSERA_BARRIER_PER_STAGING");
  return enabled;
}

bool tessera::keepStagingBarriers() {
  static const bool enabled = envFlag("TESSERA_KEEP_STAGING_BARRIERS");
  return enabled;
}

bool tessera::rowConversionsInLoops() {
  static const bool enabled = envFlag("TESSERA_ROW_CONVERSIONS_IN_LOOPS");
  return enabled;
}

bool tessera::stageRowVectors() {
  static const bool enabled = envFlag("TESSERA_STAGE_ROW_VECTORS");
  return enabled;
}

bool tessera::stmatrixStagings() {
  static const bool enabled = envFlag("TESSERA_STMATRIX");
  return enabled;
}

bool tessera::narrowAddPanels() {
  static const bool enabled = envFlag("TESSERA_NARROW_ADD_PANELS");
  return enabled;
}

bool tessera::shiftedStores() {
  static const bool enabled = envFlag("TESSERA_SHIFTED_STORES");
  return enabled;
}

bool tessera::sharedTmaRings() {
  static const bool enabled = !envFlag("TESSERA_SEPARATE_RINGS");
  return enabled;
}

FailureOr<std::string> tessera::serializeToPTX(gpu::GPUModuleOp module, bool strengthReduction) {
  static std::once_flag initNVPTX;
  std::call_once(initNVPTX, [] {
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    // The NVPTX target machine reads it when it is made.
    auto &registered = llvm::cl::getRegisteredOptions();
    if (auto it = registered.find("nvptx-short-ptr");
        it != registered.end() && shortSharedPointers())
      static_cast<llvm::cl::opt<bool> *>(it->second)->setValue(true);
  });
  ArrayAttr targets = module.getTargetsAttr();
  if (!targets || targets.size() != 1)
    return module.emitError("expects exactly one NVVM target attached");
  auto target = dyn_cast<gpu::TargetAttrInterface>(targets[0]);
  if (!target)
    return module.emitError("target does not implement serialization: ") << targets[0];
  // Floating-point multiplies and adds may fuse into FMAs, as nvcc's
  // default --fmad=true and Triton's enable_fp_fusion allow: without the
  // contract flag the back end emits mul.rn/add.rn, which ptxas may not fuse,
  // and a scale-then-subtract costs two instructions instead of one.
  auto allowContraction = [strengthReduction](llvm::Module &llvmModule) {
    static SkipStrengthReduction skip;
    if (!strengthReduction)
      llvmModule.getContext().setOptPassGate(skip);
    for (llvm::Function &fn : llvmModule)
      for (llvm::Instruction &inst : llvm::instructions(fn))
        if (isa<llvm::FPMathOperator>(inst))
          inst.setHasAllowContract(true);
  };
  gpu::TargetOptions options({}, {}, {}, {}, gpu::CompilationTarget::Assembly, {},
                             allowContraction);
  std::optional<SmallVector<char, 0>> ptx = target.serializeToObject(module, options);
  if (!ptx)
    return module.emitError("NVPTX back end failed to produce PTX");
  return std::string(ptx->begin(), ptx->end());
}
