//===- Tensor.h - Device memory and strided device tensors ------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_TENSOR_H
#define TESSERA_RUNTIME_TENSOR_H

#include "tessera/Support/DType.h"
#include "tessera/runtime/Stream.h"

#include <cuda.h>

#include <memory>
#include <vector>

namespace tessera {

/// One device allocation, freed on destruction.
class DeviceBuffer {
public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

  CUdeviceptr ptr() const { return devicePtr; }
  size_t size() const { return bytes; }

private:
  CUdeviceptr devicePtr = 0;
  size_t bytes = 0;
};

/// A strided view of device memory: dtype, shape, strides (in elements) and
/// an element offset into a shared buffer. Views share the buffer.
class DeviceTensor {
public:
  DeviceTensor() = default;

  /// A new contiguous (row-major) tensor; contents undefined.
  static DeviceTensor empty(std::vector<int64_t> shape, DType dtype);
  /// A new contiguous tensor holding `data` (row-major, `dtype`'s bytes).
  static DeviceTensor fromHost(const void *data, std::vector<int64_t> shape, DType dtype);
  /// A new contiguous tensor from floats, rounded to `dtype`.
  static DeviceTensor fromFloat(const std::vector<float> &values, std::vector<int64_t> shape,
                                DType dtype);

  DType dtype() const { return elementType; }
  const std::vector<int64_t> &shape() const { return dims; }
  const std::vector<int64_t> &strides() const { return elementStrides; }
  int64_t numel() const;
  bool isContiguous() const;
  /// Address of the first element.
  CUdeviceptr data() const;

  /// A view sharing this tensor's buffer; throws if it would reach outside it.
  DeviceTensor view(std::vector<int64_t> shape, std::vector<int64_t> strides,
                    int64_t offsetElements) const;

  void copyFromHost(const void *data);
  void copyToHost(void *data) const;
  /// Sets every byte of the tensor's extent (poisoning: 0xff is NaN in every float format).
  void fillBytes(uint8_t byte);
  /// The elements as floats (contiguous tensors).
  std::vector<float> toFloat() const;

private:
  std::shared_ptr<DeviceBuffer> buffer;
  DType elementType = DType::F32;
  std::vector<int64_t> dims, elementStrides;
  int64_t offset = 0;
};

} // namespace tessera

#endif
