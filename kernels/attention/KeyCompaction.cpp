//===- KeyCompaction.cpp - Dropping masked keys before the forward --------===//
//
// FlashAttention's unpadding: when a key mask drops enough keys, the forward
// runs on the kept ones, gathered to the front of each batch row by
// attention_gather_keys, instead of masking them in every program.
//
//===----------------------------------------------------------------------===//

#include "Internal.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Error.h"

#include <algorithm>

using namespace tessera;
using kernels::KernelConfig;

std::optional<attention::detail::CompactedKeys>
attention::detail::compactKeys(const DeviceTensor &k, const DeviceTensor &v,
                               const DeviceTensor &mask, Stream &stream) {
  if (!mask.isContiguous())
    return std::nullopt;
  const auto &ks = k.shape();
  int64_t batch = ks[0], kLen = ks[2];
  // Waits for the stream: the mask may come from work queued on it.
  std::vector<uint8_t> keep(size_t(batch * kLen));
  mask.copyToHost(keep.data(), stream);
  std::vector<int64_t> counts(batch, 0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < kLen; ++j)
      counts[b] += keep[b * kLen + j] != 0;
  int64_t kept = *std::max_element(counts.begin(), counts.end());
  // Not worth a gather when few keys go; nothing to attend to when none stay
  // (the masked kernel writes those rows' zeros and -inf).
  if (kept == 0 || kLen - kept < kLen / 8)
    return std::nullopt;
  std::vector<int32_t> rows(size_t(batch * kept), -1);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0, n = 0; j < kLen; ++j)
      if (keep[b * kLen + j])
        rows[b * kept + n++] = int32_t(j);
  CompactedKeys c{DeviceTensor::empty({batch, ks[1], kept, ks[3]}, k.dtype()),
                  DeviceTensor::empty({batch, ks[1], kept, ks[3]}, v.dtype()), std::nullopt};
  DeviceTensor rowsTensor = DeviceTensor::empty({batch, kept}, DType::I32);
  rowsTensor.copyFromHost(rows.data(), stream);
  if (std::any_of(counts.begin(), counts.end(), [&](int64_t n) { return n != kept; })) {
    // Batch rows keep different numbers of keys: the shorter ones mask their tails.
    std::vector<uint8_t> valid(size_t(batch * kept));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = 0; j < kept; ++j)
        valid[b * kept + j] = j < counts[b];
    c.mask = DeviceTensor::empty({batch, kept}, DType::I1);
    c.mask->copyFromHost(valid.data(), stream);
  }
  KernelConfig config =
      kernels::makeConfig(kernels::lookup("attention_gather_keys"), k.dtype(), 4, {});
  int64_t bn = config.get("BLOCK_N"), bd = config.get("BLOCK_D");
  if (batch * ks[1] > 65535)
    throw tessera::Error("k: batch·heads = " + std::to_string(batch * ks[1]) +
                         " exceeds 65535 programs along grid y");
  KernelArgs args;
  kernels::detail::addTensor(args, k, "k");
  kernels::detail::addTensor(args, v, "v");
  kernels::detail::addTensor(args, rowsTensor, "rows");
  kernels::detail::addTensor(args, c.k, "kc");
  kernels::detail::addTensor(args, c.v, "vc");
  launch(kernels::detail::jitKernel("attention_gather_keys", config, args),
         unsigned((kept + bn - 1) / bn), unsigned(batch * ks[1]), unsigned((ks[3] + bd - 1) / bd),
         args, stream);
  return c;
}
