//===- Tensor.h - Device memory and strided device tensors ------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_TENSOR_H
#define TESSERA_RUNTIME_TENSOR_H

#include "tessera/Support/DType.h"
#include "tessera/runtime/Stream.h"

#include <cuda.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace tessera {

/// One device allocation from the device's stream-ordered pool (cuMemAllocAsync
/// on the legacy default stream), freed the same way on destruction: after
/// the work queued before the free. Move-only.
class DeviceBuffer {
public:
  /// Allocates `bytes` on the current device; zero bytes still get an address.
  /// Throws "no GPU: ..." without a GPU, and the driver's error when the
  /// device is out of memory.
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

  CUdeviceptr ptr() const { return devicePtr; }
  /// Host memory standing in for device memory (under the interpreter).
  bool onHost() const { return host; }
  /// Size in bytes, as asked for.
  size_t size() const { return bytes; }

private:
  void release() noexcept;

  CUdeviceptr devicePtr = 0;
  size_t bytes = 0;
  bool host = false;
};

/// A strided tensor in device memory: dtype, shape, strides (in elements) and
/// an element offset into a buffer that copies and views share. Copying a
/// DeviceTensor copies the handle, not the data.
///
/// Host copies run on a stream (the legacy default stream unless given) and
/// return once done; fills and device copies are only queued on it.
class DeviceTensor {
public:
  /// A tensor without storage: data() and the copies throw.
  DeviceTensor() = default;

  /// A new contiguous (row-major) tensor; contents undefined. Throws naming
  /// `shape` when a size is negative or the bytes overflow 64 bits.
  static DeviceTensor empty(std::vector<int64_t> shape, DType dtype);
  /// A new contiguous tensor holding `data`: numel() row-major elements in
  /// `dtype`'s own encoding.
  static DeviceTensor fromHost(const void *data, std::vector<int64_t> shape, DType dtype);
  /// A new contiguous tensor from floats: f16 and bf16 round to nearest even,
  /// i32 takes integer values only, i1 is `value != 0`.
  static DeviceTensor fromFloat(const std::vector<float> &values, std::vector<int64_t> shape,
                                DType dtype);

  bool defined() const { return buffer != nullptr; }
  DType dtype() const { return elementType; }
  const std::vector<int64_t> &shape() const { return dims; }
  /// Strides in elements, one per dimension.
  const std::vector<int64_t> &strides() const { return elementStrides; }
  int64_t rank() const { return int64_t(dims.size()); }
  int64_t numel() const;
  /// numel() times the element size.
  size_t nbytes() const;
  /// Elements from the buffer's start to this tensor's first element.
  int64_t storageOffset() const { return offset; }
  /// Row-major and dense (strides of size-1 dimensions do not matter).
  bool isContiguous() const;
  /// Whether the data lives in host memory (under the interpreter).
  bool onHost() const { return buffer && buffer->onHost(); }
  /// Address of the first element.
  CUdeviceptr data() const;

  /// A view of this tensor's buffer: `shape` and `strides` (elements, may be
  /// negative), starting `offsetElements` after this tensor's first element.
  /// Throws tessera::Error naming the argument when the view would reach
  /// outside the buffer.
  DeviceTensor view(std::vector<int64_t> shape, std::vector<int64_t> strides,
                    int64_t offsetElements = 0) const;

  /// Copies numel() elements from host memory (contiguous tensors only).
  void copyFromHost(const void *data, Stream &stream = Stream::defaultStream());
  /// Copies numel() elements to host memory (contiguous tensors only).
  void copyToHost(void *data, Stream &stream = Stream::defaultStream()) const;
  /// Queues a copy of `src`, of the same dtype and shape (both contiguous).
  void copyFrom(const DeviceTensor &src, Stream &stream = Stream::defaultStream());
  /// Queues setting every byte of the tensor (contiguous only); 0xff poisons,
  /// being NaN in every float format.
  void fillBytes(uint8_t byte, Stream &stream = Stream::defaultStream());
  /// The elements as floats, converted on the host (contiguous tensors; i32
  /// beyond 2^24 loses precision).
  std::vector<float> toFloat(Stream &stream = Stream::defaultStream()) const;

private:
  /// Throws naming `op` unless the tensor has storage and is contiguous.
  void requireContiguous(const char *op) const;

  std::shared_ptr<DeviceBuffer> buffer;
  DType elementType = DType::F32;
  std::vector<int64_t> dims, elementStrides;
  int64_t offset = 0;
};

} // namespace tessera

#endif // TESSERA_RUNTIME_TENSOR_H
