//===- Forward.cpp - Attention forward: host API and launch ---------------===//
//
// Checks the inputs, picks the kernel's configuration, prepares K and V where
// the configuration reads them transposed or rounded, and launches
// attention_forward (ForwardKernels.cpp) on the caller's stream.
//
//===----------------------------------------------------------------------===//

#include "tessera/kernels/attention.h"

#include "Internal.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <algorithm>
#include <cmath>
#include <optional>

using namespace tessera;
using kernels::KernelConfig;

namespace {

void requireAttentionInput(const DeviceTensor &t, const char *name) {
  kernels::detail::requireRank(t, 4, name);
  kernels::detail::requireDType(t, {DType::F32, DType::F16, DType::BF16}, name);
}

/// Whether `config`'s kernel, launched on these tensors (O among them not
/// fitting 16-byte vectors), spills registers: ptxas' report of the kernel
/// that launch would run, compiled here if need be (the interpreter reports
/// none). Written element by element, O spills in the single-warpgroup
/// wgmma kernels of 128 rows at head dim 64 and in the d 128 cp.async one
/// (ptxas at d20db22: 16 to 36 bytes), in no f32 or sm_80 kernel.
bool spillsWritingOut(const KernelConfig &config, const DeviceTensor &q, const DeviceTensor &k,
                      const DeviceTensor &v, const DeviceTensor &out, const DeviceTensor &lse,
                      const attention::Options &options) {
  // The launch's alignment mask (KernelArgs::alignedTensors): bit i for the
  // i-th tensor parameter, in packAndLaunchForward's order. The prepared K
  // and V of V_TRANSPOSED and TF32_ROUNDED_KV kernels are contiguous copies
  // of k and v, aligned as they are here.
  uint64_t aligned = 0;
  int bit = 0;
  for (const DeviceTensor *t : {&q, &k, &v, &out, &lse, options.keyMask})
    if (t)
      aligned |= uint64_t(kernels::detail::vectorAligned(*t)) << bit++;
  const JitKernel &kernel =
      kernels::detail::jitKernel(kernels::lookup("attention_forward"), config, aligned);
  return kernel.compiled.usage.spillStoreBytes > 0 || kernel.compiled.usage.spillLoadBytes > 0;
}

/// forward() on inputs already checked whose K and V rows fit 16-byte
/// vectors; q may have fewer columns than they do (a head dim padded to
/// whole vectors: its missing columns read as zeros), and O too, written in
/// place where the kernel writes it so without spilling, else through a
/// padded copy whose first columns are copied back. k, v and the mask as
/// given, or the compacted ones, which are valid by construction.
void forwardChecked(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                    DeviceTensor &out, DeviceTensor &lse, const attention::Options &options,
                    Stream &stream) {
  const auto &qs = q.shape();
  auto run = [&](const DeviceTensor &keys, const DeviceTensor &values,
                 const attention::Options &o) {
    // The tuner runs its candidates on inputs of one head dim.
    auto tune = [&] {
      int64_t d = keys.shape()[3];
      return attention::tuneForward(qs[3] == d ? q : attention::detail::withHeadDim(q, d, stream),
                                    keys, values, o);
    };
    std::shared_ptr<const attention::detail::Choice> choice =
        attention::detail::forwardChoice(q.dtype(), qs[3], o.causal, o.keyMask != nullptr, qs[2],
                                         keys.shape()[2], o.fp32Precision, tune);
    const KernelConfig &config =
        attention::detail::wholeKeyBlocks(choice->config.get("BLOCK_N"), keys.shape()[2], o)
            ? choice->evenKeys
            : choice->config;
    int64_t d = keys.shape()[3];
    if (attention::detail::fitsVectors(out, d)) {
      attention::detail::launchSpecializedForward(config, q, keys, values, out, lse, o, stream);
      return;
    }
    // O in place. Rows no 16-byte vector fits (d 59, 111) are staged
    // (TMA_STORE) in every TMA kernel: the compiler writes them out of the
    // staging tile in 16-byte vectors with tile-use-tma's shifted stores
    // (TESSERA_SHIFTED_STORES=1), else from the registers, the same code as
    // unstaged (TMA cannot store them). An aligned O of fewer columns (d 40
    // beside K and V of 48) keeps the configuration's stores, as does the
    // padded copy below.
    KernelConfig inPlace = config;
    if (!kernels::detail::vectorAligned(out) && config.get("TMA"))
      inPlace.constants["TMA_STORE"] = 1;
    if (!spillsWritingOut(inPlace, q, keys, values, out, lse, o)) {
      attention::detail::launchSpecializedForward(inPlace, q, keys, values, out, lse, o, stream);
      return;
    }
    DeviceTensor padded = DeviceTensor::empty({qs[0], qs[1], qs[2], d}, q.dtype());
    attention::detail::launchSpecializedForward(config, q, keys, values, padded, lse, o, stream);
    attention::detail::copyHeadDim(padded, out, stream);
  };
  if (options.keyMask && options.compactKeyMask && !options.causal) {
    if (std::optional<attention::detail::CompactedKeys> kept =
            attention::detail::compactKeys(k, v, *options.keyMask, stream)) {
      attention::Options compacted = options;
      compacted.keyMask = kept->mask ? &*kept->mask : nullptr;
      run(kept->k, kept->v, compacted);
      return;
    }
  }
  run(k, v, options);
}

} // namespace

attention::ForwardResult attention::forward(const DeviceTensor &q, const DeviceTensor &k,
                                            const DeviceTensor &v, const Options &options,
                                            Stream &stream) {
  requireAttentionInput(q, "q");
  const auto &s = q.shape();
  ForwardResult r{
      DeviceTensor::empty({s[0], s[1], s[2], v.shape().size() == 4 ? v.shape()[3] : 0}, q.dtype()),
      DeviceTensor::empty({s[0], s[1], s[2]}, DType::F32)};
  forward(q, k, v, r.out, r.lse, options, stream);
  return r;
}

void attention::detail::checkInputs(const DeviceTensor &q, const DeviceTensor &k,
                                    const DeviceTensor &v, const Options &options) {
  requireAttentionInput(q, "q");
  requireAttentionInput(k, "k");
  requireAttentionInput(v, "v");
  const auto &qs = q.shape(), &ks = k.shape(), &vs = v.shape();
  auto fail = [](const std::string &m) { throw tessera::Error(m); };
  // The kernels take the row max of unscaled scores: a positive scale keeps
  // it the max of the scaled ones.
  if (options.scale && !(*options.scale > 0 && std::isfinite(*options.scale)))
    fail("scale: expected a positive finite number, got " + std::to_string(*options.scale));
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    fail("k, v: expected dtype " + std::string(name(q.dtype())) + " like q");
  if (ks[0] != qs[0] || vs[0] != qs[0])
    fail("k, v: expected batch " + std::to_string(qs[0]) + " like q");
  if (ks != vs)
    fail("v: expected the shape of k");
  if (ks[3] != qs[3])
    fail("k: expected head dim " + std::to_string(qs[3]) + " like q, got " + std::to_string(ks[3]));
  if (ks[1] < 1 || qs[1] % ks[1] != 0)
    fail("k: its " + std::to_string(ks[1]) + " heads must divide q's " + std::to_string(qs[1]));
  // Any head dim: the kernels run the next power of two (attentionConfig).
  int64_t d = qs[3];
  if (d < 1 || d > 512)
    fail("q: head dim must be 1 to 512, got " + std::to_string(d));
  if (const DeviceTensor *mask = options.keyMask) {
    if (mask->dtype() != DType::I1 || mask->shape() != std::vector<int64_t>{qs[0], ks[2]})
      fail("key_mask: expected an i1 tensor of shape (" + std::to_string(qs[0]) + ", " +
           std::to_string(ks[2]) + ")");
  }
}

void attention::detail::checkOutput(const DeviceTensor &t, const std::vector<int64_t> &shape,
                                    DType dtype, const char *argName, const char *shapeName) {
  if (t.shape() == shape && t.dtype() == dtype)
    return;
  std::string got;
  for (int64_t s : t.shape())
    got += (got.empty() ? "" : ", ") + std::to_string(s);
  throw tessera::Error(std::string(argName) + ": expected dtype " + std::string(name(dtype)) +
                       " and shape " + shapeName + ", got " + std::string(name(t.dtype())) + " (" +
                       got + ")");
}

void attention::forward(const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                        DeviceTensor &out, DeviceTensor &lse, const Options &options,
                        Stream &stream) {
  detail::checkInputs(q, k, v, options);
  const auto &qs = q.shape();
  int64_t d = qs[3];
  detail::checkOutput(out, qs, q.dtype(), "out", "(batch, heads, q_len, dim) like q");
  detail::checkOutput(lse, {qs[0], qs[1], qs[2]}, DType::F32, "lse", "(batch, heads, q_len)");
  // K and V stream through the key loop as 16-byte vectors (TMA boxes or
  // cp.async): where their rows are not whole vectors (a head dim such as
  // 59 or 111 in 16 bits) or their base or strides are off them, the kernel
  // runs on aligned copies padded with zeros to the next whole vector
  // (detail::vectorOperand), or 32-byte sector where that pays
  // (forwardRowBytes). Q, read once per program, is read in place by
  // element loads, 32 in flight per thread, past which its missing columns
  // read as zeros (spill-free in every shipped configuration,
  // tests/unit/compiler); O, written once per program, is written in place
  // where the kernel does so without spilling (forwardChecked). The scale
  // stays Q's head dim's.
  int64_t padded = detail::vectorHeadDim(
      q.dtype(), d,
      detail::forwardRowBytes(q.dtype(), d, options.causal || options.keyMask != nullptr,
                              k.shape()[2]));
  forwardChecked(q, detail::vectorOperand(k, padded, stream),
                 detail::vectorOperand(v, padded, stream), out, lse, options, stream);
}

void attention::forwardWithConfig(const DeviceTensor &q, const DeviceTensor &k,
                                  const DeviceTensor &v, DeviceTensor &out, DeviceTensor &lse,
                                  const Options &options, const KernelConfig &config,
                                  Stream &stream) {
  detail::launchForward(config, q, k, v, out, lse, options, stream);
}

namespace {

/// Packs attention_forward's arguments (writing Vᵀ and tf32-rounded K and V
/// first where the kernel's `constants` ask for them) and launches the
/// kernel `pick` returns for them.
void packAndLaunchForward(const std::map<std::string, int64_t> &constants,
                          llvm::function_ref<const JitKernel &(const KernelArgs &)> pick,
                          const DeviceTensor &q, const DeviceTensor &k, const DeviceTensor &v,
                          DeviceTensor &out, DeviceTensor &lse, const attention::Options &options,
                          Stream &stream) {
  const auto &qs = q.shape();
  const DeviceTensor *mask = options.keyMask;
  float scale = options.scale.value_or(float(1.0 / std::sqrt(double(qs[3]))));
  // V_TRANSPOSED kernels read Vᵀ, TF32_ROUNDED_KV ones K and V rounded to
  // tf32, written here first (stream-ordered).
  // The forward reads the blocked Vᵀ as (batch, heads, blocks · dim,
  // BLOCK_N) rows (vRows), the prepare kernel writes it by block (vo).
  std::optional<DeviceTensor> kr, vo, vRows;
  auto flag = [&](const char *name) {
    auto it = constants.find(name);
    return it != constants.end() && it->second != 0;
  };
  bool transposeV = flag("V_TRANSPOSED"), roundKV = flag("TF32_ROUNDED_KV");
  if (roundKV && (k.dtype() != DType::F32 || v.dtype() != DType::F32))
    throw tessera::Error("attention_forward: TF32_ROUNDED_KV needs f32 k and v");
  if (transposeV || roundKV) {
    const auto &vs = v.shape();
    // Vᵀ's key blocks are the forward's: one prepare program per block.
    int64_t blockN = constants.at("BLOCK_N");
    int64_t blocks = std::max<int64_t>((vs[2] + blockN - 1) / blockN, 1);
    if (transposeV) {
      vRows = DeviceTensor::empty({vs[0], vs[1], blocks * vs[3], blockN}, v.dtype());
      vo = vRows->view(
          {vs[0], vs[1], blocks, vs[3], blockN},
          {vs[1] * blocks * vs[3] * blockN, blocks * vs[3] * blockN, vs[3] * blockN, blockN, 1});
    } else {
      vo = vRows = DeviceTensor::empty(vs, v.dtype());
    }
    KernelConfig pc = kernels::makeConfig(
        kernels::lookup("attention_prepare_kv"), v.dtype(), 4,
        {{"BLOCK_N", blockN}, {"TRANSPOSE_V", transposeV}, {"ROUND_TF32", roundKV}});
    int64_t bn = pc.get("BLOCK_N"), bd = pc.get("BLOCK_D");
    if (vs[0] * vs[1] > 65535)
      throw tessera::Error("v: batch·heads = " + std::to_string(vs[0] * vs[1]) +
                           " exceeds 65535 programs along grid y");
    KernelArgs pargs;
    kernels::detail::addTensor(pargs, v, "v");
    kernels::detail::addTensor(pargs, *vo, "vo");
    if (roundKV) {
      // k has v's shape (checkInputs): one grid covers both.
      kr = DeviceTensor::empty(vs, k.dtype());
      kernels::detail::addTensor(pargs, k, "k");
      kernels::detail::addTensor(pargs, *kr, "ko");
    }
    launch(kernels::detail::jitKernel("attention_prepare_kv", pc, pargs),
           unsigned(std::max<int64_t>((vs[2] + bn - 1) / bn, 1)), unsigned(vs[0] * vs[1]),
           unsigned((vs[3] + bd - 1) / bd), pargs, stream);
  }
  KernelArgs args;
  kernels::detail::addTensor(args, q, "q");
  kernels::detail::addTensor(args, kr ? *kr : k, "k");
  kernels::detail::addTensor(args, vRows ? *vRows : v, "v");
  kernels::detail::addTensor(args, out, "out");
  kernels::detail::addTensor(args, lse, "lse");
  if (mask)
    kernels::detail::addTensor(args, *mask, "key_mask");
  args.add(scale);
  // The grid follows the kernel's own BLOCK_M, so tuned and heuristic
  // configurations launch alike.
  auto it = constants.find("BLOCK_M");
  if (it == constants.end() || it->second <= 0)
    throw tessera::Error("attention_forward: kernel has no BLOCK_M constant");
  int64_t blockM = it->second;
  int64_t mBlocks = (qs[2] + blockM - 1) / blockM;
  // PERSISTENT (where the kernel is persistent: persistentForward): as many
  // programs as the SMs hold (as many as fit one SM, by the driver's
  // occupancy calculator: two of the d 64 forward's, CTAS_PER_SM of a
  // producer kernel's; else CTAS_PER_SM), or fewer where there are fewer
  // tiles; they walk the tiles themselves.
  if (flag("PERSISTENT") && attention::detail::persistentForward(constants)) {
    const JitKernel &kernel = pick(args);
    auto ctas = constants.find("CTAS_PER_SM");
    int64_t perSm = kernel.blocksPerSm > 0    ? kernel.blocksPerSm
                    : ctas == constants.end() ? 1
                                              : std::max<int64_t>(ctas->second, 1);
    int64_t sms = gpuAvailable() ? currentDevice().smCount : 132;
    int64_t programs = std::min<int64_t>(mBlocks * qs[0] * qs[1], sms * perSm);
    launch(kernel, unsigned(std::max<int64_t>(programs, 1)), 1, 1, args, stream);
    return;
  }
  if (qs[0] * qs[1] > 65535)
    throw tessera::Error("q: batch·heads = " + std::to_string(qs[0] * qs[1]) +
                         " exceeds 65535 programs along grid y");
  launch(pick(args), unsigned(std::max<int64_t>(mBlocks, 1)), unsigned(qs[0] * qs[1]), 1, args,
         stream);
}

} // namespace

bool attention::detail::persistentForward(const std::map<std::string, int64_t> &constants) {
  auto value = [&](const char *name) {
    auto it = constants.find(name);
    return it == constants.end() ? int64_t(0) : it->second;
  };
  // FlashAttention-3's order past d 128: its last V block takes the key
  // loops' memory once they are done, which inside a tile loop it cannot
  // (the producer refills the ring for the next tile meanwhile): 264 KiB at
  // d 256, past an SM's 227.
  if (value("PIPELINE_QK") == 2 && value("BLOCK_D") > 128)
    return false;
  bool evenKeys = value("EVEN_N") && !value("CAUSAL") && !value("HAS_MASK");
  return evenKeys || (value("TMA") && value("WARP_SPECIALIZE"));
}

bool attention::detail::wholeKeyBlocks(int64_t blockN, int64_t kLen, const Options &options) {
  return !options.causal && !options.keyMask && blockN > 0 && kLen % blockN == 0;
}

void attention::detail::specializeOnKeys(KernelConfig &config, int64_t kLen,
                                         const Options &options) {
  config.constants["EVEN_N"] = wholeKeyBlocks(config.get("BLOCK_N"), kLen, options);
}

void attention::detail::specializeOnCopies(KernelConfig &config, bool kvByTensorMaps) {
  // K and V that a tensor map cannot describe come by cp.async, whose
  // addresses take registers the TMA kernels give their tiles (sm_90a,
  // tessera-compile --aligned-mask): FlashAttention-3's order (P·V a block
  // behind, its P and alpha carried across iterations) spills 176 bytes in
  // the short causal d 128 kernel, spill-free in the scores-then-P·V order;
  // the 128 x 128 blocks of one warpgroup at d <= 64 spill 4-84 bytes,
  // 128 x 64 none (188-236 registers).
  if (kvByTensorMaps || !config.get("TMA"))
    return;
  if (config.get("PIPELINE_QK") == 2)
    config.constants["PIPELINE_QK"] = 0;
  if (config.numWarps == 4 && !config.get("WARP_SPECIALIZE") && config.get("BLOCK_M") == 128 &&
      config.get("BLOCK_N") == 128 && config.get("BLOCK_D") <= 64)
    config.constants["BLOCK_N"] = 64;
}

void attention::detail::launchForward(KernelConfig config, const DeviceTensor &q,
                                      const DeviceTensor &k, const DeviceTensor &v,
                                      DeviceTensor &out, DeviceTensor &lse, const Options &options,
                                      Stream &stream) {
  // Blocks first: EVEN_N depends on BLOCK_N.
  specializeOnCopies(config,
                     kernels::detail::vectorAligned(k) && kernels::detail::vectorAligned(v));
  specializeOnKeys(config, k.shape()[2], options);
  launchSpecializedForward(config, q, k, v, out, lse, options, stream);
}

void attention::detail::launchSpecializedForward(const KernelConfig &config, const DeviceTensor &q,
                                                 const DeviceTensor &k, const DeviceTensor &v,
                                                 DeviceTensor &out, DeviceTensor &lse,
                                                 const Options &options, Stream &stream) {
  packAndLaunchForward(
      config.constants,
      [&](const KernelArgs &args) -> const JitKernel & {
        return kernels::detail::jitKernel("attention_forward", config, args);
      },
      q, k, v, out, lse, options, stream);
}

void attention::detail::launchForward(const JitKernel &kernel, const DeviceTensor &q,
                                      const DeviceTensor &k, const DeviceTensor &v,
                                      DeviceTensor &out, DeviceTensor &lse, const Options &options,
                                      Stream &stream) {
  const auto &constants = kernel.compiled.constants;
  if (auto even = constants.find("EVEN_N"); even != constants.end() && even->second) {
    if (!detail::wholeKeyBlocks(constants.at("BLOCK_N"), k.shape()[2], options))
      throw tessera::Error("attention_forward: kernel compiled for k_len a multiple of BLOCK_N " +
                           std::to_string(constants.at("BLOCK_N")) +
                           " without causal or key masks (EVEN_N), got k_len " +
                           std::to_string(k.shape()[2]) + (options.causal ? ", causal" : "") +
                           (options.keyMask ? ", a key mask" : ""));
  }
  packAndLaunchForward(
      kernel.compiled.constants, [&](const KernelArgs &) -> const JitKernel & { return kernel; }, q,
      k, v, out, lse, options, stream);
}
