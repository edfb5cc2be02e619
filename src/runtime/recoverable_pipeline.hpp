// A pipeline that can be rebuilt over the devices left after one is lost: the one implementation
// of "find who is gone, re-plan over the survivors, load the new stages" that `crossgpu run`
// (runtime/model_run.hpp) and `crossgpu serve` (serve/generation_service.hpp) share. What to do
// with the tokens generated so far (re-prefilling them into the new stages' KV caches) is the
// caller's: a run has one sequence, the server one per request in flight.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "runtime/candidate_set.hpp"
#include "runtime/model_plan.hpp"
#include "runtime/model_session.hpp"
#include "sched/slowdown_watch.hpp"

namespace crossgpu::runtime {

// A recovery from a lost device, or a re-plan away from a slowed one (then `lost` is empty and
// `slow` says what was measured; detect_seconds is the time the slowdown was watched).
struct RecoveryEvent {
  std::vector<std::string> lost;   // "<device label>: <what was observed>"
  std::vector<std::string> slow;   // "<device label>: <measured> vs <predicted> per token (<ratio>x)"
  double predicted_seconds_before = 0;  // a re-plan: the old plan's time per token as measured
  double predicted_seconds_after = 0;   // and the new plan's prediction
  std::string failure;             // the error that stopped generation
  std::uint32_t tokens_before = 0; // tokens generated before the loss (serve: by all sequences in flight)
  double detect_seconds = 0;       // from the last token (or the start) to the failure
  double replan_seconds = 0;
  double reload_seconds = 0;       // building the new stages, weights included
  double reprefill_seconds = 0;    // prefilling the prompt and the tokens so far on them
  double total_seconds = 0;        // from the failure to the first token after it
  ModelPlan plan;                  // the plan generation continues on
  // What the user waited: from the last token before the loss to the first one after it.
  double outage_seconds() const noexcept { return detect_seconds + total_seconds; }
  bool slowdown() const noexcept { return lost.empty() && !slow.empty(); }
};

nlohmann::json recovery_json(const RecoveryEvent& event);

// Failures a lost device raises: its connection gone, a call past its deadline, a socket error.
// Only these start a recovery; any other error is the caller's to report.
bool may_be_a_lost_device(const Error& failure);

class RecoverablePipeline {
 public:
  // Plans the model over `devices` (which must outlive this) with `sequences` KV-cache slots per
  // stage, counting the memory of all of them; load() builds the stages.
  RecoverablePipeline(const model::GgufFile& file, const model::LlamaConfig& config, const CandidateSet& devices,
                      const PlanOptions& options, std::uint32_t sequences = 1);

  // Builds the stages of the plan, calling `on_progress` after each weight tensor (a recovery
  // building new stages reports through it too).
  void load(WeightProgressCallback on_progress = {});
  bool loaded() const noexcept { return pipeline_ != nullptr; }

  const ModelPlan& plan() const noexcept { return plan_; }
  model::Pipeline& pipeline() { return *pipeline_; }

  // After `failure` stopped a pass: asks every device of the plan whether it still answers,
  // frees the stages, re-plans over the devices not found lost (now or before) with the
  // cluster's measured profiles and loads the new plan. Returns the event with lost, failure,
  // replan and reload filled in; the new pipeline's KV caches are empty. Rethrows `failure` when
  // every device answers (not a loss this can mend); throws Errc::device_lost when the cluster's
  // telemetry is out of reach, and the planner's error (Errc::out_of_memory naming the
  // shortfall) when the survivors cannot hold the model: the pipeline is gone then.
  RecoveryEvent recover(const Error& failure);

  // A slowdown re-plan, in two steps so that the run keeps generating on the current stages
  // until a better plan is known. replan_for(): `slow` (stages of the current plan, with the
  // ratio measured) derates those devices and re-plans over the devices left; returns the event
  // with slow, the predictions and replan_seconds filled in when the new plan is predicted
  // faster by the policy's margin (sched::worth_replanning), nothing otherwise (the derating is
  // then forgotten). A device once derated stays derated for later plans, so plans do not move
  // back onto it. adopt() frees the stages and loads the event's plan (reload_seconds); the new
  // pipeline's KV caches are empty.
  std::optional<RecoveryEvent> replan_for(const std::vector<sched::SlowStage>& slow,
                                          const sched::SlowdownPolicy& policy);
  void adopt(RecoveryEvent& event);

 private:
  const model::GgufFile& file_;
  const model::LlamaConfig& config_;
  const CandidateSet& devices_;
  PlanOptions options_;
  std::uint32_t sequences_;
  WeightProgressCallback on_progress_;
  // The plan over the candidates not lost, with the cluster's measured profiles and derated
  // devices as measured; errors say `why` a plan was needed.
  ModelPlan plan_over_survivors(const std::string& why) const;

  std::vector<std::string> lost_labels_;
  std::map<std::string, double> derated_;  // device label -> how many times slower it measured
  ModelPlan plan_;
  std::unique_ptr<model::Pipeline> pipeline_;
};

}  // namespace crossgpu::runtime
