// Every architecture crossgpu reads (llama with Llama 3 rope scaling and tied embeddings,
// qwen2, qwen3, gemma2, gemma3, phi3; mistral reads as llama, and llama.cpp has no 'mistral'
// architecture to check it against) as a small random-weight GGUF from the demo
// writer: greedy tokens on every device, through the recorded decode step and op by op, equal
// the independent double-precision forward of tests/support/reference_forward.cpp, and logits
// agree within a stated tolerance. Then the hyperparameters each architecture's keys give, and
// hostile files: an unknown architecture, missing, misshapen and unexpected tensors, a layer
// count the tensors contradict, keys of the wrong type, scaling crossgpu does not compute.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>

#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "support/arch_cases.hpp"
#include "support/reference_forward.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using kernels::WeightType;
using testing::throws_errc;

using testing::ArchCase;
constexpr const auto& kCases = testing::kArchCases;
DemoModelSpec spec_of(const ArchCase& c) { return testing::arch_spec(c); }

struct LoadedModel {
  std::vector<std::byte> bytes;
  GgufFile file;
  LlamaConfig config;
};

std::unique_ptr<LoadedModel> load(std::vector<std::byte> bytes) {
  auto file = GgufFile::parse(bytes);  // reads through `bytes`, kept alive beside it
  auto config = LlamaConfig::from_gguf(file);
  return std::unique_ptr<LoadedModel>(new LoadedModel{std::move(bytes), std::move(file), std::move(config)});
}

const std::vector<std::uint32_t>& kPrompt = testing::kArchPrompt;
constexpr std::uint32_t kNewTokens = testing::kArchNewTokens;

struct GreedyRun {
  std::vector<std::uint32_t> tokens;
  std::vector<std::vector<float>> logits;
  bool recorded = false;
};

// Two stages on one device (cut after layer 1), so a stage boundary is crossed too.
GreedyRun run_on(const LoadedModel& m, const std::shared_ptr<Device>& device, bool recorded) {
  std::vector<std::unique_ptr<LlamaStage>> stages;
  const StageOptions options{.context = 64, .max_batch = 16, .recorded_decode = recorded};
  stages.push_back(std::make_unique<LlamaStage>(m.config, m.file, device, StageRange{0, 1, true, false}, options));
  stages.push_back(std::make_unique<LlamaStage>(m.config, m.file, device, StageRange{1, 3, false, true}, options));
  GreedyRun run;
  run.recorded = stages.back()->decodes_recorded();
  Pipeline pipeline(m.config, std::move(stages));
  GenerateOptions g;
  g.max_tokens = kNewTokens;
  g.on_logits = [&](std::span<const float> l) { run.logits.emplace_back(l.begin(), l.end()); };
  run.tokens = generate(pipeline, kPrompt, g).tokens;
  return run;
}

class ArchForward : public ::testing::TestWithParam<std::tuple<std::size_t, std::size_t>> {};

// Tolerance: f32 sums in other orders than the reference's doubles, ~1e-6 relative per op
// through 3 layers; the recorded step's fused kernels and lavapipe's exp/tanh add a few ulp.
TEST_P(ArchForward, GreedyTokensEqualTheReference) {
  const auto [device_index, case_index] = GetParam();
  const ArchCase& c = kCases[case_index];
  const auto m = load(demo_model(spec_of(c)).bytes());
  const testing::ReferenceRun want = testing::reference_greedy(m->file, m->config, kPrompt, kNewTokens);
  for (const bool recorded : {true, false}) {
    SCOPED_TRACE(recorded ? "recorded decode" : "op by op");
    const GreedyRun got = run_on(*m, testing::devices().at(device_index), recorded);
    EXPECT_EQ(got.tokens, want.tokens);
    ASSERT_EQ(got.logits.size(), want.logits.size());
    for (std::size_t i = 0; i < got.logits.size(); ++i) {
      EXPECT_LT(testing::relative_error(got.logits[i], want.logits[i]), 2e-3) << "step " << i;
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<std::tuple<std::size_t, std::size_t>>& info) {
  return testing::device_test_name(testing::devices().at(std::get<0>(info.param))) + "_" +
         kCases[std::get<1>(info.param)].label;
}

INSTANTIATE_TEST_SUITE_P(EveryDeviceAndArch, ArchForward,
                         ::testing::Combine(testing::every_device(), ::testing::Range<std::size_t>(0, std::size(kCases))),
                         case_name);

// llama.cpp's greedy tokens on the same files, recorded by make check-llama-cpp-arch (node-llama-cpp,
// CPU backend) into tests/arch_oracle/expected_llama_cpp.json: crossgpu on the CPU device must
// give the same tokens. Every case was loaded by llama.cpp (its own tensor-name and shape rules),
// so a recorded error fails here.
TEST(ArchOracle, GreedyTokensEqualLlamaCpp) {
  const char* path = std::getenv("CROSSGPU_ARCH_ORACLE");
  ASSERT_NE(path, nullptr) << "the test definition sets CROSSGPU_ARCH_ORACLE";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  const nlohmann::json expected = nlohmann::json::parse(in);
  ASSERT_EQ(expected.at("prompt").get<std::vector<std::uint32_t>>(), kPrompt);
  std::shared_ptr<Device> cpu;
  for (const auto& d : testing::devices()) {
    if (d->properties().backend == Backend::cpu) cpu = d;
  }
  ASSERT_TRUE(cpu);
  for (const ArchCase& c : kCases) {
    SCOPED_TRACE(c.label);
    const nlohmann::json& entry = expected.at("cases").at(c.label);
    ASSERT_TRUE(entry.contains("tokens")) << "llama.cpp refused the file: " << entry.value("error", "");
    const auto want = entry.at("tokens").get<std::vector<std::uint32_t>>();
    const auto m = load(demo_model(spec_of(c)).bytes());
    EXPECT_EQ(run_on(*m, cpu, true).tokens, want);
  }
}

// Every architecture decodes through the recorded program (rope_kv_freqs for RoPE factors,
// attention_window_at for sliding windows and soft-capped scores).
TEST(ArchConfig, EveryArchitectureDecodesRecorded) {
  for (const ArchCase& c : kCases) {
    const auto m = load(demo_model(spec_of(c)).bytes());
    LlamaStage stage(m->config, m->file, testing::devices().back(), {0, 3, true, true}, {.context = 16, .max_batch = 4});
    EXPECT_TRUE(stage.decodes_recorded()) << c.label;
  }
}

TEST(ArchConfig, ReadsEachArchitecturesKeys) {
  const auto gemma3 = load(demo_model(spec_of(kCases[6])).bytes());
  const LlamaConfig& g = gemma3->config;
  EXPECT_EQ(g.head_dim, 128u);
  EXPECT_EQ(g.q_dim(), 512u);
  EXPECT_TRUE(g.arch.qk_norm && g.arch.post_norms && g.arch.gelu);
  EXPECT_EQ(g.arch.rope_mode, ops::RopeMode::neox);
  EXPECT_FLOAT_EQ(g.arch.embedding_scale, 16.0f);
  EXPECT_EQ(g.arch.sliding_window, 8u);
  // llama.cpp's rule: layer l slides when l % pattern < pattern - 1 (pattern 2: even layers).
  EXPECT_TRUE(g.layer_slides(0));
  EXPECT_FALSE(g.layer_slides(1));
  EXPECT_TRUE(g.layer_slides(2));
  EXPECT_FLOAT_EQ(g.layer_rope_base(0), 10000.0f);
  EXPECT_FLOAT_EQ(g.layer_rope_base(1), 1000000.0f);
  EXPECT_FLOAT_EQ(g.attention_scale, 1.0f / std::sqrt(128.0f));
  EXPECT_EQ(g.arch.final_softcap, 0.0f);

  const auto gemma2 = load(demo_model(spec_of(kCases[5])).bytes());
  EXPECT_FLOAT_EQ(gemma2->config.arch.attn_softcap, 4.0f);
  EXPECT_FLOAT_EQ(gemma2->config.arch.final_softcap, 30.0f);
  EXPECT_FLOAT_EQ(gemma2->config.layer_rope_base(0), 10000.0f);

  const auto qwen2 = load(demo_model(spec_of(kCases[2])).bytes());
  EXPECT_TRUE(qwen2->config.arch.qkv_bias);
  EXPECT_TRUE(qwen2->config.tied_output);
  const auto phi3 = load(demo_model(spec_of(kCases[8])).bytes());
  EXPECT_TRUE(phi3->config.arch.fused_qkv && phi3->config.arch.fused_gate_up);
  const auto llama = load(demo_model(spec_of(kCases[0])).bytes());
  EXPECT_EQ(llama->config.rope_factors.size(), 32u);
  EXPECT_EQ(llama->config.arch.rope_mode, ops::RopeMode::normal);
}

// --- hostile files: a copy of a demo model with one thing changed ---

struct Edit {
  std::map<std::string, GgufValue> set_keys;
  std::vector<std::string> drop_keys;
  std::vector<std::string> drop_tensors;
  std::map<std::string, std::vector<std::uint64_t>> reshape;  // same bytes, other dims
  std::map<std::string, std::string> copy_tensor;             // new name <- existing tensor
};

std::vector<std::byte> edited(const ArchCase& c, const Edit& edit) {
  const std::vector<std::byte> bytes = demo_model(spec_of(c)).bytes();
  const GgufFile file = GgufFile::parse(bytes);
  GgufWriter out;
  for (const auto& [key, value] : file.metadata()) {
    if (std::find(edit.drop_keys.begin(), edit.drop_keys.end(), key) != edit.drop_keys.end()) continue;
    if (!edit.set_keys.contains(key)) out.add(key, value);
  }
  for (const auto& [key, value] : edit.set_keys) out.add(key, value);
  auto add = [&](const std::string& name, const TensorInfo& t) {
    const auto data = file.tensor_data(t);
    const auto it = edit.reshape.find(name);
    out.add_tensor(name, it == edit.reshape.end() ? t.dims : it->second, static_cast<TensorType>(t.type),
                   std::vector<std::byte>(data.begin(), data.end()));
  };
  for (const TensorInfo& t : file.tensors()) {
    if (std::find(edit.drop_tensors.begin(), edit.drop_tensors.end(), t.name) == edit.drop_tensors.end()) add(t.name, t);
  }
  for (const auto& [name, from] : edit.copy_tensor) add(name, file.tensor(from));
  return out.bytes();
}

GgufValue string_value(std::string s) { return GgufValue{std::move(s), gguf_type::string}; }
GgufValue u32_value(std::uint64_t v) { return GgufValue{v, gguf_type::uint32}; }

::testing::AssertionResult refused(const ArchCase& c, const Edit& edit, Errc code, std::string_view needle) {
  return throws_errc([&] { load(edited(c, edit)); }, code, needle);
}

TEST(ArchErrors, AnUnknownArchitectureIsNamedWithTheSupportedOnes) {
  const Edit e{.set_keys = {{"general.architecture", string_value("mamba")}}};
  EXPECT_TRUE(refused(kCases[0], e, Errc::unsupported, "'mamba'"));
  EXPECT_TRUE(refused(kCases[0], e, Errc::unsupported, "llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3"));
}

TEST(ArchErrors, AMissingTensorIsNamed) {
  EXPECT_TRUE(refused(kCases[2], {.drop_tensors = {"blk.1.ffn_up.weight"}}, Errc::not_found, "'blk.1.ffn_up.weight'"));
  EXPECT_TRUE(refused(kCases[4], {.drop_tensors = {"blk.2.attn_q_norm.weight"}}, Errc::not_found,
                      "'blk.2.attn_q_norm.weight'"));
  EXPECT_TRUE(refused(kCases[5], {.drop_tensors = {"blk.0.post_ffw_norm.weight"}}, Errc::not_found,
                      "'blk.0.post_ffw_norm.weight'"));
  EXPECT_TRUE(refused(kCases[2], {.drop_tensors = {"blk.1.attn_v.bias"}}, Errc::not_found, "'blk.1.attn_v.bias'"));
  EXPECT_TRUE(refused(kCases[0], {.drop_tensors = {"output_norm.weight"}}, Errc::not_found, "'output_norm.weight'"));
}

TEST(ArchErrors, AMisshapenTensorNamesBothShapes) {
  EXPECT_TRUE(refused(kCases[2], {.reshape = {{"blk.0.attn_k.weight", {128, 256}}}}, Errc::invalid_argument,
                      "tensor 'blk.0.attn_k.weight' has shape [128, 256], the metadata implies [256, 128]"));
  // phi3's ffn_up packs gate|up: 2 * ffn rows.
  EXPECT_TRUE(refused(kCases[8], {.reshape = {{"blk.1.ffn_up.weight", {512, 512}}}}, Errc::invalid_argument,
                      "the metadata implies [256, 1024]"));
  EXPECT_TRUE(refused(kCases[0], {.reshape = {{"rope_freqs.weight", {16, 2}}}}, Errc::invalid_argument,
                      "'rope_freqs.weight'"));
}

TEST(ArchErrors, ALayerCountTheTensorsContradictSaysSo) {
  EXPECT_TRUE(refused(kCases[0], {.set_keys = {{"llama.block_count", u32_value(4)}}}, Errc::invalid_argument,
                      "llama.block_count says 4 layers, but the file has tensors for 3"));
  EXPECT_TRUE(refused(kCases[2], {.set_keys = {{"qwen2.block_count", u32_value(2)}}}, Errc::invalid_argument,
                      "qwen2.block_count says 2 layers, but the file has tensors for 3"));
}

TEST(ArchErrors, AKeyOfTheWrongTypeNamesBothTypes) {
  EXPECT_TRUE(refused(kCases[6], {.set_keys = {{"gemma3.block_count", string_value("3")}}}, Errc::invalid_argument,
                      "'gemma3.block_count' holds string, expected a non-negative integer"));
  EXPECT_TRUE(refused(kCases[6], {.set_keys = {{"gemma3.rope.freq_base", string_value("1e6")}}},
                      Errc::invalid_argument, "'gemma3.rope.freq_base' holds string, expected a number"));
  EXPECT_TRUE(refused(kCases[0], {.set_keys = {{"general.architecture", u32_value(1)}}}, Errc::invalid_argument,
                      "'general.architecture' holds uint32, expected a string"));
}

TEST(ArchErrors, ATensorTheForwardPassWouldIgnoreIsRefused) {
  EXPECT_TRUE(refused(kCases[0], {.copy_tensor = {{"blk.0.attn_output.bias", "output_norm.weight"}}},
                      Errc::unsupported, "'blk.0.attn_output.bias' is not part of crossgpu's llama forward pass"));
  // llama.cpp never loads output.weight for gemma2: its head is token_embd.
  EXPECT_TRUE(refused(kCases[5], {.copy_tensor = {{"output.weight", "token_embd.weight"}}}, Errc::unsupported,
                      "gemma2 model's head is token_embd"));
  // phi3's long-context factors (Phi-3 128k): a RoPE crossgpu does not compute.
  EXPECT_TRUE(refused(kCases[8], {.copy_tensor = {{"rope_factors_long.weight", "output_norm.weight"}}},
                      Errc::unsupported, "'rope_factors_long.weight'"));
}

TEST(ArchErrors, ScalingAndRotationCrossgpuDoesNotComputeAreNamed) {
  EXPECT_TRUE(refused(kCases[2], {.set_keys = {{"qwen2.rope.scaling.type", string_value("yarn")}}},
                      Errc::unsupported, "'qwen2.rope.scaling.type' is 'yarn'"));
  EXPECT_TRUE(refused(kCases[4], {.set_keys = {{"qwen3.rope.dimension_count", u32_value(64)}}}, Errc::unsupported,
                      "'qwen3.rope.dimension_count' is 64"));
  EXPECT_TRUE(refused(kCases[5], {.set_keys = {{"gemma2.attention.value_length", u32_value(64)}}},
                      Errc::unsupported, "value_length"));
}

// rope.scaling.type = llama3 with its factors gives the same divisors as the rope_freqs tensor
// llama.cpp's converter computes from them.
TEST(ArchConfig, Llama3ScalingKeysGiveTheRopeFreqsFactors) {
  const auto with_tensor = load(demo_model(spec_of(kCases[0])).bytes());
  const Edit e{.set_keys = {{"llama.rope.scaling.type", string_value("llama3")},
                            {"llama.rope.scaling.factor", GgufValue{8.0, gguf_type::float32}},
                            {"llama.rope.scaling.low_freq_factor", GgufValue{1.0, gguf_type::float32}},
                            {"llama.rope.scaling.high_freq_factor", GgufValue{4.0, gguf_type::float32}},
                            {"llama.rope.scaling.original_context_length", u32_value(16)}},
               .drop_tensors = {"rope_freqs.weight"}};
  const auto with_keys = load(edited(kCases[0], e));
  ASSERT_EQ(with_keys->config.rope_factors.size(), with_tensor->config.rope_factors.size());
  for (std::size_t i = 0; i < with_keys->config.rope_factors.size(); ++i) {
    EXPECT_NEAR(with_keys->config.rope_factors[i], with_tensor->config.rope_factors[i], 1e-5) << i;
  }
  EXPECT_FLOAT_EQ(with_keys->config.rope_scale, 1.0f);
}

}  // namespace
}  // namespace crossgpu::model
