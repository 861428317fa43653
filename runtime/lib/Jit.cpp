//===- Jit.cpp - Compile, cache and load kernels at run time --------------===//

#include "tessera/runtime/Jit.h"

#include "tessera/InitAll.h"
#include "tessera/Interpreter/Interpreter.h"
#include "tessera/Pipeline/Pipeline.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <array>
#include <cstring>
#include <mutex>
#include <optional>

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
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

/// The kernel `build` makes in `ctx`, through `cache`: first by the source
/// key where one is given, then by the IR's text; compiled (counted in
/// `compiles`) and published on a miss.
static llvm::Expected<CompiledKernel>
compileThroughCache(mlir::MLIRContext &ctx, const IRBuilderFn &build, const CompileOptions &options,
                    DiskCache &cache, const std::string &sourceKey,
                    std::atomic<unsigned> &compiles) {
  // IR text starts with "module": no source key hashes like any IR.
  std::string bySource = sourceKey.empty() ? "" : cacheKey("source " + sourceKey, options);
  if (!bySource.empty())
    if (std::optional<CompiledKernel> hit = cache.load(bySource))
      return std::move(*hit);
  mlir::OwningOpRef<mlir::ModuleOp> module = build(ctx);
  std::string key = cacheKey(printForHashing(*module), options);
  std::optional<CompiledKernel> kernel = cache.load(key);
  if (!kernel) {
    llvm::Expected<CompiledKernel> compiled = compileKernel(*module, options);
    if (!compiled)
      return compiled.takeError();
    ++compiles;
    cache.store(key, *compiled);
    kernel = std::move(*compiled);
  }
  if (!bySource.empty())
    cache.store(bySource, *kernel);
  return std::move(*kernel);
}

CompiledKernel Jit::compileCached(const IRBuilderFn &build, const CompileOptions &options,
                                  DiskCache &cache, const std::string &sourceKey) {
  std::lock_guard<std::mutex> lock(mutex);
  llvm::Expected<CompiledKernel> kernel =
      compileThroughCache(*context, build, options, cache, sourceKey, compiles);
  if (!kernel)
    throw Error(llvm::toString(kernel.takeError()));
  return std::move(*kernel);
}

std::vector<Jit::CompileResult> Jit::compileAll(const std::vector<IRBuilderFn> &builds,
                                                const CompileOptions &options, DiskCache &cache,
                                                const std::vector<std::string> &sourceKeys) {
  std::vector<CompileResult> results(builds.size());
  mlir::DialectRegistry registry;
  registerTesseraDialects(registry);
  llvm::DefaultThreadPool pool(llvm::hardware_concurrency());
  for (size_t i = 0; i < builds.size(); ++i)
    pool.async([&, i] {
      mlir::MLIRContext ctx(registry, mlir::MLIRContext::Threading::DISABLED);
      ctx.loadAllAvailableDialects();
      try {
        llvm::Expected<CompiledKernel> kernel = compileThroughCache(
            ctx, builds[i], options, cache, i < sourceKeys.size() ? sourceKeys[i] : "", compiles);
        if (kernel)
          results[i].kernel = std::move(*kernel);
        else
          results[i].error = llvm::toString(kernel.takeError());
      } catch (const std::exception &e) {
        results[i].error = e.what();
      }
    });
  pool.wait();
  return results;
}

std::string Jit::loadWarning(const CompiledKernel &compiled) {
  if (!compiled.usage.wgmmaSerialized)
    return "";
  // The configuration, so that the warning says which of a kernel's
  // specializations it is (tessera-compile -D reproduces it).
  std::string config;
  for (const auto &[name, value] : compiled.constants)
    config += (config.empty() ? " [" : ",") + name + "=" + std::to_string(value);
  if (!config.empty())
    config += "]";
  return "tessera: warning: kernel " + compiled.name + config +
         ": ptxas serialized its wgmmas (each waits for the one before; "
         "docs/COMPILER.md §4 the causes)\n";
}

std::unique_ptr<JitKernel> Jit::load(CompiledKernel compiled) {
  // A kernel whose shared memory (static and dynamic) passes what a block of
  // this device may take would fail in the driver with an invalid value:
  // name the kernel and both sizes (compileKernel does so for the chips it
  // knows).
  size_t shared = compiled.sharedBytes + compiled.usage.staticSharedBytes;
  if (const DeviceInfo &dev = currentDevice(); shared > dev.sharedPerBlockOptin)
    throw Error("kernel " + compiled.name + ": needs " + std::to_string(shared) +
                " bytes of shared memory, " + dev.name + " allows " +
                std::to_string(dev.sharedPerBlockOptin) +
                " a block: smaller blocks or fewer stages");
  auto jk = std::make_unique<JitKernel>();
  jk->module = Module::loadData(std::string(compiled.cubin.begin(), compiled.cubin.end()));
  jk->function = jk->module.function(compiled.name);
  // Static shared memory (a few bytes) plus the dynamic part can pass 48 KiB,
  // beyond which the driver wants the limit raised; raise it once, here.
  if (compiled.sharedBytes > 0)
    TESSERA_CU_CHECK(Driver::get().cuFuncSetAttribute(
        jk->function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(compiled.sharedBytes)));
  // Advisory: a kernel the calculator declines (one that requires a
  // cluster, say) keeps 0, unknown, and still loads.
  if (Driver::get().cuOccupancyMaxActiveBlocksPerMultiprocessor(
          &jk->blocksPerSm, jk->function, int(compiled.numWarps * 32), compiled.sharedBytes) !=
      CUDA_SUCCESS)
    jk->blocksPerSm = 0;
  if (std::string warning = loadWarning(compiled); !warning.empty())
    llvm::errs() << warning;
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
  // A chip's schedule (interpretedArch): the stages before the lowering.
  if (const std::string &arch = interpretedArch(); !arch.empty()) {
    PipelineOptions options;
    options.arch = arch;
    mlir::PassManager pm(context.get());
    buildTilePasses(pm);
    buildLayoutPasses(pm, options);
    buildSchedulePasses(pm, options);
    std::string diagnostics;
    llvm::raw_string_ostream os(diagnostics);
    mlir::ScopedDiagnosticHandler handler(context.get(), [&](mlir::Diagnostic &d) {
      os << d.getLocation() << ": " << d << "\n";
      return mlir::success();
    });
    if (mlir::failed(pm.run(*jk->ir)))
      throw Error("kernel '" + jk->compiled.name + "': the " + arch + " schedule failed:\n" +
                  diagnostics);
  }
  return jk;
}

const JitKernel &Jit::kernel(const std::string &key, const IRBuilderFn &build,
                             const std::string &sourceKey) {
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
  std::unique_ptr<JitKernel> jk = load(compileCached(build, options, DiskCache::get(), sourceKey));
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = loaded.emplace(fullKey, std::move(jk));
  return *it->second;
}

void Jit::prepare(const std::vector<Request> &requests) {
  if (interpreted())
    return;
  const std::string &arch = currentDevice().arch();
  std::vector<const Request *> missing;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const Request &r : requests)
      if (!loaded.count(r.key + "@" + arch) &&
          llvm::none_of(missing, [&](const Request *m) { return m->key == r.key; }))
        missing.push_back(&r);
  }
  if (missing.size() < 2)
    return;
  std::vector<IRBuilderFn> builds;
  std::vector<std::string> sourceKeys;
  for (const Request *r : missing) {
    builds.push_back(r->build);
    sourceKeys.push_back(r->sourceKey);
  }
  CompileOptions options;
  options.arch = arch;
  std::vector<CompileResult> results = compileAll(builds, options, DiskCache::get(), sourceKeys);
  for (size_t i = 0; i < missing.size(); ++i) {
    if (!results[i].kernel)
      continue;
    std::unique_ptr<JitKernel> jk = load(std::move(*results[i].kernel));
    std::lock_guard<std::mutex> lock(mutex);
    prepared += loaded.emplace(missing[i]->key + "@" + arch, std::move(jk)).second;
  }
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

namespace {

/// A CUtensorMap as a kernel argument: 128 bytes, which the driver copies
/// into the 64-byte aligned parameter.
struct TensorMapBytes {
  alignas(16) unsigned char bytes[sizeof(CUtensorMap)];
};

/// What a tensor map is encoded from: the tensor's base, sizes and strides
/// (elements, outermost first, `param.rank` of each), and the box.
struct TensorMapKey {
  uint64_t base = 0;
  std::array<int32_t, 5> sizes{}, strides{};
  TensorMapParam param;
  bool operator==(const TensorMapKey &o) const {
    return base == o.base && sizes == o.sizes && strides == o.strides &&
           param.tensor == o.param.tensor && param.elementBytes == o.param.elementBytes &&
           param.boxRows == o.param.boxRows && param.boxCols == o.param.boxCols &&
           param.rank == o.param.rank;
  }
};

/// The tensor map of `key` (cuTensorMapEncodeTiled, tensorMapLayout): zero
/// fill outside the tensor, swizzled by the box row's width (a box of one
/// row not at all).
CUtensorMap encodeTensorMap(const TensorMapKey &key, const std::string &kernel) {
  const TensorMapParam &p = key.param;
  const unsigned rank = p.rank;
  CUtensorMap map;
  TensorMapLayout layout = tensorMapLayout(p, key.sizes.data(), key.strides.data());
  cuuint32_t elementStrides[5] = {1, 1, 1, 1, 1};
  unsigned swizzleBytes = p.boxCols * p.elementBytes;
  // A box of one row is a row vector, kept unswizzled (!tile.tensormap).
  CUtensorMapSwizzle swizzle = p.boxRows == 1        ? CU_TENSOR_MAP_SWIZZLE_NONE
                               : swizzleBytes == 128 ? CU_TENSOR_MAP_SWIZZLE_128B
                               : swizzleBytes == 64  ? CU_TENSOR_MAP_SWIZZLE_64B
                                                     : CU_TENSOR_MAP_SWIZZLE_32B;
  // 16-bit tiles move as raw bits; 4-byte ones are f32, the only 32-bit
  // tensors TMA reaches (tf32 operands copied as they are, the accumulators
  // tile.tma_store adds into, whose adds must be float adds).
  CUtensorMapDataType type =
      p.elementBytes == 2 ? CU_TENSOR_MAP_DATA_TYPE_UINT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
  CUresult r = Driver::get().cuTensorMapEncodeTiled(
      &map, type, rank, reinterpret_cast<void *>(key.base), layout.dims.data(),
      layout.strideBytes.data(), layout.box.data(), elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    const char *name = nullptr;
    Driver::get().cuGetErrorName(r, &name);
    std::string shape, strideList;
    for (unsigned d = 0; d < rank; ++d) {
      shape += (d ? " x " : "") + std::to_string(key.sizes[d]);
      strideList += (d ? ", " : "") + std::to_string(key.strides[d]);
    }
    throw Error("launch of '" + kernel + "': argument " + std::to_string(p.tensor) +
                ": no TMA tensor map for a " + shape + " tensor of strides (" + strideList +
                ") at 0x" + llvm::utohexstr(key.base) + " (" +
                (name ? name : "error " + std::to_string(int(r))) + ")");
  }
  return map;
}

/// The tensor map of `key`, from a small cache of recent ones (a kernel
/// launched again on the same tensors, as in a training loop, encodes
/// nothing).
CUtensorMap cachedTensorMap(const TensorMapKey &key, const std::string &kernel) {
  struct Entry {
    TensorMapKey key;
    CUtensorMap map;
  };
  static std::mutex mutex;
  static std::vector<Entry> entries;
  static size_t next = 0;
  constexpr size_t kEntries = 64;
  std::lock_guard<std::mutex> lock(mutex);
  for (const Entry &e : entries)
    if (e.key == key)
      return e.map;
  Entry fresh{key, encodeTensorMap(key, kernel)};
  if (entries.size() < kEntries) {
    entries.push_back(fresh);
    return entries.back().map;
  }
  Entry &slot = entries[next++ % kEntries];
  slot = fresh;
  return slot.map;
}

} // namespace

TensorMapLayout tessera::tensorMapLayout(const TensorMapParam &p, const int32_t *sizes,
                                         const int32_t *strides) {
  TensorMapLayout layout;
  for (unsigned i = 0; i < p.rank; ++i) {
    unsigned d = p.rank - 1 - i; // the tensor's dimension, outermost first
    // Empty tensors copy nothing (the kernel issues no copy): any extent does.
    layout.dims[i] = uint64_t(std::max(sizes[d], 1));
    layout.box[i] = i == 0 ? p.boxCols : i == 1 ? p.boxRows : 1;
    if (i == 0)
      continue;
    uint64_t dense =
        i == 1 ? layout.dims[0] * p.elementBytes : layout.strideBytes[i - 2] * layout.dims[i - 1];
    layout.strideBytes[i - 1] =
        sizes[d] > 1 ? uint64_t(strides[d]) * p.elementBytes : (dense + 15) / 16 * 16;
  }
  return layout;
}

KernelArgs tessera::withTensorMaps(const JitKernel &kernel, const KernelArgs &args) {
  KernelArgs withMaps = args;
  for (const TensorMapParam &p : kernel.compiled.tensorMaps) {
    // The tensor's pointer, then its sizes and strides.
    if (p.rank < 2 || p.rank > 5 || p.tensor + 2 * p.rank >= args.size())
      throw Error("launch of '" + kernel.compiled.name + "': tensor map of argument " +
                  std::to_string(p.tensor) + ", which is no rank-" + std::to_string(p.rank) +
                  " tensor");
    TensorMapKey key{};
    key.base = args.get<decltype(key.base)>(p.tensor);
    for (unsigned d = 0; d < p.rank; ++d) {
      key.sizes[d] = args.get<int32_t>(p.tensor + 1 + d);
      key.strides[d] = args.get<int32_t>(p.tensor + 1 + p.rank + d);
    }
    key.param = p;
    CUtensorMap map = cachedTensorMap(key, kernel.compiled.name);
    TensorMapBytes bytes;
    std::memcpy(bytes.bytes, &map, sizeof(bytes.bytes));
    withMaps.add(bytes);
  }
  return withMaps;
}

void tessera::launch(const JitKernel &kernel, unsigned gridX, unsigned gridY, unsigned gridZ,
                     KernelArgs &args, Stream &stream) {
  if (kernel.ir) {
    interpretLaunch(kernel, gridX, gridY, gridZ, args);
    return;
  }
  if (unsigned cluster = kernel.compiled.clusterSize; gridX % cluster != 0)
    throw Error("kernel '" + kernel.compiled.name + "': grid x = " + std::to_string(gridX) +
                ", expected a multiple of its cluster size " + std::to_string(cluster) +
                " (programs " + std::to_string(cluster) + "i to " + std::to_string(cluster) +
                "i + " + std::to_string(cluster - 1) + " run as one cluster)");
  // Tensor maps follow the caller's arguments, encoded from them.
  std::optional<KernelArgs> withMaps;
  if (!kernel.compiled.tensorMaps.empty())
    withMaps = withTensorMaps(kernel, args);
  LaunchConfig config{};
  config.grid[0] = gridX;
  config.grid[1] = gridY;
  config.grid[2] = gridZ;
  config.block[0] = kernel.compiled.numWarps * 32;
  config.block[1] = 1;
  config.block[2] = 1;
  config.sharedBytes = kernel.compiled.sharedBytes;
  tessera::launch(kernel.function, config, withMaps ? *withMaps : args, stream);
}
