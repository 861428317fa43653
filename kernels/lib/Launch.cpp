//===- Launch.cpp - Shared host-side helpers of the kernels ---------------===//

#include "tessera/kernels/Launch.h"

#include "tessera/dsl.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <climits>

using namespace tessera;
using namespace tessera::kernels;

std::string detail::currentArch() { return gpuAvailable() ? currentDevice().arch() : "sm_90a"; }

void detail::addTensor(KernelArgs &args, const DeviceTensor &t, const char *argName) {
  args.add(t.data());
  auto i32 = [&](int64_t v, const char *what) {
    if (v < 0 || v > INT32_MAX)
      throw Error(std::string(argName) + ": " + what + " " + std::to_string(v) +
                  " does not fit in 32 bits; Tessera kernels index with i32");
    return int32_t(v);
  };
  for (int64_t s : t.shape())
    args.add(i32(s, "size"));
  for (int64_t s : t.strides())
    args.add(i32(s, "stride"));
  args.noteTensor(vectorAligned(t));
}

bool detail::vectorAligned(const DeviceTensor &t) {
  const std::vector<int64_t> &strides = t.strides();
  if (t.data() % 16 != 0 || strides.empty() || strides.back() != 1)
    return false;
  int64_t bytes = int64_t(byteSize(t.dtype()));
  const std::vector<int64_t> &shape = t.shape();
  // Rows of whole 16-byte vectors: a vector is either inside the tensor or
  // outside it, so the kernel has no element-by-element path.
  if (shape.back() * bytes % 16 != 0)
    return false;
  // Rows that neither overlap nor run backwards, and positive strides along
  // the dimensions before them, in any order (a (batch, heads, seq, dim)
  // view of (batch, seq, heads, dim) storage, as FlashAttention's layout
  // is): what a TMA tensor map can describe too (tile-use-tma copies the
  // tensors of aligned kernels).
  size_t rows = strides.size() - 2;
  for (size_t d = 0; d + 1 < strides.size(); ++d)
    if (strides[d] * bytes % 16 != 0 ||
        (shape[d] > 1 && (strides[d] <= 0 || (d == rows && strides[d] < shape.back()))))
      return false;
  return true;
}

void detail::requireDType(const DeviceTensor &t, std::initializer_list<DType> dtypes,
                          const char *argName) {
  for (DType d : dtypes)
    if (t.dtype() == d)
      return;
  std::string expected;
  for (DType d : dtypes)
    expected += (expected.empty() ? "" : ", ") + std::string(name(d));
  throw Error(std::string(argName) + ": expected dtype " + expected + ", got " +
              std::string(name(t.dtype())));
}

void detail::requireRank(const DeviceTensor &t, size_t rank, const char *argName) {
  if (t.shape().size() != rank)
    throw Error(std::string(argName) + ": expected a rank-" + std::to_string(rank) +
                " tensor, got rank " + std::to_string(t.shape().size()));
}

const JitKernel &detail::jitKernel(const std::string &kernelName, const KernelConfig &config,
                                   const KernelArgs &args) {
  return jitKernel(lookup(kernelName), config, args.alignedTensors());
}

namespace {

/// A kernel this thread launched lately, and what chose it (what the JIT's
/// key says, by name: a KernelDef's address may be a later kernel's): a
/// launch of the same kernel, configuration, alignment and chip skips the
/// cache key (a string of every constant, most of a cache hit's cost) and
/// the JIT's lookup. Loaded kernels are never unloaded, so the pointer
/// stays valid.
struct RecentLaunch {
  std::string name;
  std::string arch;
  DType dtype;
  unsigned numWarps;
  uint64_t alignedTensors;
  bool debug;
  std::map<std::string, int64_t> constants;
  const JitKernel *kernel;
};

/// This thread's recent launches, the last few: a program's kernels of one
/// step (forward, backward's two).
std::vector<RecentLaunch> &recentLaunches() {
  thread_local std::vector<RecentLaunch> recent;
  return recent;
}

const JitKernel *recentKernel(const KernelDef &def, const KernelConfig &config,
                              uint64_t alignedTensors, bool debug, const std::string &arch) {
  for (const RecentLaunch &r : recentLaunches())
    if (r.name == def.name && r.dtype == config.dtype && r.numWarps == config.numWarps &&
        r.alignedTensors == alignedTensors && r.debug == debug && r.arch == arch &&
        r.constants == config.constants)
      return r.kernel;
  return nullptr;
}

/// What the JIT builds for `def` specialised by `config` and `alignedTensors`
/// (the config is copied only to build).
IRBuilderFn builderOf(const KernelDef &def, const KernelConfig &config, uint64_t alignedTensors) {
  return [&def, &config, alignedTensors](mlir::MLIRContext &ctx) {
    KernelConfig specialized = config;
    specialized.alignedTensors = alignedTensors;
    return def.build(ctx, specialized);
  };
}

} // namespace

detail::JitKeys detail::jitKeys(const KernelDef &def, const KernelConfig &config,
                                uint64_t alignedTensors, bool debug) {
  // Debug builds (device_assert) are kernels of their own.
  JitKeys keys;
  keys.memory = def.name + "[" + config.keyWith(alignedTensors) + "]" + (debug ? "+debug" : "");
  if (!def.version.empty())
    keys.source = keys.memory + "@" + def.version;
  return keys;
}

const JitKernel &detail::jitKernel(const KernelDef &def, const KernelConfig &config,
                                   uint64_t alignedTensors) {
  bool debug = dsl::debugEnabled();
  // The chip the JIT keys its kernels by (an interpreted one included).
  const std::string &arch = currentDevice().arch();
  if (const JitKernel *kernel = recentKernel(def, config, alignedTensors, debug, arch))
    return *kernel;
  JitKeys keys = jitKeys(def, config, alignedTensors, debug);
  const JitKernel &kernel =
      Jit::get().kernel(keys.memory, builderOf(def, config, alignedTensors), keys.source);
  std::vector<RecentLaunch> &recent = recentLaunches();
  constexpr size_t kRecent = 8;
  if (recent.size() == kRecent)
    recent.erase(recent.begin());
  recent.push_back({def.name, arch, config.dtype, config.numWarps, alignedTensors, debug,
                    config.constants, &kernel});
  return kernel;
}

std::vector<const JitKernel *> detail::jitKernels(const std::vector<KernelUse> &uses) {
  bool debug = dsl::debugEnabled();
  const std::string &arch = currentDevice().arch();
  std::vector<const JitKernel *> kernels;
  std::vector<Jit::Request> requests;
  for (const KernelUse &use : uses) {
    kernels.push_back(recentKernel(*use.def, *use.config, use.alignedTensors, debug, arch));
    if (kernels.back())
      continue;
    JitKeys keys = jitKeys(*use.def, *use.config, use.alignedTensors, debug);
    requests.push_back({std::move(keys.memory),
                        builderOf(*use.def, *use.config, use.alignedTensors),
                        std::move(keys.source)});
  }
  if (requests.empty())
    return kernels;
  if (requests.size() >= 2)
    Jit::get().prepare(requests);
  for (size_t i = 0; i < uses.size(); ++i)
    if (!kernels[i])
      kernels[i] = &jitKernel(*uses[i].def, *uses[i].config, uses[i].alignedTensors);
  return kernels;
}

KernelDef detail::defineKernel(const std::string &name, const std::string &summary,
                               std::map<std::string, int64_t> defaults, std::vector<DType> dtypes,
                               void (*body)(dsl::KernelBuilder &, const KernelConfig &)) {
  return {name, summary, std::move(defaults), std::move(dtypes),
          [name, body](mlir::MLIRContext &ctx, const KernelConfig &c) {
            dsl::KernelBuilder kb(ctx, name, c.numWarps);
            kb.setAlignedTensors(c.alignedTensors);
            body(kb, c);
            return kb.finish();
          }};
}

void detail::launchOnGrid(const JitKernel &kernel, int64_t x, int64_t y, int64_t z,
                          KernelArgs &args, const std::string &kernelName, Stream &stream) {
  const int64_t limits[3] = {INT32_MAX, 65535, 65535};
  const int64_t dims[3] = {x, y, z};
  for (int d = 0; d < 3; ++d)
    if (dims[d] < 1 || dims[d] > limits[d])
      throw Error("kernel '" + kernelName + "': grid " + "xyz"[d] + " = " +
                  std::to_string(dims[d]) + ", expected 1 to " + std::to_string(limits[d]));
  launch(kernel, unsigned(x), unsigned(y), unsigned(z), args, stream);
}
