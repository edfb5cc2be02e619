// What a run did, stage by stage, next to what its plan predicted: the data behind the summary
// table that `crossgpu run` and `crossgpu demo` print (apps/run_printing.hpp) and the JSON of
// `crossgpu run --json`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/pipeline.hpp"
#include "runtime/model_plan.hpp"
#include "runtime/model_session.hpp"

namespace crossgpu::runtime {

struct StageSummary {
  std::string device;                 // the candidate's label
  std::size_t first_layer = 0;
  std::size_t end_layer = 0;          // exclusive
  model::StageStats measured;         // totals over the run's forward passes
  double predicted_seconds = 0;       // per token: the plan's compute plus transfer
  std::uint64_t weights_sent = 0;     // bytes that crossed to the device
  std::uint64_t weights_cached = 0;   // bytes a node already held in its weight cache
  bool remote = false;                // a node's device: it has a weight cache to report
};

// One entry per stage of `pipeline`, which was built from `plan`.
std::vector<StageSummary> summarize_stages(const model::Pipeline& pipeline, const ModelPlan& plan);

// Network messages per decoded token of one stage (StageStats::messages / message_steps); null
// when none were counted (a local stage, or no decode step yet).
nlohmann::json network_messages_per_token(const model::StageStats& stats);

nlohmann::json summary_json(const RunReport& report, const model::Pipeline& pipeline, const ModelPlan& plan);

}  // namespace crossgpu::runtime
