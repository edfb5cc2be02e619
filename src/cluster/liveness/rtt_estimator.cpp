#include "cluster/liveness/rtt_estimator.hpp"

#include "core/error.hpp"

namespace crossgpu::liveness {

RttEstimator::RttEstimator(double alpha) : alpha_(alpha) {
  if (!(alpha > 0.0 && alpha <= 1.0)) {
    fail(Errc::invalid_argument, "RTT smoothing weight must be in (0, 1], got {}", alpha);
  }
}

void RttEstimator::add(std::chrono::microseconds sample) {
  if (sample.count() < 0) return;
  const double ms = static_cast<double>(sample.count()) / 1000.0;
  last_ms_ = ms;
  // The first sample seeds the average; starting from 0 would under-report for many beats.
  smoothed_ms_ = smoothed_ms_ ? (1.0 - alpha_) * *smoothed_ms_ + alpha_ * ms : ms;
}

}  // namespace crossgpu::liveness
