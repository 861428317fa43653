//===- Backward.cpp - Attention backward: host API and launch -------------===//
//
// Checks the inputs and outputs, picks the configuration, and launches the
// backward's passes (BackwardKernels.cpp) on the caller's stream: delta, then
// dK/dV per key block beside dQ per query block (on a side stream, joined
// back), or, with DQ_ATOMIC, dK/dV then the conversion of the atomically
// summed dQ.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"

#include "Internal.h"
#include "tessera/Support/Env.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string_view>

using namespace tessera;
using kernels::KernelConfig;

namespace {

int64_t constantOf(const JitKernel &kernel, const char *constName) {
  auto it = kernel.compiled.constants.find(constName);
  if (it == kernel.compiled.constants.end() || it->second <= 0)
    throw tessera::Error(kernel.compiled.name + ": kernel has no " + constName + " constant");
  return it->second;
}

unsigned gridY(int64_t programs, const char *what) {
  if (programs > 65535)
    throw tessera::Error(std::string(what) + " = " + std::to_string(programs) +
                         " exceeds 65535 programs along grid y");
  return unsigned(programs);
}

unsigned gridX(int64_t len, int64_t block) {
  return unsigned(std::max<int64_t>((len + block - 1) / block, 1));
}

/// Whether the split backward's dQ kernel runs after dK/dV on the caller's
/// stream instead of beside it ($TESSERA_BACKWARD_ONE_STREAM=1, read once):
/// an A/B switch (docs/PERFORMANCE.md).
bool backwardOnOneStream() {
  static const bool enabled = envFlag("TESSERA_BACKWARD_ONE_STREAM");
  return enabled;
}

/// The side stream of this thread's backward launches, and its fork and
/// join events: made once, non-blocking (a caller on the legacy default
/// stream would otherwise serialize the two kernels), ordered by events only.
struct SideStream {
  Stream stream{/*blocking=*/false};
  Event fork{/*timing=*/false}, join{/*timing=*/false};
  static SideStream &get() {
    thread_local SideStream side;
    return side;
  }
};

} // namespace

attention::BackwardResult attention::backward(const DeviceTensor &q, const DeviceTensor &k,
                                              const DeviceTensor &v, const DeviceTensor &out,
                                              const DeviceTensor &lse, const DeviceTensor &dout,
                                              const Options &options, Stream &stream) {
  detail::checkInputs(q, k, v, options);
  BackwardResult r{DeviceTensor::empty(q.shape(), q.dtype()),
                   DeviceTensor::empty(k.shape(), k.dtype()),
                   DeviceTensor::empty(v.shape(), v.dtype())};
  backward(q, k, v, out, lse, dout, r.dq, r.dk, r.dv, options, stream);
  return r;
}

void attention::backward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                         const DeviceTensor &out, const DeviceTensor &lse, const DeviceTensor &dout,
                         DeviceTensor &dq, DeviceTensor &dk, DeviceTensor &dv,
                         const Options &options, Stream &stream) {
  detail::checkInputs(q, k, v, options);
  const auto &qs = q.shape(), &ks = k.shape();
  const char *likeQ = "(batch, heads, q_len, dim) like q";
  const char *likeK = "(batch, kv_heads, k_len, dim) like k";
  detail::checkOutput(out, qs, q.dtype(), "out", likeQ);
  detail::checkOutput(dout, qs, q.dtype(), "dout", likeQ);
  detail::checkOutput(lse, {qs[0], qs[1], qs[2]}, DType::F32, "lse", "(batch, heads, q_len)");
  detail::checkOutput(dq, qs, q.dtype(), "dq", likeQ);
  detail::checkOutput(dk, ks, q.dtype(), "dk", likeK);
  detail::checkOutput(dv, ks, q.dtype(), "dv", likeK);
  // Q, K, V and dO stream through the kernels' loops as 16-byte vectors:
  // where they do not fit them, aligned copies padded to whole vectors, as
  // forward(), and on sm_90 to whole 32-byte sectors (backwardRowBytes). O
  // (read once, by the delta pass) and the gradients (written once per
  // program) are read and written in place, element by element where they
  // do not fit (spill-free in every shipped configuration,
  // tests/unit/compiler): their missing columns read as zeros and are never
  // written.
  int64_t d = qs[3],
          padded = detail::vectorHeadDim(q.dtype(), d, detail::backwardRowBytes(q.dtype()));
  auto operand = [&](const DeviceTensor &t) { return detail::vectorOperand(t, padded, stream); };
  DeviceTensor qA = operand(q), kA = operand(k), vA = operand(v), doutA = operand(dout);
  // The scale of the given head dim, not of the padded one the copies have.
  Options o = options;
  o.scale = options.scale.value_or(float(1.0 / std::sqrt(double(d))));
  // The tuner runs its candidates on inputs of one head dim.
  auto tune = [&] { return tuneBackward(qA, kA, vA, operand(out), lse, doutA, o); };
  backwardWithConfig(qA, kA, vA, out, lse, doutA, dq, dk, dv, o,
                     chooseBackwardConfig(q.dtype(), d, o.causal, o.keyMask != nullptr, qs[2],
                                          ks[2], o.fp32Precision, o.deterministic, tune),
                     stream);
}

void attention::backwardWithConfig(const DeviceTensor &q, const DeviceTensor &k,
                                   const DeviceTensor &v, const DeviceTensor &out,
                                   const DeviceTensor &lse, const DeviceTensor &dout,
                                   DeviceTensor &dq, DeviceTensor &dk, DeviceTensor &dv,
                                   const Options &options, const KernelConfig &config,
                                   Stream &stream) {
  const auto &qs = q.shape(), &ks = k.shape();
  const DeviceTensor *mask = options.keyMask;
  float scale = options.scale.value_or(float(1.0 / std::sqrt(double(qs[3]))));
  int64_t blockD = config.get("BLOCK_D");

  // D = rowsum(dO ∘ O) and L·log2(e), f32 (batch, heads, q_len rounded up to
  // 4): rows of whole 16-byte vectors, so that TMA brings the dK/dV loop's
  // rows of them with Q and dO at any q_len (tile-use-tma's row vectors).
  // The rows past q_len hold D = 0 and L·log2(e) = 0 (the preprocessing
  // reads out, dout and lse as zeros there), as zero padding would.
  const int64_t rowsPadded = (qs[2] + 3) / 4 * 4;
  DeviceTensor delta = DeviceTensor::empty({qs[0], qs[1], rowsPadded}, DType::F32);
  DeviceTensor lseLog2 = DeviceTensor::empty({qs[0], qs[1], rowsPadded}, DType::F32);
  int64_t preBlockM = std::min<int64_t>(64, 8192 / blockD);
  KernelConfig preConfig =
      kernels::makeConfig(kernels::lookup("attention_backward_preprocess"), q.dtype(), 4,
                          {{"BLOCK_M", preBlockM}, {"BLOCK_D", blockD}});
  KernelArgs preArgs;
  kernels::detail::addTensor(preArgs, out, "out");
  kernels::detail::addTensor(preArgs, dout, "dout");
  kernels::detail::addTensor(preArgs, lse, "lse");
  kernels::detail::addTensor(preArgs, delta, "delta");
  kernels::detail::addTensor(preArgs, lseLog2, "lse_log2");

  auto commonArgs = [&](KernelArgs &args) {
    kernels::detail::addTensor(args, q, "q");
    kernels::detail::addTensor(args, k, "k");
    kernels::detail::addTensor(args, v, "v");
    kernels::detail::addTensor(args, dout, "dout");
    kernels::detail::addTensor(args, lseLog2, "lse_log2");
    kernels::detail::addTensor(args, delta, "delta");
  };
  auto maskAndScale = [&](KernelArgs &args) {
    if (mask)
      kernels::detail::addTensor(args, *mask, "key_mask");
    args.add(scale);
  };
  const bool dqAtomic = config.get("DQ_ATOMIC") != 0;
  // dQᵀ, f32 (batch, heads, dim, q_len rounded up to 4), zeroed: the dK/dV
  // programs add their dS K terms into it atomically. Rows of whole 16-byte
  // vectors let TMA add whole blocks (sm_90a); the columns past q_len only
  // ever receive zeros (their queries' dS are masked to 0).
  DeviceTensor dqAccum;
  if (dqAtomic)
    dqAccum = DeviceTensor::empty({qs[0], qs[1], qs[3], rowsPadded}, DType::F32);
  KernelArgs dkdvArgs;
  commonArgs(dkdvArgs);
  kernels::detail::addTensor(dkdvArgs, dk, "dk");
  kernels::detail::addTensor(dkdvArgs, dv, "dv");
  if (dqAtomic)
    kernels::detail::addTensor(dkdvArgs, dqAccum, "dq_accum");
  maskAndScale(dkdvArgs);
  // dQ: converted from dQᵀ (DQ_ATOMIC), or its own kernel over key blocks.
  KernelConfig dqConfig;
  KernelArgs dqArgs;
  if (dqAtomic) {
    dqConfig = kernels::makeConfig(kernels::lookup("attention_backward_dq_convert"), q.dtype(), 4,
                                   {{"BLOCK_M", preBlockM}, {"BLOCK_D", blockD}});
    kernels::detail::addTensor(dqArgs, dqAccum, "dq_accum");
    kernels::detail::addTensor(dqArgs, dq, "dq");
    dqArgs.add(scale);
  } else {
    dqConfig = config;
    std::swap(dqConfig.constants["BLOCK_M"], dqConfig.constants["BLOCK_N"]);
    commonArgs(dqArgs);
    kernels::detail::addTensor(dqArgs, dq, "dq");
    maskAndScale(dqArgs);
  }

  // The three kernels, compiled together the first time.
  std::vector<const JitKernel *> loaded = kernels::detail::jitKernels(
      {{&kernels::lookup("attention_backward_preprocess"), &preConfig, preArgs.alignedTensors()},
       {&kernels::lookup("attention_backward_dkdv"), &config, dkdvArgs.alignedTensors()},
       {&kernels::lookup(dqAtomic ? "attention_backward_dq_convert" : "attention_backward_dq"),
        &dqConfig, dqArgs.alignedTensors()}});
  const JitKernel &preprocess = *loaded[0], &dkdv = *loaded[1], &dqKernel = *loaded[2];
  launch(preprocess, gridX(qs[2], constantOf(preprocess, "BLOCK_M")),
         gridY(qs[0] * qs[1], "q: batch·heads"), 1, preArgs, stream);
  if (dqAtomic)
    dqAccum.fillBytes(0, stream);
  // The split's dK/dV and dQ kernels read the same inputs and write apart:
  // dQ runs on a side stream beside dK/dV, so that its programs fill the
  // SMs that dK/dV's last wave leaves idle (and it starts without waiting
  // for dK/dV's launch to drain). The caller's stream joins it before
  // anything later, the temporaries' frees included, is queued.
  bool beside = !dqAtomic && !backwardOnOneStream();
  Stream *dqStream = &stream;
  if (beside) {
    SideStream &side = SideStream::get();
    side.fork.record(stream);
    side.stream.wait(side.fork);
    dqStream = &side.stream;
  }
  launch(dkdv, gridX(ks[2], constantOf(dkdv, "BLOCK_N")), gridY(ks[0] * ks[1], "k: batch·kv_heads"),
         1, dkdvArgs, stream);
  launch(dqKernel, gridX(qs[2], constantOf(dqKernel, "BLOCK_M")),
         gridY(qs[0] * qs[1], "q: batch·heads"), 1, dqArgs, *dqStream);
  if (beside) {
    SideStream &side = SideStream::get();
    side.join.record(side.stream);
    stream.wait(side.join);
  }
}
