//===- Jit.cpp - Compile, cache and load kernels at run time --------------===//

#include "tessera/runtime/Jit.h"

#include "tessera/InitAll.h"
#include "tessera/Interpreter/Interpreter.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <cstring>

#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/ThreadPool.h"

using namespace tessera;

Jit &Jit::get() {
  static Jit jit;
  return jit;
}

Jit::Jit() {
  mlir::DialectRegistry registry;
  registerTesseraDialects(registry);
  // Kernels are compiled one at a time under the lock below.
  context = std::make_unique<mlir::MLIRContext>(registry, mlir::MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
}

CompiledKernel Jit::compile(const IRBuilderFn &build, const CompileOptions &options) {
  std::lock_guard<std::mutex> lock(mutex);
  mlir::OwningOpRef<mlir::ModuleOp> module = build(*context);
  llvm::Expected<CompiledKernel> compiled = compileKernel(*module, options);
  if (!compiled)
    throw Error(llvm::toString(compiled.takeError()));
  ++compiles;
  return std::move(*compiled);
}

CompiledKernel Jit::compileCached(const IRBuilderFn &build, const CompileOptions &options,
                                  DiskCache &cache) {
  std::lock_guard<std::mutex> lock(mutex);
  mlir::OwningOpRef<mlir::ModuleOp> module = build(*context);
  std::string key = cacheKey(printForHashing(*module), options);
  if (std::optional<CompiledKernel> hit = cache.load(key))
    return std::move(*hit);
  llvm::Expected<CompiledKernel> compiled = compileKernel(*module, options);
  if (!compiled)
    throw Error(llvm::toString(compiled.takeError()));
  ++compiles;
  cache.store(key, *compiled);
  return std::move(*compiled);
}

std::vector<Jit::CompileResult> Jit::compileAll(const std::vector<IRBuilderFn> &builds,
                                                const CompileOptions &options, DiskCache &cache) {
  std::vector<CompileResult> results(builds.size());
  mlir::DialectRegistry registry;
  registerTesseraDialects(registry);
  llvm::DefaultThreadPool pool(llvm::hardware_concurrency());
  for (size_t i = 0; i < builds.size(); ++i)
    pool.async([&, i] {
      mlir::MLIRContext ctx(registry, mlir::MLIRContext::Threading::DISABLED);
      ctx.loadAllAvailableDialects();
      try {
        mlir::OwningOpRef<mlir::ModuleOp> module = builds[i](ctx);
        std::string key = cacheKey(printForHashing(*module), options);
        if (std::optional<CompiledKernel> hit = cache.load(key)) {
          results[i].kernel = std::move(*hit);
          return;
        }
        llvm::Expected<CompiledKernel> compiled = compileKernel(*module, options);
        if (!compiled) {
          results[i].error = llvm::toString(compiled.takeError());
          return;
        }
        ++compiles;
        cache.store(key, *compiled);
        results[i].kernel = std::move(*compiled);
      } catch (const std::exception &e) {
        results[i].error = e.what();
      }
    });
  pool.wait();
  return results;
}

std::unique_ptr<JitKernel> Jit::load(CompiledKernel compiled) {
  auto jk = std::make_unique<JitKernel>();
  jk->module = Module::loadData(std::string(compiled.cubin.begin(), compiled.cubin.end()));
  jk->function = jk->module.function(compiled.name);
  // Static shared memory (a few bytes) plus the dynamic part can pass 48 KiB,
  // beyond which the driver wants the limit raised; raise it once, here.
  if (compiled.sharedBytes > 0)
    TESSERA_CU_CHECK(Driver::get().cuFuncSetAttribute(
        jk->function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(compiled.sharedBytes)));
  jk->compiled = std::move(compiled);
  return jk;
}

std::unique_ptr<JitKernel> Jit::interpretable(const IRBuilderFn &build) {
  auto jk = std::make_unique<JitKernel>();
  std::lock_guard<std::mutex> lock(mutex);
  jk->ir = build(*context);
  llvm::Expected<CompiledKernel> described = describeKernel(*jk->ir);
  if (!described)
    throw Error(llvm::toString(described.takeError()));
  jk->compiled = std::move(*described);
  return jk;
}

const JitKernel &Jit::kernel(const std::string &key, const IRBuilderFn &build) {
  const DeviceInfo &device = currentDevice();
  std::string fullKey = key + "@" + device.arch();
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = loaded.find(fullKey);
    if (it != loaded.end())
      return *it->second;
  }
  if (interpreted()) {
    std::unique_ptr<JitKernel> jk = interpretable(build);
    std::lock_guard<std::mutex> lock(mutex);
    return *loaded.emplace(fullKey, std::move(jk)).first->second;
  }
  CompileOptions options;
  options.arch = device.arch();
  std::unique_ptr<JitKernel> jk = load(compileCached(build, options, DiskCache::get()));
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = loaded.emplace(fullKey, std::move(jk));
  return *it->second;
}

/// Runs an interpreted kernel: the packed arguments are read back by the
/// kernel's parameter kinds, pointers resolved to their host allocations.
static void interpretLaunch(const JitKernel &kernel, unsigned gridX, unsigned gridY, unsigned gridZ,
                            KernelArgs &args) {
  const std::vector<ParamKind> &params = kernel.compiled.params;
  if (args.size() != params.size())
    throw Error("launch of '" + kernel.compiled.name + "': " + std::to_string(args.size()) +
                " arguments for " + std::to_string(params.size()) + " parameters");
  void **raw = args.pointers();
  std::vector<interp::Arg> decoded;
  for (size_t i = 0; i < params.size(); ++i) {
    switch (params[i]) {
    case ParamKind::Pointer: {
      CUdeviceptr p;
      std::memcpy(&p, raw[i], sizeof(p));
      auto alloc = detail::findHostAllocation(uintptr_t(p));
      if (!alloc)
        throw Error("launch of '" + kernel.compiled.name + "': argument " + std::to_string(i) +
                    " points outside every tensor");
      // The interpreter indexes from the pointer itself: hand it the rest of
      // its allocation.
      size_t skip = size_t(uintptr_t(p) - uintptr_t(alloc->first));
      decoded.push_back(interp::Arg::pointer(reinterpret_cast<void *>(p), alloc->second - skip));
      break;
    }
    case ParamKind::I32: {
      int32_t v;
      std::memcpy(&v, raw[i], 4);
      decoded.push_back(interp::Arg::i32(v));
      break;
    }
    case ParamKind::F32: {
      float v;
      std::memcpy(&v, raw[i], 4);
      decoded.push_back(interp::Arg::f32(v));
      break;
    }
    }
  }
  if (llvm::Error e = interp::run(*kernel.ir, {gridX, gridY, gridZ}, decoded))
    throw Error(llvm::toString(std::move(e)));
}

void tessera::launch(const JitKernel &kernel, unsigned gridX, unsigned gridY, unsigned gridZ,
                     KernelArgs &args, Stream &stream) {
  if (kernel.ir) {
    interpretLaunch(kernel, gridX, gridY, gridZ, args);
    return;
  }
  LaunchConfig config{};
  config.grid[0] = gridX;
  config.grid[1] = gridY;
  config.grid[2] = gridZ;
  config.block[0] = kernel.compiled.numWarps * 32;
  config.block[1] = 1;
  config.block[2] = 1;
  config.sharedBytes = kernel.compiled.sharedBytes;
  tessera::launch(kernel.function, config, args, stream);
}
