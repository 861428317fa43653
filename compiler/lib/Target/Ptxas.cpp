//===- Ptxas.cpp - PTX to cubin with the ptxas executable -----------------===//
//
// nvJitLink assembles its inputs as relocatable code (ptxas -c), and ptxas
// ignores setmaxnreg there "to maintain compatibility across compilation
// units" (C7504): a warp-specialized kernel's consumers would keep the
// launch's 168 registers (384 threads) instead of the 240 their producer
// gives up, and spill. A kernel that moves registers is assembled as the
// whole program it is, by the toolkit's ptxas, as Triton does.
//
//===----------------------------------------------------------------------===//

#include "PtxasLog.h"
#include "tessera/Target/NvJitLink.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace tessera;
namespace fs = llvm::sys::fs;

namespace {

std::string findPtxas() {
  if (std::optional<std::string> chosen = llvm::sys::Process::GetEnv("TESSERA_PTXAS"))
    return *chosen; // empty: off
  for (const char *var : {"CUDA_HOME", "CUDA_PATH"})
    if (std::optional<std::string> home = llvm::sys::Process::GetEnv(var)) {
      llvm::SmallString<256> candidate(*home);
      llvm::sys::path::append(candidate, "bin", "ptxas");
      if (fs::can_execute(candidate))
        return std::string(candidate);
    }
  if (fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  if (llvm::ErrorOr<std::string> onPath = llvm::sys::findProgramByName("ptxas"))
    return *onPath;
  return {};
}

llvm::Error failure(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

} // namespace

const std::string &tessera::ptxasPath() {
  static const std::string path = findPtxas();
  return path;
}

llvm::Expected<Cubin> tessera::assembleWithPtxas(llvm::StringRef ptxas, llvm::StringRef ptx,
                                                 llvm::StringRef arch, llvm::StringRef kernelName) {
  // Three scratch files, removed on every path out.
  llvm::SmallString<128> input, output, log;
  if (std::error_code ec = fs::createTemporaryFile("tessera-" + kernelName, "ptx", input))
    return failure("ptxas: a temporary file for the PTX: " + ec.message());
  llvm::FileRemover removeInput(input);
  if (std::error_code ec = fs::createTemporaryFile("tessera-" + kernelName, "cubin", output))
    return failure("ptxas: a temporary file for the cubin: " + ec.message());
  llvm::FileRemover removeOutput(output);
  if (std::error_code ec = fs::createTemporaryFile("tessera-" + kernelName, "log", log))
    return failure("ptxas: a temporary file for its report: " + ec.message());
  llvm::FileRemover removeLog(log);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(input, ec);
    if (ec)
      return failure("ptxas: writing " + input + ": " + ec.message());
    os << ptx;
  }
  std::string archOption = ("-arch=" + arch).str();
  llvm::SmallVector<llvm::StringRef> args{ptxas, archOption, "-v", input, "-o", output};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(log),
                                                llvm::StringRef(log)};
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(ptxas, args, /*Env=*/std::nullopt, redirects,
                                     /*SecondsToWait=*/0, /*MemoryLimit=*/0, &error);
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> report = llvm::MemoryBuffer::getFile(log);
  std::string infoLog = report ? (*report)->getBuffer().str() : std::string();
  if (rc != 0)
    return failure("ptxas (" + ptxas + ") failed" + (error.empty() ? "" : ": " + error) +
                   (infoLog.empty() ? "" : ":\n" + infoLog));
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> image = llvm::MemoryBuffer::getFile(output);
  if (!image)
    return failure("ptxas: reading " + output + ": " + image.getError().message());
  Cubin cubin;
  cubin.image.assign((*image)->getBufferStart(), (*image)->getBufferEnd());
  cubin.infoLog = std::move(infoLog);
  cubin.usage = detail::parsePtxasUsage(cubin.infoLog, kernelName);
  return cubin;
}
