//===- Cache.h - Compiled kernels on disk -----------------------*- C++ -*-===//
//
// $TESSERA_CACHE_DIR (default ~/.cache/tessera) holds one directory per key:
// kernel.ptx, kernel.cubin and meta.json (what the launch needs, and an xxh3
// checksum of each file). The key is a SHA-256 of everything that can change
// the binary: the kernel's IR text, the compile options, the architecture and
// the versions of Tessera, LLVM and nvJitLink (and the hash of the compiler's
// sources). A kernel whose IR a string identifies (Tessera's own: name,
// config and a hash of the DSL's and kernels' sources) is also published
// under that string's key, which a later process finds without building or
// printing the IR (Jit::compileCached).
//
// Writers build an entry in a private staging directory and publish it with
// one rename, so a reader sees a whole entry or none; a writer killed midway
// leaves only a staging directory that no reader looks at. A reader verifies
// the checksums and treats a damaged entry as a miss, which the recompiled
// kernel then replaces. A directory that cannot be written (read-only, full)
// makes the cache memory-only with one warning. TESSERA_ALWAYS_COMPILE=1
// bypasses it.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_RUNTIME_CACHE_H
#define TESSERA_RUNTIME_CACHE_H

#include "tessera/Pipeline/Compiler.h"

#include <mutex>
#include <optional>
#include <string>

namespace tessera {

/// "tessera=<v>;llvm=<v>;nvjitlink=<v>": the toolchain part of every key.
std::string toolchainFingerprint();

/// Hex SHA-256 of the key's inputs.
std::string cacheKey(const std::string &irText, const CompileOptions &options,
                     const std::string &toolchain = toolchainFingerprint());

class DiskCache {
public:
  /// The process's cache, configured from the environment.
  static DiskCache &get();

  /// A cache rooted at `directory` (created on first store); empty disables it.
  explicit DiskCache(std::string directory);

  bool enabled() const { return !directory.empty() && writable; }
  const std::string &root() const { return directory; }

  /// The entry for `key`, if present and intact. A damaged entry is removed.
  std::optional<CompiledKernel> load(const std::string &key);
  /// Publishes `kernel` under `key`; if the directory cannot be written, warns
  /// once and turns the cache off for this process.
  void store(const std::string &key, const CompiledKernel &kernel);

  struct Stats {
    unsigned hits = 0, misses = 0, damaged = 0, writes = 0;
  };
  Stats stats() const;

private:
  void disable(const std::string &why);

  std::string directory;
  bool writable = true;
  mutable std::mutex mutex;
  Stats counters;
};

} // namespace tessera

#endif
