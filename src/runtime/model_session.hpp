// A model loaded onto the devices a plan chose, ready to generate: the stages built (weights
// streamed to each device, progress reported per tensor), the activation path between them (node
// to node when both ends are remote, runtime/stage_transport.hpp), and generation with each piece
// of text handed over as soon as it is sampled. Drawing the progress and printing the text is
// the caller's (apps/run_printing.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "model/generate.hpp"
#include "model/pipeline.hpp"
#include "model/tokenizer.hpp"
#include "runtime/model_plan.hpp"

namespace crossgpu::runtime {

// How far one stage's weights are on its device.
struct WeightProgress {
  std::size_t stage = 0;   // 0-based
  std::size_t stages = 0;
  std::string device;      // the candidate's label
  std::uint64_t done = 0;  // bytes placed so far (sent or from a node's cache)
  std::uint64_t total = 0; // bytes of this stage
};
using WeightProgressCallback = std::function<void(const WeightProgress&)>;

// Builds the pipeline of `plan`, calling `on_progress` (when set) after each weight tensor, with
// `sequences` KV-cache slots per stage (sequences decoded together; `crossgpu serve` asks for
// several). The plan itself counts one slot's cache.
model::Pipeline load_pipeline(const model::GgufFile& file, const model::LlamaConfig& config, const ModelPlan& plan,
                              const PlanOptions& options, const WeightProgressCallback& on_progress = {},
                              std::uint32_t sequences = 1);

struct RunReport {
  std::vector<std::uint32_t> prompt_ids;  // the prompt as tokenized (template applied)
  model::GenerateResult result;
  std::string text;
};

// Each piece of generated text, as soon as its token is sampled (end-of-generation tokens have
// none).
using PieceCallback = std::function<void(const std::string& piece)>;

// The token ids of `prompt`: as one user message through the model's chat template when `chat`.
std::vector<std::uint32_t> tokenize_prompt(const model::Tokenizer& tokenizer, const std::string& prompt, bool chat);

// Tokenizes `prompt` (through the chat template when `chat`), generates, and hands each piece to
// `on_piece` (when set).
RunReport run_prompt(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, const std::string& prompt,
                     bool chat, const model::GenerateOptions& options, const PieceCallback& on_piece = {});

}  // namespace crossgpu::runtime
