// The llama forward pass on every device, against the CPU device, on generated models of every
// weight type: logits within a stated tolerance and greedy tokens identical; and the same model
// cut into stages (on one device, and across devices) gives the same tokens as one stage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using kernels::WeightType;
using testing::throws_errc;

struct LoadedModel {
  std::vector<std::byte> bytes;
  GgufFile file;
  LlamaConfig config;
};

std::unique_ptr<LoadedModel> make_model(WeightType type, std::uint32_t layers = 3) {
  DemoModelSpec spec;
  spec.type = type;
  spec.layers = layers;
  spec.embedding = 256;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.ffn = 512;
  spec.context = 64;
  spec.seed = 7 + static_cast<std::uint32_t>(type);
  auto bytes = demo_model(spec).bytes();
  auto file = GgufFile::parse(bytes);  // reads through `bytes`, kept alive beside it
  auto config = LlamaConfig::from_gguf(file);
  return std::unique_ptr<LoadedModel>(new LoadedModel{std::move(bytes), std::move(file), std::move(config)});
}

std::shared_ptr<Device> cpu_device() {
  for (const auto& d : testing::devices()) {
    if (d->properties().backend == Backend::cpu) return d;
  }
  return nullptr;
}

// Stages cut at `cuts` (layer indices), each on devices[i % devices.size()].
// recorded: decode through the stages' recorded programs (fused kernels); else op by op, the
// composition of the ops that the reference is made of.
Pipeline make_pipeline(const LoadedModel& m, const std::vector<std::shared_ptr<Device>>& devices,
                       const std::vector<std::uint32_t>& cuts, bool recorded = true) {
  std::vector<std::unique_ptr<LlamaStage>> stages;
  std::uint32_t first = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::uint32_t end = i < cuts.size() ? cuts[i] : m.config.layers;
    StageRange range{first, end, i == 0, i == cuts.size()};
    StageOptions options{.context = 64, .max_batch = 16, .recorded_decode = recorded};
    stages.push_back(std::make_unique<LlamaStage>(m.config, m.file, devices[i % devices.size()], range, options));
    first = end;
  }
  return Pipeline(m.config, std::move(stages));
}

struct GreedyRun {
  std::vector<std::uint32_t> tokens;
  std::vector<std::vector<float>> logits;
};

// A prompt longer than one batch (16), so prefill runs two batches, then greedy decoding.
GreedyRun greedy(Pipeline& pipeline, std::uint32_t new_tokens = 6) {
  const std::vector<std::uint32_t> prompt = {1, 300, 301, 302, 40, 41, 42, 500, 501, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  GreedyRun run;
  GenerateOptions options;
  options.max_tokens = new_tokens;
  options.on_logits = [&](std::span<const float> l) { run.logits.emplace_back(l.begin(), l.end()); };
  run.tokens = generate(pipeline, prompt, options).tokens;
  return run;
}

// Largest |a - b| relative to the logits' spread (max |a|): f32 sums in different orders.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-6;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double{a[i]} - b[i]));
    scale = std::max(scale, std::fabs(double{a[i]}));
  }
  return diff / scale;
}

class LlmForward : public ::testing::TestWithParam<std::tuple<std::size_t, WeightType>> {};

TEST_P(LlmForward, MatchesTheCpuDevice) {
  const auto [index, type] = GetParam();
  const auto device = testing::devices().at(index);
  const auto cpu = cpu_device();
  ASSERT_TRUE(cpu);
  const auto model = make_model(type);
  Pipeline reference = make_pipeline(*model, {cpu}, {}, /*recorded=*/false);
  Pipeline tested = make_pipeline(*model, {device}, {});
  ASSERT_TRUE(tested.stages().front()->decodes_recorded());
  const GreedyRun want = greedy(reference);
  const GreedyRun got = greedy(tested);
  EXPECT_EQ(got.tokens, want.tokens);
  ASSERT_EQ(got.logits.size(), want.logits.size());
  // Tolerance: every backend reads the same quantized bytes; only f32 summation order differs
  // (matvec trees vs the CPU's double sums), ~1e-6 relative per op, growing through 3 layers.
  for (std::size_t i = 0; i < got.logits.size(); ++i) {
    EXPECT_LT(relative_error(got.logits[i], want.logits[i]), 2e-3) << "pass " << i;
  }
}

std::string param_name(const ::testing::TestParamInfo<std::tuple<std::size_t, WeightType>>& info) {
  return testing::device_test_name(testing::devices().at(std::get<0>(info.param))) + "_" +
         kernels::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(EveryDeviceAndType, LlmForward,
                         ::testing::Combine(testing::every_device(),
                                            ::testing::ValuesIn(kernels::kWeightTypes)),
                         param_name);

// Cutting the model into stages changes nothing: the same ops run in the same order per layer.
class LlmStages : public testing::PerDeviceTest {};

TEST_P(LlmStages, OnOneDeviceGiveTheSameLogits) {
  const auto device = testing::devices().at(GetParam());
  const auto model = make_model(WeightType::q4_k);
  Pipeline whole = make_pipeline(*model, {device}, {});
  Pipeline split = make_pipeline(*model, {device}, {1, 2});
  const GreedyRun a = greedy(whole);
  const GreedyRun b = greedy(split);
  EXPECT_EQ(a.tokens, b.tokens);
  for (std::size_t i = 0; i < a.logits.size(); ++i) EXPECT_EQ(a.logits[i], b.logits[i]) << "pass " << i;
}

// The recorded decode step (fused kernels, replayed) gives the tokens of the op-by-op step on the
// same device, and its program has the expected shape: six dispatches per layer and the head.
TEST_P(LlmStages, RecordedDecodeMatchesOpByOp) {
  const auto device = testing::devices().at(GetParam());
  const auto model = make_model(WeightType::q8_0);
  Pipeline op_by_op = make_pipeline(*model, {device}, {}, /*recorded=*/false);
  Pipeline recorded = make_pipeline(*model, {device}, {1});
  const GreedyRun a = greedy(op_by_op, 8);
  const GreedyRun b = greedy(recorded, 8);
  EXPECT_EQ(a.tokens, b.tokens);
  for (std::size_t i = 0; i < a.logits.size(); ++i) {
    EXPECT_LT(relative_error(b.logits[i], a.logits[i]), 2e-3) << "pass " << i;
  }
  EXPECT_FALSE(op_by_op.stages().front()->decodes_recorded());
  const auto& first = *recorded.stages().front();
  const auto& last = *recorded.stages().back();
  // Embedding + 6 per layer (7 where attention is split; not at context 64); 6 per layer + head.
  EXPECT_EQ(first.decode_dispatches(), 1 + 6 * (first.range().end_layer - first.range().first_layer));
  EXPECT_EQ(last.decode_dispatches(), 6 * (last.range().end_layer - last.range().first_layer) + 1);
}

INSTANTIATE_TEST_SUITE_P(EveryDevice, LlmStages, testing::every_device(), testing::device_param_name);

// The next turn of a conversation reuses the KV cache of the turn before: prefill runs only the
// new tokens and the tokens and logits equal a fresh pipeline's over the whole prompt.
TEST_P(LlmStages, ACachedPrefixIsNotRunAgainAndChangesNothing) {
  const auto device = testing::devices().at(GetParam());
  const auto model = make_model(WeightType::q8_0);
  Pipeline warm = make_pipeline(*model, {device}, {1});
  Pipeline cold = make_pipeline(*model, {device}, {1});
  const std::vector<std::uint32_t> first_turn = {1, 300, 301, 302, 40, 41, 42, 500, 501, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  GenerateOptions options;
  options.max_tokens = 5;
  const GenerateResult first = generate(warm, first_turn, options);
  // The next prompt: the first turn, its answer but the last token (never fed back, so not in the
  // cache), and new text.
  std::vector<std::uint32_t> next = first_turn;
  next.insert(next.end(), first.tokens.begin(), first.tokens.end() - 1);
  const auto cached = static_cast<std::uint32_t>(next.size());
  for (std::uint32_t id : {77u, 78u, 79u, 80u}) next.push_back(id);
  std::vector<std::vector<float>> warm_logits, cold_logits;
  GenerateOptions reuse = options;
  reuse.cached_prefix = cached;
  reuse.on_logits = [&](std::span<const float> l) { warm_logits.emplace_back(l.begin(), l.end()); };
  options.on_logits = [&](std::span<const float> l) { cold_logits.emplace_back(l.begin(), l.end()); };
  const GenerateResult reused = generate(warm, next, reuse);
  const GenerateResult fresh = generate(cold, next, options);
  EXPECT_EQ(reused.tokens, fresh.tokens);
  EXPECT_EQ(reused.cached_tokens, cached);
  EXPECT_EQ(fresh.cached_tokens, 0u);
  ASSERT_EQ(warm_logits.size(), cold_logits.size());
  for (std::size_t i = 0; i < warm_logits.size(); ++i) {
    EXPECT_LT(relative_error(warm_logits[i], cold_logits[i]), 2e-3) << "pass " << i;
  }
  // A prompt wholly cached still runs its last token again, for the logits.
  reuse.cached_prefix = static_cast<std::uint32_t>(first_turn.size());
  EXPECT_EQ(generate(warm, first_turn, reuse).cached_tokens, first_turn.size() - 1);
}

TEST(LlmPipeline, AcrossEveryDeviceMatchesOneDevice) {
  const auto cpu = cpu_device();
  const auto model = make_model(WeightType::q8_0, 4);
  Pipeline single = make_pipeline(*model, {cpu}, {});
  Pipeline across = make_pipeline(*model, testing::devices(), {1, 3});
  const GreedyRun a = greedy(single);
  const GreedyRun b = greedy(across);
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(across.stats().size(), 3u);
  EXPECT_GT(across.stats()[0].bytes_out, 0u);
  EXPECT_EQ(across.stats()[2].bytes_out, 0u);
}

TEST(LlmPipeline, RefusesGapsAndBadInput) {
  const auto cpu = cpu_device();
  const auto model = make_model(WeightType::f32, 2);
  std::vector<std::unique_ptr<LlamaStage>> stages;
  stages.push_back(std::make_unique<LlamaStage>(model->config, model->file, cpu, StageRange{0, 1, true, true},
                                                StageOptions{.context = 8, .max_batch = 4}));
  EXPECT_TRUE(throws_errc([&] { Pipeline(model->config, std::move(stages)); }, Errc::invalid_argument, "cover"));

  Pipeline p = make_pipeline(*model, {cpu}, {});
  const std::uint32_t bad = model->config.vocab;
  EXPECT_TRUE(throws_errc([&] { p.forward(std::span(&bad, 1), 0); }, Errc::out_of_range, "vocabulary"));
  const std::uint32_t ok = 5;
  EXPECT_TRUE(throws_errc([&] { p.forward(std::span(&ok, 1), 64); }, Errc::out_of_range, "context"));
  EXPECT_TRUE(throws_errc([&] { LlamaStage(model->config, model->file, cpu, StageRange{1, 3, false, true}, {}); },
                          Errc::invalid_argument, "layers"));
  const std::vector<std::uint32_t> prompt(60, 3);
  GenerateOptions options;
  options.max_tokens = 10;
  EXPECT_TRUE(throws_errc([&] { generate(p, prompt, options); }, Errc::out_of_range, "context"));
}

TEST(LlamaConfig, ReadsTheDemoModelAndRefusesInconsistentFiles) {
  const auto model = make_model(WeightType::f32, 2);
  EXPECT_EQ(model->config.layers, 2u);
  EXPECT_EQ(model->config.head_dim, 64u);
  EXPECT_EQ(model->config.kv_heads, 2u);
  EXPECT_FALSE(model->config.tied_output);

  GgufWriter w;
  w.add_string("general.architecture", "gpt2");
  auto bytes = w.bytes();
  EXPECT_TRUE(throws_errc([&] { LlamaConfig::from_gguf(GgufFile::parse(bytes)); }, Errc::unsupported, "gpt2"));

  GgufWriter w2;
  w2.add_string("general.architecture", "llama");
  w2.add_uint32("llama.block_count", 1);
  w2.add_uint32("llama.embedding_length", 64);
  w2.add_uint32("llama.attention.head_count", 3);
  w2.add_uint32("llama.feed_forward_length", 64);
  auto bytes2 = w2.bytes();
  EXPECT_TRUE(throws_errc([&] { LlamaConfig::from_gguf(GgufFile::parse(bytes2)); }, Errc::invalid_argument, "head count"));
}

}  // namespace
}  // namespace crossgpu::model
