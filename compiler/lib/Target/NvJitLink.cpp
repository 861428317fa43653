//===- NvJitLink.cpp - PTX to cubin with nvJitLink ------------------------===//

#include "tessera/Target/NvJitLink.h"
#include "PtxasLog.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Regex.h"

#include <nvJitLink.h>

using namespace tessera;

namespace {

/// Owns an nvJitLink handle.
struct Linker {
  nvJitLinkHandle handle = nullptr;
  ~Linker() {
    if (handle)
      nvJitLinkDestroy(&handle);
  }
  std::string log(bool error) {
    size_t size = 0;
    if ((error ? nvJitLinkGetErrorLogSize(handle, &size)
               : nvJitLinkGetInfoLogSize(handle, &size)) != NVJITLINK_SUCCESS ||
        size == 0)
      return {};
    std::string s(size, '\0');
    (error ? nvJitLinkGetErrorLog(handle, s.data()) : nvJitLinkGetInfoLog(handle, s.data()));
    s.resize(strlen(s.c_str()));
    return s;
  }
};

llvm::Error failure(const char *what, nvJitLinkResult r, const std::string &log) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 llvm::Twine(what) + " failed (nvJitLink error " +
                                     llvm::Twine(int(r)) + ")" + (log.empty() ? "" : ":\n") + log);
}

} // namespace

/// Reads "Used N registers", spills, stack and smem of `kernel` from ptxas's
/// verbose lines, which follow "Compiling entry function '<kernel>'".
ResourceUsage tessera::detail::parsePtxasUsage(llvm::StringRef log, llvm::StringRef kernel) {
  ResourceUsage usage;
  size_t start = log.find(("Function properties for " + kernel).str());
  size_t used = log.find("Used ", start == llvm::StringRef::npos ? 0 : start);
  auto number = [&](llvm::StringRef pattern, size_t from) -> unsigned {
    llvm::SmallVector<llvm::StringRef> m;
    if (from == llvm::StringRef::npos || !llvm::Regex(pattern).match(log.substr(from), &m))
      return 0;
    unsigned v = 0;
    m[1].getAsInteger(10, v);
    return v;
  };
  usage.stackBytes = number("([0-9]+) bytes stack frame", start);
  usage.spillStoreBytes = number("([0-9]+) bytes spill stores", start);
  usage.spillLoadBytes = number("([0-9]+) bytes spill loads", start);
  usage.registers = number("Used ([0-9]+) registers", used);
  usage.staticSharedBytes = number("([0-9]+) bytes smem", used);
  usage.wgmmaSerialized = log.contains("wgmma.mma_async instructions are serialized");
  usage.registerHandoffIgnored = log.contains("'setmaxnreg' ignored");
  return usage;
}

llvm::Expected<Cubin> tessera::linkPTX(llvm::StringRef ptx, llvm::StringRef arch,
                                       llvm::StringRef kernelName) {
  if (ptx.contains("setmaxnreg") && !ptxasPath().empty())
    return assembleWithPtxas(ptxasPath(), ptx, arch, kernelName);
  std::string archOption = ("-arch=" + arch).str();
  const char *options[] = {archOption.c_str(), "-verbose"};
  Linker linker;
  if (nvJitLinkResult r = nvJitLinkCreate(&linker.handle, 2, options); r != NVJITLINK_SUCCESS)
    return failure("nvJitLinkCreate", r, "");
  std::string name = (kernelName + ".ptx").str();
  if (nvJitLinkResult r = nvJitLinkAddData(linker.handle, NVJITLINK_INPUT_PTX, ptx.data(),
                                           ptx.size(), name.c_str());
      r != NVJITLINK_SUCCESS)
    return failure("nvJitLinkAddData", r, linker.log(true));
  if (nvJitLinkResult r = nvJitLinkComplete(linker.handle); r != NVJITLINK_SUCCESS)
    return failure("nvJitLinkComplete", r, linker.log(true));
  Cubin cubin;
  size_t size = 0;
  if (nvJitLinkResult r = nvJitLinkGetLinkedCubinSize(linker.handle, &size); r != NVJITLINK_SUCCESS)
    return failure("nvJitLinkGetLinkedCubinSize", r, linker.log(true));
  cubin.image.resize(size);
  if (nvJitLinkResult r = nvJitLinkGetLinkedCubin(linker.handle, cubin.image.data());
      r != NVJITLINK_SUCCESS)
    return failure("nvJitLinkGetLinkedCubin", r, linker.log(true));
  cubin.infoLog = linker.log(false);
  cubin.usage = detail::parsePtxasUsage(cubin.infoLog, kernelName);
  return cubin;
}

std::string tessera::nvJitLinkVersion() {
  unsigned major = 0, minor = 0;
  if (::nvJitLinkVersion(&major, &minor) != NVJITLINK_SUCCESS)
    return "unknown";
  return std::to_string(major) + "." + std::to_string(minor);
}
