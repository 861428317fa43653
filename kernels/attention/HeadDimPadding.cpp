//===- HeadDimPadding.cpp - Operands no 16-byte vector fits ---------------===//
//
// The kernels read Q, K, V rows as 16-byte vectors (cp.async, and the
// wgmma path's swizzled tiles); rows of a head dim that is not a multiple of
// 16 bytes (59 or 111 in 16 bits, 59 in f32), or a base or strides off 16
// bytes (views of odd strides), leave only element loads, 18 to 22 times
// slower (docs/PERFORMANCE.md), whose kernels spill registers at several
// head dims. As FlashAttention's wrappers do, forward() and backward() then
// run the operands their loops stream (the forward's K and V, the
// backward's Q, K, V and dO) on contiguous copies whose rows are padded
// with zeros to the next multiple of 16 bytes (of 32 on sm_90 where the
// TMA kernels need whole sectors: backwardRowBytes, forwardRowBytes):
// memory-bound passes
// (attention_copy_flat_rows for contiguous tensors, attention_copy_head_dim
// for other views). What a program reads or writes once (the forward's Q
// and O, the backward's O and gradients) stays in place, reached element by
// element; the forward's O goes through a padded copy, its first columns
// copied back, where its kernel would spill writing it so (Forward.cpp).
//
//===----------------------------------------------------------------------===//

#include "Internal.h"
#include "tessera/Support/Env.h"
#include "tessera/dsl.h"
#include "tessera/kernels/Launch.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Error.h"

#include <algorithm>

using namespace tessera;
using namespace tessera::dsl;
using kernels::KernelConfig;

namespace {

/// dst[b, h, i, j] = j < src's last dim ? src[b, h, i, j] : 0 for every j
/// of dst's last dim: the load reads past src's columns as zeros, the store
/// writes dst's columns only. One program per BLOCK_M rows of a (b, h).
void copyHeadDimKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BM = kb.constant("BLOCK_M", config.get("BLOCK_M"));
  const int64_t BD = kb.constant("BLOCK_D", config.get("BLOCK_D"));
  TensorArg src = kb.tensor("src", config.dtype, 4), dst = kb.tensor("dst", config.dtype, 4);
  Scalar bh = program_id(1), b = bh / src.size(1), h = bh % src.size(1);
  Scalar startM = program_id(0) * Scalar(BM);
  store(dst.at({b, h}), {startM, Scalar(0)}, load(src.at({b, h}), {startM, Scalar(0)}, {BM, BD}));
}

/// The same for contiguous tensors seen as flat arrays (rows · width
/// elements each; as (n, 1) tensors, whose rows gather_rows reads one by
/// one): program p writes dst's elements p·BLOCK .., element j at (row, col)
/// = (j / DST_WIDTH, j % DST_WIDTH) taking src's element row · SRC_WIDTH +
/// col, or 0 past SRC_WIDTH. Consecutive threads read and write
/// consecutive elements, so rows that are not 16-byte runs still move at
/// full width (the 4-D copy reads them element by element in 16-byte
/// strides, at a fifth of the bandwidth). The widths are constants: a
/// division by a run-time width took a sequence of instructions per
/// element, where a constant's is a multiply and a shift.
void copyFlatRowsKernel(KernelBuilder &kb, const KernelConfig &config) {
  const int64_t BLOCK = kb.constant("BLOCK", config.get("BLOCK"));
  TensorArg src = kb.tensor("src", config.dtype, 2), dst = kb.tensor("dst", config.dtype, 2);
  Scalar srcWidth(kb.constant("SRC_WIDTH", config.get("SRC_WIDTH")));
  Scalar dstWidth(kb.constant("DST_WIDTH", config.get("DST_WIDTH")));
  Scalar start = program_id(0) * Scalar(BLOCK);
  Tile j = arange(BLOCK) + start;
  Tile row = j / dstWidth, col = j - row * dstWidth;
  Tile inside = col < srcWidth;
  Tile from = where(inside, row * srcWidth + col, full({BLOCK}, -1, DType::I32));
  // Row -1 reads as zero (gather_rows' padding).
  store(dst, {start, Scalar(0)}, gather_rows(src, from, Scalar(0), 1));
}

} // namespace

void attention::detail::registerHeadDimCopy(std::map<std::string, kernels::KernelDef> &r) {
  r["attention_copy_flat_rows"] = {
      "attention_copy_flat_rows",
      "contiguous rows copied into rows of another width (zero-padded or cropped)",
      {{"BLOCK", 2048}, {"SRC_WIDTH", 111}, {"DST_WIDTH", 112}},
      {DType::F32, DType::F16, DType::BF16},
      [](mlir::MLIRContext &ctx, const KernelConfig &c) {
        KernelBuilder kb(ctx, "attention_copy_flat_rows", c.numWarps);
        kb.setAlignedTensors(c.alignedTensors);
        copyFlatRowsKernel(kb, c);
        return kb.finish();
      }};
  r["attention_copy_head_dim"] = {
      "attention_copy_head_dim",
      "a rank-4 tensor copied into one of another last dim (zero-padded or cropped)",
      {{"BLOCK_M", 32}, {"BLOCK_D", 64}},
      {DType::F32, DType::F16, DType::BF16},
      [](mlir::MLIRContext &ctx, const KernelConfig &c) {
        KernelBuilder kb(ctx, "attention_copy_head_dim", c.numWarps);
        kb.setAlignedTensors(c.alignedTensors);
        copyHeadDimKernel(kb, c);
        return kb.finish();
      }};
}

int64_t attention::detail::vectorHeadDim(DType dtype, int64_t headDim, int64_t rowBytes) {
  int64_t perRow = rowBytes / int64_t(byteSize(dtype));
  return (headDim + perRow - 1) / perRow * perRow;
}

namespace {

/// Whether 16-bit rows of 16-byte but not 32-byte multiples get padded to
/// whole 32-byte sectors here (sm_90, TESSERA_HEAD_DIM_16B_ROWS unset).
bool sectorRows(DType dtype) {
  static const bool vectorRows = envFlag("TESSERA_HEAD_DIM_16B_ROWS");
  return byteSize(dtype) == 2 && currentDevice().ccMajor == 9 && !vectorRows;
}

} // namespace

int64_t attention::detail::backwardRowBytes(DType dtype) {
  // The backward's TMA boxes over rows of 16-byte but not 32-byte multiples
  // ran its kernels up to 1.8x slower (d 40's 80-byte rows: dQ 1288 against
  // 720 us at (4, 16, 4096)); padded copies of Q, K, V and dO made it
  // 1.15-1.37x faster at d 40, 56, 72 and 88 from 2048 keys and no slower
  // anywhere measured (H100, docs/PERFORMANCE.md "Rows of whole sectors").
  return sectorRows(dtype) ? 32 : 16;
}

int64_t attention::detail::forwardRowBytes(DType dtype, int64_t headDim, bool masked,
                                           int64_t kLen) {
  // The forward's copies of K and V pay only where its key loops are long
  // (H100, docs/PERFORMANCE.md "Rows of whole sectors"): on the d 128 kernel
  // from 2048 keys (d 72 and 88 at 4096 keys 1.06x and 1.19x, d 88 at 2048
  // 1.06x); on the d 64 kernel from 4096 keys at d 40, whose 80-byte rows
  // slowed the kernel most (Nsight Compute at 4096 keys: 673 against 569 us
  // on 96-byte rows, the two copies 33 us), while d 56's 112-byte rows did
  // not slow it (copies lost there, and at d 40 up to 2048 keys: 1.35x
  // slower at 512). Causal or key-masked blocks were not measured.
  int64_t width = nextPowerOf2(headDim);
  bool longLoops = !masked && ((width == 128 && kLen >= 2048) ||
                               (width == 64 && headDim * byteSize(dtype) == 80 && kLen >= 4096));
  return sectorRows(dtype) && longLoops ? 32 : 16;
}

void attention::detail::copyHeadDim(const DeviceTensor &src, DeviceTensor &dst, Stream &stream) {
  const auto &s = src.shape(), &d = dst.shape();
  if (s[0] != d[0] || s[1] != d[1] || s[2] != d[2] || src.dtype() != dst.dtype())
    throw tessera::Error("attention_copy_head_dim: src and dst differ beyond the last dim");
  int64_t total = dst.numel();
  if (src.isContiguous() && dst.isContiguous() && total < (int64_t(1) << 31) - 4096) {
    KernelConfig config =
        kernels::makeConfig(kernels::lookup("attention_copy_flat_rows"), src.dtype(), 4,
                            {{"SRC_WIDTH", s[3]}, {"DST_WIDTH", d[3]}});
    DeviceTensor flatSrc = src.view({src.numel(), 1}, {1, 1});
    DeviceTensor flatDst = dst.view({total, 1}, {1, 1});
    KernelArgs args;
    kernels::detail::addTensor(args, flatSrc, "src");
    kernels::detail::addTensor(args, flatDst, "dst");
    int64_t block = config.get("BLOCK");
    launch(kernels::detail::jitKernel("attention_copy_flat_rows", config, args),
           unsigned((total + block - 1) / block), 1, 1, args, stream);
    return;
  }
  int64_t blockD = nextPowerOf2(std::max(s[3], d[3]));
  KernelConfig config =
      kernels::makeConfig(kernels::lookup("attention_copy_head_dim"), src.dtype(), 4,
                          {{"BLOCK_M", std::max<int64_t>(1, 4096 / blockD)}, {"BLOCK_D", blockD}});
  if (s[0] * s[1] > 65535)
    throw tessera::Error("batch·heads = " + std::to_string(s[0] * s[1]) +
                         " exceeds 65535 programs along grid y");
  KernelArgs args;
  kernels::detail::addTensor(args, src, "src");
  kernels::detail::addTensor(args, dst, "dst");
  int64_t blockM = config.get("BLOCK_M");
  launch(kernels::detail::jitKernel("attention_copy_head_dim", config, args),
         unsigned(std::max<int64_t>(1, (s[2] + blockM - 1) / blockM)), unsigned(s[0] * s[1]), 1,
         args, stream);
}

bool attention::detail::fitsVectors(const DeviceTensor &t, int64_t paddedHeadDim) {
  return t.shape()[3] == paddedHeadDim && kernels::detail::vectorAligned(t);
}

DeviceTensor attention::detail::vectorOperand(const DeviceTensor &t, int64_t paddedHeadDim,
                                              Stream &stream) {
  return fitsVectors(t, paddedHeadDim) ? t : withHeadDim(t, paddedHeadDim, stream);
}

DeviceTensor attention::detail::withHeadDim(const DeviceTensor &t, int64_t headDim,
                                            Stream &stream) {
  const auto &s = t.shape();
  DeviceTensor padded = DeviceTensor::empty({s[0], s[1], s[2], headDim}, t.dtype());
  copyHeadDim(t, padded, stream);
  return padded;
}
