// crossgpu against llama.cpp's log-probabilities along llama.cpp's own greedy path (recorded by
// make check-llama-cpp-arch, tests/arch_oracle/record_llama_cpp.mjs): crossgpu is fed llama.cpp's
// tokens (teacher forcing), and its log-probabilities of llama.cpp's most likely tokens at each
// step must lie within a tolerance of llama.cpp's. Tokens alone are no measure for quantized
// weights: llama.cpp quantizes the activations before each quantized dot, and a random model's
// top tokens lie hundredths of a nat apart (docs/MODELS.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/pipeline.hpp"

namespace crossgpu::testing {

// Logits after the prompt, then after each of `forced` but the last: what the model says at each
// step when the sequence is llama.cpp's.
std::vector<std::vector<float>> teacher_forced(model::Pipeline& pipeline, std::span<const std::uint32_t> prompt,
                                               const std::vector<std::uint32_t>& forced);

std::vector<double> log_softmax(const std::vector<float>& logits);

struct LogProbComparison {
  double worst = 0;             // largest |log p| gap over llama.cpp's top tokens, every step
  std::size_t same_argmax = 0;  // steps whose argmax is llama.cpp's token
};

// `entry`: {"tokens": [...], "top": [[[id, log p], ...] per step]}; `logits`: teacher_forced's.
// Expects llama.cpp's token as the argmax at every step when `argmax_everywhere`, else at every
// step whose top two log-probabilities lie more than two tolerances apart (a near tie may go
// either way). The caller checks `worst` against its tolerance.
LogProbComparison compare_log_probabilities(const std::vector<std::vector<float>>& logits, const nlohmann::json& entry,
                                            double tolerance, bool argmax_everywhere);

}  // namespace crossgpu::testing
