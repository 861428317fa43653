//===- Testing.cpp - Random inputs, error bounds and timing ---------------===//

#include "tessera/runtime/Testing.h"

#include "tessera/runtime/Device.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

using namespace tessera;

std::vector<float> testkit::randomValues(size_t n, DType dtype, float sigma) {
  static std::mt19937 gen(std::random_device{}());
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> v(n);
  for (float &x : v)
    do
      x = roundTo(dtype, dist(gen));
    while (x == 0.f);
  return v;
}

DeviceTensor testkit::randomTensor(const std::vector<int64_t> &shape, DType dtype,
                                   std::vector<float> *values) {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  std::vector<float> v = randomValues(size_t(n), dtype);
  DeviceTensor t = DeviceTensor::fromFloat(v, shape, dtype);
  if (values)
    *values = std::move(v);
  return t;
}

double testkit::maxRelativeError(const std::vector<float> &got, const std::vector<double> &want,
                                 double floor) {
  double worst = got.size() == want.size() ? 0 : INFINITY;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    double e = std::abs(double(got[i]) - want[i]) / (std::abs(want[i]) + floor);
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  }
  return worst;
}

double testkit::tolerance(DType dtype) {
  switch (dtype) {
  case DType::BF16:
    return 2e-2;
  case DType::F16:
    return 3e-3;
  default:
    return 1e-5;
  }
}

uint32_t testkit::philox(uint32_t seed, uint32_t offset) {
  uint32_t c0 = offset, c1 = 0, c2 = 0, c3 = 0, k0 = seed, k1 = 0;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1), c3 = uint32_t(p0), c0 = n0, c2 = n2;
    k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
  }
  return c0;
}

float testkit::uniform(uint32_t seed, uint32_t offset) {
  return float(philox(seed, offset) >> 8) * 0x1p-24f;
}

double testkit::benchMs(const std::function<void()> &run, double budgetMs, Stream &stream) {
  DeviceTensor flush =
      DeviceTensor::empty({int64_t(std::max<size_t>(currentDevice().l2Bytes, 1) * 2)}, DType::I1);
  for (int i = 0; i < 3; ++i)
    run();
  std::vector<float> times;
  double spent = 0;
  while (times.size() < 10 || (spent < budgetMs && times.size() < 500)) {
    flush.fillBytes(uint8_t(times.size()), stream);
    Event start, stop;
    start.record(stream);
    run();
    stop.record(stream);
    stop.synchronize();
    times.push_back(Event::elapsedMs(start, stop));
    spent += times.back();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}
