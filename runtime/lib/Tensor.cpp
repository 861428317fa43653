//===- Tensor.cpp - Device memory and strided device tensors --------------===//

#include "tessera/runtime/Tensor.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

using namespace tessera;

//===----------------------------------------------------------------------===//
// DeviceBuffer
//===----------------------------------------------------------------------===//

DeviceBuffer::DeviceBuffer(size_t size) : bytes(size) {
  if (interpreted()) {
    devicePtr = reinterpret_cast<CUdeviceptr>(detail::allocateHost(size));
    host = true;
    if (!devicePtr)
      throw Error("DeviceBuffer: out of host memory for " + std::to_string(size) + " bytes");
    return;
  }
  makeContextCurrent();
  // Zero bytes still get a distinct address, so a tensor always has data().
  // From the device's pool, ordered on the legacy default stream: the
  // streams Tessera hands out are blocking ones, so work queued on any of
  // them after this call sees the memory, and the free (release()) waits for
  // the work queued before it. (The attention backward's non-blocking side
  // stream waits for an event of the caller's stream and is joined back to
  // it before the function returns, so the same holds for its work.)
  TESSERA_CU_CHECK(
      Driver::get().cuMemAllocAsync(&devicePtr, std::max<size_t>(size, 1), /*hStream=*/nullptr));
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : devicePtr(std::exchange(other.devicePtr, 0)), bytes(std::exchange(other.bytes, 0)),
      host(std::exchange(other.host, false)) {}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    release();
    devicePtr = std::exchange(other.devicePtr, 0);
    bytes = std::exchange(other.bytes, 0);
    host = std::exchange(other.host, false);
  }
  return *this;
}

void DeviceBuffer::release() noexcept {
  // The result is dropped: a destructor must not throw, and at exit the
  // driver may already be shut down (CUDA_ERROR_DEINITIALIZED).
  if (devicePtr && host)
    detail::freeHost(reinterpret_cast<void *>(devicePtr));
  else if (devicePtr && makeContextCurrentNoThrow())
    Driver::get().cuMemFreeAsync(devicePtr, /*hStream=*/nullptr);
  devicePtr = 0;
  bytes = 0;
  host = false;
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

static std::string listString(const std::vector<int64_t> &values) {
  std::string s = "(";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + ")";
}

static std::string floatString(float f) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", double(f));
  return text;
}

/// Elements of `shape`; throws naming `op` and the shape when a size is
/// negative or the bytes of `dtype` would not fit in int64_t.
static int64_t checkedNumel(const std::vector<int64_t> &shape, DType dtype, const char *op) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0)
      throw Error(std::string(op) + ": shape: expected non-negative sizes, got " +
                  listString(shape));
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      n = -1;
  int64_t bytes;
  // A zero size anywhere makes the tensor empty, whatever the others are.
  bool empty = std::find(shape.begin(), shape.end(), 0) != shape.end();
  if (!empty && (n < 0 || __builtin_mul_overflow(n, int64_t(byteSize(dtype)), &bytes)))
    throw Error(std::string(op) + ": shape: " + listString(shape) + " of " +
                std::string(name(dtype)) + " needs more than 2^63 bytes");
  return empty ? 0 : n;
}

static std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = int(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * std::max<int64_t>(shape[i + 1], 1);
  return strides;
}

//===----------------------------------------------------------------------===//
// DeviceTensor
//===----------------------------------------------------------------------===//

DeviceTensor DeviceTensor::empty(std::vector<int64_t> shape, DType dtype) {
  int64_t n = checkedNumel(shape, dtype, "DeviceTensor::empty");
  DeviceTensor t;
  t.buffer = std::make_shared<DeviceBuffer>(size_t(n) * byteSize(dtype));
  t.elementType = dtype;
  t.elementStrides = rowMajorStrides(shape);
  t.dims = std::move(shape);
  return t;
}

DeviceTensor DeviceTensor::fromHost(const void *data, std::vector<int64_t> shape, DType dtype) {
  int64_t n = checkedNumel(shape, dtype, "DeviceTensor::fromHost");
  if (!data && n > 0)
    throw Error("DeviceTensor::fromHost: data: expected " + std::to_string(n) +
                " elements, got a null pointer");
  DeviceTensor t = empty(std::move(shape), dtype);
  t.copyFromHost(data);
  return t;
}

DeviceTensor DeviceTensor::fromFloat(const std::vector<float> &values, std::vector<int64_t> shape,
                                     DType dtype) {
  int64_t n = checkedNumel(shape, dtype, "DeviceTensor::fromFloat");
  if (int64_t(values.size()) != n)
    throw Error("DeviceTensor::fromFloat: values: expected " + std::to_string(n) +
                " elements for shape " + listString(shape) + ", got " +
                std::to_string(values.size()));
  size_t size = byteSize(dtype);
  std::vector<uint8_t> bytes(size_t(n) * size);
  for (size_t i = 0; i < size_t(n); ++i) {
    float f = values[i];
    uint8_t *out = &bytes[i * size];
    switch (dtype) {
    case DType::F32:
      std::memcpy(out, &f, 4);
      break;
    case DType::F16: {
      uint16_t h = floatToF16(f);
      std::memcpy(out, &h, 2);
      break;
    }
    case DType::BF16: {
      uint16_t h = floatToBF16(f);
      std::memcpy(out, &h, 2);
      break;
    }
    case DType::I32: {
      // Out-of-range float-to-int conversion is undefined: refuse it, and
      // fractions, rather than pick a rounding.
      if (!(f >= -2147483648.0f && f < 2147483648.0f) || std::trunc(f) != f)
        throw Error("DeviceTensor::fromFloat: values[" + std::to_string(i) +
                    "]: expected an integer in i32's range, got " + floatString(f));
      int32_t v = int32_t(f);
      std::memcpy(out, &v, 4);
      break;
    }
    case DType::I1:
      *out = f != 0.f;
      break;
    }
  }
  return fromHost(bytes.data(), std::move(shape), dtype);
}

int64_t DeviceTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d; // validated when the tensor was made
  return n;
}

size_t DeviceTensor::nbytes() const { return size_t(numel()) * byteSize(elementType); }

bool DeviceTensor::isContiguous() const {
  if (numel() == 0)
    return true;
  int64_t expected = 1;
  for (int i = int(dims.size()) - 1; i >= 0; --i) {
    if (dims[i] != 1 && elementStrides[i] != expected)
      return false;
    expected *= dims[i];
  }
  return true;
}

CUdeviceptr DeviceTensor::data() const {
  if (!buffer)
    throw Error("DeviceTensor::data: the tensor has no storage (default-constructed)");
  return buffer->ptr() + CUdeviceptr(offset) * byteSize(elementType);
}

DeviceTensor DeviceTensor::view(std::vector<int64_t> shape, std::vector<int64_t> strides,
                                int64_t offsetElements) const {
  if (!buffer)
    throw Error("DeviceTensor::view: the tensor has no storage (default-constructed)");
  if (shape.size() != strides.size())
    throw Error("DeviceTensor::view: strides: expected " + std::to_string(shape.size()) +
                " (one per dimension of shape " + listString(shape) + "), got " +
                listString(strides));
  int64_t n = checkedNumel(shape, elementType, "DeviceTensor::view");
  int64_t capacity = int64_t(buffer->size() / byteSize(elementType));
  std::string what = "DeviceTensor::view: shape " + listString(shape) + " with strides " +
                     listString(strides) + " at offsetElements " + std::to_string(offsetElements);
  int64_t start;
  if (__builtin_add_overflow(offset, offsetElements, &start) || start < 0 || start > capacity ||
      (n > 0 && start == capacity))
    throw Error("DeviceTensor::view: offsetElements: expected the view to start inside the "
                "buffer of " +
                std::to_string(capacity) + " elements (this tensor starts at element " +
                std::to_string(offset) + "), got " + std::to_string(offsetElements));
  // The lowest and highest elements the view reaches; an overflow reaches
  // outside any buffer.
  int64_t lo = start, hi = start;
  bool overflow = false;
  for (size_t d = 0; n > 0 && d < shape.size(); ++d) {
    int64_t reach;
    overflow |= __builtin_mul_overflow(shape[d] - 1, strides[d], &reach);
    overflow |= __builtin_add_overflow(reach < 0 ? lo : hi, reach, reach < 0 ? &lo : &hi);
  }
  if (overflow)
    throw Error(what + " reaches beyond 2^63 elements: strides overflow");
  if (lo < 0)
    throw Error(what + " reaches element " + std::to_string(lo) +
                ", before the buffer's start: strides or offsetElements too negative");
  if (n > 0 && hi >= capacity)
    throw Error(what + " reaches element " + std::to_string(hi) + " of a buffer of " +
                std::to_string(capacity) + " " + std::string(name(elementType)) +
                " elements: shape, strides or offsetElements too large");
  DeviceTensor t = *this;
  t.dims = std::move(shape);
  t.elementStrides = std::move(strides);
  t.offset = start;
  return t;
}

void DeviceTensor::requireContiguous(const char *op) const {
  if (!buffer)
    throw Error(std::string("DeviceTensor::") + op +
                ": the tensor has no storage (default-constructed)");
  if (!isContiguous())
    throw Error(std::string("DeviceTensor::") + op + ": expected a contiguous tensor, got shape " +
                listString(dims) + " with strides " + listString(elementStrides));
}

void DeviceTensor::copyFromHost(const void *data, Stream &stream) {
  requireContiguous("copyFromHost");
  size_t bytes = nbytes();
  if (!bytes)
    return;
  if (!data)
    throw Error("DeviceTensor::copyFromHost: data: expected " + std::to_string(bytes) +
                " bytes, got a null pointer");
  if (onHost()) {
    std::memcpy(reinterpret_cast<void *>(this->data()), data, bytes);
    return;
  }
  makeContextCurrent();
  const Driver &d = Driver::get();
  TESSERA_CU_CHECK(d.cuMemcpyHtoDAsync(this->data(), data, bytes, stream.handle()));
  // From pageable memory the driver may still be reading `data` when the call
  // returns; waiting lets the caller free it.
  TESSERA_CU_CHECK(d.cuStreamSynchronize(stream.handle()));
}

void DeviceTensor::copyToHost(void *data, Stream &stream) const {
  requireContiguous("copyToHost");
  size_t bytes = nbytes();
  if (!bytes)
    return;
  if (!data)
    throw Error("DeviceTensor::copyToHost: data: expected room for " + std::to_string(bytes) +
                " bytes, got a null pointer");
  if (onHost()) {
    std::memcpy(data, reinterpret_cast<const void *>(this->data()), bytes);
    return;
  }
  makeContextCurrent();
  const Driver &d = Driver::get();
  // Queued on `stream`, so it follows the kernels that wrote the tensor there.
  TESSERA_CU_CHECK(d.cuMemcpyDtoHAsync(data, this->data(), bytes, stream.handle()));
  TESSERA_CU_CHECK(d.cuStreamSynchronize(stream.handle()));
}

void DeviceTensor::copyFrom(const DeviceTensor &src, Stream &stream) {
  requireContiguous("copyFrom");
  src.requireContiguous("copyFrom (src)");
  if (src.dtype() != elementType || src.shape() != dims)
    throw Error("DeviceTensor::copyFrom: src: expected " + std::string(name(elementType)) + " " +
                listString(dims) + ", got " + std::string(name(src.dtype())) + " " +
                listString(src.shape()));
  size_t bytes = nbytes();
  if (!bytes)
    return;
  CUdeviceptr dst = data(), from = src.data();
  if (dst == from)
    return;
  if (dst < from + bytes && from < dst + bytes)
    throw Error("DeviceTensor::copyFrom: src: expected memory apart from the destination, got "
                "an overlapping view of the same buffer");
  if (onHost() != src.onHost())
    throw Error("DeviceTensor::copyFrom: src: one tensor is on the interpreter's host memory, "
                "the other on the GPU");
  if (onHost()) {
    std::memcpy(reinterpret_cast<void *>(dst), reinterpret_cast<const void *>(from), bytes);
    return;
  }
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuMemcpyDtoDAsync(dst, from, bytes, stream.handle()));
}

void DeviceTensor::fillBytes(uint8_t byte, Stream &stream) {
  requireContiguous("fillBytes");
  size_t bytes = nbytes();
  if (!bytes)
    return;
  if (onHost()) {
    std::memset(reinterpret_cast<void *>(data()), byte, bytes);
    return;
  }
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuMemsetD8Async(data(), byte, bytes, stream.handle()));
}

std::vector<float> DeviceTensor::toFloat(Stream &stream) const {
  requireContiguous("toFloat");
  size_t n = size_t(numel()), size = byteSize(elementType);
  std::vector<uint8_t> bytes(n * size);
  copyToHost(bytes.data(), stream);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t *in = &bytes[i * size];
    switch (elementType) {
    case DType::F32:
      std::memcpy(&out[i], in, 4);
      break;
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, in, 2);
      out[i] = f16ToFloat(h);
      break;
    }
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, in, 2);
      out[i] = bf16ToFloat(h);
      break;
    }
    case DType::I32: {
      int32_t v;
      std::memcpy(&v, in, 4);
      out[i] = float(v);
      break;
    }
    case DType::I1:
      out[i] = *in ? 1.f : 0.f;
      break;
    }
  }
  return out;
}
