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

#include <array>
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

namespace {

/// The compile switches, one environment variable each (set: on, "0" or
/// empty: off), read together once per process; the tag is what the kernel
/// cache keys on while one is set. In the order of their tags in the key.
enum Switch : unsigned {
  kShortPointers,
  kInlineWgmma,
  kSeparateRings,
  kWaitsAtMBarriers,
  kWaitsAtBarriers,
  kStackedWaits,
  kBarrierPerStaging,
  kKeepStagingBarriers,
  kRowConversionsInLoops,
  kStageRowVectors,
  kStmatrix,
  kNarrowAddPanels,
  kShiftedStores,
  kSwitches
};

struct SwitchVariable {
  const char *env, *tag;
};

constexpr SwitchVariable kSwitchVariables[kSwitches] = {
    {"TESSERA_NVPTX_SHORT_PTR", "short-shared-pointers"},
    {"TESSERA_INLINE_WGMMA", "inline-wgmma"},
    {"TESSERA_SEPARATE_RINGS", "separate-rings"},
    {"TESSERA_WAITS_AT_MBARRIERS", "waits-at-mbarriers"},
    {"TESSERA_WAITS_AT_BARRIERS", "waits-at-barriers"},
    {"TESSERA_STACKED_WAITS", "stacked-waits"},
    {"TESSERA_BARRIER_PER_STAGING", "barrier-per-staging"},
    {"TESSERA_KEEP_STAGING_BARRIERS", "keep-staging-barriers"},
    {"TESSERA_ROW_CONVERSIONS_IN_LOOPS", "row-conversions-in-loops"},
    {"TESSERA_STAGE_ROW_VECTORS", "stage-row-vectors"},
    {"TESSERA_STMATRIX", "stmatrix"},
    {"TESSERA_NARROW_ADD_PANELS", "narrow-add-panels"},
    {"TESSERA_SHIFTED_STORES", "shifted-stores"},
};

bool isSet(Switch s) {
  static const std::array<bool, kSwitches> set = [] {
    std::array<bool, kSwitches> flags{};
    for (unsigned i = 0; i < kSwitches; ++i)
      flags[i] = tessera::envFlag(kSwitchVariables[i].env);
    return flags;
  }();
  return set[s];
}

} // namespace

bool tessera::shortSharedPointers() { return isSet(kShortPointers); }
bool tessera::typedWarpgroupMma() { return !isSet(kInlineWgmma); }
bool tessera::waitsAtMBarriers() { return isSet(kWaitsAtMBarriers); }
bool tessera::waitsAtBarriers() { return isSet(kWaitsAtBarriers); }
bool tessera::stackedWaits() { return isSet(kStackedWaits); }
bool tessera::barrierPerStaging() { return isSet(kBarrierPerStaging); }
bool tessera::keepStagingBarriers() { return isSet(kKeepStagingBarriers); }
bool tessera::rowConversionsInLoops() { return isSet(kRowConversionsInLoops); }
bool tessera::stageRowVectors() { return isSet(kStageRowVectors); }
bool tessera::stmatrixStagings() { return isSet(kStmatrix); }
bool tessera::narrowAddPanels() { return isSet(kNarrowAddPanels); }
bool tessera::shiftedStores() { return isSet(kShiftedStores); }
bool tessera::sharedTmaRings() { return !isSet(kSeparateRings); }

std::string tessera::compileSwitchesKey() {
  std::string key;
  for (unsigned i = 0; i < kSwitches; ++i)
    if (isSet(Switch(i)))
      key += std::string(";") + kSwitchVariables[i].tag;
  return key;
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
