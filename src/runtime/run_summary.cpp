#include "runtime/run_summary.hpp"

#include "runtime/stage_transport.hpp"

namespace crossgpu::runtime {

nlohmann::json network_messages_per_token(const model::StageStats& stats) {
  if (stats.message_steps == 0) return nullptr;
  return static_cast<double>(stats.messages) / static_cast<double>(stats.message_steps);
}

std::vector<StageSummary> summarize_stages(const model::Pipeline& pipeline, const ModelPlan& plan) {
  std::vector<StageSummary> out;
  for (std::size_t i = 0; i < pipeline.stages().size(); ++i) {
    const sched::Stage& p = plan.plan.stages[i];
    const model::LlamaStage& stage = *pipeline.stages()[i];
    out.push_back({.device = plan.devices[p.device].label,
                   .first_layer = p.first_layer,
                   .end_layer = p.end_layer,
                   .measured = pipeline.stats()[i],
                   .predicted_seconds = p.compute_seconds + p.transfer_seconds,
                   .weights_sent = stage.sent_bytes(),
                   .weights_cached = stage.cached_bytes(),
                   .remote = is_remote(stage.device())});
  }
  return out;
}

nlohmann::json summary_json(const RunReport& report, const model::Pipeline& pipeline, const ModelPlan& plan) {
  const model::GenerateResult& r = report.result;
  nlohmann::json stages = nlohmann::json::array();
  for (const StageSummary& s : summarize_stages(pipeline, plan)) {
    stages.push_back({{"device", s.device},
                      {"seconds", s.measured.seconds},
                      {"transfer_seconds", s.measured.transfer_seconds},
                      {"bytes_out", s.measured.bytes_out},
                      {"passes", s.measured.passes},
                      {"predicted_ms_per_token", s.predicted_seconds * 1e3},
                      // Per decoded token: a relayed remote stage's request and reply, a chained
                      // one's step message (and at a chain's end the result); null for a local one.
                      {"network_messages_per_token", network_messages_per_token(s.measured)}});
  }
  return {{"prompt_tokens", r.prompt_tokens},
          {"prompt_ids", report.prompt_ids},
          {"tokens", r.tokens},
          {"text", report.text},
          {"prefill_seconds", r.prefill_seconds},
          {"decode_seconds", r.decode_seconds},
          {"prefill_tokens_per_second", r.prefill_tokens_per_second()},
          {"decode_tokens_per_second", r.decode_tokens_per_second()},
          {"stages", stages},
          {"plan", plan_json(plan)}};
}

}  // namespace crossgpu::runtime
