//===- RuntimeGpuTest.cpp - The runtime on a GPU --------------------------===//
//
// Device memory, views, NVRTC kernels loaded as PTX and launched, streams and
// events, checked against the host. Skips itself without a GPU.
//
//===----------------------------------------------------------------------===//

#include "common/Testing.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Module.h"
#include "tessera/runtime/Nvrtc.h"
#include "tessera/runtime/Stream.h"
#include "tessera/runtime/Tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace tessera;

namespace {

#define SKIP_WITHOUT_GPU()                                                                         \
  if (!gpuAvailable())                                                                             \
  GTEST_SKIP() << "no GPU: " << Driver::get().unavailableReason()

using test::contains;
using test::errorOf;

std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 3.f);
  std::vector<float> v(n);
  for (float &f : v)
    f = dist(gen);
  return v;
}

TEST(Device, ReportsTheDeviceInUse) {
  SKIP_WITHOUT_GPU();
  const DeviceInfo &dev = currentDevice();
  EXPECT_FALSE(dev.name.empty());
  EXPECT_GE(dev.ccMajor, 7);
  EXPECT_GT(dev.smCount, 0);
  EXPECT_GE(dev.sharedPerBlockOptin, size_t(48 * 1024));
  EXPECT_GT(dev.l2Bytes, size_t(0));
  EXPECT_EQ(dev.arch().rfind("sm_" + std::to_string(dev.ccMajor), 0), 0u) << dev.arch();
  EXPECT_GE(Driver::get().version(), 12000);
  std::printf("device %d: %s, %s, %d SMs, %zu KiB shared/block, %zu MiB L2, driver %d, NVRTC %s\n",
              dev.ordinal, dev.name.c_str(), dev.arch().c_str(), dev.smCount,
              dev.sharedPerBlockOptin / 1024, dev.l2Bytes >> 20, Driver::get().version(),
              nvrtcVersion().c_str());
  EXPECT_NO_THROW(synchronizeDevice());
}

const char *kSaxpy = R"(
extern "C" __global__ void saxpy(float a, const float *x, const float *y, float *out,
                                 long long n) {
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = fmaf(a, x[i], y[i]);
}
)";

TEST(Nvrtc, SaxpyMatchesTheHostAndLeavesTheTailAlone) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 1000003, guard = 61; // n is no multiple of the block
  const float a = -1.75f;
  std::vector<float> x = randomFloats(n, 1), y = randomFloats(n, 2);
  DeviceTensor dx = DeviceTensor::fromFloat(x, {n}, DType::F32);
  DeviceTensor dy = DeviceTensor::fromFloat(y, {n}, DType::F32);
  // The output is a view of a larger, poisoned buffer: any write past n shows.
  DeviceTensor whole = DeviceTensor::empty({n + guard}, DType::F32);
  whole.fillBytes(0xff);
  DeviceTensor out = whole.view({n}, {1}, 0);

  Module module = Module::loadData(compileCudaToPtx(kSaxpy, "saxpy.cu", currentDevice().arch()));
  CUfunction saxpy = module.function("saxpy");
  KernelArgs args;
  args.add(a).add(dx.data()).add(dy.data()).add(out.data()).add(static_cast<long long>(n));
  LaunchConfig config;
  config.block[0] = 256;
  config.grid[0] = unsigned((n + 255) / 256);

  Stream stream;
  Event start, stop;
  start.record(stream);
  launch(saxpy, config, args, stream);
  stop.record(stream);
  // Read on the default stream without waiting for `stream` first: Tessera's
  // streams synchronise with it, so the copy follows the kernel.
  std::vector<float> got = whole.toFloat();
  stop.synchronize();
  EXPECT_GT(Event::elapsedMs(start, stop), 0.f);

  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i)
    if (got[i] != std::fma(a, x[i], y[i]) && bad++ < 5)
      ADD_FAILURE() << "out[" << i << "] = " << got[i] << ", expected " << std::fma(a, x[i], y[i]);
  EXPECT_EQ(bad, 0);
  std::vector<uint8_t> tail(guard * 4);
  whole.view({guard}, {1}, n).copyToHost(tail.data());
  for (size_t i = 0; i < tail.size(); ++i)
    ASSERT_EQ(tail[i], 0xff) << "the kernel wrote byte " << i << " past the end";
}

TEST(Nvrtc, LaunchRaisesTheDynamicSharedMemoryLimit) {
  SKIP_WITHOUT_GPU();
  const char *src = R"(
extern "C" __global__ void reverse(const float *in, float *out, int n) {
  extern __shared__ float s[];
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    s[i] = in[i];
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    out[i] = s[n - 1 - i];
}
)";
  const DeviceInfo &dev = currentDevice();
  Module module = Module::loadData(compileCudaToPtx(src, "reverse.cu", dev.arch()));
  CUfunction reverse = module.function("reverse");
  // 100 KiB: past the 48 KiB default, within what Ampere and later allow.
  const int n = 100 * 1024 / 4;
  std::vector<float> in = randomFloats(n, 3);
  DeviceTensor din = DeviceTensor::fromFloat(in, {n}, DType::F32);
  DeviceTensor dout = DeviceTensor::empty({n}, DType::F32);
  dout.fillBytes(0xff);
  KernelArgs args;
  args.add(din.data()).add(dout.data()).add(n);
  LaunchConfig config;
  config.block[0] = 512;
  config.sharedBytes = n * 4;
  ASSERT_LE(config.sharedBytes, dev.sharedPerBlockOptin);
  launch(reverse, config, args);
  std::vector<float> got = dout.toFloat();
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(got[i], in[n - 1 - i]) << "at " << i;

  config.sharedBytes = unsigned(dev.sharedPerBlockOptin + 4);
  EXPECT_TRUE(contains(errorOf([&] { launch(reverse, config, args); }), "launch: sharedBytes"));
}

TEST(DeviceTensor, HalfFormatsRoundTripThroughTheDevice) {
  SKIP_WITHOUT_GPU();
  std::vector<float> values = randomFloats(4099, 4);
  const float inf = std::numeric_limits<float>::infinity();
  for (float special :
       {0.f, -0.f, 1.f, -1.f, 65504.f, 65520.f, 1e-7f, -3e-5f, 3.3e38f, inf, -inf, 1e-40f})
    values.push_back(special);
  values.push_back(std::numeric_limits<float>::quiet_NaN());
  int64_t n = int64_t(values.size());
  for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
    DeviceTensor t = DeviceTensor::fromFloat(values, {n}, dtype);
    EXPECT_EQ(t.nbytes(), size_t(n) * byteSize(dtype));
    std::vector<float> got = t.toFloat();
    ASSERT_EQ(got.size(), values.size());
    for (int64_t i = 0; i + 1 < n; ++i) {
      float expected = roundTo(dtype, values[i]);
      // Bitwise, so that -0 and the infinities count.
      ASSERT_EQ(floatBits(got[i]), floatBits(expected))
          << name(dtype) << ": " << values[i] << " came back as " << got[i] << ", expected "
          << expected;
    }
    EXPECT_TRUE(std::isnan(got[n - 1])) << name(dtype);
  }
  // The specials reach the formats' edges: 65520 overflows f16, 1e-7 is an
  // f16 subnormal, bf16 keeps f32's range.
  EXPECT_EQ(roundTo(DType::F16, 65520.f), inf);
  EXPECT_GT(roundTo(DType::F16, 1e-7f), 0.f);
  EXPECT_EQ(roundTo(DType::BF16, 65520.f), 65536.f);

  std::vector<float> ints = {0, 1, -1, 16777216, -2147483648.f};
  EXPECT_EQ(DeviceTensor::fromFloat(ints, {5}, DType::I32).toFloat(), ints);
  EXPECT_EQ(DeviceTensor::fromFloat({0, 2, -1, 0}, {2, 2}, DType::I1).toFloat(),
            (std::vector<float>{0, 1, 1, 0}));
}

TEST(DeviceTensor, FillCopyAndEmptyTensors) {
  SKIP_WITHOUT_GPU();
  std::vector<float> v = randomFloats(1000, 5);
  DeviceTensor a = DeviceTensor::fromFloat(v, {10, 100}, DType::F32);
  DeviceTensor b = DeviceTensor::empty({10, 100}, DType::F32);
  b.fillBytes(0xff);
  for (float f : b.toFloat())
    ASSERT_TRUE(std::isnan(f));
  b.fillBytes(0);
  for (float f : b.toFloat())
    ASSERT_EQ(floatBits(f), 0u);
  b.copyFrom(a);
  EXPECT_EQ(b.toFloat(), v);
  EXPECT_TRUE(contains(errorOf([&] { b.copyFrom(DeviceTensor::empty({1000}, DType::F32)); }),
                       "copyFrom: src: expected f32 (10, 100), got f32 (1000)"));
  DeviceTensor strided = a.view({10, 90}, {100, 1}, 0);
  EXPECT_TRUE(
      contains(errorOf([&] { strided.copyFrom(strided); }), "expected a contiguous tensor"));

  // Zero elements: an address all the same, and nothing to copy.
  DeviceTensor e = DeviceTensor::empty({0, 7}, DType::BF16);
  EXPECT_NE(e.data(), CUdeviceptr(0));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_TRUE(e.toFloat().empty());
  e.fillBytes(0xff);
  EXPECT_EQ(DeviceTensor::empty({}, DType::F32).numel(), 1);
}

TEST(DeviceTensor, ViewsShareTheBufferAndStayInsideIt) {
  SKIP_WITHOUT_GPU();
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i)
    v[i] = float(i);
  DeviceTensor base = DeviceTensor::fromFloat(v, {4, 6}, DType::F32);
  EXPECT_TRUE(base.isContiguous());
  EXPECT_EQ(base.strides(), (std::vector<int64_t>{6, 1}));

  DeviceTensor row = base.view({6}, {1}, 6);
  EXPECT_EQ(row.toFloat(), (std::vector<float>{6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(row.data(), base.data() + 6 * 4);
  EXPECT_EQ(base.view({2, 6}, {6, 1}, 12).toFloat(),
            (std::vector<float>{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}));
  // Offsets of a view of a view count from the view's first element.
  DeviceTensor odd = row.view({3}, {2}, 1);
  EXPECT_EQ(odd.storageOffset(), 7);
  EXPECT_FALSE(odd.isContiguous());
  EXPECT_TRUE(contains(errorOf([&] { odd.toFloat(); }),
                       "DeviceTensor::toFloat: expected a contiguous tensor, got shape (3) with "
                       "strides (2)"));
  // Writes through a view land in the shared buffer.
  row.copyFromHost(std::vector<float>(6, -1.f).data());
  EXPECT_EQ(base.toFloat()[6], -1.f);
  EXPECT_EQ(base.toFloat()[12], 12.f);
  // Size-1 dimensions and negative strides.
  EXPECT_TRUE(base.view({1, 6}, {999, 1}, 18).isContiguous());
  DeviceTensor reversed = base.view({6}, {-1}, 5);
  EXPECT_EQ(reversed.storageOffset(), 5);

  std::string pastEnd = errorOf([&] { base.view({4, 6}, {6, 1}, 1); });
  EXPECT_EQ(
      pastEnd,
      "DeviceTensor::view: shape (4, 6) with strides (6, 1) at offsetElements 1 reaches "
      "element 24 of a buffer of 24 f32 elements: shape, strides or offsetElements too large");
  EXPECT_TRUE(contains(errorOf([&] { base.view({6}, {5}, 0); }), "reaches element 25"));
  EXPECT_TRUE(contains(errorOf([&] { base.view({1}, {1}, -1); }),
                       "DeviceTensor::view: offsetElements: expected the view to start inside the "
                       "buffer of 24 elements"));
  EXPECT_TRUE(contains(errorOf([&] { row.view({1}, {1}, -7); }), "offsetElements"));
  EXPECT_TRUE(contains(errorOf([&] { base.view({3}, {-1}, 1); }),
                       "reaches element -1, before the buffer's start"));
  std::string badRank = errorOf([&] { base.view({2, 3}, {3}, 0); });
  EXPECT_EQ(badRank,
            "DeviceTensor::view: strides: expected 2 (one per dimension of shape (2, 3)), got (3)");
  std::string negative = errorOf([&] { base.view({2, -3}, {3, 1}, 0); });
  EXPECT_TRUE(contains(negative, "view: shape: expected non-negative sizes")) << negative;
  EXPECT_TRUE(contains(errorOf([&] { base.view({2, 2}, {INT64_MAX, 1}, 0); }), "strides overflow"));
  // An empty view may sit at the very end.
  EXPECT_EQ(base.view({0}, {1}, 24).numel(), 0);
}

TEST(Module, ErrorsNameTheKernelAndCarryTheJitLog) {
  SKIP_WITHOUT_GPU();
  Module module = Module::loadData(compileCudaToPtx(kSaxpy, "saxpy.cu", currentDevice().arch()));
  EXPECT_TRUE(contains(errorOf([&] { module.function("saxpi"); }), "got 'saxpi'"));
  std::string garbage = errorOf([] { Module::loadData("not an image"); });
  EXPECT_TRUE(contains(garbage, "cuModuleLoadDataEx(image) failed: CUDA_ERROR_")) << garbage;
  std::string badPtx = errorOf([] {
    Module::loadData(".version 8.0\n.target sm_80\n.address_size 64\n"
                     ".visible .entry k() { bogus.instruction; }\n");
  });
  EXPECT_TRUE(contains(badPtx, "CUDA_ERROR_INVALID_PTX")) << badPtx;
  EXPECT_TRUE(contains(badPtx, "\nptxas")) << badPtx;
}

TEST(Device, AnyThreadMayUseTheRuntime) {
  SKIP_WITHOUT_GPU();
  std::vector<float> got;
  std::string error;
  std::thread worker([&] {
    try {
      got = DeviceTensor::fromFloat({1, 2, 3}, {3}, DType::BF16).toFloat();
    } catch (const Error &e) {
      error = e.what();
    }
  });
  worker.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(got, (std::vector<float>{1, 2, 3}));
}

TEST(Stream, StreamsAndEventsMove) {
  SKIP_WITHOUT_GPU();
  Stream a;
  CUstream handle = a.handle();
  EXPECT_NE(handle, nullptr);
  Stream b = std::move(a);
  EXPECT_EQ(b.handle(), handle);
  EXPECT_EQ(a.handle(), nullptr);
  Event e1, e2;
  e1.record(b);
  Event moved = std::move(e1);
  e2.record(b);
  e2.synchronize();
  EXPECT_GE(Event::elapsedMs(moved, e2), 0.f);
  EXPECT_TRUE(contains(errorOf([&] { e1.record(b); }), "moved from"));
  b.synchronize();
}

// A non-blocking stream is ordered with another only through an event: a
// copy queued there after wait() reads what a slow kernel on the other
// stream wrote (without the wait it would read the 0 before the write).
TEST(Stream, NonBlockingStreamWaitsForAnEvent) {
  SKIP_WITHOUT_GPU();
  const char *src = R"(
extern "C" __global__ void late_write(int *flag, long long cycles) {
  long long start = clock64();
  while (clock64() - start < cycles) {
  }
  *flag = 1;
}
)";
  Module module = Module::loadData(compileCudaToPtx(src, "late.cu", currentDevice().arch()));
  DeviceTensor flag = DeviceTensor::empty({1}, DType::F32);
  flag.fillBytes(0);
  DeviceTensor seen = DeviceTensor::empty({1}, DType::F32);
  seen.fillBytes(0xff);
  Stream writer, reader(/*blocking=*/false);
  Event written(/*timing=*/false);
  KernelArgs args;
  args.add(flag.data()).add(static_cast<long long>(50'000'000)); // ~30 ms
  LaunchConfig config;
  launch(module.function("late_write"), config, args, writer);
  written.record(writer);
  reader.wait(written);
  seen.copyFrom(flag, reader);
  reader.synchronize();
  int32_t got = 0;
  seen.copyToHost(&got);
  EXPECT_EQ(got, 1) << "the reader's copy ran before the writer's kernel finished";
  Event moved(false), from = std::move(moved);
  EXPECT_TRUE(contains(errorOf([&] { reader.wait(moved); }), "moved from"));
  writer.synchronize();
}

} // namespace
