// The timing loop of every benchmark: warm-up runs first (the first dispatch pays the shader JIT,
// fresh memory is first-touch slow), then repeated runs until enough time has passed; the median
// is the figure reported because it ignores the odd preempted run on a shared machine.
#pragma once

#include <cstdint>
#include <functional>

namespace crossgpu::bench {

// Seconds per run. A sample of a run shorter than 10 us times a batch of runs and divides.
struct Timing {
  double median_s = 0;
  double min_s = 0;
  double max_s = 0;
  int reps = 0;
};

struct TimingPolicy {
  int warmup_runs = 2;
  int min_reps = 5;
  int max_reps = 1000;
  double min_seconds = 0.25;  // measured time to accumulate before stopping
  // Above this much measured time, stop as soon as min_reps_slow runs are done: a single run of
  // the naive CPU reference may take seconds.
  double slow_seconds = 3.0;
  int min_reps_slow = 1;
};

TimingPolicy bandwidth_policy(bool quick);
TimingPolicy latency_policy(bool quick);
TimingPolicy compute_policy(bool quick);

// `run` must include waiting for the work it starts. With warmup_runs == 0 it still runs once
// untimed to size the batches (the CPU reference case: no JIT, but the batching still matters).
Timing measure(const TimingPolicy& policy, const std::function<void()>& run);

// Decimal GB/s (1e9 bytes), the unit of PCIe and memory datasheets.
inline double gb_per_s(double bytes, double seconds) {
  return seconds > 0 ? bytes / seconds / 1e9 : 0;
}

}  // namespace crossgpu::bench
