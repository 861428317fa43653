//===- tessera-compile.cpp - Compile a named kernel to PTX or cubin -------===//
//
//   tessera-compile softmax --dtype f16 -D BLOCK_N=2048 --arch sm_80 --emit ptx -o s.ptx
//   tessera-compile matmul --report            (registers, spills, shared memory)
//   tessera-compile --list
//   tessera-compile --load libmykernels.so my_kernel --report
//
// Needs no GPU: the whole pipeline runs on the CPU.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/Registry.h"
#include "tessera/runtime/Jit.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <exception>

using namespace llvm;

static cl::OptionCategory category("tessera-compile options");
static cl::opt<std::string> kernelName(cl::Positional, cl::desc("<kernel>"), cl::cat(category));
static cl::opt<std::string> dtypeName("dtype", cl::desc("element type: f32, f16, bf16"),
                                      cl::init("f32"), cl::cat(category));
static cl::opt<std::string> arch("arch", cl::desc("GPU architecture"), cl::init("sm_90a"),
                                 cl::cat(category));
static cl::opt<unsigned> numWarps("num-warps", cl::desc("warps per program"), cl::init(4),
                                  cl::cat(category));
static cl::list<std::string> defines("D", cl::desc("NAME=VALUE: set a kernel constant"), cl::Prefix,
                                     cl::cat(category));
static cl::opt<std::string> emit("emit", cl::desc("what to write: ptx or cubin"), cl::init("ptx"),
                                 cl::cat(category));
static cl::opt<std::string> output("o", cl::desc("output file (- for stdout)"), cl::init(""),
                                   cl::cat(category));
static cl::opt<bool> report("report", cl::desc("print registers, spills and shared memory"),
                            cl::cat(category));
static cl::opt<bool> list("list", cl::desc("list the kernels and their constants"),
                          cl::cat(category));
static cl::list<std::string>
    plugins("load", cl::desc("a shared library whose kernels to add (kernels::registerKernel)"),
            cl::value_desc("library"), cl::cat(category));
static cl::opt<bool>
    aligned("aligned",
            cl::desc("specialise on every tensor being aligned for 16-byte vectors, as contiguous "
                     "tensors are (default; --aligned=false: the kernel for any strides)"),
            cl::init(true), cl::cat(category));
static cl::opt<uint64_t> alignedMask(
    "aligned-mask",
    cl::desc("specialise on the tensors of this bit mask being aligned (bit i: the i-th tensor "
             "parameter), as a launch does on its arguments; overrides --aligned"),
    cl::value_desc("mask"), cl::cat(category));
static cl::opt<bool> timeStages("time-stages",
                                cl::desc("print the wall time of each compiler stage"),
                                cl::cat(category));
static cl::opt<bool> strengthReduction(
    "slsr", cl::init(false),
    cl::desc("LLVM NVPTX's straight-line strength reduction (off by default; --slsr: with it)"),
    cl::cat(category));

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "Tessera kernel compiler\n");
  for (const std::string &path : plugins) {
    std::string error;
    if (!sys::DynamicLibrary::getPermanentLibrary(path.c_str(), &error).isValid()) {
      errs() << "tessera-compile: --load " << path << ": " << error << "\n";
      return 1;
    }
  }
  try {
    if (list) {
      for (auto &[name, def] : tessera::kernels::registry()) {
        outs() << name << ": " << def.summary << "\n   ";
        for (auto &[c, v] : def.defaults)
          outs() << " " << c << "=" << v;
        outs() << "\n";
      }
      return 0;
    }
    if (kernelName.empty()) {
      errs() << "tessera-compile: name a kernel (see --list)\n";
      return 2;
    }
    std::optional<tessera::DType> dtype = tessera::parseDType(dtypeName);
    if (!dtype) {
      errs() << "tessera-compile: --dtype: expected f32, f16 or bf16, got '" << dtypeName << "'\n";
      return 2;
    }
    std::map<std::string, int64_t> overrides;
    for (const std::string &d : defines) {
      size_t eq = d.find('=');
      int64_t v = 0;
      if (eq == std::string::npos || StringRef(d).substr(eq + 1).getAsInteger(10, v)) {
        errs() << "tessera-compile: -D: expected NAME=INTEGER, got '" << d << "'\n";
        return 2;
      }
      overrides[d.substr(0, eq)] = v;
    }
    if (emit != "ptx" && emit != "cubin") {
      errs() << "tessera-compile: --emit: expected ptx or cubin, got '" << emit << "'\n";
      return 2;
    }
    const tessera::kernels::KernelDef &def = tessera::kernels::lookup(kernelName);
    tessera::kernels::KernelConfig config =
        tessera::kernels::makeConfig(def, *dtype, numWarps, overrides);
    std::string key = config.key();
    if (alignedMask.getNumOccurrences())
      config.alignedTensors = alignedMask;
    else if (aligned)
      config.alignedTensors = ~uint64_t(0);
    tessera::CompileOptions options;
    options.arch = arch;
    options.emitCubin = emit == "cubin" || report;
    options.strengthReduction = strengthReduction;
    tessera::CompiledKernel k = tessera::Jit::get().compile(
        [&](mlir::MLIRContext &ctx) { return def.build(ctx, config); }, options);
    if (report) {
      outs() << "kernel " << k.name << " [" << key << "] for " << arch
             << (alignedMask.getNumOccurrences()
                     ? " (aligned tensors " + std::to_string(config.alignedTensors) + ")"
                 : aligned ? ""
                           : " (tensors of any alignment)")
             << ": " << k.usage.registers << " registers, " << k.usage.spillStoreBytes
             << " bytes spill stores, " << k.usage.spillLoadBytes << " bytes spill loads, "
             << k.usage.stackBytes << " bytes stack, " << k.sharedBytes
             << " bytes dynamic shared memory, " << k.usage.staticSharedBytes
             << " bytes static shared memory, " << k.numWarps * 32 << " threads"
             << (k.tensorMaps.empty()
                     ? std::string()
                     : ", " + std::to_string(k.tensorMaps.size()) + " TMA tensor maps")
             << (k.usage.wgmmaSerialized ? ", wgmma serialized by ptxas" : "")
             << (k.usage.registerHandoffIgnored ? ", setmaxnreg ignored (no ptxas executable)" : "")
             << "\n";
      for (const std::string &note : k.notApplied)
        outs() << "  not applied: " << note << "\n";
    }
    if (timeStages) {
      double total = 0;
      for (const auto &[stage, ms] : k.stageMs) {
        outs() << llvm::formatv("{0,-9} {1,8:F1} ms\n", stage, ms);
        total += ms;
      }
      outs() << llvm::formatv("{0,-9} {1,8:F1} ms\n", "total", total);
    }
    if (!output.empty()) {
      std::error_code ec;
      raw_fd_ostream os(output, ec, emit == "cubin" ? sys::fs::OF_None : sys::fs::OF_Text);
      if (ec) {
        errs() << "tessera-compile: cannot write " << output << ": " << ec.message() << "\n";
        return 1;
      }
      if (emit == "ptx")
        os << k.ptx;
      else
        os.write(k.cubin.data(), k.cubin.size());
    } else if (!report && !timeStages) {
      outs() << (emit == "ptx" ? k.ptx : std::string("(cubin: use -o FILE)\n"));
    }
    return 0;
  } catch (const std::exception &e) {
    errs() << "tessera-compile: " << e.what() << "\n";
    return 1;
  }
}
