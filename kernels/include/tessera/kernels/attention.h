//===- attention.h - Flash attention, forward and backward ------*- C++ -*-===//
//
// The API follows flash-attention-jax: tensors are (batch, heads, seq, dim);
// an optional key padding mask (batch, k_len) of booleans, true = may attend;
// causal masking aligned bottom-right when q_len != k_len (query i attends
// keys j <= i + k_len - q_len). k and v may have fewer heads than q (grouped-
// query and multi-query attention): q head h reads k/v head h / (H / H_kv).
//
// Rows whose keys are all masked produce zeros and lse = -inf, as the seed's.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_KERNELS_ATTENTION_H
#define TESSERA_KERNELS_ATTENTION_H

#include "tessera/kernels/Registry.h"
#include "tessera/runtime/Autotuner.h"
#include "tessera/runtime/Stream.h"
#include "tessera/runtime/Tensor.h"

#include <functional>
#include <optional>
#include <string_view>

namespace tessera::attention {

/// How f32 attention multiplies its matrices: rounded to TF32 on tensor
/// cores (the default; ~1e-3 relative error per product, as PyTorch's and
/// JAX's default matmul precision on Ampere and later), or in full f32 on
/// CUDA cores (the accurate mode; ~1e-6). f16 and bf16 ignore it.
enum class Fp32Precision { tf32, ieee };

struct Options {
  bool causal = false;
  /// (batch, k_len) booleans (DType::I1), true = may attend; null for none.
  const DeviceTensor *keyMask = nullptr;
  /// Softmax scale, positive and finite; 1/sqrt(dim) when not given.
  std::optional<float> scale;
  Fp32Precision fp32Precision = Fp32Precision::tf32;
  /// backward(): the same bits on every run, guaranteed. Without it the
  /// backward may add dQ atomically from the dK/dV programs, in an order that
  /// varies (FlashAttention's default), where that is faster; on the GPUs
  /// measured so far the deterministic two-kernel split (dQ in a pass of its
  /// own, recomputing P and dS) is the faster one everywhere, so both run it.
  bool deterministic = false;
  /// forward(), with a key mask and not causal: drop the masked keys before
  /// the kernel (FlashAttention's unpadding), so that the kernel's work
  /// follows the kept keys: half of it for the seed's example, whose random
  /// mask keeps half. The mask is read back to the host, which waits for the
  /// stream, and k and v's kept keys are gathered into new tensors (one more
  /// read and write of them). Nothing changes when fewer than 1/8 of the keys
  /// are masked. The results are forward()'s but for the order of the sums.
  bool compactKeyMask = false;
};

struct ForwardResult {
  DeviceTensor out; ///< (batch, heads, q_len, dim), the inputs' dtype
  DeviceTensor lse; ///< (batch, heads, q_len) f32, natural log-sum-exp per row
};

/// softmax(q·kᵀ·scale + masks)·v and its log-sum-exp, by FlashAttention-2's
/// forward algorithm. q, k, v: f32, f16 or bf16, any strides.
ForwardResult forward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                      const Options &options = {}, Stream &stream = Stream::defaultStream());
/// The same into caller-provided outputs (for poisoning and reuse).
void forward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v, DeviceTensor &out,
             DeviceTensor &lse, const Options &options = {},
             Stream &stream = Stream::defaultStream());

struct BackwardResult {
  DeviceTensor dq; ///< like q
  DeviceTensor dk; ///< like k (summed over each k/v head's group of q heads)
  DeviceTensor dv; ///< like v
};

/// The gradients of forward()'s out with respect to q, k and v, given
/// dout = dL/dout, by FlashAttention-2's backward algorithm (Alg. 2): P is
/// recomputed from q, k and forward()'s lse; out and dout give
/// delta = rowsum(dout ∘ out). Inputs as forward()'s (any strides); out and
/// dout like q; lse f32 (batch, heads, q_len). Options must be forward()'s.
/// Rows with lse = -inf (every key masked) contribute nothing.
BackwardResult backward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                        const DeviceTensor &out, const DeviceTensor &lse, const DeviceTensor &dout,
                        const Options &options = {}, Stream &stream = Stream::defaultStream());
/// The same into caller-provided gradients: dq like q, dk and dv like k, in
/// the inputs' dtype (any strides).
void backward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
              const DeviceTensor &out, const DeviceTensor &lse, const DeviceTensor &dout,
              DeviceTensor &dq, DeviceTensor &dk, DeviceTensor &dv, const Options &options = {},
              Stream &stream = Stream::defaultStream());

/// The block sizes and warps backward()'s attention_backward_dkdv uses for
/// a head dim and dtype: BLOCK_M query rows and BLOCK_N keys, and DQ_ATOMIC
/// (1: it adds dQ atomically; 0, `deterministic`: attention_backward_dq
/// computes dQ, with the blocks transposed: BLOCK_N query rows, BLOCK_M keys).
/// `arch` (sm_80, sm_90a, ...): the GPU the configuration is for.
kernels::KernelConfig backwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                     std::string_view arch = "sm_90a",
                                     Fp32Precision precision = Fp32Precision::tf32,
                                     bool deterministic = false);

/// backward() with a given configuration of its dK/dV and dQ kernels instead
/// of backwardConfig()'s (benchmarks compare configurations with it).
void backwardWithConfig(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                        const DeviceTensor &out, const DeviceTensor &lse, const DeviceTensor &dout,
                        DeviceTensor &dq, DeviceTensor &dk, DeviceTensor &dv,
                        const Options &options, const kernels::KernelConfig &config,
                        Stream &stream = Stream::defaultStream());

/// forward() with a given configuration instead of the one it would choose
/// (benchmarks compare configurations with it). Inputs are not re-validated.
/// K and V taken as given: where TMA cannot describe them, a TMA
/// configuration runs its cp.async form, in the order and blocks that keep
/// that form spill-free (scores before P·V; 128 x 64 at d <= 64).
void forwardWithConfig(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                       DeviceTensor &out, DeviceTensor &lse, const Options &options,
                       const kernels::KernelConfig &config,
                       Stream &stream = Stream::defaultStream());

/// The block sizes and warps the heuristic picks for a head dim and dtype.
/// `arch` (sm_80, sm_90a, ...): the GPU the configuration is for (sm_90a's
/// tensor-core dots are warpgroup MMAs, which favour other blocks).
/// `precision` matters for f32 only (its TF32 kernels have a constant TF32 = 1).
/// `kLen`: the number of keys where known (0: not known), which decides
/// between schedules at some head dims (sm_90a d 128: a producer warpgroup
/// past 1024 keys). BLOCK_D is the head dim's next power of two; on sm_90a
/// in 16 bits, BLOCK_D_TAIL > 0 runs it as two column pieces, BLOCK_D / 2
/// and the tail (d 160 as 128 + 32), where that was measured faster.
kernels::KernelConfig forwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask,
                                    std::string_view arch = "sm_90a",
                                    Fp32Precision precision = Fp32Precision::tf32,
                                    int64_t kLen = 0);

/// The tuning database's key for a forward problem: dtype, head dim, masks,
/// and the lengths rounded up to powers of two (the shape bucket).
std::string forwardProblem(DType dtype, int64_t headDim, bool causal, bool hasMask, int64_t qLen,
                           int64_t kLen, Fp32Precision precision = Fp32Precision::tf32);

/// The configurations the autotuner tries (the heuristic's among them):
/// BLOCK_M, BLOCK_N in {16, ..., 128} and 4 or 8 warps, less the blocks
/// longer than the sequences need.
std::vector<kernels::KernelConfig>
forwardTuningSpace(DType dtype, int64_t headDim, bool causal, bool hasMask, int64_t qLen,
                   int64_t kLen, Fp32Precision precision = Fp32Precision::tf32);

/// The configuration forward() uses, chosen as every Kernel's is
/// (kernels::chooseTunedConfig): the tuning database's winner for the
/// problem's bucket, else, with TESSERA_AUTOTUNE=1 and `tune` given (forward()
/// passes tuneForward on its inputs), the winner of tuning now, else the
/// heuristic's. TESSERA_PRINT_AUTOTUNING=1 prints the choice (once per
/// problem).
kernels::KernelConfig
chooseForwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask, int64_t qLen,
                    int64_t kLen, Fp32Precision precision = Fp32Precision::tf32,
                    const std::function<std::vector<CandidateResult>()> &tune = {});

/// Tunes forward() for these inputs: every candidate's output is checked
/// against the NVRTC reference before it may win; results go to the tuning
/// database. Returns every candidate, fastest valid first.
std::vector<CandidateResult> tuneForward(const DeviceTensor &q, const DeviceTensor &k,
                                         const DeviceTensor &v, const Options &options,
                                         const TuneOptions &tuneOptions = {},
                                         TuningDatabase &db = TuningDatabase::get());

/// The tuning database's key for a backward problem, as forwardProblem's
/// plus whether the backward must be deterministic.
std::string backwardProblem(DType dtype, int64_t headDim, bool causal, bool hasMask, int64_t qLen,
                            int64_t kLen, Fp32Precision precision, bool deterministic);

/// The dK/dV configurations the backward autotuner tries (backwardConfig's
/// first): BLOCK_M, BLOCK_N in {32, 64, 128}, 4 or 8 warps, and atomic dQ
/// unless `deterministic`; the dQ pass runs the transposed blocks.
std::vector<kernels::KernelConfig> backwardTuningSpace(DType dtype, int64_t headDim, bool causal,
                                                       bool hasMask, int64_t qLen, int64_t kLen,
                                                       Fp32Precision precision, bool deterministic);

/// The configuration backward() uses, chosen as chooseForwardConfig's (with
/// tuneBackward on backward()'s inputs to tune on first use); backwardConfig's
/// when nothing better is known. A saved winner with atomic dQ does not
/// serve a deterministic problem.
kernels::KernelConfig
chooseBackwardConfig(DType dtype, int64_t headDim, bool causal, bool hasMask, int64_t qLen,
                     int64_t kLen, Fp32Precision precision, bool deterministic,
                     const std::function<std::vector<CandidateResult>()> &tune = {});

/// Tunes backward() for these inputs (out, lse from forward()): every
/// candidate's dq, dk and dv are checked against the NVRTC fp32 reference
/// within the dtype's bound before it may win. Returns every candidate,
/// fastest valid first.
std::vector<CandidateResult> tuneBackward(const DeviceTensor &q, const DeviceTensor &k,
                                          const DeviceTensor &v, const DeviceTensor &out,
                                          const DeviceTensor &lse, const DeviceTensor &dout,
                                          const Options &options,
                                          const TuneOptions &tuneOptions = {},
                                          TuningDatabase &db = TuningDatabase::get());

namespace detail {
void registerAttentionKernels(std::map<std::string, kernels::KernelDef> &registry);
void registerAttentionBackwardKernels(std::map<std::string, kernels::KernelDef> &registry);
} // namespace detail

} // namespace tessera::attention

#endif
