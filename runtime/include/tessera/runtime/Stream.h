//===- Stream.h - Streams and events ----------------------------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_STREAM_H
#define TESSERA_RUNTIME_STREAM_H

#include <cuda.h>

namespace tessera {

/// A CUDA stream (owned unless it is the default stream).
class Stream {
public:
  /// A new stream.
  Stream();
  ~Stream();
  Stream(Stream &&other) noexcept;
  Stream &operator=(Stream &&other) noexcept;
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;

  /// The legacy default stream (CUstream 0).
  static Stream &defaultStream();

  CUstream handle() const { return stream; }
  void synchronize();

private:
  struct DefaultTag {};
  explicit Stream(DefaultTag) {}
  CUstream stream = nullptr;
  bool owned = false;
};

/// A CUDA event, for timing work on a stream.
class Event {
public:
  Event();
  ~Event();
  Event(const Event &) = delete;
  Event &operator=(const Event &) = delete;

  void record(Stream &stream);
  void synchronize();
  /// Milliseconds between two recorded events.
  static float elapsedMs(const Event &start, const Event &stop);

private:
  CUevent event = nullptr;
};

} // namespace tessera

#endif
