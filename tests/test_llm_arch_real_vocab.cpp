// Whole models with a real vocabulary (support/real_vocab_models.hpp: Llama 3.1's 128,256 tokens
// on llama in f16, Qwen 3's 151,669 on qwen3 and Gemma 3's 262,145 SentencePiece tokens on gemma3,
// both in q8_0; random weights 64 wide): a chat prompt rendered with the model's own template and
// tokenized with its own vocabulary, as crossgpu serve does, then
// - on every device (CPU and lavapipe here), split in two stages, the greedy tokens equal the
//   double-precision forward of tests/support/reference_forward.cpp, logits within 2e-3 relative:
//   embedding rows past 128k and a head of 128k-262k rows are read as the reference reads them;
// - against llama.cpp (tests/arch_oracle/expected_real_vocab_llama_cpp.json, recorded by make
//   check-llama-cpp-arch on the same files): llama.cpp tokenizes the rendered template to the same
//   ids, and crossgpu fed llama.cpp's greedy tokens gives log-probabilities of llama.cpp's 8 most
//   likely tokens within test_llm_arch_types' tolerances (f16: 5e-3 nats, q8_0: 0.2).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>

#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "model/tokenizer.hpp"
#include "support/llama_cpp_logprobs.hpp"
#include "support/real_vocab_models.hpp"
#include "support/reference_forward.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using testing::kRealVocabCases;
using testing::RealVocabCase;

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

struct LoadedModel {
  testing::RealVocabModel made;
  GgufFile file;
  LlamaConfig config;
};

// Made once per case (converting the package and writing 10-16 MB takes about a second).
const LoadedModel& model_of(const RealVocabCase& c) {
  static std::map<std::string, std::unique_ptr<LoadedModel>> cache;
  auto& slot = cache[c.label];
  if (!slot) {
    const std::string npm = env_or_empty("CROSSGPU_NPM_TEST_DIR");
    if (npm.empty()) throw std::runtime_error("the test definition sets CROSSGPU_NPM_TEST_DIR");
    auto made = testing::make_real_vocab_model(c, npm);
    auto file = GgufFile::parse(made.bytes);  // reads through made.bytes, moved beside it (same buffer)
    auto config = LlamaConfig::from_gguf(file);
    slot.reset(new LoadedModel{std::move(made), std::move(file), std::move(config)});
  }
  return *slot;
}

// Two stages on one device, cut after the first layer: the hidden state crosses a boundary too.
std::unique_ptr<Pipeline> pipeline_on(const LoadedModel& m, const std::shared_ptr<Device>& device) {
  std::vector<std::unique_ptr<LlamaStage>> stages;
  const StageOptions options{.context = testing::kRealVocabContext, .max_batch = 16, .recorded_decode = true};
  stages.push_back(std::make_unique<LlamaStage>(m.config, m.file, device, StageRange{0, 1, true, false}, options));
  stages.push_back(std::make_unique<LlamaStage>(m.config, m.file, device, StageRange{1, m.config.layers, false, true},
                                                options));
  return std::make_unique<Pipeline>(m.config, std::move(stages));
}

TEST(RealVocab, PromptIsTheRealChatPrompt) {
  for (const RealVocabCase& c : kRealVocabCases) {
    SCOPED_TRACE(c.label);
    const LoadedModel& m = model_of(c);
    const auto tokenizer = Tokenizer::from_gguf(m.file);
    EXPECT_GE(tokenizer.vocab_size(), 128000u);
    EXPECT_EQ(m.config.vocab, tokenizer.vocab_size());
    // The template's markers became single control ids (BOS, <|start_header_id|>, <|im_start|>,
    // <start_of_turn>: at least one per turn), and the prompt decodes back to the conversation.
    const auto control = std::count_if(m.made.prompt.begin(), m.made.prompt.end(),
                                       [&](std::uint32_t id) { return tokenizer.token_type(id) == TokenType::control; });
    EXPECT_GE(control, 4);
    const std::string text = tokenizer.decode(m.made.prompt);
    EXPECT_NE(text.find("Wie spät ist es in 東京? 12:30 + 45 min = ?? 🙂"), std::string::npos) << text;
    EXPECT_LT(m.made.prompt.size() + testing::kRealVocabNewTokens, testing::kRealVocabContext);
    std::printf("%-14s %zu tokens in the vocabulary, a chat prompt of %zu tokens\n", c.label, tokenizer.vocab_size(),
                m.made.prompt.size());
  }
}

class RealVocabOnDevice : public ::testing::TestWithParam<std::tuple<std::size_t, std::size_t>> {};

TEST_P(RealVocabOnDevice, GreedyTokensEqualTheReference) {
  const auto [device_index, case_index] = GetParam();
  const LoadedModel& m = model_of(kRealVocabCases[case_index]);
  const testing::ReferenceRun want =
      testing::reference_greedy(m.file, m.config, m.made.prompt, testing::kRealVocabNewTokens);
  auto pipeline = pipeline_on(m, testing::devices().at(device_index));
  std::vector<std::vector<float>> logits;
  GenerateOptions g;
  g.max_tokens = testing::kRealVocabNewTokens;
  g.on_logits = [&](std::span<const float> l) { logits.emplace_back(l.begin(), l.end()); };
  EXPECT_EQ(generate(*pipeline, m.made.prompt, g).tokens, want.tokens);
  ASSERT_EQ(logits.size(), want.logits.size());
  double worst = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    ASSERT_EQ(logits[i].size(), m.config.vocab);
    worst = std::max(worst, testing::relative_error(logits[i], want.logits[i]));
    EXPECT_LT(testing::relative_error(logits[i], want.logits[i]), 2e-3) << "step " << i;
  }
  std::printf("%-14s on %s: largest relative logit error against the double forward %.2e\n",
              kRealVocabCases[case_index].label,
              testing::device_test_name(testing::devices().at(device_index)).c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(
    EveryDevice, RealVocabOnDevice,
    ::testing::Combine(testing::every_device(), ::testing::Range<std::size_t>(0, std::size(kRealVocabCases))),
    [](const auto& info) {
      return testing::device_test_name(testing::devices().at(std::get<0>(info.param))) + "_" +
             kRealVocabCases[std::get<1>(info.param)].label;
    });

// --- llama.cpp: the same prompt ids, and log-probabilities along its own greedy path ---

// test_llm_arch_types' tolerances (docs/MODELS.md): llama.cpp rounds activations to f16 before an
// f16 dot, and quantizes them to 8 bits before a q8_0 one.
double tolerance(kernels::WeightType type) { return type == kernels::WeightType::f16 ? 5e-3 : 0.2; }

TEST(RealVocabOracle, PromptAndLogProbabilitiesEqualLlamaCpp) {
  const std::string path = env_or_empty("CROSSGPU_REAL_VOCAB_ORACLE");
  ASSERT_FALSE(path.empty()) << "the test definition sets CROSSGPU_REAL_VOCAB_ORACLE";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const nlohmann::json oracle = nlohmann::json::parse(in);
  for (const RealVocabCase& c : kRealVocabCases) {
    SCOPED_TRACE(c.label);
    const LoadedModel& m = model_of(c);
    const nlohmann::json& entry = oracle.at("cases").at(c.label);
    ASSERT_TRUE(entry.contains("tokens")) << "llama.cpp refused the file: " << entry.value("error", "");
    // llama.cpp tokenized the template's whole output (BOS text included, special tokens parsed).
    EXPECT_EQ(entry.at("rendered").get<std::string>(), m.made.rendered);
    EXPECT_EQ(entry.at("prompt").get<std::vector<std::uint32_t>>(), m.made.prompt);
    const auto tokens = entry.at("tokens").get<std::vector<std::uint32_t>>();
    auto pipeline = pipeline_on(m, testing::cpu_device());
    const auto [worst, same] = testing::compare_log_probabilities(
        testing::teacher_forced(*pipeline, m.made.prompt, tokens), entry, tolerance(c.type), false);
    std::printf("%-14s llama.cpp: prompt of %zu ids, largest log-probability gap %.2e nats, its token at %zu/%zu steps\n",
                c.label, m.made.prompt.size(), worst, same, tokens.size());
    EXPECT_LT(worst, tolerance(c.type));
  }
}

}  // namespace
}  // namespace crossgpu::model
