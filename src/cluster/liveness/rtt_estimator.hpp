// Round-trip time of heartbeats: the last sample and a smoothed value (EWMA with the weight TCP
// uses for SRTT, RFC 6298), so that `crossgpu status` shows a stable number.
#pragma once

#include <chrono>
#include <optional>

namespace crossgpu::liveness {

class RttEstimator {
 public:
  explicit RttEstimator(double alpha = 0.125);  // weight of a new sample, in (0, 1]

  // Negative samples (a clock step) are ignored.
  void add(std::chrono::microseconds sample);
  void reset() noexcept {
    smoothed_ms_.reset();
    last_ms_.reset();
  }
  std::optional<double> smoothed_ms() const noexcept { return smoothed_ms_; }
  std::optional<double> last_ms() const noexcept { return last_ms_; }

 private:
  double alpha_;
  std::optional<double> smoothed_ms_;
  std::optional<double> last_ms_;
};

}  // namespace crossgpu::liveness
