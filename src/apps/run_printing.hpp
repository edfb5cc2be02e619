// How `crossgpu plan`, `run` and `demo` show the runtime's results to a person: the plan and the
// run summary as tables, the weight upload as a progress bar on stderr, the generated text as it
// comes. The runtime computes; these only format.
#pragma once

#include <cstdio>
#include <string>

#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "model/tokenizer.hpp"
#include "runtime/model_plan.hpp"
#include "runtime/model_run.hpp"
#include "runtime/model_session.hpp"

namespace crossgpu::apps {

void print_plan(const runtime::ModelPlan& plan, const model::LlamaConfig& config, std::FILE* out);

// One stage's weight upload as a bar rewritten in place on stderr; a newline once it is done.
void draw_weight_progress(const runtime::WeightProgress& progress);

// runtime::run_prompt with each piece printed to `out` as soon as it is sampled and a newline at
// the end; prints nothing when `out` is null.
runtime::RunReport run_prompt_printing(model::Pipeline& pipeline, const model::Tokenizer& tokenizer,
                                       const std::string& prompt, bool chat, const model::GenerateOptions& options,
                                       std::FILE* out);

// Each piece of text to `out` as soon as it is sampled (nothing when `out` is null).
runtime::PieceCallback piece_printer(std::FILE* out);

// One line per recovery: what was lost, the new plan, and where the time went.
void print_recovery(const runtime::RecoveryEvent& event, std::FILE* out);

void print_summary(const runtime::RunReport& report, const model::Pipeline& pipeline, const runtime::ModelPlan& plan,
                   std::FILE* out);

}  // namespace crossgpu::apps
