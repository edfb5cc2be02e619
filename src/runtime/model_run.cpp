#include "runtime/model_run.hpp"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/error.hpp"
#include "model/generate.hpp"

namespace crossgpu::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

ModelRun::ModelRun(const model::GgufFile& file, const model::LlamaConfig& config, const CandidateSet& devices,
                   const PlanOptions& options)
    : stages_(file, config, devices, options) {}

void ModelRun::load(WeightProgressCallback on_progress) {
  stages_.load(std::move(on_progress));
  slowdown_.attach(stages_.pipeline(), stages_.plan());
}

RunReport ModelRun::run(const model::Tokenizer& tokenizer, const std::string& prompt, bool chat,
                        const model::GenerateOptions& options, const PieceCallback& on_piece,
                        const RecoveryCallback& on_recovery) {
  if (!stages_.loaded()) load();
  RunReport report;
  report.prompt_ids = tokenize_prompt(tokenizer, prompt, chat);
  std::vector<std::uint32_t>& generated = report.result.tokens;
  std::optional<RecoveryEvent> pending;  // a recovery told once generation continues
  std::optional<RecoveryEvent> replan;   // a faster plan found while generating, to move to
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
      if (generated.size() >= options.max_tokens) return true;
      const std::vector<sched::SlowStage> slow = slowdown_.token_done();
      if (slow.empty()) return true;
      replan = stages_.replan_for(slow, slowdown_.policy());
      if (!replan) slowdown_.declined();
      return !replan;  // stop here: the new plan takes over below
    };
    std::vector<std::uint32_t> logged = report.prompt_ids;  // the prompt and the tokens so far
    logged.insert(logged.end(), generated.begin(), generated.end());
    try {
      attempt_start = Clock::now();
      slowdown_.start_generation();
      const model::GenerateResult r = model::generate(stages_.pipeline(), logged, o);
      if (first_attempt) report.result.prefill_seconds = r.prefill_seconds;
      report.result.decode_seconds += r.decode_seconds;
      report.result.decode_passes += r.decode_passes;
      if (!replan) break;
      failure_at = Clock::now();
      RecoveryEvent moving = std::move(*replan);
      replan.reset();  // taken: a device lost while loading it is recovered from as any loss
      stages_.adopt(moving);
      slowdown_.attach(stages_.pipeline(), stages_.plan());
      pending = std::move(moving);
      pending->tokens_before = static_cast<std::uint32_t>(generated.size());
    } catch (const Error& e) {
      if (!may_be_a_lost_device(e) || generated.size() >= options.max_tokens) throw;
      if (pending) recoveries_.push_back(*pending);  // lost again before a token: keep the first
      failure_at = Clock::now();
      const double detect = std::chrono::duration<double>(failure_at - last_token).count();
      pending = stages_.recover(e);
      slowdown_.attach(stages_.pipeline(), stages_.plan());
      pending->tokens_before = static_cast<std::uint32_t>(generated.size());
      pending->detect_seconds = detect;
    }
  }
  report.result.prompt_tokens = static_cast<std::uint32_t>(report.prompt_ids.size());
  return report;
}

}  // namespace crossgpu::runtime
