#include "runtime/recoverable_pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <fmt/ranges.h>
#include <optional>

#include "core/log.hpp"
#include "runtime/stage_transport.hpp"

namespace crossgpu::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The options to plan with: every stage holds a KV cache of `context` tokens per sequence, so the
// planner (which counts one cache of context_tokens) must count `sequences` of them, or a plan
// that fits on paper fails to allocate its caches on the nodes.
PlanOptions planning(PlanOptions options, std::uint32_t sequences) {
  options.context *= std::max<std::uint32_t>(1, sequences);
  return options;
}

}  // namespace

bool may_be_a_lost_device(const Error& e) {
  return e.code() == Errc::device_lost || e.code() == Errc::timeout || e.code() == Errc::io;
}

nlohmann::json recovery_json(const RecoveryEvent& e) {
  return {{"event", e.slowdown() ? "replanned" : "recovered"},
          {"lost", e.lost},
          {"slow", e.slow},
          {"predicted_ms_per_token_before", e.predicted_seconds_before * 1e3},
          {"predicted_ms_per_token_after", e.predicted_seconds_after * 1e3},
          {"failure", e.failure},
          {"tokens_before", e.tokens_before},
          {"detect_seconds", e.detect_seconds},
          {"replan_seconds", e.replan_seconds},
          {"reload_seconds", e.reload_seconds},
          {"reprefill_seconds", e.reprefill_seconds},
          {"total_seconds", e.total_seconds},
          {"outage_seconds", e.outage_seconds()},
          {"plan", plan_json(e.plan)}};
}

RecoverablePipeline::RecoverablePipeline(const model::GgufFile& file, const model::LlamaConfig& config,
                                         const CandidateSet& devices, const PlanOptions& options,
                                         std::uint32_t sequences)
    : file_(file),
      config_(config),
      devices_(devices),
      options_(options),
      sequences_(sequences),
      plan_(plan_model(file, config, devices, planning(options, sequences))) {}

void RecoverablePipeline::load(WeightProgressCallback on_progress) {
  on_progress_ = std::move(on_progress);
  pipeline_ = std::make_unique<model::Pipeline>(
      load_pipeline(file_, config_, plan_, options_, on_progress_, sequences_));
}

RecoveryEvent RecoverablePipeline::recover(const Error& failure) {
  RecoveryEvent event;
  event.failure = failure.what();
  for (const Candidate& c : plan_.devices) {
    std::string observed;
    if (!device_answers(*c.device, observed)) {
      event.lost.push_back(c.label + ": " + observed);
      lost_labels_.push_back(c.label);
    }
  }
  if (event.lost.empty()) throw failure;  // every device answers: not a loss this can mend
  log::warn("lost {}; re-planning over the devices left", fmt::join(event.lost, "; "));
  pipeline_.reset();  // frees the stages on the survivors before the new ones are built

  const auto replan_start = Clock::now();
  event.plan = plan_over_survivors(fmt::format("lost {}", fmt::join(event.lost, "; ")));
  event.replan_seconds = seconds_since(replan_start);
  adopt(event);
  return event;
}

ModelPlan RecoverablePipeline::plan_over_survivors(const std::string& why) const {
  std::vector<Candidate> left;
  for (const Candidate& c : devices_.candidates()) {
    if (std::find(lost_labels_.begin(), lost_labels_.end(), c.label) == lost_labels_.end()) left.push_back(c);
  }
  std::optional<sched::PlacementInputs> measured;
  try {
    measured = devices_.placement_inputs();
  } catch (const Error& e) {
    fail(Errc::device_lost, "{} and cannot re-plan: the cluster's telemetry is out of reach ({})", why, e.what());
  }
  ModelPlan plan;
  try {
    plan = plan_model(file_, config_, left, planning(options_, sequences_), measured ? &*measured : nullptr);
    // Devices that measured slower than their profile are planned as measured.
    bool derated = false;
    for (std::size_t d = 0; d < plan.devices.size(); ++d) {
      const auto found = derated_.find(plan.devices[d].label);
      if (found == derated_.end()) continue;
      sched::derate(plan.problem, d, found->second);
      derated = true;
    }
    if (derated) {
      plan.plan = sched::place(plan.problem);
      plan.baselines.clear();  // they were computed with the profiles' rates
    }
  } catch (const Error& e) {
    fail(e.code(), "{}; the devices left cannot take its place: {}", why, e.what());
  }
  return plan;
}

std::optional<RecoveryEvent> RecoverablePipeline::replan_for(const std::vector<sched::SlowStage>& slow,
                                                             const sched::SlowdownPolicy& policy) {
  const auto start = Clock::now();
  RecoveryEvent event;
  const std::map<std::string, double> before = derated_;
  sched::PlacementProblem as_measured = plan_.problem;  // the current plan under the measured rates
  for (const sched::SlowStage& s : slow) {
    const std::size_t d = plan_.plan.stages.at(s.stage).device;
    const std::string& label = plan_.devices[d].label;
    const double factor = std::max(1.0, s.ratio);
    sched::derate(as_measured, d, factor);
    derated_[label] = (before.count(label) != 0 ? before.at(label) : 1.0) * factor;
    event.slow.push_back(fmt::format("{}: {:.2f} ms per token, {:.2f} ms predicted ({:.1f}x slower than the others)",
                                     label, s.measured * 1e3, s.predicted * 1e3, s.ratio));
  }
  try {
    sched::Plan current = plan_.plan;
    event.predicted_seconds_before = sched::evaluate(as_measured, current);
    event.plan = plan_over_survivors(fmt::format("slow {}", fmt::join(event.slow, "; ")));
  } catch (const Error& e) {
    derated_ = before;
    log::warn("{}", e.what());
    return std::nullopt;
  }
  event.predicted_seconds_after = event.plan.plan.seconds_per_token;
  event.replan_seconds = seconds_since(start);
  if (!sched::worth_replanning(event.predicted_seconds_before, event.predicted_seconds_after, policy)) {
    derated_ = before;
    log::info("slow {}; keeping the plan: the best other is predicted at {:.2f} ms per token against {:.2f}",
              fmt::join(event.slow, "; "), event.predicted_seconds_after * 1e3, event.predicted_seconds_before * 1e3);
    return std::nullopt;
  }
  log::warn("slow {}; re-planning: {:.2f} ms per token predicted against {:.2f} as measured", fmt::join(event.slow, "; "),
            event.predicted_seconds_after * 1e3, event.predicted_seconds_before * 1e3);
  return event;
}

void RecoverablePipeline::adopt(RecoveryEvent& event) {
  pipeline_.reset();  // frees the stages before the new ones are built (they may share devices)
  const auto start = Clock::now();
  plan_ = event.plan;
  pipeline_ = std::make_unique<model::Pipeline>(
      load_pipeline(file_, config_, plan_, options_, on_progress_, sequences_));
  event.reload_seconds = seconds_since(start);
}

}  // namespace crossgpu::runtime
