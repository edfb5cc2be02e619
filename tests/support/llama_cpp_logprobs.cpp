#include "support/llama_cpp_logprobs.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/generate.hpp"

namespace crossgpu::testing {

std::vector<std::vector<float>> teacher_forced(model::Pipeline& pipeline, std::span<const std::uint32_t> prompt,
                                               const std::vector<std::uint32_t>& forced) {
  std::vector<std::vector<float>> out;
  const auto first = model::prefill(pipeline, prompt, 0, 0);
  out.emplace_back(first.begin(), first.end());
  for (std::size_t i = 0; i + 1 < forced.size(); ++i) {
    const std::uint32_t id = forced[i];
    const auto l = pipeline.forward(std::span(&id, 1), static_cast<std::uint32_t>(prompt.size() + i));
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

std::vector<double> log_softmax(const std::vector<float>& logits) {
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (const float z : logits) sum += std::exp(z - top);
  const double log_sum = top + std::log(sum);
  std::vector<double> out(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_sum;
  return out;
}

LogProbComparison compare_log_probabilities(const std::vector<std::vector<float>>& logits, const nlohmann::json& entry,
                                            double tolerance, bool argmax_everywhere) {
  LogProbComparison out;
  const auto tokens = entry.at("tokens").get<std::vector<std::uint32_t>>();
  const nlohmann::json& top = entry.at("top");
  EXPECT_EQ(top.size(), tokens.size());
  EXPECT_EQ(logits.size(), tokens.size());
  for (std::size_t step = 0; step < std::min({logits.size(), tokens.size(), top.size()}); ++step) {
    const std::vector<double> ours = log_softmax(logits[step]);
    for (const auto& pair : top[step]) {
      const auto id = pair.at(0).get<std::size_t>();
      if (id >= ours.size()) {
        ADD_FAILURE() << "llama.cpp's token " << id << " is outside the vocabulary (" << ours.size() << ")";
        continue;
      }
      out.worst = std::max(out.worst, std::fabs(ours[id] - pair.at(1).get<double>()));
    }
    const auto argmax = static_cast<std::uint32_t>(std::max_element(logits[step].begin(), logits[step].end()) -
                                                   logits[step].begin());
    out.same_argmax += argmax == tokens[step];
    const double margin = top[step].at(0).at(1).get<double>() - top[step].at(1).at(1).get<double>();
    if (argmax_everywhere || margin > 2 * tolerance) {
      EXPECT_EQ(argmax, tokens[step]) << "step " << step << ", llama.cpp's margin " << margin;
    }
  }
  return out;
}

}  // namespace crossgpu::testing
