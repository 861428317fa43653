//===- Stream.h - Streams and events ----------------------------*- C++ -*-===//
#ifndef TESSERA_RUNTIME_STREAM_H
#define TESSERA_RUNTIME_STREAM_H

#include <cuda.h>

namespace tessera {

class Event;

/// A CUDA stream. Streams Tessera creates are owned and destroyed with it;
/// they synchronise with the legacy default stream, so work queued there
/// (the convenience copies, by default) is ordered with theirs. Move-only; a
/// moved-from Stream is the default stream.
class Stream {
public:
  /// A new stream on the current device. Throws "no GPU: ..." without one.
  /// A non-blocking one (`blocking` false) is not ordered with the legacy
  /// default stream: only through events (wait), as a kernel library's side
  /// stream must be, to overlap work with a caller's default stream.
  explicit Stream(bool blocking = true);
  ~Stream();
  Stream(Stream &&other) noexcept;
  Stream &operator=(Stream &&other) noexcept;
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;

  /// The legacy default stream (CUstream 0). Needs no GPU until used.
  static Stream &defaultStream();

  CUstream handle() const { return stream; }
  /// Waits until all work queued on the stream is done.
  void synchronize();
  /// Work queued here from now on starts after `event`'s captured work.
  void wait(const Event &event);

private:
  struct DefaultTag {};
  explicit Stream(DefaultTag) {}
  void destroy() noexcept;

  CUstream stream = nullptr;
  bool owned = false;
};

/// A CUDA event, for ordering and timing work on streams. Move-only.
class Event {
public:
  /// A new event, with timing enabled unless `timing` is false (an event
  /// only for ordering records faster). Throws "no GPU: ..." without one.
  explicit Event(bool timing = true);
  ~Event();
  Event(Event &&other) noexcept;
  Event &operator=(Event &&other) noexcept;
  Event(const Event &) = delete;
  Event &operator=(const Event &) = delete;

  /// Captures the work queued on `stream` so far.
  void record(Stream &stream = Stream::defaultStream());
  /// Waits until the captured work is done.
  void synchronize();
  /// Milliseconds between two recorded, completed events.
  static float elapsedMs(const Event &start, const Event &stop);

  CUevent handle() const { return event; }

private:
  void destroy() noexcept;

  CUevent event = nullptr;
};

} // namespace tessera

#endif // TESSERA_RUNTIME_STREAM_H
