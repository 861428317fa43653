//===- Kernels.h - tessera-bench kernels ----------------------*- C++ -*-===//
#ifndef TESSERA_TOOLS_TESSERA_BENCH_KERNELS_H
#define TESSERA_TOOLS_TESSERA_BENCH_KERNELS_H

#include "tessera/runtime/Tensor.h"

#include <functional>
#include <string>

namespace tessera::bench {

/// The median time in ms of `reps` runs of `run`, each after a write of
/// `flush` (twice the L2) evicts its inputs, timed with CUDA events.
double medianMs(const std::function<void()> &run, DeviceTensor &flush, int reps);

struct KernelsOptions {
  std::string dtype = "bf16";
  /// "MxN;..." rows x columns of softmax.
  std::string softmaxShapes = "16384x4096;65536x1024";
  /// "MxN;..." of cumsum (scripts/device-general-peers.py times torch.cumsum).
  std::string cumsumShapes = "16384x4096;65536x1024";
  /// "MxN;..." of rms_norm and of rms_norm_backward.
  std::string rmsNormShapes = "4096x8192;32768x1024";
  std::string rmsNormBackwardShapes = "4096x8192;32768x1024";
  /// "MxNxK;..." of matmul.
  std::string matmulSizes = "2048x2048x2048;4096x4096x4096;8192x8192x8192";
  /// "BxMxNxK;..." of batched_matmul (scripts/device-general-peers.py times
  /// torch.bmm on the same).
  std::string batchedMatmulSizes = "16x2048x2048x2048;64x1024x1024x1024;512x256x256x256";
  /// Configurations timed beside the heuristic's: "BMwW;..." and
  /// "BMxBNxBKwWsS[g][m];..." (g: no grouped order, m: mma.sync only).
  std::string softmaxConfigs, matmulConfigs, batchedMatmulConfigs;
  int reps = 10;
  std::string jsonPath;
};

/// tessera-bench kernels: times the foundation kernels with
/// their heuristic configurations (recorded in `jsonPath`) and any listed.
/// Returns the process's exit code.
int benchKernels(const KernelsOptions &options);

} // namespace tessera::bench

#endif
