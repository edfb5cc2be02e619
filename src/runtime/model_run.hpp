// A model planned, loaded and run so that losing a device costs seconds, not the run. The run
// logs the prompt and every token generated; when a stage's device is lost mid-generation (its
// node killed, unplugged, gone from the network), it finds which devices no longer answer,
// re-plans over the survivors (the same planner, their measured profiles and free memory), loads
// the new stages (weights from the nodes' caches where they have them), rebuilds the KV caches by
// prefilling the logged tokens, and continues. Greedy or seeded sampling then gives the tokens of
// an undisturbed run.
//
// A device that stays much slower than its plan predicted (sched/slowdown_watch.hpp) makes the
// run look for a plan without it; when one is predicted clearly faster, the run moves there the
// same way (reload, re-prefill, continue) and reports it as a re-plan.
//
// States of a run: planned (constructed), running (run()), recovering (recover(), between a
// failure and the first token after it), re-planning (from the token at which the slowdown
// watch found a faster plan to the first token on it), failed (run() throws: a failure that is
// not a lost device, no lost device found, or survivors that cannot hold the model). The run
// decides every transition itself, from the error the engine raised, what the devices answer,
// and the stage times it measured.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "model/tokenizer.hpp"
#include "runtime/candidate_set.hpp"
#include "runtime/model_plan.hpp"
#include "runtime/model_session.hpp"
#include "runtime/recoverable_pipeline.hpp"
#include "runtime/slowdown_monitor.hpp"

namespace crossgpu::runtime {

using RecoveryCallback = std::function<void(const RecoveryEvent&)>;

class ModelRun {
 public:
  // Plans the model over `devices` (which must outlive the run); load() builds the stages.
  ModelRun(const model::GgufFile& file, const model::LlamaConfig& config, const CandidateSet& devices,
           const PlanOptions& options);
  // Builds the stages of the plan, calling `on_progress` after each weight tensor (also when a
  // recovery builds new stages).
  void load(WeightProgressCallback on_progress = {});

  const ModelPlan& plan() const noexcept { return stages_.plan(); }
  model::Pipeline& pipeline() { return stages_.pipeline(); }
  const std::vector<RecoveryEvent>& recoveries() const noexcept { return recoveries_; }

  // As run_prompt (model_session.hpp), recovering from lost devices and re-planning around slow
  // ones; `on_recovery` hears of each recovery and re-plan once generation continues. Throws what cannot be recovered from: Errc::out_of_memory
  // naming the shortfall when the survivors cannot hold the model.
  RunReport run(const model::Tokenizer& tokenizer, const std::string& prompt, bool chat,
                const model::GenerateOptions& options, const PieceCallback& on_piece = {},
                const RecoveryCallback& on_recovery = {});

 private:
  RecoverablePipeline stages_;  // finds the lost devices, re-plans and reloads (shared with serve)
  SlowdownMonitor slowdown_;    // times each stage per token; says when a re-plan is due
  std::vector<RecoveryEvent> recoveries_;
};

}  // namespace crossgpu::runtime
