// An independent forward pass of every architecture crossgpu reads: plain host loops in double
// over the GGUF's tensors (dequantized by the kernels' reference), one token at a time with a
// KV cache, following llama.cpp's graphs (models/llama.cpp, qwen2, qwen3, gemma2, gemma3, phi3).
// It shares no code with the stage (model/llama_stage.cpp) beyond the parsed hyperparameters, so
// a forward pass that runs the wrong op, in the wrong order or on the wrong rows disagrees.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/gguf.hpp"
#include "model/llama_config.hpp"

namespace crossgpu::testing {

struct ReferenceRun {
  std::vector<std::uint32_t> tokens;         // the greedy continuation
  std::vector<std::vector<float>> logits;    // before each generated token: the last prompt
                                             // token's, then each generated token's
};

// The prompt, then `new_tokens` greedy tokens (argmax, lowest id on ties).
ReferenceRun reference_greedy(const model::GgufFile& file, const model::LlamaConfig& config,
                              std::span<const std::uint32_t> prompt, std::uint32_t new_tokens);

// max |a - b| over max |b|: how far a device's logits are from the reference's.
double relative_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace crossgpu::testing
