//===- Registry.h - Tessera's kernels by name -------------------*- C++ -*-===//
//
// Every DSL kernel Tessera ships, with its compile-time parameters, so tools
// (tessera-compile, the tests) can build any of them by name without a GPU.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_KERNELS_REGISTRY_H
#define TESSERA_KERNELS_REGISTRY_H

#include "tessera/Support/DType.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tessera::kernels {

/// Compile-time parameters of one specialisation: the element type, the
/// warps per program and the kernel's named constants (block sizes, ...).
struct KernelConfig {
  DType dtype = DType::F32;
  unsigned numWarps = 4;
  std::map<std::string, int64_t> constants;
  /// The tensor parameters the launch found aligned for 16-byte vectors (bit
  /// i: the i-th tensor; dsl::KernelBuilder::setAlignedTensors). Set by the
  /// launch from its arguments (KernelArgs::alignedTensors); 0 compiles the
  /// kernel for any strides and alignment.
  uint64_t alignedTensors = 0;

  int64_t get(const std::string &name) const;
  /// "dtype=f16,num_warps=4,BLOCK_M=64,..." : identifies the specialisation.
  std::string key() const { return keyWith(alignedTensors); }
  /// The key of this config specialised on `alignedTensors` instead.
  std::string keyWith(uint64_t alignedTensors) const;
  /// The config a key() names; throws tessera::Error for a malformed key.
  static KernelConfig parse(const std::string &key);
};

struct KernelDef {
  std::string name;
  std::string summary;
  /// Constants with their default values.
  std::map<std::string, int64_t> defaults;
  std::vector<DType> dtypes;
  std::function<mlir::OwningOpRef<mlir::ModuleOp>(mlir::MLIRContext &, const KernelConfig &)> build;
  /// What, with a config's key, identifies the IR `build` makes across
  /// processes and builds, so that a disk-cache hit needs no IR built (empty:
  /// nothing does, and the cache keys on the IR's text). Tessera's kernels
  /// carry a hash of the DSL's and the kernels' sources; a user's kernel may
  /// carry a version it changes whenever its body does (Kernel::version).
  std::string version;
};

/// All kernels, by name.
const std::map<std::string, KernelDef> &registry();

/// The kernel `name` (throws tessera::Error listing the known names if absent).
const KernelDef &lookup(const std::string &name);

/// `def`'s defaults overridden by `overrides` (unknown names are an error).
KernelConfig makeConfig(const KernelDef &def, DType dtype, unsigned numWarps,
                        const std::map<std::string, int64_t> &overrides);

namespace detail {
/// Adds `def` to registry(); throws if its name is taken. Not thread-safe
/// against concurrent readers: register before launching from other threads.
void addToRegistry(const KernelDef &def);
} // namespace detail

} // namespace tessera::kernels

#endif
