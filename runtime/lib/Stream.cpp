//===- Stream.cpp - Streams and events ------------------------------------===//

#include "tessera/runtime/Stream.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"
#include "tessera/runtime/Interpret.h"

#include <chrono>
#include <string>
#include <utility>

using namespace tessera;

Stream::Stream(bool blocking) : owned(true) {
  if (interpreted())
    return; // the interpreter runs each launch to completion
  makeContextCurrent();
  // Blocking with respect to the legacy default stream: host copies made there
  // (DeviceTensor's by default) then wait for kernels launched here.
  TESSERA_CU_CHECK(
      Driver::get().cuStreamCreate(&stream, blocking ? CU_STREAM_DEFAULT : CU_STREAM_NON_BLOCKING));
}

Stream::~Stream() { destroy(); }

Stream::Stream(Stream &&other) noexcept
    : stream(std::exchange(other.stream, nullptr)), owned(std::exchange(other.owned, false)) {}

Stream &Stream::operator=(Stream &&other) noexcept {
  if (this != &other) {
    destroy();
    stream = std::exchange(other.stream, nullptr);
    owned = std::exchange(other.owned, false);
  }
  return *this;
}

void Stream::destroy() noexcept {
  if (owned && stream && makeContextCurrentNoThrow())
    Driver::get().cuStreamDestroy(stream);
  stream = nullptr;
  owned = false;
}

Stream &Stream::defaultStream() {
  static Stream s{DefaultTag{}};
  return s;
}

void Stream::synchronize() {
  if (interpreted())
    return;
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuStreamSynchronize(stream));
}

void Stream::wait(const Event &event) {
  if (!event.handle())
    throw Error("Stream::wait: the event was moved from");
  if (interpreted())
    return;
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuStreamWaitEvent(stream, event.handle(), 0));
}

Event::Event(bool timing) {
  if (interpreted()) {
    event = reinterpret_cast<CUevent>(new std::chrono::steady_clock::time_point());
    return;
  }
  makeContextCurrent();
  TESSERA_CU_CHECK(
      Driver::get().cuEventCreate(&event, timing ? CU_EVENT_DEFAULT : CU_EVENT_DISABLE_TIMING));
}

Event::~Event() { destroy(); }

Event::Event(Event &&other) noexcept : event(std::exchange(other.event, nullptr)) {}

Event &Event::operator=(Event &&other) noexcept {
  if (this != &other) {
    destroy();
    event = std::exchange(other.event, nullptr);
  }
  return *this;
}

void Event::destroy() noexcept {
  if (event && interpreted())
    delete reinterpret_cast<std::chrono::steady_clock::time_point *>(event);
  else if (event && makeContextCurrentNoThrow())
    Driver::get().cuEventDestroy(event);
  event = nullptr;
}

void Event::record(Stream &stream) {
  if (!event)
    throw Error("Event::record: the event was moved from");
  if (interpreted()) {
    *reinterpret_cast<std::chrono::steady_clock::time_point *>(event) =
        std::chrono::steady_clock::now();
    return;
  }
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuEventRecord(event, stream.handle()));
}

void Event::synchronize() {
  if (!event)
    throw Error("Event::synchronize: the event was moved from");
  if (interpreted())
    return;
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuEventSynchronize(event));
}

float Event::elapsedMs(const Event &start, const Event &stop) {
  if (!start.event || !stop.event)
    throw Error(std::string("Event::elapsedMs: ") + (start.event ? "stop" : "start") +
                " was moved from");
  if (interpreted()) {
    auto *a = reinterpret_cast<std::chrono::steady_clock::time_point *>(start.event);
    auto *b = reinterpret_cast<std::chrono::steady_clock::time_point *>(stop.event);
    return std::chrono::duration<float, std::milli>(*b - *a).count();
  }
  makeContextCurrent();
  float ms = 0;
  TESSERA_CU_CHECK(Driver::get().cuEventElapsedTime(&ms, start.event, stop.event));
  return ms;
}
