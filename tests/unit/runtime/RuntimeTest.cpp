//===- RuntimeTest.cpp - The runtime on a machine without a GPU -----------===//
//
// What the runtime does before it needs a device: why there is none, input
// checks, argument packing, and NVRTC (which needs no GPU). Tests that only
// make sense without a GPU skip themselves where one is present.
//
//===----------------------------------------------------------------------===//

#include "common/Testing.h"
#include "tessera/Support/Env.h"
#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Jit.h"
#include "tessera/runtime/Module.h"
#include "tessera/runtime/Nvrtc.h"
#include "tessera/runtime/Stream.h"
#include "tessera/runtime/Tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace tessera;

namespace {

#define SKIP_WITH_GPU()                                                                            \
  if (gpuAvailable())                                                                              \
  GTEST_SKIP() << "a GPU is present: this test covers machines without one"

using test::contains;
using test::errorOf;

//===----------------------------------------------------------------------===//
// Driver and device without a GPU
//===----------------------------------------------------------------------===//

TEST(Driver, WithoutAGpuIsUnavailableAndSaysWhy) {
  SKIP_WITH_GPU();
  const Driver &d = Driver::get();
  EXPECT_FALSE(d.available());
  EXPECT_FALSE(gpuAvailable());
  const std::string &reason = d.unavailableReason();
  // Without libcuda the reason names it; with a driver but no device it says so.
  EXPECT_TRUE(contains(reason, "libcuda.so.1") || contains(reason, "no CUDA device") ||
              contains(reason, "cuInit failed"))
      << reason;
  EXPECT_EQ(errorOf([&] { d.require(); }), "no GPU: " + reason);
}

TEST(Driver, WithoutAGpuEveryDeviceEntrySaysNoGpu) {
  SKIP_WITH_GPU();
  std::string expected = "no GPU: " + Driver::get().unavailableReason();
  EXPECT_EQ(errorOf([] { DeviceTensor::empty({4}, DType::F32); }), expected);
  EXPECT_EQ(errorOf([] { currentDevice(); }), expected);
  EXPECT_EQ(errorOf([] { Stream s; }), expected);
  EXPECT_EQ(errorOf([] { Event e; }), expected);
  EXPECT_EQ(errorOf([] { Module::loadData(".version 8.0\n"); }), expected);
  // A second try gives the same answer rather than a half-initialised device.
  EXPECT_EQ(errorOf([] { currentDevice(); }), expected);
}

TEST(Stream, DefaultStreamIsTheNullStreamAndNeedsNoGpu) {
  EXPECT_EQ(Stream::defaultStream().handle(), nullptr);
  EXPECT_EQ(&Stream::defaultStream(), &Stream::defaultStream());
}

TEST(DeviceInfo, ArchHasTheASuffixOnlyWhereArchSpecificFeaturesExist) {
  auto arch = [](int major, int minor) {
    DeviceInfo info;
    info.ccMajor = major;
    info.ccMinor = minor;
    return info.arch();
  };
  EXPECT_EQ(arch(7, 5), "sm_75");
  EXPECT_EQ(arch(8, 0), "sm_80");
  EXPECT_EQ(arch(8, 6), "sm_86");
  EXPECT_EQ(arch(8, 9), "sm_89");
  EXPECT_EQ(arch(9, 0), "sm_90a");
  EXPECT_EQ(arch(10, 0), "sm_100a");
  EXPECT_EQ(arch(10, 3), "sm_103a");
  EXPECT_EQ(arch(12, 0), "sm_120a");
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

TEST(Error, CheckCuNamesTheCallAndWhere) {
  EXPECT_NO_THROW(checkCu(CUDA_SUCCESS, "cuInit(0)", __FILE__, __LINE__));
  std::string msg = errorOf([] {
    checkCu(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc(&ptr, bytes)", "/x/lib/Tensor.cpp", 42);
  });
  EXPECT_EQ(msg.rfind("cuMemAlloc(&ptr, bytes) failed: ", 0), 0u) << msg;
  EXPECT_TRUE(contains(msg, " at Tensor.cpp:42")) << msg;
  EXPECT_FALSE(contains(msg, "/x/lib")) << msg;
  // The error's name comes from the driver; without one, its number.
  if (gpuAvailable())
    EXPECT_TRUE(contains(msg, "CUDA_ERROR_OUT_OF_MEMORY (out of memory)")) << msg;
  else
    EXPECT_TRUE(contains(msg, "CUDA error 2")) << msg;

  std::string withLog = errorOf([] {
    checkCu(CUDA_ERROR_INVALID_PTX, "cuModuleLoadDataEx(image)", "M.cpp", 7, "ptxas: bad");
  });
  EXPECT_TRUE(contains(withLog, "at M.cpp:7\nptxas: bad")) << withLog;
}

TEST(Error, NvrtcCheckNamesTheErrorAndWhere) {
  EXPECT_NO_THROW(checkNvrtc(NVRTC_SUCCESS, "nvrtcGetPTX(p, s)", __FILE__, __LINE__));
  std::string msg = errorOf([] { TESSERA_NVRTC_CHECK(NVRTC_ERROR_COMPILATION); });
  EXPECT_EQ(
      msg.rfind("NVRTC_ERROR_COMPILATION failed: NVRTC_ERROR_COMPILATION at RuntimeTest.cpp:", 0),
      0u)
      << msg;
}

//===----------------------------------------------------------------------===//
// Tensor input checks, which come before the device is needed
//===----------------------------------------------------------------------===//

/// A tensor map of a rank-4 (batch, heads, seq, dim) bf16 tensor, boxes of
/// 64 rows x 64 columns: dimensions innermost first, byte strides of the
/// outer three as the tensor has them (here a (batch, seq, heads, dim)
/// layout seen as (batch, heads, seq, dim): heads inside seq), the box one
/// element deep along batch and heads.
TEST(TensorMapLayout, MapsEveryDimensionInnermostFirst) {
  TensorMapParam param{/*tensor=*/9, /*elementBytes=*/2, /*boxRows=*/64, /*boxCols=*/64,
                       /*rank=*/4};
  int32_t sizes[] = {2, 3, 100, 128};
  int32_t strides[] = {100 * 3 * 128, 128, 3 * 128, 1};
  TensorMapLayout layout = tensorMapLayout(param, sizes, strides);
  EXPECT_EQ(layout.dims, (std::array<uint64_t, 5>{128, 100, 3, 2, 0}));
  EXPECT_EQ(layout.strideBytes, (std::array<uint64_t, 4>{768, 256, 76800, 0}));
  EXPECT_EQ(layout.box, (std::array<uint32_t, 5>{64, 64, 1, 1, 0}));
}

/// A matrix (matmul's A): columns, then rows a row stride apart; a one-row
/// matrix gets its row's bytes rounded up to 16 as the stride.
TEST(TensorMapLayout, MatrixColumnsThenRows) {
  TensorMapParam param{/*tensor=*/0, /*elementBytes=*/2, /*boxRows=*/128, /*boxCols=*/64};
  int32_t sizes[] = {300, 328}, strides[] = {336, 1};
  TensorMapLayout layout = tensorMapLayout(param, sizes, strides);
  EXPECT_EQ(layout.dims, (std::array<uint64_t, 5>{328, 300, 0, 0, 0}));
  EXPECT_EQ(layout.strideBytes, (std::array<uint64_t, 4>{672, 0, 0, 0}));
  EXPECT_EQ(layout.box, (std::array<uint32_t, 5>{64, 128, 0, 0, 0}));
  int32_t oneRow[] = {1, 100}, anyStride[] = {3, 1};
  EXPECT_EQ(tensorMapLayout(param, oneRow, anyStride).strideBytes[0], 208u);
}

/// A dimension of one element: TMA never steps along it, and its stride
/// (whatever the tensor says; 7 elements here, not a multiple of 16 bytes)
/// becomes the dense one. An empty dimension is given one element.
TEST(TensorMapLayout, DimensionsOfOneElementGetDenseStrides) {
  TensorMapParam param{0, 2, 128, 64, 3};
  int32_t sizes[] = {1, 0, 72};
  int32_t strides[] = {7, 80, 1};
  TensorMapLayout layout = tensorMapLayout(param, sizes, strides);
  EXPECT_EQ(layout.dims, (std::array<uint64_t, 5>{72, 1, 1, 0, 0}));
  // 72 bf16 = 144 bytes, a multiple of 16; the batch's: 144 x 1.
  EXPECT_EQ(layout.strideBytes, (std::array<uint64_t, 4>{144, 144, 0, 0}));
  EXPECT_EQ(layout.box, (std::array<uint32_t, 5>{64, 128, 1, 0, 0}));
}

TEST(DeviceTensor, NegativeSizesAreRefusedNamingTheShape) {
  std::string msg = errorOf([] { DeviceTensor::empty({2, -3}, DType::F16); });
  EXPECT_EQ(msg, "DeviceTensor::empty: shape: expected non-negative sizes, got (2, -3)");
}

TEST(DeviceTensor, SizesWhoseBytesOverflowAreRefused) {
  int64_t big = int64_t(1) << 31;
  std::string msg = errorOf([&] { DeviceTensor::empty({big, big, 4}, DType::F32); });
  EXPECT_EQ(msg, "DeviceTensor::empty: shape: (2147483648, 2147483648, 4) of f32 needs more "
                 "than 2^63 bytes");
  // 2^61 f32 elements are 2^63 bytes: one too many.
  int64_t justTooMany = int64_t(1) << 61;
  msg = errorOf([&] { DeviceTensor::empty({justTooMany}, DType::F32); });
  EXPECT_TRUE(contains(msg, "needs more than 2^63 bytes")) << msg;
  // A zero size makes any shape empty, however large the others.
  SKIP_WITH_GPU();
  msg = errorOf([] { DeviceTensor::empty({INT64_MAX, 0, INT64_MAX}, DType::F32); });
  EXPECT_TRUE(contains(msg, "no GPU")) << msg;
}

TEST(DeviceTensor, FromFloatChecksTheValueCountAndIntegers) {
  std::vector<float> three = {1.f, 2.f, 3.f};
  std::string msg = errorOf([&] { DeviceTensor::fromFloat(three, {2, 2}, DType::BF16); });
  EXPECT_EQ(msg, "DeviceTensor::fromFloat: values: expected 4 elements for shape (2, 2), got 3");
  std::vector<float> fraction = {1.f, 2.5f}, tooLarge = {3e9f};
  msg = errorOf([&] { DeviceTensor::fromFloat(fraction, {2}, DType::I32); });
  EXPECT_EQ(msg, "DeviceTensor::fromFloat: values[1]: expected an integer in i32's range, got 2.5");
  msg = errorOf([&] { DeviceTensor::fromFloat(tooLarge, {1}, DType::I32); });
  EXPECT_TRUE(contains(msg, "values[0]: expected an integer in i32's range")) << msg;
  EXPECT_EQ(errorOf([] { DeviceTensor::fromHost(nullptr, {3}, DType::F32); }),
            "DeviceTensor::fromHost: data: expected 3 elements, got a null pointer");
}

TEST(DeviceTensor, WithoutStorageSaysSo) {
  DeviceTensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_TRUE(contains(errorOf([&] { t.data(); }), "has no storage"));
  EXPECT_TRUE(contains(errorOf([&] { t.view({1}, {1}, 0); }), "DeviceTensor::view"));
  EXPECT_TRUE(contains(errorOf([&] { t.toFloat(); }), "DeviceTensor::toFloat"));
}

//===----------------------------------------------------------------------===//
// Kernel arguments and launch checks
//===----------------------------------------------------------------------===//

struct alignas(16) Vec4 {
  float x, y, z, w;
};

TEST(KernelArgs, PacksEachValueAtItsAlignment) {
  KernelArgs args;
  args.add(int32_t(7))
      .add(uint64_t(0x1122334455667788ull))
      .add(3.5f)
      .add(int8_t(-2))
      .add(Vec4{1, 2, 3, 4})
      .add(int16_t(-300));
  ASSERT_EQ(args.size(), 6u);
  EXPECT_EQ(args.offsetOf(0), 0u);
  EXPECT_EQ(args.offsetOf(1), 8u); // 4 rounded up to 8
  EXPECT_EQ(args.offsetOf(2), 16u);
  EXPECT_EQ(args.offsetOf(3), 20u);
  EXPECT_EQ(args.offsetOf(4), 32u); // 21 rounded up to 16
  EXPECT_EQ(args.offsetOf(5), 48u);
  EXPECT_EQ(args.sizeBytes(), 50u);

  void **p = args.pointers();
  EXPECT_EQ(*static_cast<int32_t *>(p[0]), 7);
  EXPECT_EQ(*static_cast<uint64_t *>(p[1]), 0x1122334455667788ull);
  EXPECT_EQ(*static_cast<float *>(p[2]), 3.5f);
  EXPECT_EQ(*static_cast<int8_t *>(p[3]), -2);
  EXPECT_EQ(static_cast<Vec4 *>(p[4])->z, 3.f);
  EXPECT_EQ(*static_cast<int16_t *>(p[5]), -300);
  // Aligned in memory too, not only relative to the first argument.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p[1]) % 8, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p[4]) % 16, 0u);
  // Pointers are into one block, at the recorded offsets.
  EXPECT_EQ(static_cast<char *>(p[5]) - static_cast<char *>(p[0]), 48);
  // Read back by index and type (withTensorMaps reads a tensor's pointer,
  // sizes and strides so), from a const copy.
  const KernelArgs copy = args;
  EXPECT_EQ(copy.get<int32_t>(0), 7);
  EXPECT_EQ(copy.get<uint64_t>(1), 0x1122334455667788ull);
  EXPECT_EQ(copy.get<float>(2), 3.5f);
  EXPECT_EQ(copy.get<Vec4>(4).w, 4.f);
  EXPECT_EQ(copy.get<int16_t>(5), -300);
  EXPECT_THROW(copy.get<int32_t>(6), std::out_of_range);
}

TEST(KernelArgs, PointersFollowLaterAdds) {
  KernelArgs args;
  args.add(1.f);
  args.pointers();
  for (int i = 0; i < 100; ++i) // grows the storage: earlier pointers move
    args.add(int64_t(i));
  void **p = args.pointers();
  EXPECT_EQ(*static_cast<float *>(p[0]), 1.f);
  EXPECT_EQ(*static_cast<int64_t *>(p[100]), 99);
  EXPECT_EQ(KernelArgs().pointers(), nullptr);
}

TEST(Launch, BadGridAndBlockDimensionsAreNamed) {
  KernelArgs args;
  auto launchWith = [&](LaunchConfig config) {
    return errorOf([&] { launch(nullptr, config, args); });
  };
  LaunchConfig config;
  config.grid[0] = 0;
  EXPECT_EQ(launchWith(config), "launch: grid.x: expected 1 to 2147483647, got 0");
  config = {};
  config.grid[1] = 65536;
  EXPECT_EQ(launchWith(config), "launch: grid.y: expected 1 to 65535, got 65536");
  config = {};
  config.grid[2] = 0;
  EXPECT_EQ(launchWith(config), "launch: grid.z: expected 1 to 65535, got 0");
  config = {};
  config.block[0] = 2048;
  EXPECT_EQ(launchWith(config), "launch: block.x: expected 1 to 1024, got 2048");
  config = {};
  config.block[2] = 65;
  EXPECT_EQ(launchWith(config), "launch: block.z: expected 1 to 64, got 65");
  config = {};
  config.block[0] = 64;
  config.block[1] = 32;
  EXPECT_EQ(launchWith(config), "launch: block: expected at most 1024 threads, got 64x32x1 = 2048");
  config = {};
  config.grid[0] = 0x7fffffffu; // the largest grid is fine; the null kernel is not
  EXPECT_EQ(launchWith(config), "launch: function: expected a kernel, got null");
}

//===----------------------------------------------------------------------===//
// NVRTC, which needs no GPU
//===----------------------------------------------------------------------===//

const char *kTwice = R"(
extern "C" __global__ void twice(float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] *= 2.f;
}
)";

TEST(Nvrtc, CompilesCudaToPtxForEachArch) {
  for (const char *arch : {"sm_80", "sm_90a"}) {
    std::string ptx = compileCudaToPtx(kTwice, "twice.cu", arch);
    EXPECT_TRUE(contains(ptx, ".entry twice(")) << arch << ":\n" << ptx;
    EXPECT_TRUE(contains(ptx, std::string(".target ") + arch + "\n")) << arch << ":\n" << ptx;
    EXPECT_NE(ptx.back(), '\0');
  }
}

TEST(Nvrtc, PassesOptionsThrough) {
  const char *src = R"(extern "C" __global__ void k(int *x) { x[0] = SCALE; })";
  std::string ptx = compileCudaToPtx(src, "k.cu", "sm_80", {"-DSCALE=1234567"});
  EXPECT_TRUE(contains(ptx, "1234567")) << ptx;
  EXPECT_TRUE(contains(errorOf([&] { compileCudaToPtx(src, "k.cu", "sm_80"); }), "SCALE"));
}

TEST(Nvrtc, ASyntaxErrorReportsProgramAndLog) {
  std::string msg =
      errorOf([] { compileCudaToPtx("__global__ void broken(int x { }", "broken.cu", "sm_80"); });
  EXPECT_EQ(
      msg.rfind("NVRTC failed to compile 'broken.cu' for sm_80: NVRTC_ERROR_COMPILATION\n", 0), 0u)
      << msg;
  // NVRTC's log: the file, line and what is wrong.
  EXPECT_TRUE(contains(msg, "broken.cu(1): error")) << msg;
}

TEST(Nvrtc, RejectsAMalformedArch) {
  for (const char *arch : {"90", "sm_", "sm_90x", "compute_90a", "sm_90aa"})
    EXPECT_EQ(errorOf([&] { compileCudaToPtx(kTwice, "twice.cu", arch); }),
              "compileCudaToPtx: arch: expected sm_<major><minor> with an optional a or f suffix "
              "(e.g. sm_90a), got '" +
                  std::string(arch) + "'");
}

TEST(Nvrtc, ReportsItsVersion) {
  std::string v = nvrtcVersion();
  size_t dot = v.find('.');
  ASSERT_NE(dot, std::string::npos) << v;
  EXPECT_GE(std::stoi(v.substr(0, dot)), 12) << v;
}

/// The switches' one reading: unset, empty and "0" are off; anything else on.
TEST(Env, FlagIsOnUnlessUnsetEmptyOrZero) {
  const char *name = "TESSERA_TEST_ENV_FLAG";
  ::unsetenv(name);
  EXPECT_FALSE(tessera::envFlag(name));
  for (const char *off : {"", "0"}) {
    ::setenv(name, off, 1);
    EXPECT_FALSE(tessera::envFlag(name)) << "'" << off << "'";
  }
  for (const char *on : {"1", "yes"}) {
    ::setenv(name, on, 1);
    EXPECT_TRUE(tessera::envFlag(name)) << "'" << on << "'";
  }
  ::unsetenv(name);
}

} // namespace
