//===- Compiler.h - Compile a tile kernel to PTX and cubin ------*- C++ -*-===//
#ifndef TESSERA_PIPELINE_COMPILER_H
#define TESSERA_PIPELINE_COMPILER_H

#include "tessera/Target/NvJitLink.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <map>
#include <string>
#include <vector>

namespace tessera {

struct CompileOptions {
  std::string arch = "sm_90a";
  unsigned numStages = 2;
  /// Assemble the PTX into a cubin (nvJitLink) as well.
  bool emitCubin = true;
  /// Where to dump the IR after each stage; empty: $TESSERA_DUMP_IR, if set.
  std::string dumpDir;
  /// LLVM NVPTX's straight-line strength reduction: 60-70 ms of a cold
  /// attention compile (~11%) for a PTX that differs in a few address
  /// computations, and no kernel measured faster with it (H100,
  /// docs/PERFORMANCE.md), so off by default; $TESSERA_LLVM_SLSR=1 or 0
  /// overrides this.
  bool strengthReduction = false;
};

/// Whether `options` compile with LLVM's straight-line strength reduction
/// (the option and $TESSERA_LLVM_SLSR).
bool usesStrengthReduction(const CompileOptions &options);

/// How the kernel's parameters are passed, in order.
enum class ParamKind { Pointer, I32, F32 };

/// A TMA tensor map (tile-use-tma) that the launch encodes from a tensor
/// argument and passes, after the kernel's other parameters, as a 128-byte
/// `__grid_constant__`: of the rank-`rank` tensor whose pointer is parameter
/// `tensor` (its sizes, then its strides, in elements, follow it), in boxes
/// of `boxRows` x `boxCols` elements of `elementBytes` each (one element
/// along the leading dimensions), with the swizzle of a box row (32, 64 or
/// 128 bytes).
struct TensorMapParam {
  unsigned tensor = 0;
  unsigned elementBytes = 2;
  unsigned boxRows = 0;
  unsigned boxCols = 0;
  /// The tensor's rank: the map is of all its dimensions, the box one
  /// element deep along those before the last two.
  unsigned rank = 2;
};

struct CompiledKernel {
  std::string name;
  std::string ptx;
  std::vector<char> cubin;
  /// The parameters a launch passes, in order.
  std::vector<ParamKind> params;
  /// Tensor maps the launch appends after `params`.
  std::vector<TensorMapParam> tensorMaps;
  unsigned numWarps = 4;
  /// Dynamic shared memory the launch must provide.
  unsigned sharedBytes = 0;
  /// CTAs per cluster along x (PTX .reqnctapercluster, sm_90a): a launch's
  /// grid x must be a multiple of it.
  unsigned clusterSize = 1;
  /// The compile-time constants the kernel was specialised with (its
  /// `tile.constant.NAME` attributes): block sizes that shape the launch grid.
  std::map<std::string, int64_t> constants;
  /// Schedule requests of the kernel the compiler did not apply, each with
  /// why (a producer warpgroup asked for where no loop takes one, ...):
  /// the kernel runs correctly without them. `tessera-compile --report`
  /// prints them.
  std::vector<std::string> notApplied;
  ResourceUsage usage;
  /// Wall time of each stage compileKernel ran, in order: verify, tile,
  /// layouts, lowering, ptx (NVVM to LLVM IR, LLVM's NVPTX back end), cubin
  /// (nvJitLink and ptxas). Not part of a cached kernel.
  std::vector<std::pair<std::string, double>> stageMs;
};

/// Runs the whole pipeline on `module`, which holds one `tile.kernel` function
/// in tile IR (it is modified in place). A failure names the kernel, the stage
/// and the IR location of the first error.
llvm::Expected<CompiledKernel> compileKernel(mlir::ModuleOp module, const CompileOptions &options);

/// What a launch needs to know of the one tile.kernel in `module` (name,
/// parameters, warps, constants), without compiling it.
llvm::Expected<CompiledKernel> describeKernel(mlir::ModuleOp module);

/// Canonical text of a module (generic form, no locations): the cache key's input.
std::string printForHashing(mlir::ModuleOp module);

} // namespace tessera

#endif
