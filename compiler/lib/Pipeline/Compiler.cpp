//===- Compiler.cpp - Compile a tile kernel to PTX and cubin --------------===//

#include "tessera/Pipeline/Compiler.h"

#include "tessera/Conversion/TileToGPU/TileToGPU.h"
#include "tessera/Dialect/Tile/IR/TileDialect.h"
#include "tessera/Pipeline/Pipeline.h"
#include "tessera/Schedule/Analysis.h"
#include "tessera/Target/PTX.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdlib>
#include <optional>

using namespace mlir;
using namespace tessera;

namespace {

/// "file:line:col" of the first file location inside `loc`, else its MLIR form.
std::string describe(Location loc) {
  std::string out;
  loc->walk([&](Location l) {
    if (auto file = dyn_cast<FileLineColLoc>(l)) {
      out = (file.getFilename().str() + ":" + llvm::Twine(file.getLine()) + ":" +
             llvm::Twine(file.getColumn()))
                .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (out.empty()) {
    llvm::raw_string_ostream os(out);
    os << loc;
  }
  return out;
}

/// Keeps the first error diagnostic of a stage, with its location.
class FirstError {
public:
  explicit FirstError(MLIRContext *ctx)
      : handler(ctx, [this](Diagnostic &diag) {
          if (diag.getSeverity() == DiagnosticSeverity::Error && message.empty()) {
            llvm::raw_string_ostream os(message);
            os << describe(diag.getLocation()) << ": " << diag;
            for (Diagnostic &note : diag.getNotes())
              os << "\n  note: " << describe(note.getLocation()) << ": " << note;
          }
          return success();
        }) {}
  std::string message;

private:
  ScopedDiagnosticHandler handler;
};

llvm::Error stageError(StringRef kernel, StringRef stage, StringRef message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "kernel '" + kernel + "': stage '" + stage +
                                     "': " + (message.empty() ? StringRef("failed") : message));
}

void dumpStage(StringRef dir, StringRef kernel, int index, StringRef stage,
               llvm::function_ref<void(llvm::raw_ostream &)> print) {
  if (dir.empty())
    return;
  llvm::sys::fs::create_directories(dir);
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, (kernel + "." + llvm::Twine(index) + "-" + stage).str());
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec) {
    llvm::errs() << "tessera: cannot write IR dump " << path << ": " << ec.message() << "\n";
    return;
  }
  print(os);
}

} // namespace

std::string tessera::printForHashing(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os, OpPrintingFlags().printGenericOpForm());
  return text;
}

bool tessera::usesStrengthReduction(const CompileOptions &options) {
  const char *env = std::getenv("TESSERA_LLVM_SLSR");
  if (env && std::string(env) == "1")
    return true;
  if (env && std::string(env) == "0")
    return false;
  return options.strengthReduction;
}

llvm::Expected<CompiledKernel> tessera::describeKernel(ModuleOp module) {
  llvm::Expected<func::FuncOp> found = tile::getKernel(module);
  if (!found)
    return found.takeError();
  func::FuncOp kernel = *found;
  CompiledKernel out;
  out.name = kernel.getName().str();
  out.numWarps = tile::getNumWarps(kernel);
  for (NamedAttribute attr : kernel->getAttrs())
    if (attr.getName().strref().starts_with(tile::kConstantAttrPrefix))
      if (auto value = dyn_cast<IntegerAttr>(attr.getValue()))
        out.constants[attr.getName().strref().drop_front(tile::kConstantAttrPrefix.size()).str()] =
            value.getInt();
  for (Type t : kernel.getFunctionType().getInputs()) {
    if (isa<tile::PtrType>(t))
      out.params.push_back(ParamKind::Pointer);
    else if (t.isInteger(32))
      out.params.push_back(ParamKind::I32);
    else if (t.isF32())
      out.params.push_back(ParamKind::F32);
    else
      return stageError(out.name, "signature",
                        "parameters must be !tile.ptr, i32 or f32; got an unsupported type");
  }
  return out;
}

llvm::Expected<CompiledKernel> tessera::compileKernel(ModuleOp module,
                                                      const CompileOptions &options) {
  MLIRContext *ctx = module.getContext();
  llvm::Expected<CompiledKernel> described = describeKernel(module);
  if (!described)
    return described.takeError();
  CompiledKernel out = std::move(*described);

  std::string dumpDir = options.dumpDir;
  if (dumpDir.empty())
    if (const char *env = std::getenv("TESSERA_DUMP_IR"))
      dumpDir = env;

  PipelineOptions pipelineOptions;
  pipelineOptions.arch = options.arch;
  pipelineOptions.numStages = options.numStages;

  int stageIndex = 0;
  auto dumpModule = [&](StringRef stage) {
    dumpStage(dumpDir, out.name, stageIndex++, (stage + ".mlir").str(),
              [&](llvm::raw_ostream &os) { module->print(os); });
  };
  dumpModule("input");

  FirstError error(ctx);
  // Times each stage into out.stageMs, from the previous mark to now.
  auto last = std::chrono::steady_clock::now();
  auto mark = [&](StringRef stage) {
    auto now = std::chrono::steady_clock::now();
    out.stageMs.emplace_back(stage.str(),
                             std::chrono::duration<double, std::milli>(now - last).count());
    last = now;
  };
  if (failed(verify(module)))
    return stageError(out.name, "verify", error.message);
  mark("verify");

  using Builder = std::function<void(OpPassManager &)>;
  std::pair<StringRef, Builder> stages[] = {
      {"tile", [](OpPassManager &pm) { buildTilePasses(pm); }},
      {"layouts", [&](OpPassManager &pm) { buildLayoutPasses(pm, pipelineOptions); }},
      {"schedule", [&](OpPassManager &pm) { buildSchedulePasses(pm, pipelineOptions); }},
      {"lowering", [&](OpPassManager &pm) { buildLoweringPasses(pm, pipelineOptions); }},
  };
  for (auto &[stage, build] : stages) {
    PassManager pm(ctx);
    build(pm);
    if (failed(pm.run(module)))
      return stageError(out.name, stage, error.message);
    mark(stage);
    dumpModule(stage);
    // The schedule placed every shared tile: what a launch must give.
    // and the tensor maps it must pass.
    if (stage == "schedule")
      module.walk([&](func::FuncOp f) {
        if (!f->hasAttr(tile::kKernelAttr))
          return;
        out.sharedBytes = schedule::sharedMemoryLaunchBytes(f);
        // Clusters are sm_90a's (convert-tile-to-gpu drops them elsewhere).
        if (auto size = f->getAttrOfType<IntegerAttr>(tile::kClusterSizeAttr);
            size && options.arch == "sm_90a")
          out.clusterSize = unsigned(size.getInt());
        // A producer warpgroup runs beside the kernel's warps.
        bool specialized = false, turns = false;
        f.walk([&](tile::WarpSpecializeOp split) {
          out.numWarps += split.getProducerWarps();
          specialized = true;
        });
        f.walk([&](tile::TurnStartOp) { turns = true; });
        // Requests that found nothing to act on: said, not silently dropped.
        if (f->hasAttr(tile::kWarpSpecializeAttr) && !specialized)
          out.notApplied.push_back(
              options.arch != "sm_90a"
                  ? "warp specialization (sm_90a only)"
                  : "warp specialization (no loop of TMA copies it takes: loops directly in the "
                    "kernel's body, or those of a persistent loop (one whose bounds are the "
                    "same on every trip, or several into buffers at the same offsets); with no "
                    "loop inside, its copies computed from values before the loop or the "
                    "tile's scalar code)");
        if (f->hasAttr(tile::kPingPongAttr) && !turns)
          out.notApplied.push_back(
              "ping-pong (it needs a producer warpgroup and two consumer warpgroups, outside "
              "a persistent kernel's tile loop)");
        for (Type t : f.getArgumentTypes())
          if (auto map = dyn_cast<tile::TensorMapType>(t))
            out.tensorMaps.push_back(
                {map.getTensor(), map.getElementType().getIntOrFloatBitWidth() / 8u,
                 unsigned(map.getBox()[0]), unsigned(map.getBox()[1]), map.getRank()});
      });
  }

  gpu::GPUModuleOp gpuModule;
  module.walk([&](gpu::GPUModuleOp m) { gpuModule = m; });
  if (!gpuModule)
    return stageError(out.name, "ptx", "lowering produced no gpu.module");

  FailureOr<std::string> ptx = serializeToPTX(gpuModule, usesStrengthReduction(options));
  if (failed(ptx))
    return stageError(out.name, "ptx", error.message);
  out.ptx = std::move(*ptx);
  mark("ptx");
  dumpStage(dumpDir, out.name, stageIndex++, "ptx.ptx",
            [&](llvm::raw_ostream &os) { os << out.ptx; });

  if (options.emitCubin) {
    llvm::Expected<Cubin> cubin = linkPTX(out.ptx, options.arch, out.name);
    if (!cubin)
      return stageError(out.name, "cubin", llvm::toString(cubin.takeError()));
    out.cubin = std::move(cubin->image);
    out.usage = cubin->usage;
    mark("cubin");
    dumpStage(dumpDir, out.name, stageIndex++, "ptxas.txt",
              [&](llvm::raw_ostream &os) { os << cubin->infoLog; });
    // Shared memory past what a block of the chip may take fails here, named,
    // rather than in the driver at launch (an invalid value raising the
    // limit). The static part (the kilobyte aligning the dynamic one) counts.
    int64_t shared = int64_t(out.sharedBytes) + out.usage.staticSharedBytes;
    if (std::optional<int64_t> limit = schedule::sharedBytesPerBlock(options.arch);
        limit && shared > *limit)
      return stageError(out.name, "cubin",
                        "needs " + std::to_string(shared) + " bytes of shared memory, " +
                            options.arch + " allows " + std::to_string(*limit) +
                            " a block: smaller blocks or fewer stages");
  }
  return out;
}
