//===- Jit.h - Compile, cache and load kernels at run time ------*- C++ -*-===//
//
// Jit::get().kernel(key, build) returns the loaded kernel for `key` on the
// current device, compiling it the first time: `build` produces its tile IR
// (the kernels layer calls the DSL), the compiler turns that into a cubin,
// the driver loads it. Compiled kernels stay in memory for the process; the
// memory lookup costs one hash of `key` and no IR is built on a hit.
//
// A memory miss then looks in the disk cache (Cache.h), keyed by the kernel's
// source key where it has one, else by the IR text, before compiling. A call
// that launches several kernels may have the missing ones compiled side by
// side first (prepare()).
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_JIT_H
#define TESSERA_RUNTIME_JIT_H

#include "tessera/Pipeline/Compiler.h"
#include "tessera/runtime/Cache.h"
#include "tessera/runtime/Module.h"
#include "tessera/runtime/Stream.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera {

/// Builds a kernel's tile IR in the given context.
using IRBuilderFn = std::function<mlir::OwningOpRef<mlir::ModuleOp>(mlir::MLIRContext &)>;

/// A compiled kernel loaded on the device.
struct JitKernel {
  CompiledKernel compiled;
  Module module;
  CUfunction function = nullptr;
  /// Programs of this kernel one SM holds at once (its threads, registers
  /// and shared memory; the driver's occupancy calculator), 0 where unknown
  /// (the interpreter): a persistent kernel launches SMs times this many.
  int blocksPerSm = 0;
  /// Under the interpreter (Interpret.h): the kernel's tile IR, run on the CPU.
  mlir::OwningOpRef<mlir::ModuleOp> ir;
};

class Jit {
public:
  static Jit &get();

  /// The loaded kernel for `key` (which must identify the IR `build` makes)
  /// on the current device. Throws tessera::Error naming the kernel, stage
  /// and location when compilation fails. `sourceKey`, where not empty,
  /// identifies that IR across processes too (compileCached).
  const JitKernel &kernel(const std::string &key, const IRBuilderFn &build,
                          const std::string &sourceKey = {});

  /// Compiles without loading or caching (works without a GPU).
  CompiledKernel compile(const IRBuilderFn &build, const CompileOptions &options);

  /// Compiles through `cache`: a hit skips the compiler, a miss compiles and
  /// publishes. The key is computed from the IR `build` makes, or first from
  /// `sourceKey` where given: a string that, with the compiler's own
  /// fingerprint (toolchainFingerprint), stands for that IR (a shipped
  /// kernel's name, config and sources' hash). An entry found under it
  /// builds no IR, hashes no text: most of a hit's cost. A miss there takes
  /// the IR's key and publishes what it finds or compiles under both.
  CompiledKernel compileCached(const IRBuilderFn &build, const CompileOptions &options,
                               DiskCache &cache, const std::string &sourceKey = {});

  /// Compiles every kernel `builds` make in parallel on a thread pool (one
  /// MLIR context per task) through `cache`, each by its source key where
  /// `sourceKeys` gives one (compileCached). Each result is a kernel or the
  /// compiler's error message.
  struct CompileResult {
    std::optional<CompiledKernel> kernel;
    std::string error;
  };
  std::vector<CompileResult> compileAll(const std::vector<IRBuilderFn> &builds,
                                        const CompileOptions &options, DiskCache &cache,
                                        const std::vector<std::string> &sourceKeys = {});

  /// A kernel a call is about to launch, as kernel() takes it.
  struct Request {
    std::string key;
    IRBuilderFn build;
    std::string sourceKey;
  };
  /// Compiles the kernels of `requests` that are not loaded yet in parallel
  /// (compileAll, through the process's disk cache) and loads them, so that
  /// the kernel() calls that follow find them in memory: a call that
  /// launches several kernels for the first time (the attention backward's
  /// two products and their preprocessing) waits for the longest compile,
  /// not for their sum. Fewer than two to compile, or under the interpreter,
  /// it leaves them to kernel(); so it does a kernel that fails to compile,
  /// which kernel() then reports.
  void prepare(const std::vector<Request> &requests);

  /// The kernel `build` makes, for the interpreter (Interpret.h): its tile
  /// IR and what a launch needs to know of it. Not memory-cached.
  std::unique_ptr<JitKernel> interpretable(const IRBuilderFn &build);

  /// Loads a compiled kernel on the current device (not memory-cached),
  /// with loadWarning()'s line on stderr where it has one.
  static std::unique_ptr<JitKernel> load(CompiledKernel compiled);

  /// What a kernel about to run should tell its author, or "": that ptxas
  /// serialized its wgmmas (each waits for the one before; a subroutine
  /// call, or registers of a group in flight read or written before its
  /// wait: docs/COMPILER.md §4), which costs up to 2x and shows nowhere
  /// else at run time.
  static std::string loadWarning(const CompiledKernel &compiled);

  /// Kernels compiled by this process (memory-cache misses).
  unsigned compileCount() const { return compiles; }
  /// Kernels prepare() loaded (compiled or found on disk) in this process.
  unsigned preparedCount() const { return prepared; }

private:
  Jit();
  std::unique_ptr<mlir::MLIRContext> context;
  std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<JitKernel>> loaded;
  std::atomic<unsigned> compiles{0}, prepared{0};
};

/// What a launch gives cuTensorMapEncodeTiled for tensor map `param` of a
/// tensor of `sizes` and `strides` (elements, outermost first, param.rank of
/// each): the dimensions innermost first, the byte strides of all but the
/// innermost, the box (its rows and columns, one element deep along the
/// leading dimensions). A dimension of one element gets the stride of a
/// dense layout: TMA never steps along it, but wants a multiple of 16.
struct TensorMapLayout {
  std::array<uint64_t, 5> dims{};
  std::array<uint64_t, 4> strideBytes{};
  std::array<uint32_t, 5> box{};
};
TensorMapLayout tensorMapLayout(const TensorMapParam &param, const int32_t *sizes,
                                const int32_t *strides);

/// `args` followed by the tensor maps `kernel` takes after them (its
/// TensorMapParams, encoded from the tensors' pointers, sizes and strides in
/// `args`, cached): the parameters a launch passes to the driver.
KernelArgs withTensorMaps(const JitKernel &kernel, const KernelArgs &args);

/// Launches a JIT kernel on `grid` programs with its own thread count and
/// shared memory.
void launch(const JitKernel &kernel, unsigned gridX, unsigned gridY, unsigned gridZ,
            KernelArgs &args, Stream &stream);

} // namespace tessera

#endif
