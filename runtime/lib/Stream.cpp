//===- Stream.cpp - Streams and events ------------------------------------===//

#include "tessera/runtime/Stream.h"

#include "tessera/runtime/Device.h"
#include "tessera/runtime/Driver.h"
#include "tessera/runtime/Error.h"

#include <utility>

using namespace tessera;

Stream::Stream() : owned(true) {
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
}

Stream::~Stream() {
  if (owned && stream)
    Driver::get().cuStreamDestroy(stream);
}

Stream::Stream(Stream &&other) noexcept
    : stream(std::exchange(other.stream, nullptr)), owned(std::exchange(other.owned, false)) {}

Stream &Stream::operator=(Stream &&other) noexcept {
  if (this != &other) {
    if (owned && stream)
      Driver::get().cuStreamDestroy(stream);
    stream = std::exchange(other.stream, nullptr);
    owned = std::exchange(other.owned, false);
  }
  return *this;
}

Stream &Stream::defaultStream() {
  static Stream s{DefaultTag{}};
  return s;
}

void Stream::synchronize() {
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuStreamSynchronize(stream));
}

Event::Event() {
  makeContextCurrent();
  TESSERA_CU_CHECK(Driver::get().cuEventCreate(&event, CU_EVENT_DEFAULT));
}

Event::~Event() {
  if (event)
    Driver::get().cuEventDestroy(event);
}

void Event::record(Stream &stream) {
  TESSERA_CU_CHECK(Driver::get().cuEventRecord(event, stream.handle()));
}

void Event::synchronize() { TESSERA_CU_CHECK(Driver::get().cuEventSynchronize(event)); }

float Event::elapsedMs(const Event &start, const Event &stop) {
  float ms = 0;
  TESSERA_CU_CHECK(Driver::get().cuEventElapsedTime(&ms, start.event, stop.event));
  return ms;
}
