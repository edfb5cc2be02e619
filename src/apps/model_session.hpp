// A model loaded onto the devices a plan chose, ready to generate: the stages built (weights
// streamed to each device with a progress bar), the activation path between them (node to node
// when both ends are remote), generation with tokens streamed to the terminal, and the summary.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/model_plan.hpp"
#include "model/generate.hpp"
#include "model/pipeline.hpp"
#include "model/tokenizer.hpp"

namespace crossgpu::apps {

// Builds the pipeline of `plan` (progress on stderr when `progress`).
model::Pipeline load_pipeline(const model::GgufFile& file, const model::LlamaConfig& config, const ModelPlan& plan,
                              const PlanOptions& options, bool progress);

struct RunReport {
  model::GenerateResult result;
  std::string text;
};

// Tokenizes `prompt` (through the chat template when `chat`), generates, and prints each piece
// to `out` as soon as it is sampled.
RunReport run_prompt(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, const std::string& prompt,
                     bool chat, const model::GenerateOptions& options, std::FILE* out);

void print_summary(const RunReport& report, const model::Pipeline& pipeline, const ModelPlan& plan, std::FILE* out);
nlohmann::json summary_json(const RunReport& report, const model::Pipeline& pipeline, const ModelPlan& plan);

}  // namespace crossgpu::apps
