#include "timing.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace crossgpu::bench {

TimingPolicy bandwidth_policy(bool quick) {
  if (quick) return {.warmup_runs = 1, .min_reps = 3, .max_reps = 200, .min_seconds = 0.02};
  return {.warmup_runs = 2, .min_reps = 5, .max_reps = 1000, .min_seconds = 0.25};
}

TimingPolicy latency_policy(bool quick) {
  if (quick) return {.warmup_runs = 5, .min_reps = 50, .max_reps = 50, .min_seconds = 0};
  return {.warmup_runs = 20, .min_reps = 500, .max_reps = 500, .min_seconds = 0};
}

TimingPolicy compute_policy(bool quick) {
  if (quick) return {.warmup_runs = 1, .min_reps = 3, .max_reps = 50, .min_seconds = 0.02};
  return {.warmup_runs = 1, .min_reps = 5, .max_reps = 200, .min_seconds = 0.5};
}

namespace {

// Runs shorter than this are timed in batches: steady_clock costs tens of nanoseconds, as much
// as a small memcpy, so timing one run at a time would mostly measure the clock.
constexpr double kMinSampleSeconds = 10e-6;

double seconds_of(const std::function<void()>& run, int batch) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < batch; ++i) run();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return std::chrono::duration<double>(elapsed).count() / batch;
}

// Warm-up runs; returns how many runs each sample should time.
int warm_up(const TimingPolicy& policy, const std::function<void()>& run) {
  double total = 0, last = 0;
  for (int i = 0; i < policy.warmup_runs && total < policy.slow_seconds; ++i) {
    last = seconds_of(run, 1);
    total += last;
  }
  if (policy.warmup_runs == 0) last = seconds_of(run, 1);  // still needed to size batches
  if (last >= kMinSampleSeconds) return 1;
  return static_cast<int>(kMinSampleSeconds / std::max(last, 1e-9)) + 1;
}

}  // namespace

Timing measure(const TimingPolicy& policy, const std::function<void()>& run) {
  const int batch = warm_up(policy, run);
  std::vector<double> samples;
  double total = 0;
  while (static_cast<int>(samples.size()) < policy.max_reps) {
    const int reps = static_cast<int>(samples.size());
    if (reps >= policy.min_reps && total >= policy.min_seconds) break;
    if (reps >= policy.min_reps_slow && total >= policy.slow_seconds) break;
    samples.push_back(seconds_of(run, batch));
    total += samples.back() * batch;
  }
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  const double median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
  return {median, samples.front(), samples.back(), static_cast<int>(n)};
}

}  // namespace crossgpu::bench
