//===- InterpreterTest.cpp - DSL kernels run on the CPU -------------------===//
//
// The foundation kernels and attention forward run through the interpreter
// on fresh random inputs at sizes that are not multiples of their blocks,
// outputs poisoned first, against float64 references: CI checks the numerics
// of every DSL kernel without a GPU.
//
//===----------------------------------------------------------------------===//

#include "tessera/Interpreter/Interpreter.h"
#include "tessera/kernels/Registry.h"
#include "tessera/kernels/attention.h"

#include "tessera/InitAll.h"
#include "tessera/dsl.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

using namespace tessera;

namespace {

std::mt19937 &rng() {
  static std::mt19937 gen(std::random_device{}());
  return gen;
}

/// A row-major host tensor in a dtype's own bytes.
struct HostTensor {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  HostTensor(std::vector<int64_t> s, DType d) : dtype(d), shape(std::move(s)) {
    bytes.assign(numel() * byteSize(d), 0xff); // poison: NaN in every float format
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t x : shape)
      n *= x;
    return n;
  }
  static HostTensor random(std::vector<int64_t> s, DType d, float lo = -2, float hi = 2) {
    HostTensor t(std::move(s), d);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, dist(rng()));
    return t;
  }
  void set(int64_t i, float v) {
    switch (dtype) {
    case DType::F32:
      std::memcpy(&bytes[i * 4], &v, 4);
      break;
    case DType::F16: {
      uint16_t h = floatToF16(v);
      std::memcpy(&bytes[i * 2], &h, 2);
      break;
    }
    case DType::BF16: {
      uint16_t h = floatToBF16(v);
      std::memcpy(&bytes[i * 2], &h, 2);
      break;
    }
    case DType::I32: {
      int32_t x = int32_t(v);
      std::memcpy(&bytes[i * 4], &x, 4);
      break;
    }
    case DType::I1:
      bytes[i] = v != 0;
      break;
    }
  }
  float get(int64_t i) const {
    uint16_t h;
    float f;
    switch (dtype) {
    case DType::F32:
      std::memcpy(&f, &bytes[i * 4], 4);
      return f;
    case DType::F16:
      std::memcpy(&h, &bytes[i * 2], 2);
      return f16ToFloat(h);
    case DType::BF16:
      std::memcpy(&h, &bytes[i * 2], 2);
      return bf16ToFloat(h);
    case DType::I32: {
      int32_t x;
      std::memcpy(&x, &bytes[i * 4], 4);
      return float(x);
    }
    case DType::I1:
      return bytes[i];
    }
    return 0;
  }
  /// ptr, sizes, strides: how the DSL passes a tensor.
  void addTo(std::vector<interp::Arg> &args) {
    args.push_back(interp::Arg::pointer(bytes.data(), bytes.size()));
    for (int64_t s : shape)
      args.push_back(interp::Arg::i32(int32_t(s)));
    int64_t stride = numel();
    for (int64_t s : shape) {
      stride /= std::max<int64_t>(s, 1);
      args.push_back(interp::Arg::i32(int32_t(stride)));
    }
  }
};

double relError(const HostTensor &out, const std::vector<double> &ref) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    float v = out.get(i);
    if (std::isnan(v)) {
      ADD_FAILURE() << "NaN at element " << i << " (unwritten?)";
      return INFINITY;
    }
    num += (v - ref[i]) * (v - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

double bound(DType d) { return d == DType::F32 ? 1e-5 : d == DType::F16 ? 2e-3 : 1e-2; }

class Interpret : public ::testing::TestWithParam<DType> {
protected:
  Interpret() {
    mlir::DialectRegistry registry;
    registerTesseraDialects(registry);
    ctx.appendDialectRegistry(registry);
  }
  void run(const std::string &kernel, const kernels::KernelConfig &config, interp::LaunchGrid grid,
           const std::vector<interp::Arg> &args) {
    mlir::OwningOpRef<mlir::ModuleOp> module = kernels::lookup(kernel).build(ctx, config);
    llvm::Error e = interp::run(*module, grid, args);
    ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  }
  kernels::KernelConfig config(const std::string &kernel, std::map<std::string, int64_t> c = {}) {
    return kernels::makeConfig(kernels::lookup(kernel), GetParam(), 4, c);
  }
  mlir::MLIRContext ctx;
};

TEST_P(Interpret, VectorAdd) {
  DType d = GetParam();
  for (int64_t n : {1000, 1500}) {
    HostTensor x = HostTensor::random({n}, d), y = HostTensor::random({n}, d), out({n}, d);
    std::vector<interp::Arg> args;
    x.addTo(args);
    y.addTo(args);
    out.addTo(args);
    run("vector_add", config("vector_add"), {unsigned((n + 1023) / 1024)}, args);
    std::vector<double> ref(n);
    for (int64_t i = 0; i < n; ++i)
      ref[i] = double(x.get(i)) + y.get(i);
    EXPECT_LE(relError(out, ref), bound(d)) << "n=" << n;
  }
}

TEST_P(Interpret, Softmax) {
  DType d = GetParam();
  int64_t rows = 5, cols = 300;
  HostTensor x = HostTensor::random({rows, cols}, d, -6, 6), out({rows, cols}, d);
  std::vector<interp::Arg> args;
  x.addTo(args);
  out.addTo(args);
  run("softmax", config("softmax", {{"BLOCK_N", 512}, {"BLOCK_M", 2}}), {3}, args);
  std::vector<double> ref(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < cols; ++c)
      m = std::max(m, double(x.get(r * cols + c)));
    for (int64_t c = 0; c < cols; ++c)
      s += std::exp(x.get(r * cols + c) - m);
    for (int64_t c = 0; c < cols; ++c)
      ref[r * cols + c] = std::exp(x.get(r * cols + c) - m) / s;
  }
  EXPECT_LE(relError(out, ref), bound(d));
}

TEST_P(Interpret, RmsNorm) {
  DType d = GetParam();
  int64_t rows = 5, cols = 300;
  HostTensor x = HostTensor::random({rows, cols}, d), w = HostTensor::random({cols}, d);
  HostTensor out({rows, cols}, d);
  std::vector<interp::Arg> args;
  x.addTo(args);
  w.addTo(args);
  out.addTo(args);
  const float eps = 1e-5f;
  args.push_back(interp::Arg::f32(1.f / float(cols)));
  args.push_back(interp::Arg::f32(eps));
  run("rms_norm", config("rms_norm", {{"BLOCK_N", 512}, {"BLOCK_M", 2}}), {3}, args);
  std::vector<double> ref(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c)
      ss += double(x.get(r * cols + c)) * x.get(r * cols + c);
    double inv = 1.0 / std::sqrt(ss / double(cols) + eps);
    for (int64_t c = 0; c < cols; ++c)
      ref[r * cols + c] = x.get(r * cols + c) * inv * w.get(c);
  }
  EXPECT_LE(relError(out, ref), bound(d));
}

TEST_P(Interpret, Matmul) {
  DType d = GetParam();
  int64_t m = 65, k = 33, n = 97;
  HostTensor a = HostTensor::random({m, k}, d), b = HostTensor::random({k, n}, d), c({m, n}, d);
  std::vector<interp::Arg> args;
  a.addTo(args);
  b.addTo(args);
  c.addTo(args);
  run("matmul", config("matmul"), {4, 1}, args); // 2 x 2 blocks of C, grouped order
  std::vector<double> ref(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j)
        ref[i * n + j] += double(a.get(i * k + p)) * b.get(p * n + j);
  EXPECT_LE(relError(c, ref), bound(d));
}

void attentionReference(const HostTensor &q, const HostTensor &k, const HostTensor &v,
                        const HostTensor *mask, bool causal, std::vector<double> &out) {
  int64_t B = q.shape[0], H = q.shape[1], Sq = q.shape[2], D = q.shape[3];
  int64_t Hk = k.shape[1], Sk = k.shape[2];
  out.assign(B * H * Sq * D, 0.0);
  std::vector<double> s(Sk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        int64_t hk = h / (H / Hk);
        double m = -INFINITY;
        for (int64_t j = 0; j < Sk; ++j) {
          bool ok = (!mask || mask->get(b * Sk + j) != 0) && (!causal || j <= i + Sk - Sq);
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(q.get(((b * H + h) * Sq + i) * D + d)) *
                   k.get(((b * Hk + hk) * Sk + j) * D + d);
          s[j] = ok ? dot / std::sqrt(double(D)) : -INFINITY;
          m = std::max(m, s[j]);
        }
        if (m == -INFINITY)
          continue;
        double z = 0;
        for (int64_t j = 0; j < Sk; ++j)
          z += s[j] = std::exp(s[j] - m);
        for (int64_t j = 0; j < Sk; ++j)
          for (int64_t d = 0; d < D; ++d)
            out[((b * H + h) * Sq + i) * D + d] +=
                s[j] / z * v.get(((b * Hk + hk) * Sk + j) * D + d);
      }
}

TEST_P(Interpret, AttentionForwardCausalMaskedGqa) {
  DType d = GetParam();
  for (bool causal : {false, true})
    for (bool masked : {false, true}) {
      HostTensor q = HostTensor::random({1, 4, 70, 64}, d),
                 k = HostTensor::random({1, 2, 90, 64}, d),
                 v = HostTensor::random({1, 2, 90, 64}, d);
      HostTensor out({1, 4, 70, 64}, d), lse({1, 4, 70}, DType::F32), mask({1, 90}, DType::I1);
      std::bernoulli_distribution keep(0.6);
      for (int64_t j = 0; j < 90; ++j)
        mask.set(j, keep(rng()));
      // f32 in the accurate mode: the kernel as it is, on K and V as given
      // (TF32 configurations on sm_90a read them prepared).
      kernels::KernelConfig c =
          attention::forwardConfig(d, 64, causal, masked, "sm_90a", attention::Fp32Precision::ieee);
      std::vector<interp::Arg> args;
      for (HostTensor *t : {&q, &k, &v, &out, &lse})
        t->addTo(args);
      if (masked)
        mask.addTo(args);
      args.push_back(interp::Arg::f32(0.125f));
      unsigned mBlocks = unsigned((70 + c.get("BLOCK_M") - 1) / c.get("BLOCK_M"));
      run("attention_forward", c, {mBlocks, 4}, args);
      std::vector<double> ref;
      attentionReference(q, k, v, masked ? &mask : nullptr, causal, ref);
      EXPECT_LE(relError(out, ref), bound(d)) << "causal=" << causal << " mask=" << masked;
    }
}

/// attention_gather_keys: kc[b, h, j] = k[b, h, rows[b, j]], vc likewise,
/// over blocks that overhang both the kept keys and the head dim; an index of
/// -1 gathers zeros; nothing is written past kc and vc.
TEST_P(Interpret, GatherKeysTakesTheIndexedRows) {
  DType d = GetParam();
  const int64_t B = 2, H = 3, N = 45, D = 40, kept = 37;
  HostTensor k = HostTensor::random({B, H, N, D}, d), v = HostTensor::random({B, H, N, D}, d);
  HostTensor rows({B, kept}, DType::I32), kc({B, H, kept, D}, d), vc({B, H, kept, D}, d);
  std::vector<int32_t> index(B * kept);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < kept; ++j) // batch 1 keeps fewer: its tail is -1
      index[b * kept + j] = b == 1 && j >= 30 ? -1 : int32_t((7 * j + 3 * b) % N);
  for (int64_t i = 0; i < B * kept; ++i)
    rows.set(i, float(index[i]));
  std::vector<interp::Arg> args;
  for (HostTensor *t : {&k, &v, &rows, &kc, &vc})
    t->addTo(args);
  kernels::KernelConfig c = config("attention_gather_keys", {{"BLOCK_N", 16}, {"BLOCK_D", 32}});
  run("attention_gather_keys", c,
      {unsigned((kept + 15) / 16), unsigned(B * H), unsigned((D + 31) / 32)}, args);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; j < kept; ++j)
        for (int64_t e = 0; e < D; ++e) {
          int64_t at = ((b * H + h) * kept + j) * D + e, row = index[b * kept + j];
          float wantK = row < 0 ? 0.f : k.get(((b * H + h) * N + row) * D + e);
          float wantV = row < 0 ? 0.f : v.get(((b * H + h) * N + row) * D + e);
          ASSERT_EQ(kc.get(at), wantK) << "kc[" << b << ", " << h << ", " << j << ", " << e << "]";
          ASSERT_EQ(vc.get(at), wantV) << "vc[" << b << ", " << h << ", " << j << ", " << e << "]";
        }
}

/// Round to nearest tf32, ties away from zero, as cvt.rna.tf32.f32 does it:
/// 10 of f32's 23 mantissa bits kept. Written from the definition, not as
/// the kernel's bit trick: the scaled significand rounded half away.
float nearestTf32(float x) {
  if (!std::isfinite(x) || x == 0)
    return x;
  int e;
  float m = std::frexp(x, &e);             // x = m·2^e, 0.5 <= |m| < 1
  float r = std::round(std::ldexp(m, 11)); // 11 significant bits
  return std::ldexp(r, e - 11);
}

TEST_P(Interpret, PrepareKVTransposesAndRoundsToTf32) {
  DType d = GetParam();
  const int64_t B = 2, H = 3, N = 45, D = 40;
  for (bool round : {false, true}) {
    if (round && d != DType::F32)
      continue;
    HostTensor k = HostTensor::random({B, H, N, D}, d), v = HostTensor::random({B, H, N, D}, d);
    // A tie (exactly half of the lowest kept bit, 2^-11 above 1) rounds
    // away from zero; -0 and a value just below a tie round down.
    v.set(0, 1.f + std::ldexp(1.f, -11));
    v.set(1, -(1.f + std::ldexp(1.f, -11)));
    v.set(2, std::nextafter(1.f + std::ldexp(1.f, -11), 0.f));
    // Vᵀ in blocks of 16 keys; the last block's 3 keys past N are zeros.
    const int64_t BN = 16, blocks = (N + BN - 1) / BN;
    HostTensor vo({B, H, blocks, D, BN}, d), ko({B, H, N, D}, d);
    for (int64_t i = 0; i < B * H * blocks * D * BN; ++i)
      vo.set(i, 7.f); // poisoned: every element is written
    std::vector<interp::Arg> args;
    for (HostTensor *t : {&v, &vo})
      t->addTo(args);
    if (round)
      for (HostTensor *t : {&k, &ko})
        t->addTo(args);
    kernels::KernelConfig c =
        config("attention_prepare_kv",
               {{"BLOCK_N", 16}, {"BLOCK_D", 32}, {"TRANSPOSE_V", 1}, {"ROUND_TF32", round}});
    run("attention_prepare_kv", c, {unsigned(blocks), unsigned(B * H), unsigned((D + 31) / 32)},
        args);
    auto voAt = [&](int64_t bh, int64_t e, int64_t j) {
      return vo.get(((bh * blocks + j / BN) * D + e) * BN + j % BN);
    };
    auto want = [&](float x) { return round ? nearestTf32(x) : x; };
    for (int64_t bh = 0; bh < B * H; ++bh)
      for (int64_t j = 0; j < N; ++j)
        for (int64_t e = 0; e < D; ++e) {
          int64_t at = (bh * N + j) * D + e;
          ASSERT_EQ(voAt(bh, e, j), want(v.get(at)))
              << "vo[" << bh << ", " << e << ", " << j << "], round " << round;
          if (round)
            ASSERT_EQ(ko.get(at), want(k.get(at))) << "ko[" << bh << ", " << j << ", " << e << "]";
        }
    for (int64_t bh = 0; bh < B * H; ++bh)
      for (int64_t j = N; j < blocks * BN; ++j)
        for (int64_t e = 0; e < D; ++e)
          ASSERT_EQ(voAt(bh, e, j), 0.f) << "vo past the keys";
    if (round) {
      EXPECT_EQ(voAt(0, 0, 0), 1.f + std::ldexp(1.f, -10));
      EXPECT_EQ(voAt(0, 1, 0), -(1.f + std::ldexp(1.f, -10)));
      EXPECT_EQ(voAt(0, 2, 0), 1.f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Interpret, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto &info) { return std::string(name(info.param)); });

TEST(Interpreter, AttentionForward1x2x256x64UnderTenSeconds) {
  mlir::MLIRContext ctx;
  HostTensor q = HostTensor::random({1, 2, 256, 64}, DType::BF16);
  HostTensor k = HostTensor::random({1, 2, 256, 64}, DType::BF16);
  HostTensor v = HostTensor::random({1, 2, 256, 64}, DType::BF16);
  HostTensor out({1, 2, 256, 64}, DType::BF16), lse({1, 2, 256}, DType::F32);
  kernels::KernelConfig c = attention::forwardConfig(DType::BF16, 64, false, false);
  std::vector<interp::Arg> args;
  for (HostTensor *t : {&q, &k, &v, &out, &lse})
    t->addTo(args);
  args.push_back(interp::Arg::f32(0.125f));
  mlir::OwningOpRef<mlir::ModuleOp> module = kernels::lookup("attention_forward").build(ctx, c);
  auto start = std::chrono::steady_clock::now();
  llvm::Error e = interp::run(*module, {unsigned(256 / c.get("BLOCK_M")), 2}, args);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  EXPECT_LT(seconds, 10.0);
  std::vector<double> ref;
  attentionReference(q, k, v, nullptr, false, ref);
  EXPECT_LE(relError(out, ref), 1e-2);
  RecordProperty("seconds", std::to_string(seconds));
  std::printf("attention forward (1,2,256,64) bf16 interpreted in %.3f s\n", seconds);
}

TEST(Interpreter, OutOfBufferAccessNamesTheOpAndLocation) {
  mlir::MLIRContext ctx;
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  mlir::OwningOpRef<mlir::ModuleOp> module =
      def.build(ctx, kernels::makeConfig(def, DType::F32, 4, {}));
  std::vector<float> x(100, 1.f), out(100);
  // The tensor claims 200 elements; its buffer holds 100.
  std::vector<interp::Arg> args = {
      interp::Arg::pointer(x.data(), 400),   interp::Arg::i32(200), interp::Arg::i32(1),
      interp::Arg::pointer(x.data(), 400),   interp::Arg::i32(200), interp::Arg::i32(1),
      interp::Arg::pointer(out.data(), 400), interp::Arg::i32(200), interp::Arg::i32(1)};
  llvm::Error e = interp::run(*module, {1}, args);
  ASSERT_TRUE(bool(e));
  std::string msg = llvm::toString(std::move(e));
  EXPECT_NE(msg.find("'tile.load' at"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Basic.cpp"), std::string::npos) << msg; // the DSL source line
  EXPECT_NE(
      msg.find("element (100) is at byte offset 400, outside the 400-byte buffer of argument 0"),
      std::string::npos)
      << msg;
}

TEST(Interpreter, OutOfBoundsBlocksArePaddedAndDropped) {
  mlir::MLIRContext ctx;
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  mlir::OwningOpRef<mlir::ModuleOp> module =
      def.build(ctx, kernels::makeConfig(def, DType::F32, 4, {{"BLOCK", 64}}));
  std::vector<float> x(10, 2.f), out(12, -7.f);
  // out's buffer has two guard elements past the tensor's 10: untouched.
  std::vector<interp::Arg> args = {
      interp::Arg::pointer(x.data(), 40),   interp::Arg::i32(10), interp::Arg::i32(1),
      interp::Arg::pointer(x.data(), 40),   interp::Arg::i32(10), interp::Arg::i32(1),
      interp::Arg::pointer(out.data(), 48), interp::Arg::i32(10), interp::Arg::i32(1)};
  llvm::Error e = interp::run(*module, {1}, args);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(out[i], 4.f);
  EXPECT_EQ(out[10], -7.f);
  EXPECT_EQ(out[11], -7.f);
}

/// Every program adds its (rows x 4) block into the same 4 x rows output
/// through a transposed view: out = sum over programs of xᵀ, each element
/// once per program, the block rows past the tensor dropped.
TEST(Interpreter, AtomicAddSumsOverProgramsThroughTransposedView) {
  mlir::MLIRContext ctx;
  mlir::DialectRegistry registry;
  registerTesseraDialects(registry);
  ctx.appendDialectRegistry(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module;
  {
    dsl::KernelBuilder kb(ctx, "sum_transposed", 4);
    dsl::TensorArg x = kb.tensor("x", DType::F32, 2), out = kb.tensor("out", DType::F32, 2);
    dsl::Tile t = dsl::load(x, {dsl::Scalar(0), dsl::Scalar(0)}, {8, 4}) *
                  dsl::to_f32(dsl::program_id(0) + dsl::Scalar(1));
    dsl::atomic_add(out.transposed(), {dsl::Scalar(0), dsl::Scalar(0)}, t);
    module = kb.finish();
  }
  const int64_t rows = 6, programs = 3;
  std::normal_distribution<float> normal;
  std::vector<float> x(rows * 4), out(4 * rows);
  for (float &v : x)
    v = normal(rng());
  for (float &v : out)
    v = normal(rng());
  std::vector<float> expected = out;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < 4; ++j)
      expected[j * rows + i] += x[i * 4 + j] * (1 + 2 + 3);
  std::vector<interp::Arg> args = {interp::Arg::pointer(x.data(), x.size() * 4),
                                   interp::Arg::i32(rows),
                                   interp::Arg::i32(4),
                                   interp::Arg::i32(4),
                                   interp::Arg::i32(1),
                                   interp::Arg::pointer(out.data(), out.size() * 4),
                                   interp::Arg::i32(4),
                                   interp::Arg::i32(rows),
                                   interp::Arg::i32(rows),
                                   interp::Arg::i32(1)};
  llvm::Error e = interp::run(*module, {unsigned(programs)}, args);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_NEAR(out[i], expected[i], 1e-5f * (1 + std::abs(expected[i]))) << i;
}

TEST(Interpreter, HalfResultsAreRoundedAfterEveryOp) {
  mlir::MLIRContext ctx;
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  mlir::OwningOpRef<mlir::ModuleOp> module =
      def.build(ctx, kernels::makeConfig(def, DType::F16, 4, {{"BLOCK", 64}}));
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10 in f16: it rounds to even, 1.
  uint16_t x[2] = {floatToF16(1.f), floatToF16(1.f)},
           y[2] = {floatToF16(0x1p-11f), floatToF16(0x1p-10f)};
  uint16_t out[2] = {0xffff, 0xffff};
  std::vector<interp::Arg> args = {
      interp::Arg::pointer(x, 4),   interp::Arg::i32(2), interp::Arg::i32(1),
      interp::Arg::pointer(y, 4),   interp::Arg::i32(2), interp::Arg::i32(1),
      interp::Arg::pointer(out, 4), interp::Arg::i32(2), interp::Arg::i32(1)};
  llvm::Error e = interp::run(*module, {1}, args);
  ASSERT_FALSE(bool(e)) << llvm::toString(std::move(e));
  EXPECT_EQ(f16ToFloat(out[0]), roundTo(DType::F16, 1.f + 0x1p-11f));
  EXPECT_EQ(f16ToFloat(out[0]), 1.f);
  EXPECT_EQ(f16ToFloat(out[1]), 1.f + 0x1p-10f);
}

TEST(Interpreter, UnsupportedOpIsNamed) {
  mlir::MLIRContext ctx;
  mlir::DialectRegistry registry;
  registerTesseraDialects(registry);
  ctx.appendDialectRegistry(registry);
  dsl::KernelBuilder kb(ctx, "arctangent");
  dsl::TensorArg x = kb.tensor("x", DType::F32, 1);
  dsl::Tile t = dsl::load(x, {dsl::Scalar(0)}, {16});
  mlir::Value s = mlir::math::AtanOp::create(kb.builder(), kb.loc(), t.getValue());
  dsl::store(x, {dsl::Scalar(0)}, dsl::Tile(s));
  mlir::OwningOpRef<mlir::ModuleOp> module = kb.finish();
  std::vector<float> data(16, 0.5f);
  llvm::Error e = interp::run(
      *module, {1},
      {interp::Arg::pointer(data.data(), 64), interp::Arg::i32(16), interp::Arg::i32(1)});
  ASSERT_TRUE(bool(e));
  std::string msg = llvm::toString(std::move(e));
  EXPECT_NE(msg.find("interpreter: 'math.atan' at"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unsupported operation"), std::string::npos) << msg;
}

TEST(Interpreter, ArgumentCountAndKindAreChecked) {
  mlir::MLIRContext ctx;
  const kernels::KernelDef &def = kernels::lookup("vector_add");
  mlir::OwningOpRef<mlir::ModuleOp> module =
      def.build(ctx, kernels::makeConfig(def, DType::F32, 4, {}));
  llvm::Error e = interp::run(*module, {1}, {interp::Arg::i32(1)});
  ASSERT_TRUE(bool(e));
  EXPECT_NE(llvm::toString(std::move(e)).find("takes 9 arguments, got 1"), std::string::npos);
}

} // namespace
