//===- Cache.cpp - Compiled kernels on disk -------------------------------===//

#include "tessera/runtime/Cache.h"

#include "tessera/Support/Env.h"
#include "tessera/Target/NvJitLink.h"
#include "tessera/Target/PTX.h"

#include "CompilerFingerprint.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cstdlib>
#include <unistd.h>

#ifndef TESSERA_VERSION_STRING
#define TESSERA_VERSION_STRING "0.0.0"
#endif

using namespace tessera;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

std::string tessera::toolchainFingerprint() {
  // Fixed for the process: computed once (every disk-cache lookup asks).
  // The ptxas of warp-specialized kernels (linkPTX), by path, size and
  // modification time: a cubin nvJitLink assembled, its setmaxnreg ignored,
  // is not served where that ptxas would honour it, or by another ptxas.
  static const std::string fingerprint = [] {
    fs::file_status status;
    std::string ptxas =
        ptxasPath().empty() || fs::status(ptxasPath(), status)
            ? std::string("none")
            : ptxasPath() + "@" + std::to_string(status.getSize()) + "@" +
                  std::to_string(status.getLastModificationTime().time_since_epoch().count());
    return std::string("tessera=") + TESSERA_VERSION_STRING +
           ";compiler=" + TESSERA_COMPILER_FINGERPRINT + ";llvm=" + LLVM_VERSION_STRING +
           ";nvjitlink=" + nvJitLinkVersion() + ";ptxas=" + ptxas + compileSwitchesKey();
  }();
  return fingerprint;
}

std::string tessera::cacheKey(const std::string &irText, const CompileOptions &options,
                              const std::string &toolchain) {
  llvm::SHA256 hash;
  // Length-prefixed fields: no two different inputs concatenate alike.
  auto field = [&](llvm::StringRef s) {
    hash.update(std::to_string(s.size()) + ":");
    hash.update(s);
  };
  field(irText);
  field("arch=" + options.arch + ";num_stages=" + std::to_string(options.numStages) +
        (usesStrengthReduction(options) ? ";slsr=1" : ""));
  field(toolchain);
  return llvm::toHex(hash.final(), /*LowerCase=*/true);
}

namespace {

std::string checksum(llvm::StringRef bytes) {
  return llvm::utohexstr(llvm::xxh3_64bits(llvm::arrayRefFromStringRef(bytes)), true);
}

const char *paramName(ParamKind k) {
  switch (k) {
  case ParamKind::Pointer:
    return "ptr";
  case ParamKind::I32:
    return "i32";
  case ParamKind::F32:
    return "f32";
  }
  return "?";
}

std::optional<ParamKind> parseParam(llvm::StringRef s) {
  if (s == "ptr")
    return ParamKind::Pointer;
  if (s == "i32")
    return ParamKind::I32;
  if (s == "f32")
    return ParamKind::F32;
  return std::nullopt;
}

std::optional<std::string> readFile(const llvm::Twine &p) {
  auto buffer = llvm::MemoryBuffer::getFile(p, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buffer)
    return std::nullopt;
  return (*buffer)->getBuffer().str();
}

bool writeFile(const llvm::Twine &p, llvm::StringRef data) {
  std::error_code ec;
  llvm::raw_fd_ostream os(p.str(), ec, fs::OF_None);
  if (ec)
    return false;
  os << data;
  os.close();
  return !os.has_error();
}

std::string defaultDirectory() {
  if (envFlag("TESSERA_ALWAYS_COMPILE"))
    return {};
  if (const char *dir = std::getenv("TESSERA_CACHE_DIR"))
    return dir;
  llvm::SmallString<256> home;
  if (!path::home_directory(home))
    return {};
  path::append(home, ".cache", "tessera");
  return std::string(home);
}

} // namespace

DiskCache &DiskCache::get() {
  static DiskCache cache(defaultDirectory());
  return cache;
}

DiskCache::DiskCache(std::string dir) : directory(std::move(dir)) {}

DiskCache::Stats DiskCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex);
  return counters;
}

void DiskCache::disable(const std::string &why) {
  if (writable)
    llvm::errs() << "tessera: warning: kernel cache " << directory << " is not writable (" << why
                 << "); caching compiled kernels in memory only\n";
  writable = false;
}

std::optional<CompiledKernel> DiskCache::load(const std::string &key) {
  if (directory.empty())
    return std::nullopt;
  llvm::SmallString<256> entry(directory);
  path::append(entry, key);
  auto miss = [&](bool damaged) -> std::optional<CompiledKernel> {
    std::lock_guard<std::mutex> lock(mutex);
    ++counters.misses;
    if (damaged) {
      ++counters.damaged;
      // Move the entry aside first so that no reader sees it half-removed.
      llvm::SmallString<256> trash(directory);
      path::append(trash, "trash." + key + "." + std::to_string(::getpid()));
      if (!fs::rename(entry, trash))
        fs::remove_directories(trash);
    }
    return std::nullopt;
  };
  if (!fs::is_directory(entry))
    return miss(false);

  std::optional<std::string> metaText = readFile(entry + "/meta.json");
  std::optional<std::string> ptx = readFile(entry + "/kernel.ptx");
  std::optional<std::string> cubin = readFile(entry + "/kernel.cubin");
  if (!metaText || !ptx || !cubin)
    return miss(true);
  llvm::Expected<llvm::json::Value> meta = llvm::json::parse(*metaText);
  if (!meta) {
    llvm::consumeError(meta.takeError());
    return miss(true);
  }
  const llvm::json::Object *obj = meta->getAsObject();
  if (!obj || obj->getString("key") != key || obj->getString("ptx_xxh3") != checksum(*ptx) ||
      obj->getString("cubin_xxh3") != checksum(*cubin))
    return miss(true);

  CompiledKernel k;
  k.name = obj->getString("name").value_or("").str();
  k.ptx = std::move(*ptx);
  k.cubin.assign(cubin->begin(), cubin->end());
  k.numWarps = obj->getInteger("num_warps").value_or(0);
  k.sharedBytes = obj->getInteger("shared_bytes").value_or(0);
  k.clusterSize = obj->getInteger("cluster_size").value_or(1);
  if (const llvm::json::Object *u = obj->getObject("usage")) {
    k.usage.registers = u->getInteger("registers").value_or(0);
    k.usage.spillStoreBytes = u->getInteger("spill_stores").value_or(0);
    k.usage.spillLoadBytes = u->getInteger("spill_loads").value_or(0);
    k.usage.stackBytes = u->getInteger("stack").value_or(0);
    k.usage.staticSharedBytes = u->getInteger("static_shared").value_or(0);
    k.usage.wgmmaSerialized = u->getBoolean("wgmma_serialized").value_or(false);
    k.usage.registerHandoffIgnored = u->getBoolean("setmaxnreg_ignored").value_or(false);
  }
  if (const llvm::json::Array *notes = obj->getArray("not_applied"))
    for (const llvm::json::Value &note : *notes)
      if (std::optional<llvm::StringRef> text = note.getAsString())
        k.notApplied.push_back(text->str());
  if (const llvm::json::Array *params = obj->getArray("params"))
    for (const llvm::json::Value &p : *params) {
      std::optional<ParamKind> kind = p.getAsString() ? parseParam(*p.getAsString()) : std::nullopt;
      if (!kind)
        return miss(true);
      k.params.push_back(*kind);
    }
  // [tensor, element bytes, box rows, box columns, tensor rank] each (no
  // rank in entries written before maps of higher rank: 2).
  if (const llvm::json::Array *maps = obj->getArray("tensor_maps"))
    for (const llvm::json::Value &m : *maps) {
      const llvm::json::Array *fields = m.getAsArray();
      if (!fields || (fields->size() != 4 && fields->size() != 5))
        return miss(true);
      unsigned v[5] = {0, 0, 0, 0, 2};
      for (size_t i = 0; i < fields->size(); ++i) {
        std::optional<int64_t> f = (*fields)[i].getAsInteger();
        if (!f || *f < 0)
          return miss(true);
        v[i] = unsigned(*f);
      }
      if (v[4] < 2 || v[4] > 5)
        return miss(true);
      k.tensorMaps.push_back({v[0], v[1], v[2], v[3], v[4]});
    }
  if (const llvm::json::Object *constants = obj->getObject("constants"))
    for (const auto &[constName, value] : *constants)
      k.constants[constName.str()] = value.getAsInteger().value_or(0);
  if (k.name.empty() || k.numWarps == 0)
    return miss(true);
  std::lock_guard<std::mutex> lock(mutex);
  ++counters.hits;
  return k;
}

void DiskCache::store(const std::string &key, const CompiledKernel &k) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!enabled())
      return;
  }
  if (std::error_code ec = fs::create_directories(directory)) {
    std::lock_guard<std::mutex> lock(mutex);
    disable(ec.message());
    return;
  }
  // A private staging directory next to the entries (same file system, so the
  // final rename is atomic).
  llvm::SmallString<256> stage(directory);
  path::append(stage, "stage." + key + ".");
  llvm::SmallString<256> unique;
  if (std::error_code ec = fs::createUniqueDirectory(stage, unique)) {
    std::lock_guard<std::mutex> lock(mutex);
    disable(ec.message());
    return;
  }
  llvm::StringRef ptx = k.ptx;
  llvm::StringRef cubin(k.cubin.data(), k.cubin.size());
  llvm::json::Array params;
  for (ParamKind p : k.params)
    params.push_back(paramName(p));
  llvm::json::Array maps;
  for (const TensorMapParam &m : k.tensorMaps)
    maps.push_back(llvm::json::Array{m.tensor, m.elementBytes, m.boxRows, m.boxCols, m.rank});
  llvm::json::Object constants;
  for (const auto &[constName, value] : k.constants)
    constants[constName] = value;
  llvm::json::Object meta{
      {"constants", std::move(constants)},
      {"key", key},
      {"name", k.name},
      {"toolchain", toolchainFingerprint()},
      {"num_warps", k.numWarps},
      {"shared_bytes", k.sharedBytes},
      {"cluster_size", k.clusterSize},
      {"params", std::move(params)},
      {"tensor_maps", std::move(maps)},
      {"not_applied", llvm::json::Array(k.notApplied)},
      {"usage", llvm::json::Object{{"registers", k.usage.registers},
                                   {"spill_stores", k.usage.spillStoreBytes},
                                   {"spill_loads", k.usage.spillLoadBytes},
                                   {"stack", k.usage.stackBytes},
                                   {"static_shared", k.usage.staticSharedBytes},
                                   {"wgmma_serialized", k.usage.wgmmaSerialized},
                                   {"setmaxnreg_ignored", k.usage.registerHandoffIgnored}}},
      {"ptx_xxh3", checksum(ptx)},
      {"cubin_xxh3", checksum(cubin)},
  };
  std::string metaText;
  llvm::raw_string_ostream(metaText) << llvm::json::Value(std::move(meta));
  bool written = writeFile(unique + "/kernel.ptx", ptx) &&
                 writeFile(unique + "/kernel.cubin", cubin) &&
                 writeFile(unique + "/meta.json", metaText);
  if (!written) {
    fs::remove_directories(unique);
    std::lock_guard<std::mutex> lock(mutex);
    disable("writing an entry failed");
    return;
  }
  llvm::SmallString<256> entry(directory);
  path::append(entry, key);
  // Another process may have published the same key first: its entry is as
  // good as ours, so ours is dropped.
  if (fs::rename(unique, entry))
    fs::remove_directories(unique);
  std::lock_guard<std::mutex> lock(mutex);
  ++counters.writes;
}
