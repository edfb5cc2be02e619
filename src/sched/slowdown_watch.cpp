#include "sched/slowdown_watch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace crossgpu::sched {
namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  return (upper + *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid))) / 2;
}

// Against the fastest other stage of the step (its ratio, at least 1): a stage is slow when it
// is slow relative to what the others manage, not when the whole machine is busy.
double relative(std::span<const double> ratios, std::size_t stage) {
  double fastest_other = std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < ratios.size(); ++j) {
    if (j != stage) fastest_other = std::min(fastest_other, ratios[j]);
  }
  return std::isfinite(fastest_other) ? ratios[stage] / std::max(1.0, fastest_other) : ratios[stage];
}

void check(const SlowdownPolicy& p) {
  if (!(p.clear_ratio >= 1) || !(p.slow_ratio > p.clear_ratio) || p.sustained == 0 ||
      !(p.min_interval_seconds >= 0) || !(p.min_gain >= 0 && p.min_gain < 1) || !(p.floor_seconds > 0)) {
    fail(Errc::invalid_argument,
         "slowdown policy: needs 1 <= clear_ratio < slow_ratio, sustained >= 1, min_interval >= 0, "
         "0 <= min_gain < 1 and floor > 0");
  }
}

}  // namespace

SlowdownWatch::SlowdownWatch(SlowdownPolicy policy, std::vector<double> predicted_seconds, double now_seconds)
    : policy_(policy) {
  check(policy_);
  replanned(std::move(predicted_seconds), now_seconds);
  decided_ = false;  // the first plan was not a decision: a slowdown may be acted on at once
}

void SlowdownWatch::clear(double now_seconds) {
  streaks_.assign(predicted_.size(), {});
  seen_ = 0;
  last_decision_ = now_seconds;
  decided_ = true;
}

void SlowdownWatch::replanned(std::vector<double> predicted_seconds, double now_seconds) {
  for (double& p : predicted_seconds) {
    if (!(p >= 0) || !std::isfinite(p)) fail(Errc::invalid_argument, "slowdown watch: a prediction of {} s", p);
    p = std::max(p, policy_.floor_seconds);
  }
  predicted_ = std::move(predicted_seconds);
  clear(now_seconds);
}

void SlowdownWatch::declined(double now_seconds) { clear(now_seconds); }

bool SlowdownWatch::suspicious() const noexcept {
  return std::any_of(streaks_.begin(), streaks_.end(), [](const Streak& s) { return !s.ratios.empty(); });
}

std::vector<SlowStage> SlowdownWatch::observe(std::span<const double> measured, double now_seconds) {
  if (measured.size() != predicted_.size()) {
    fail(Errc::invalid_argument, "slowdown watch: {} stage times for a plan of {} stages", measured.size(),
         predicted_.size());
  }
  if (++seen_ <= policy_.warmup) return {};
  std::vector<double> ratios(measured.size());
  for (std::size_t i = 0; i < measured.size(); ++i) ratios[i] = std::max(0.0, measured[i]) / predicted_[i];
  bool due = false;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    Streak& s = streaks_[i];
    const double own = ratios[i], against_others = relative(ratios, i);
    if (own > policy_.slow_ratio && against_others > policy_.slow_ratio) {
      s.ratios.push_back(against_others);
      s.measured.push_back(measured[i]);
      if (s.ratios.size() > policy_.sustained) {  // the last `sustained` samples say how slow
        s.ratios.erase(s.ratios.begin());
        s.measured.erase(s.measured.begin());
      }
      due = due || s.ratios.size() >= policy_.sustained;
    } else if (own < policy_.clear_ratio || against_others < policy_.clear_ratio) {
      s = {};
    }
  }
  if (!due || (decided_ && now_seconds - last_decision_ < policy_.min_interval_seconds)) return {};
  std::vector<SlowStage> slow;
  for (std::size_t i = 0; i < streaks_.size(); ++i) {
    const Streak& s = streaks_[i];
    if (s.ratios.size() < policy_.sustained) continue;
    slow.push_back({.stage = i, .ratio = median(s.ratios), .measured = median(s.measured), .predicted = predicted_[i]});
  }
  return slow;
}

bool worth_replanning(double current_seconds, double candidate_seconds, const SlowdownPolicy& policy) {
  return candidate_seconds <= current_seconds * (1.0 - policy.min_gain);
}

void derate(PlacementProblem& problem, std::size_t device, double factor) {
  if (device >= problem.devices.size() || !(factor >= 1) || !std::isfinite(factor)) {
    fail(Errc::invalid_argument, "derate: device {} of {} by {}", device, problem.devices.size(), factor);
  }
  DeviceCapacity& d = problem.devices[device];
  d.flops_per_second /= factor;
  d.bytes_per_second /= factor;
  d.request_seconds *= factor;
}

}  // namespace crossgpu::sched
