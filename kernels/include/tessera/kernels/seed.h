//===- seed.h - flash-attention-jax's API in C++ ----------------*- C++ -*-===//
//
// The functions of the seed project (flash-attention-jax), by its names, on
// top of attention::forward and attention::backward:
//
//   auto [out, lse] = flash_attention(q, k, v, key_mask);
//   auto [out, lse] = causal_flash_attention(q, k, v);      // (..., seq, dim)
//   auto [out, lse] = cosine_sim_flash_attention(q, k, v, key_mask);
//   auto [out, lse] = plain_attention(q, k, v, key_mask);   // the reference
//   Difference d = value_and_grad_difference(plain_attention_value_and_grad,
//                                            flash_attention_value_and_grad, seed);
//
// Masks are (batch, k_len) i1 tensors, true = may attend; an undefined
// DeviceTensor (`{}`) means no mask. JAX differentiates the seed's
// functions; here each has an explicit *_value_and_grad companion.
//
//===----------------------------------------------------------------------===//
#ifndef TESSERA_KERNELS_SEED_H
#define TESSERA_KERNELS_SEED_H

#include "tessera/kernels/attention.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace tessera::attention {

/// Flash attention of (batch, heads, seq, dim) q, k, v (k and v may have
/// fewer heads: GQA/MQA) with an optional key mask; scale 1/sqrt(dim).
/// The seed's functions that take a key mask drop the masked keys before
/// the kernel (Options::compactKeyMask).
ForwardResult flash_attention(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                              const DeviceTensor &key_mask = {});

/// Causal flash attention of q, k, v shaped (..., seq, dim) with any number
/// of leading dimensions (none included). The leading dimensions are viewed
/// as (prod, 1, seq, dim) through the tensors' strides, without a copy; a
/// tensor whose leading dimensions cannot be merged into one stride (a
/// non-contiguous slice across them) is rejected, naming it. out has q's
/// shape, lse q's shape without dim; both contiguous.
ForwardResult causal_flash_attention(const DeviceTensor &q, const DeviceTensor &k,
                                     const DeviceTensor &v);

/// x / max(‖x‖₂, 1e-12) along the last dimension of a tensor of rank 2 to 4
/// (dim as attention's head dims, up to 512), by the DSL kernel l2norm_rows;
/// computed in f32, returned in x's dtype, contiguous.
DeviceTensor l2norm_rows(const DeviceTensor &x, Stream &stream = Stream::defaultStream());
/// The gradient of l2norm_rows at x given dy:
/// dx = (dy - y·rowsum(y ∘ dy)) / ‖x‖, y = l2norm_rows(x) (kernel l2norm_rows_backward).
DeviceTensor l2norm_rows_backward(const DeviceTensor &x, const DeviceTensor &dy,
                                  Stream &stream = Stream::defaultStream());

/// Cosine-similarity attention: softmax(l2norm(q)·l2norm(k)ᵀ·scale)·v. Unlike
/// the seed, which normalises q and k over the whole tensor, each row (one
/// query or key vector) is normalised on its own, which is what cosine
/// similarity means; the fixed scale stands in for the temperature.
ForwardResult cosine_sim_flash_attention(const DeviceTensor &q, const DeviceTensor &k,
                                         const DeviceTensor &v, const DeviceTensor &key_mask = {},
                                         float scale = 16.f);

/// The reference: softmax(q·kᵀ/sqrt(dim) + masks)·v computed naively. With
/// host tensors (the interpreter) on the CPU in float64; with GPU tensors by
/// the NVRTC reference kernel in fp32. out and lse are f32 and contiguous.
/// Inputs must be contiguous.
ForwardResult plain_attention(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                              const DeviceTensor &key_mask = {}, bool causal = false);

/// The sizes of one attention problem (kv_heads divides heads).
struct AttentionShape {
  int64_t batch, heads, kvHeads, qLen, kLen, dim;
};

/// Plain attention and its gradients in float64, row-major.
struct PlainAttentionResult {
  std::vector<double> out; ///< (batch, heads, q_len, dim)
  std::vector<double> lse; ///< (batch, heads, q_len); -inf where no key is visible
  std::vector<double> dq;  ///< like q; empty without dout
  std::vector<double> dk;  ///< (batch, kv_heads, k_len, dim); empty without dout
  std::vector<double> dv;  ///< like dk
};

/// Plain attention on the CPU in float64 from row-major host arrays, and
/// with `dout` (like out) its gradients by the textbook formulas:
/// P = softmax(S), dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP - rowsum(P ∘ dP)),
/// dQ = dS K·scale, dK = dSᵀ Q·scale. `keyMask` (batch·k_len bytes) and
/// `dout` may be null. Runs on every hardware thread. `fp32Arithmetic`:
/// every intermediate and sum in float instead (the same formulas and
/// order): what a plain fp32 implementation's rounding alone gives.
PlainAttentionResult plain_attention_cpu(const AttentionShape &shape, const std::vector<float> &q,
                                         const std::vector<float> &k, const std::vector<float> &v,
                                         const std::vector<uint8_t> *keyMask, bool causal,
                                         double scale, const std::vector<float> *dout = nullptr,
                                         bool fp32Arithmetic = false);

/// An attention output and its gradients with respect to q, k and v.
struct ValueAndGrad {
  DeviceTensor out, dq, dk, dv;
};

/// What value_and_grad_difference compares: given q, k, v (batch, heads,
/// seq, dim), an optional key mask and dout (like out), returns out and
/// dL/dq, dL/dk, dL/dv for L = sum(out ∘ dout). Results must be contiguous;
/// any float dtype.
using AttentionValueAndGradFn =
    std::function<ValueAndGrad(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                               const DeviceTensor &key_mask, const DeviceTensor &dout)>;

/// flash_attention forward and backward (attention::backward).
ValueAndGrad flash_attention_value_and_grad(const DeviceTensor &q, const DeviceTensor &k,
                                            const DeviceTensor &v, const DeviceTensor &key_mask,
                                            const DeviceTensor &dout);
/// plain_attention and its gradients on the CPU in float64 (the inputs are
/// copied to the host; results come back as f32 tensors). O(b·h·q_len·k_len·dim)
/// on the CPU: at value_and_grad_difference's default sizes, minutes.
ValueAndGrad plain_attention_value_and_grad(const DeviceTensor &q, const DeviceTensor &k,
                                            const DeviceTensor &v, const DeviceTensor &key_mask,
                                            const DeviceTensor &dout);

/// The same on the GPU: the NVRTC reference kernels in fp32 (naive, one
/// thread per row), for sizes where float64 on the CPU takes too long.
ValueAndGrad plain_attention_value_and_grad_gpu(const DeviceTensor &q, const DeviceTensor &k,
                                                const DeviceTensor &v, const DeviceTensor &key_mask,
                                                const DeviceTensor &dout);

/// cosine_sim_flash_attention (scale 16) forward and backward: dq and dk go
/// back through l2norm_rows_backward.
ValueAndGrad cosine_sim_flash_attention_value_and_grad(const DeviceTensor &q, const DeviceTensor &k,
                                                       const DeviceTensor &v,
                                                       const DeviceTensor &key_mask,
                                                       const DeviceTensor &dout);

/// The largest absolute differences between two implementations.
struct Difference {
  double out, dq, dk, dv;
};

/// The seed's sanity check: random f32 q, k, v (normal) of (batch, heads,
/// seq, dim), a random key mask (each key kept with probability 1/2, when
/// `key_mask`), and a random dout, all from `seed`; runs both functions on
/// the same inputs and returns max |a - b| of out, dq, dk and dv.
Difference value_and_grad_difference(const AttentionValueAndGradFn &fn_a,
                                     const AttentionValueAndGradFn &fn_b, uint64_t seed,
                                     int64_t batch = 2, int64_t heads = 4, int64_t q_len = 4096,
                                     int64_t k_len = 8192, bool key_mask = true, int64_t dim = 512);

namespace detail {
void registerSeedKernels(std::map<std::string, kernels::KernelDef> &registry);
} // namespace detail

} // namespace tessera::attention

#endif
