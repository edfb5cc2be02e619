#include "runtime/model_session.hpp"

#include <memory>
#include <vector>

#include "runtime/decode_chain.hpp"
#include "runtime/prefill_pipeline.hpp"
#include "runtime/stage_transport.hpp"

namespace crossgpu::runtime {
namespace {

// The stage's on_progress hook: reports (bytes placed, bytes of the stage) as a WeightProgress.
std::function<void(std::uint64_t, std::uint64_t)> stage_progress(const WeightProgressCallback& on_progress,
                                                                  std::size_t stage, std::size_t stages,
                                                                  const std::string& device) {
  if (!on_progress) return {};
  return [on_progress, stage, stages, device](std::uint64_t done, std::uint64_t total) {
    on_progress({.stage = stage, .stages = stages, .device = device, .done = done, .total = total});
  };
}

}  // namespace

model::Pipeline load_pipeline(const model::GgufFile& file, const model::LlamaConfig& config, const ModelPlan& plan,
                              const PlanOptions& options, const WeightProgressCallback& on_progress,
                              std::uint32_t sequences) {
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  const auto& planned = plan.plan.stages;
  for (std::size_t i = 0; i < planned.size(); ++i) {
    const sched::Stage& s = planned[i];
    const Candidate& c = plan.devices[s.device];
    model::StageRange range{static_cast<std::uint32_t>(s.first_layer), static_cast<std::uint32_t>(s.end_layer), i == 0,
                            i + 1 == planned.size()};
    model::StageOptions stage_options{.context = options.context, .max_batch = options.max_batch,
                                      .max_sequences = sequences,
                                      .on_progress = stage_progress(on_progress, i, planned.size(), c.label),
                                      .upload_weights = weight_upload_for(*c.device)};
    stages.push_back(std::make_unique<model::LlamaStage>(config, file, c.device, range, std::move(stage_options)));
  }
  // Hidden states cross stage boundaries as f16 unless CROSSGPU_CHAIN_HIDDEN=f32 (exactness).
  model::Pipeline pipeline(config, std::move(stages), activation_mover(hidden_wire()));
  pipeline.set_decode_chain(node_chain_for(pipeline));  // remote stages pass hidden states node to node
  pipeline.set_prefill_runner(prefill_pipeline_for(pipeline));  // ... and prefill their prompts in micro-batches
  return pipeline;
}

std::vector<std::uint32_t> tokenize_prompt(const model::Tokenizer& tokenizer, const std::string& prompt, bool chat) {
  const std::string text = chat ? tokenizer.apply_chat_template({{"user", prompt}}, true) : prompt;
  return tokenizer.encode(text, true, chat);
}

RunReport run_prompt(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, const std::string& prompt, bool chat,
                     const model::GenerateOptions& options, const PieceCallback& on_piece) {
  const std::vector<std::uint32_t> ids = tokenize_prompt(tokenizer, prompt, chat);
  RunReport report;
  report.prompt_ids = ids;
  model::GenerateOptions o = options;
  o.is_end = [&](std::uint32_t id) { return tokenizer.is_end_of_generation(id); };
  o.on_token = [&](std::uint32_t id) {
    if (tokenizer.is_end_of_generation(id)) return true;
    const std::string piece = tokenizer.token_to_piece(id);
    report.text += piece;
    if (on_piece) on_piece(piece);
    return true;
  };
  report.result = model::generate(pipeline, ids, o);
  return report;
}

}  // namespace crossgpu::runtime
