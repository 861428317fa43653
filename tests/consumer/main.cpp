// Builds a kernel with the installed DSL and compiles it to PTX: proves the
// installed headers, libraries and package config are complete.
#include "tessera/dsl.h"
#include "tessera/runtime/Jit.h"

#include <cstdio>

using namespace tessera::dsl;

int main() {
  tessera::CompileOptions options;
  options.emitCubin = false;
  tessera::CompiledKernel k = tessera::Jit::get().compile(
      [](mlir::MLIRContext &ctx) {
        KernelBuilder kb(ctx, "scale");
        TensorArg x = kb.tensor("x", tessera::DType::F32, 1);
        Scalar start = program_id(0) * Scalar(128);
        store(x, {start}, load(x, {start}, {128}) * 3.0);
        return kb.finish();
      },
      options);
  bool ok = k.ptx.find(".entry scale") != std::string::npos;
  std::printf("consumer: %s\n", ok ? "compiled scale to PTX" : "no PTX entry");
  return ok ? 0 : 1;
}
