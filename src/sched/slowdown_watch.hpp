// Re-planning around a device that slowed down (issue 16): a laptop that throttles, a phone on
// battery saver, another program on the GPU. The plan's stage times were predicted from each
// device's profile; when one device's measured stage time stays far above that prediction, the
// run re-plans with that device's rates scaled down by what it measured.
//
// Timings of personal devices are noisy and a re-plan costs a reload and a re-prefill, so the
// watch only reacts to a sustained, device-specific slowdown, and never flaps:
// - a sample counts as slow when its ratio measured/predicted is above slow_ratio, both on its own
//   and against the fastest other stage of the same step (a machine that is busy as a whole slows
//   every stage alike, and moving layers would not help);
// - a sample below clear_ratio ends the streak; one between the two neither adds nor clears
//   (hysteresis: a device hovering at the threshold neither triggers nor resets);
// - `sustained` slow samples in a row are needed; the first `warmup` samples after a plan are
//   ignored (recorded programs and chains are being set up then);
// - a re-plan is considered at most once per min_interval_seconds, taken or declined;
// - it is taken only when the new plan is predicted at least min_gain faster than the current
//   one under the same measured rates (worth_replanning), which the caller checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sched/placement.hpp"

namespace crossgpu::sched {

struct SlowdownPolicy {
  double slow_ratio = 2.0;
  double clear_ratio = 1.5;
  std::uint32_t sustained = 8;
  std::uint32_t warmup = 4;
  double min_interval_seconds = 10;
  double min_gain = 0.25;
  // Predictions below this count as this: a ratio over a few microseconds is noise.
  double floor_seconds = 1e-4;
};

struct SlowStage {
  std::size_t stage = 0;
  double ratio = 0;     // median over the streak, against the fastest other stage where one exists
  double measured = 0;  // median measured seconds per step over the streak
  double predicted = 0; // the plan's seconds per step for the stage
};

class SlowdownWatch {
 public:
  // `predicted_seconds`: per stage, the plan's time per decode step; `now_seconds`: any clock
  // that only goes forward (the caller's steady clock).
  SlowdownWatch(SlowdownPolicy policy, std::vector<double> predicted_seconds, double now_seconds);

  // One decode step's measured seconds per stage (as many as predicted). Returns the stages
  // that have been slow for `sustained` samples when a re-plan is due now; empty otherwise.
  std::vector<SlowStage> observe(std::span<const double> measured_seconds, double now_seconds);
  // The caller re-planned: the new plan's predictions, streaks cleared, the interval restarts.
  void replanned(std::vector<double> predicted_seconds, double now_seconds);
  // The caller decided not to (no faster plan): streaks cleared, the interval restarts.
  void declined(double now_seconds);
  // Some stage has a streak going: the caller should measure every coming step (a step whose
  // stages were timed only together, as a node-to-node chain's are, cannot say which is slow).
  bool suspicious() const noexcept;

  const SlowdownPolicy& policy() const noexcept { return policy_; }

 private:
  struct Streak {
    std::vector<double> ratios;    // of the slow samples in the streak, the last `sustained`
    std::vector<double> measured;  // seconds of the same samples
  };
  void clear(double now_seconds);

  SlowdownPolicy policy_;
  std::vector<double> predicted_;
  std::vector<Streak> streaks_;
  std::uint32_t seen_ = 0;      // samples since the last plan
  double last_decision_ = 0;    // when the last re-plan was taken or declined
  bool decided_ = false;        // whether there was one
};

// Whether a plan predicted at `candidate_seconds` per token is worth leaving one predicted at
// `current_seconds` (both under the measured rates): at least policy.min_gain faster.
bool worth_replanning(double current_seconds, double candidate_seconds, const SlowdownPolicy& policy);

// Device `device` of `problem` as measured: `factor` (>= 1) times slower in everything its stage
// does (throughputs divided by it, its request round trip multiplied by it).
void derate(PlacementProblem& problem, std::size_t device, double factor);

}  // namespace crossgpu::sched
