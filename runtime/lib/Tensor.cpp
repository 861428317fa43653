//===- Tensor.cpp - Device memory and strided device tensors --------------===//

#include "tessera/runtime/Tensor.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <climits>
#include <cstring>

using namespace tessera;

DeviceBuffer::DeviceBuffer(size_t size) : bytes(size) {
  Driver::get().require();
  makeContextCurrent();
  // A zero-byte tensor still gets an address.
  TESSERA_CU_CHECK(Driver::get().cuMemAlloc(&devicePtr, std::max<size_t>(size, 1)));
}

DeviceBuffer::~DeviceBuffer() {
  if (devicePtr)
    Driver::get().cuMemFree(devicePtr);
}

static std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + ")";
}

static int64_t checkedNumel(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      throw Error("shape: expected non-negative sizes, got " + shapeString(shape));
    if (d != 0 && n > INT64_MAX / d)
      throw Error("shape: " + shapeString(shape) + " has too many elements");
    n *= d;
  }
  return n;
}

static std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = int(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * std::max<int64_t>(shape[i + 1], 1);
  return strides;
}

DeviceTensor DeviceTensor::empty(std::vector<int64_t> shape, DType dtype) {
  DeviceTensor t;
  int64_t n = checkedNumel(shape);
  t.buffer = std::make_shared<DeviceBuffer>(size_t(n) * byteSize(dtype));
  t.elementType = dtype;
  t.elementStrides = rowMajorStrides(shape);
  t.dims = std::move(shape);
  return t;
}

DeviceTensor DeviceTensor::fromHost(const void *data, std::vector<int64_t> shape, DType dtype) {
  DeviceTensor t = empty(std::move(shape), dtype);
  t.copyFromHost(data);
  return t;
}

DeviceTensor DeviceTensor::fromFloat(const std::vector<float> &values, std::vector<int64_t> shape,
                                     DType dtype) {
  int64_t n = checkedNumel(shape);
  if (int64_t(values.size()) != n)
    throw Error("values: expected " + std::to_string(n) + " elements for shape " +
                shapeString(shape) + ", got " + std::to_string(values.size()));
  std::vector<uint8_t> bytes(size_t(n) * byteSize(dtype));
  for (int64_t i = 0; i < n; ++i) {
    float f = values[i];
    switch (dtype) {
    case DType::F32:
      std::memcpy(&bytes[i * 4], &f, 4);
      break;
    case DType::F16: {
      uint16_t h = floatToF16(f);
      std::memcpy(&bytes[i * 2], &h, 2);
      break;
    }
    case DType::BF16: {
      uint16_t h = floatToBF16(f);
      std::memcpy(&bytes[i * 2], &h, 2);
      break;
    }
    case DType::I32: {
      int32_t v = int32_t(f);
      std::memcpy(&bytes[i * 4], &v, 4);
      break;
    }
    case DType::I1:
      bytes[i] = f != 0.f;
      break;
    }
  }
  return fromHost(bytes.data(), std::move(shape), dtype);
}

int64_t DeviceTensor::numel() const { return checkedNumel(dims); }

bool DeviceTensor::isContiguous() const { return elementStrides == rowMajorStrides(dims); }

CUdeviceptr DeviceTensor::data() const {
  if (!buffer)
    throw Error("tensor: use of an empty DeviceTensor");
  return buffer->ptr() + CUdeviceptr(offset * int64_t(byteSize(elementType)));
}

DeviceTensor DeviceTensor::view(std::vector<int64_t> shape, std::vector<int64_t> strides,
                                int64_t offsetElements) const {
  if (!buffer)
    throw Error("view: of an empty DeviceTensor");
  if (shape.size() != strides.size())
    throw Error("view: expected one stride per dimension, got " + std::to_string(strides.size()) +
                " strides for " + std::to_string(shape.size()) + " dimensions");
  int64_t lo = offset + offsetElements, hi = lo;
  if (checkedNumel(shape) > 0)
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t reach = (shape[d] - 1) * strides[d];
      (reach < 0 ? lo : hi) += reach;
    }
  int64_t capacity = int64_t(buffer->size() / byteSize(elementType));
  if (lo < 0 || (checkedNumel(shape) > 0 && hi >= capacity))
    throw Error("view: shape " + shapeString(shape) + " with strides " + shapeString(strides) +
                " at offset " + std::to_string(offsetElements) + " reaches elements [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "] outside the buffer's " +
                std::to_string(capacity));
  DeviceTensor t = *this;
  t.dims = std::move(shape);
  t.elementStrides = std::move(strides);
  t.offset = offset + offsetElements;
  return t;
}

void DeviceTensor::copyFromHost(const void *data) {
  if (!isContiguous())
    throw Error("copyFromHost: the tensor is not contiguous");
  makeContextCurrent();
  size_t bytes = size_t(numel()) * byteSize(elementType);
  if (bytes)
    TESSERA_CU_CHECK(Driver::get().cuMemcpyHtoD(this->data(), data, bytes));
}

void DeviceTensor::copyToHost(void *data) const {
  if (!isContiguous())
    throw Error("copyToHost: the tensor is not contiguous");
  makeContextCurrent();
  size_t bytes = size_t(numel()) * byteSize(elementType);
  // Synchronous copies on the legacy stream wait for earlier work.
  if (bytes)
    TESSERA_CU_CHECK(Driver::get().cuMemcpyDtoH(data, this->data(), bytes));
}

void DeviceTensor::fillBytes(uint8_t byte) {
  if (!isContiguous())
    throw Error("fillBytes: the tensor is not contiguous");
  makeContextCurrent();
  size_t bytes = size_t(numel()) * byteSize(elementType);
  if (bytes)
    TESSERA_CU_CHECK(Driver::get().cuMemsetD8(data(), byte, bytes));
}

std::vector<float> DeviceTensor::toFloat() const {
  size_t n = size_t(numel());
  std::vector<uint8_t> bytes(n * byteSize(elementType));
  copyToHost(bytes.data());
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    switch (elementType) {
    case DType::F32:
      std::memcpy(&out[i], &bytes[i * 4], 4);
      break;
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      out[i] = f16ToFloat(h);
      break;
    }
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      out[i] = bf16ToFloat(h);
      break;
    }
    case DType::I32: {
      int32_t v;
      std::memcpy(&v, &bytes[i * 4], 4);
      out[i] = float(v);
      break;
    }
    case DType::I1:
      out[i] = bytes[i] ? 1.f : 0.f;
      break;
    }
  }
  return out;
}
