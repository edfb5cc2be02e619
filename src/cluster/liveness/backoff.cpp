#include "cluster/liveness/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "core/error.hpp"

namespace crossgpu::liveness {

UniformSource default_uniform_source() {
  // Shared so that copies of the source keep one stream; guarded because trackers call it from
  // several threads.
  struct State {
    std::mutex mutex;
    std::mt19937 rng{std::random_device{}()};
    std::uniform_real_distribution<double> dist{0.0, 1.0};
  };
  auto state = std::make_shared<State>();
  return [state] {
    std::lock_guard lock(state->mutex);
    return state->dist(state->rng);
  };
}

Backoff::Backoff(BackoffConfig config, UniformSource uniform)
    : config_(config), uniform_(std::move(uniform)) {
  if (config_.initial.count() <= 0)
    fail(Errc::invalid_argument, "backoff: initial delay must be > 0");
  if (config_.max < config_.initial) {
    fail(Errc::invalid_argument, "backoff: max delay {} ms is below the initial {} ms",
         config_.max.count(), config_.initial.count());
  }
  if (!(config_.multiplier >= 1.0))
    fail(Errc::invalid_argument, "backoff: multiplier must be >= 1");
  if (!(config_.jitter >= 0.0 && config_.jitter < 1.0)) {
    fail(Errc::invalid_argument, "backoff: jitter must be in [0, 1), got {}", config_.jitter);
  }
  if (!uniform_) fail(Errc::invalid_argument, "backoff: a random source is required");
}

std::chrono::milliseconds Backoff::base_delay(unsigned attempt) const {
  // Computed in double and capped before converting, so large attempt counts cannot overflow.
  const double grown = static_cast<double>(config_.initial.count()) *
                       std::pow(config_.multiplier, static_cast<double>(attempt));
  const double capped = std::min(grown, static_cast<double>(config_.max.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped));
}

std::chrono::milliseconds Backoff::next_delay() {
  const double base = static_cast<double>(base_delay(attempt_).count());
  if (attempt_ < 1'000) ++attempt_;  // past the cap further growth means nothing
  const double u = std::clamp(uniform_(), 0.0, 1.0);
  const double spread = base * config_.jitter * (2.0 * u - 1.0);
  const double delay = std::clamp(base + spread, 1.0, static_cast<double>(config_.max.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
}

}  // namespace crossgpu::liveness
