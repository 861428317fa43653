//===- Launch.h - Shared host-side helpers of the kernels -------*- C++ -*-===//
#ifndef TESSERA_KERNELS_LAUNCH_H
#define TESSERA_KERNELS_LAUNCH_H

#include "tessera/kernels/Registry.h"
#include "tessera/runtime/Jit.h"
#include "tessera/runtime/Tensor.h"

#include <initializer_list>
#include <string>

namespace tessera::dsl {
class KernelBuilder;
} // namespace tessera::dsl

namespace tessera::kernels::detail {

/// Appends a tensor parameter as the DSL declares it: pointer, sizes, strides
/// (i32 each; throws if a size or stride does not fit), and records whether
/// it is vectorAligned (KernelArgs::noteTensor).
void addTensor(KernelArgs &args, const DeviceTensor &t, const char *argName);
/// `t` allows 16-byte vectors and TMA tensor maps: its base a multiple of 16
/// bytes, unit last stride, a last dimension of whole 16-byte vectors,
/// every other stride a multiple of 16 bytes and (along dimensions of more
/// than one element) positive, the rows' spanning a row: rows that neither
/// overlap nor run backwards; the leading dimensions in any order.
bool vectorAligned(const DeviceTensor &t);

/// Throws tessera::Error naming `argName` unless `t` has one of `dtypes`.
void requireDType(const DeviceTensor &t, std::initializer_list<DType> dtypes, const char *argName);
/// Throws unless `t` has rank `rank`.
void requireRank(const DeviceTensor &t, size_t rank, const char *argName);

/// A kernel whose build runs `body` in a KernelBuilder named `name`, with
/// the config's warps.
KernelDef defineKernel(const std::string &name, const std::string &summary,
                       std::map<std::string, int64_t> defaults, std::vector<DType> dtypes,
                       void (*body)(dsl::KernelBuilder &, const KernelConfig &));

/// The version of every kernel Tessera ships (KernelDef::version): a hash of
/// the DSL's and the kernels' sources.
const std::string &shippedKernelVersion();

/// What the JIT knows `def` specialised by `config`, the alignment mask
/// `alignedTensors` and the debug flag by: its key in memory, and the one
/// that stands for its IR on disk (empty where `def` has no version).
struct JitKeys {
  std::string memory, source;
};
JitKeys jitKeys(const KernelDef &def, const KernelConfig &config, uint64_t alignedTensors,
                bool debug);

/// The arch of the current device, whose heuristic configurations the
/// kernels pick; sm_90a when there is no GPU.
std::string currentArch();

/// The loaded kernel `name` specialised by `config` and by the alignment of
/// the tensors in `args` (packed in the kernel's parameter order by
/// addTensor), through the JIT: what a launch should run.
const JitKernel &jitKernel(const std::string &name, const KernelConfig &config,
                           const KernelArgs &args);
/// `def` specialised by `config` and the alignment mask `alignedTensors`.
const JitKernel &jitKernel(const KernelDef &def, const KernelConfig &config,
                           uint64_t alignedTensors);

/// One kernel of a call that launches several: `def` specialised by
/// `config` and the alignment mask `alignedTensors` (both outlive the call).
struct KernelUse {
  const KernelDef *def;
  const KernelConfig *config;
  uint64_t alignedTensors;
};
/// The loaded kernel of each of `uses`, as jitKernel gives it; those not
/// loaded yet compiled in parallel first (Jit::prepare): a call's first
/// launch waits for its longest compile rather than for all of them.
std::vector<const JitKernel *> jitKernels(const std::vector<KernelUse> &uses);

/// Launches `kernel` on x·y·z programs; throws naming `kernelName` when a
/// dimension is below 1 or beyond what a launch takes.
void launchOnGrid(const JitKernel &kernel, int64_t x, int64_t y, int64_t z, KernelArgs &args,
                  const std::string &kernelName, Stream &stream = Stream::defaultStream());

} // namespace tessera::kernels::detail

#endif
