//===- RuntimeTest.cpp - The runtime on a machine without a GPU -----------===//

#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Module.h"
#include "tessera/runtime/Nvrtc.h"
#include "tessera/runtime/Tensor.h"

#include <gtest/gtest.h>

using namespace tessera;

namespace {

TEST(Driver, WithoutAGpuSaysWhy) {
  if (gpuAvailable())
    GTEST_SKIP() << "a GPU is present: this test covers machines without one";
  EXPECT_FALSE(Driver::get().unavailableReason().empty());
  try {
    DeviceTensor::empty({4}, DType::F32);
    FAIL() << "allocated device memory without a GPU";
  } catch (const Error &e) {
    EXPECT_EQ(std::string(e.what()).rfind("no GPU: ", 0), 0u) << e.what();
  }
}

TEST(KernelArgs, PacksEachValueAtItsAlignment) {
  KernelArgs args;
  args.add(int32_t(7)).add(uint64_t(0x1122334455667788ull)).add(3.5f).add(int32_t(-1));
  ASSERT_EQ(args.size(), 4u);
  EXPECT_EQ(args.offsetOf(0), 0u);
  EXPECT_EQ(args.offsetOf(1), 8u);
  EXPECT_EQ(args.offsetOf(2), 16u);
  EXPECT_EQ(args.offsetOf(3), 20u);
  void **p = args.pointers();
  EXPECT_EQ(*static_cast<int32_t *>(p[0]), 7);
  EXPECT_EQ(*static_cast<uint64_t *>(p[1]), 0x1122334455667788ull);
  EXPECT_EQ(*static_cast<float *>(p[2]), 3.5f);
  EXPECT_EQ(*static_cast<int32_t *>(p[3]), -1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p[1]) % 8, 0u);
}

TEST(Nvrtc, CompilesCudaToPtxWithoutAGpu) {
  const char *src = R"(extern "C" __global__ void twice(float *x) { x[threadIdx.x] *= 2.f; })";
  for (const char *arch : {"sm_80", "sm_90a"}) {
    std::string ptx = compileCudaToPtx(src, "twice.cu", arch);
    EXPECT_NE(ptx.find(".entry twice"), std::string::npos) << arch;
    EXPECT_NE(ptx.find(std::string(".target ") + arch), std::string::npos) << arch;
  }
}

TEST(Nvrtc, ASyntaxErrorReportsProgramAndLog) {
  try {
    compileCudaToPtx("__global__ void broken( { }", "broken.cu", "sm_80");
    FAIL() << "a syntax error compiled";
  } catch (const Error &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("NVRTC failed to compile 'broken.cu' for sm_80"), std::string::npos) << msg;
    EXPECT_NE(msg.find("error"), std::string::npos) << msg;
  }
}

TEST(Nvrtc, RejectsABadArch) { EXPECT_THROW(compileCudaToPtx("", "x.cu", "90"), Error); }

} // namespace
