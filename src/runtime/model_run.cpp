#include "runtime/model_run.hpp"

#include <algorithm>
#include <chrono>
#include <fmt/ranges.h>

#include <optional>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/generate.hpp"
#include "runtime/stage_transport.hpp"

namespace crossgpu::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Failures a lost device raises: its connection gone, a call past its deadline, a socket error.
bool may_be_a_lost_device(const Error& e) {
  return e.code() == Errc::device_lost || e.code() == Errc::timeout || e.code() == Errc::io;
}

}  // namespace

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

ModelRun::ModelRun(const model::GgufFile& file, const model::LlamaConfig& config, const CandidateSet& devices,
                   const PlanOptions& options)
    : file_(file), config_(config), devices_(devices), options_(options), plan_(plan_model(file, config, devices, options)) {}

void ModelRun::load(WeightProgressCallback on_progress) {
  on_progress_ = std::move(on_progress);
  pipeline_ = std::make_unique<model::Pipeline>(load_pipeline(file_, config_, plan_, options_, on_progress_));
}

RecoveryEvent ModelRun::recover(const Error& failure) {
  RecoveryEvent event;
  event.failure = failure.what();
  for (const Candidate& c : plan_.devices) {
    std::string observed;
    if (!device_answers(*c.device, observed)) {
      event.lost.push_back(c.label + ": " + observed);
      lost_labels_.push_back(c.label);
    }
  }
  if (event.lost.empty()) throw failure;  // every device answers: not a loss this run can mend
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
    event.plan = plan_model(file_, config_, left, options_, measured ? &*measured : nullptr);
  } catch (const Error& e) {
    fail(e.code(), "lost {}; the devices left cannot take its place: {}", fmt::join(event.lost, "; "), e.what());
  }
  event.replan_seconds = seconds_since(replan_start);
  const auto reload_start = Clock::now();
  plan_ = event.plan;
  pipeline_ = std::make_unique<model::Pipeline>(load_pipeline(file_, config_, plan_, options_, on_progress_));
  event.reload_seconds = seconds_since(reload_start);
  return event;
}

RunReport ModelRun::run(const model::Tokenizer& tokenizer, const std::string& prompt, bool chat,
                        const model::GenerateOptions& options, const PieceCallback& on_piece,
                        const RecoveryCallback& on_recovery) {
  if (!pipeline_) load();
  RunReport report;
  report.prompt_ids = tokenize_prompt(tokenizer, prompt, chat);
  std::vector<std::uint32_t>& generated = report.result.tokens;
  std::optional<RecoveryEvent> pending;  // a recovery told once generation continues
  Clock::time_point failure_at, attempt_start, last_token = Clock::now();
  for (bool first_attempt = true;; first_attempt = false) {
    model::GenerateOptions o = options;
    o.max_tokens = options.max_tokens - static_cast<std::uint32_t>(generated.size());
    o.sampled_before = static_cast<std::uint32_t>(generated.size());
    o.is_end = [&](std::uint32_t id) { return tokenizer.is_end_of_generation(id); };
    o.on_token = [&](std::uint32_t id) {
      last_token = Clock::now();
      if (pending) {
        pending->reprefill_seconds = seconds_since(attempt_start);
        pending->total_seconds = seconds_since(failure_at);
        recoveries_.push_back(*pending);
        if (on_recovery) on_recovery(*pending);
        pending.reset();
      }
      generated.push_back(id);
      if (tokenizer.is_end_of_generation(id)) return true;
      const std::string piece = tokenizer.token_to_piece(id);
      report.text += piece;
      if (on_piece) on_piece(piece);
      return true;
    };
    std::vector<std::uint32_t> logged = report.prompt_ids;  // the prompt and the tokens so far
    logged.insert(logged.end(), generated.begin(), generated.end());
    try {
      attempt_start = Clock::now();
      const model::GenerateResult r = model::generate(*pipeline_, logged, o);
      if (first_attempt) report.result.prefill_seconds = r.prefill_seconds;
      report.result.decode_seconds += r.decode_seconds;
      report.result.decode_passes += r.decode_passes;
      break;
    } catch (const Error& e) {
      if (!may_be_a_lost_device(e) || generated.size() >= options.max_tokens) throw;
      if (pending) recoveries_.push_back(*pending);  // lost again before a token: keep the first
      failure_at = Clock::now();
      const double detect = std::chrono::duration<double>(failure_at - last_token).count();
      pending = recover(e);
      pending->tokens_before = static_cast<std::uint32_t>(generated.size());
      pending->detect_seconds = detect;
    }
  }
  report.result.prompt_tokens = static_cast<std::uint32_t>(report.prompt_ids.size());
  return report;
}

}  // namespace crossgpu::runtime
