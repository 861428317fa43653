//===- Testing.cpp - Random inputs, error bounds and timing ---------------===//

#include "tessera/runtime/Testing.h"

#include "tessera/runtime/Device.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

using namespace tessera;

std::vector<float> testing::randomValues(size_t n, DType dtype, float sigma) {
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

DeviceTensor testing::randomTensor(const std::vector<int64_t> &shape, DType dtype,
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

double testing::maxRelativeError(const std::vector<float> &got, const std::vector<double> &want,
                                 double floor) {
  double worst = got.size() == want.size() ? 0 : INFINITY;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    double e = std::abs(double(got[i]) - want[i]) / (std::abs(want[i]) + floor);
    worst = std::isnan(e) ? INFINITY : std::max(worst, e);
  }
  return worst;
}

double testing::tolerance(DType dtype) {
  switch (dtype) {
  case DType::BF16:
    return 2e-2;
  case DType::F16:
    return 3e-3;
  default:
    return 1e-5;
  }
}

double testing::benchMs(const std::function<void()> &run, double budgetMs, Stream &stream) {
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
