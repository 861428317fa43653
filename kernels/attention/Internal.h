//===- Internal.h - Attention internals shared by its files -----*- C++ -*-===//
#ifndef TESSERA_KERNELS_ATTENTION_INTERNAL_H
#define TESSERA_KERNELS_ATTENTION_INTERNAL_H

#include "tessera/kernels/Launch.h"
#include "tessera/kernels/attention.h"
#include "tessera/runtime/Jit.h"

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

namespace tessera::attention::detail {

/// softmax(q·kᵀ·scale)·v in fp32 with the same masking as forward(): `out`
/// (batch, heads, q_len, dim) and `lse` (batch, heads, q_len), both f32 and
/// contiguous.
void referenceForward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                      const Options &options, DeviceTensor &out, DeviceTensor &lse);

/// The gradients of sum(out ∘ dout) in fp32 from the forward's out and lse
/// (contiguous f32), with the same masking: dq (batch, heads, q_len, dim),
/// dk and dv (batch, kv_heads, k_len, dim), all f32 and contiguous.
void referenceBackward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                       const DeviceTensor &out, const DeviceTensor &lse, const DeviceTensor &dout,
                       const Options &options, DeviceTensor &dq, DeviceTensor &dk,
                       DeviceTensor &dv);

/// Throws tessera::Error naming the argument unless q, k, v and the key mask
/// are what forward() and backward() accept: rank 4, one float dtype, one
/// batch and head dim, kv heads dividing q heads, a supported head dim, an i1
/// (batch, k_len) mask.
void checkInputs(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                 const Options &options);
/// Throws naming `argName` unless `t` has `shape` and `dtype`; `shapeName`
/// says the expected shape in words.
void checkOutput(const DeviceTensor &t, const std::vector<int64_t> &shape, DType dtype,
                 const char *argName, const char *shapeName);

using kernels::detail::currentArch;

/// The least power of two >= v (BLOCK_D of a head dim).
int64_t nextPowerOf2(int64_t v);

/// One column range of the head dim that a kernel's tiles cover: Q, K, V
/// and the output come as one tile per piece, S = Σ Q_p K_pᵀ, O_p = P V_p.
struct HeadDimPiece {
  int64_t start, width;
};
/// The pieces of BLOCK_D = `blockD` with BLOCK_D_TAIL = `tail`: the whole of
/// it (tail 0), or its first half and a tail (each a power of two), which
/// cover a head dim such as 80 or 160 with 96 or 160 columns where BLOCK_D
/// would do the work of 128 or 256.
std::vector<HeadDimPiece> headDimPieces(int64_t blockD, int64_t tail);
/// BLOCK_D_TAIL for `headDim` under BLOCK_D = `blockD` (its next power of
/// two): the least power of two, at least 32, covering the columns past
/// blockD / 2, where it is less than blockD / 2 and blockD is 128 or 256;
/// else 0 (one piece).
int64_t headDimTail(int64_t headDim, int64_t blockD);

/// The blocks and warps for head dims whose BLOCK_D is at most maxBlockD.
struct BlockRule {
  int64_t maxBlockD, blockM, blockN;
  unsigned warps;
  int64_t stages = 2; ///< NUM_STAGES, for the kernels that have it
};

/// `kernel`'s (attention_forward, attention_backward_*) configuration for a
/// head dim: BLOCK_D its next power of two, the blocks and warps of the first
/// rule that covers it (the last rule beyond them all); TF32 = `tf32`.
kernels::KernelConfig attentionConfig(const std::string &kernel, DType dtype, int64_t headDim,
                                      bool causal, bool hasMask,
                                      std::initializer_list<BlockRule> rules, bool tf32 = false);

/// True when an f32 problem runs its dots in TF32.
inline bool usesTf32(DType dtype, Fp32Precision precision) {
  return dtype == DType::F32 && precision == Fp32Precision::tf32;
}

/// Whether attention_forward with `constants` loops over tiles (PERSISTENT,
/// one program per SM): on whole key blocks (EVEN_N), or with TMA copies
/// from a producer warpgroup (TMA, WARP_SPECIALIZE), whose shared ring counts
/// across tiles of any number of key blocks; not FlashAttention-3's order
/// (PIPELINE_QK = 2) past d 128, which would not fit shared memory. The
/// kernel and its launch grid decide alike.
bool persistentForward(const std::map<std::string, int64_t> &constants);

/// Whether attention_forward on `kLen` keys has no block with a masked score:
/// k_len a whole number of `blockN` blocks, neither causal nor a key mask.
/// Its launch then sets EVEN_N (the kernel leaves out its masked blocks'
/// loop).
bool wholeKeyBlocks(int64_t blockN, int64_t kLen, const Options &options);
/// Sets `config`'s EVEN_N as launchForward does (wholeKeyBlocks).
void specializeOnKeys(kernels::KernelConfig &config, int64_t kLen, const Options &options);

/// Unless K and V are what tensor maps describe (`kvByTensorMaps`: both
/// kernels::detail::vectorAligned), the TMA configurations' blocks and order
/// that spill with cp.async copies give way to ones that do not:
/// FlashAttention-3's order (PIPELINE_QK 2) to scores-then-P·V, 128 x 128 on
/// one warpgroup (d <= 64) to 128 x 64.
void specializeOnCopies(kernels::KernelConfig &config, bool kvByTensorMaps);

/// A configuration chooseForwardConfig or chooseBackwardConfig chose, kept
/// for its key while the tuning database is unchanged: `config`, and for the
/// forward on whole key blocks `evenKeys` (the same with EVEN_N = 1).
struct Choice {
  kernels::KernelConfig config, evenKeys;
};
/// chooseForwardConfig's choice, shared rather than copied.
std::shared_ptr<const Choice>
forwardChoice(DType dtype, int64_t headDim, bool causal, bool hasMask, int64_t qLen, int64_t kLen,
              Fp32Precision precision,
              const std::function<std::vector<CandidateResult>()> &tune = nullptr);

/// Launches attention_forward with `config` on validated inputs, through the
/// JIT, specialised on its arguments' alignment, on the keys and on K and
/// V's copies (specializeOnKeys, specializeOnCopies, on `config` itself).
void launchForward(kernels::KernelConfig config, const DeviceTensor &q, const DeviceTensor &k,
                   const DeviceTensor &v, DeviceTensor &out, DeviceTensor &lse,
                   const Options &options, Stream &stream = Stream::defaultStream());
/// The same with `config` specialised on the keys already (its EVEN_N
/// wholeKeyBlocks' for k): nothing is copied.
void launchSpecializedForward(const kernels::KernelConfig &config, const DeviceTensor &q,
                              const DeviceTensor &k, const DeviceTensor &v, DeviceTensor &out,
                              DeviceTensor &lse, const Options &options,
                              Stream &stream = Stream::defaultStream());
/// The same with a kernel compiled already (an autotuning candidate); one
/// compiled with EVEN_N = 1 takes only keys it was specialised for.
void launchForward(const JitKernel &kernel, const DeviceTensor &q, const DeviceTensor &k,
                   const DeviceTensor &v, DeviceTensor &out, DeviceTensor &lse,
                   const Options &options, Stream &stream = Stream::defaultStream());

/// The least head dim >= `headDim` whose rows are whole multiples of
/// `rowBytes` (16: vectors; 32: sectors) in `dtype` (HeadDimPadding.cpp):
/// forward() and backward() run on copies padded to it when it differs
/// (vectorOperand).
int64_t vectorHeadDim(DType dtype, int64_t headDim, int64_t rowBytes = 16);
/// The row granularity of backward()'s operands: 32 bytes for 16-bit ones
/// on sm_90 (whole sectors: TESSERA_HEAD_DIM_16B_ROWS=1 keeps 16), else 16.
int64_t backwardRowBytes(DType dtype);
/// The same for forward()'s K and V: 32 bytes only where the copies pay
/// (16-bit, sm_90, long key loops of the d 128 kernel or of d 40, neither
/// causal nor under a key mask: `masked`).
int64_t forwardRowBytes(DType dtype, int64_t headDim, bool masked, int64_t kLen);
/// dst (batch, heads, len, any dim) = src's rows, zero-padded or cropped to
/// dst's last dim, by attention_copy_head_dim on `stream`.
void copyHeadDim(const DeviceTensor &src, DeviceTensor &dst, Stream &stream);
/// A new contiguous copy of `t` with last dim `headDim` (zero-padded).
DeviceTensor withHeadDim(const DeviceTensor &t, int64_t headDim, Stream &stream);

/// Whether the kernels may read or write `t` as it is: its head dim is
/// `paddedHeadDim` (vectorHeadDim's) and its base and strides fit 16-byte
/// vectors (kernels::detail::vectorAligned).
bool fitsVectors(const DeviceTensor &t, int64_t paddedHeadDim);
/// `t` if it fits, else a contiguous copy of it with `paddedHeadDim`
/// columns, the ones past its own zero. The attention kernels then always
/// move 16-byte vectors (TMA or cp.async): their element-by-element path,
/// for tensors no vector fits, runs slower than these memory-bound copies
/// and spills registers at several head dims; FlashAttention's wrappers
/// pad and make operands contiguous alike.
DeviceTensor vectorOperand(const DeviceTensor &t, int64_t paddedHeadDim, Stream &stream);
void registerHeadDimCopy(std::map<std::string, kernels::KernelDef> &registry);

/// k and v with only the keys the mask keeps, compacted to the front of each
/// batch row (FlashAttention's unpadding), and the mask the kernel then
/// needs: none when every batch row keeps as many keys, else (batch, kept)
/// true for each row's kept keys.
struct CompactedKeys {
  DeviceTensor k, v;
  std::optional<DeviceTensor> mask;
};

/// forward()'s compactKeyMask: reads the mask back (waiting for the stream)
/// and gathers the kept keys with attention_gather_keys, stream-ordered. The
/// index tensor and (in forward()) the gathered keys are freed as their scope
/// ends: the free is ordered after the kernels queued before it
/// (DeviceBuffer), as for the backward's scratch.
/// Nothing when it does not pay: fewer than 1/8 of the keys masked, no key
/// kept, or a mask with gaps in its storage.
std::optional<CompactedKeys> compactKeys(const DeviceTensor &k, const DeviceTensor &v,
                                         const DeviceTensor &mask, Stream &stream);

} // namespace tessera::attention::detail

#endif
