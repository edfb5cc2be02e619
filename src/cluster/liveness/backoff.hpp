// Reconnection delays: exponential growth from `initial` by `multiplier` per failed attempt, capped
// at `max`, with ±`jitter` spread so that peers that lost the same node do not reconnect in
// lockstep.
#pragma once

#include <chrono>
#include <functional>

namespace crossgpu::liveness {

struct BackoffConfig {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
  double multiplier = 2.0;
  double jitter = 0.2;  // fraction of the delay, in [0, 1)
};

// Returns a uniform number in [0, 1). Injectable so that tests are deterministic.
using UniformSource = std::function<double()>;

// A source backed by a std::mt19937 seeded from std::random_device.
UniformSource default_uniform_source();

class Backoff {
 public:
  // Throws Errc::invalid_argument for a zero/negative initial, max < initial, multiplier < 1 or
  // jitter outside [0, 1).
  Backoff(BackoffConfig config, UniformSource uniform);

  // Delay before the next attempt; each call counts one more failed attempt. Never above max.
  std::chrono::milliseconds next_delay();
  // The un-jittered delay for a given attempt number (0 for the first), capped at max.
  std::chrono::milliseconds base_delay(unsigned attempt) const;
  void reset() noexcept { attempt_ = 0; }
  unsigned attempts() const noexcept { return attempt_; }

 private:
  BackoffConfig config_;
  UniformSource uniform_;
  unsigned attempt_ = 0;
};

}  // namespace crossgpu::liveness
