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
  return {{"event", "recovered"},
          {"lost", e.lost},
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
  std::vector<Candidate> left;
  for (const Candidate& c : devices_.candidates()) {
    if (std::find(lost_labels_.begin(), lost_labels_.end(), c.label) == lost_labels_.end()) left.push_back(c);
  }
  std::optional<sched::PlacementInputs> measured;
  try {
    measured = devices_.placement_inputs();
  } catch (const Error& e) {
    fail(Errc::device_lost, "lost {} and cannot re-plan: the cluster's telemetry is out of reach ({})",
         fmt::join(event.lost, "; "), e.what());
  }
  try {
    event.plan = plan_model(file_, config_, left, planning(options_, sequences_), measured ? &*measured : nullptr);
  } catch (const Error& e) {
    fail(e.code(), "lost {}; the devices left cannot take its place: {}", fmt::join(event.lost, "; "), e.what());
  }
  event.replan_seconds = seconds_since(replan_start);
  const auto reload_start = Clock::now();
  plan_ = event.plan;
  pipeline_ = std::make_unique<model::Pipeline>(
      load_pipeline(file_, config_, plan_, options_, on_progress_, sequences_));
  event.reload_seconds = seconds_since(reload_start);
  return event;
}

}  // namespace crossgpu::runtime
