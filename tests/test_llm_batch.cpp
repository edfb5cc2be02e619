// Continuous batching in the model layer: a stage with several KV-cache slots runs a decode step
// of several sequences, each at its own position in its own slot, in one pass; per sequence that
// gives the logits (within a stated tolerance) and the greedy tokens of running it alone. Also
// slot reuse, the errors of a malformed batch, and the slot bookkeeping (model::SequenceSlots).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/pipeline.hpp"
#include "model/sampler.hpp"
#include "model/sequence_slots.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using kernels::WeightType;
using testing::throws_errc;

struct Model {
  std::vector<std::byte> bytes;
  GgufFile file;
  LlamaConfig config;
};

std::unique_ptr<Model> make_model(WeightType type) {
  DemoModelSpec spec;
  spec.type = type;
  spec.layers = 2;
  spec.embedding = 256;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.ffn = 512;
  spec.context = 64;
  spec.seed = 31 + static_cast<std::uint32_t>(type);
  auto bytes = demo_model(spec).bytes();
  auto file = GgufFile::parse(bytes);
  auto config = LlamaConfig::from_gguf(file);
  return std::unique_ptr<Model>(new Model{std::move(bytes), std::move(file), std::move(config)});
}

// The model on `devices` (stage i on devices[i]), cut at `cuts`, with `slots` KV-cache slots.
Pipeline make_pipeline(const Model& m, const std::vector<std::shared_ptr<Device>>& devices,
                       const std::vector<std::uint32_t>& cuts, std::uint32_t slots, bool recorded_rows = false) {
  std::vector<std::unique_ptr<LlamaStage>> stages;
  std::uint32_t first = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::uint32_t end = i < cuts.size() ? cuts[i] : m.config.layers;
    StageOptions options{.context = 64, .max_batch = 16, .max_sequences = slots};
    options.recorded_rows_anywhere = recorded_rows;
    stages.push_back(std::make_unique<LlamaStage>(m.config, m.file, devices[i % devices.size()],
                                                  StageRange{first, end, i == 0, i == cuts.size()}, options));
    first = end;
  }
  return Pipeline(m.config, std::move(stages));
}

std::shared_ptr<Device> cpu_device() {
  for (const auto& d : testing::devices()) {
    if (d->properties().backend == Backend::cpu) return d;
  }
  return nullptr;
}

double relative_error(std::span<const float> a, std::span<const float> b) {
  double diff = 0, scale = 1e-6;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double{a[i]} - b[i]));
    scale = std::max(scale, std::fabs(double{a[i]}));
  }
  return diff / scale;
}

struct Decoded {
  std::vector<std::uint32_t> tokens;
  std::vector<std::vector<float>> logits;  // the logits each token was sampled from
};

// Greedy decoding of `prompt` alone, on a pipeline of one slot: the reference.
Decoded alone(Pipeline& pipeline, const std::vector<std::uint32_t>& prompt, std::uint32_t new_tokens) {
  Decoded run;
  GenerateOptions options;
  options.max_tokens = new_tokens;
  options.on_logits = [&](std::span<const float> l) { run.logits.emplace_back(l.begin(), l.end()); };
  run.tokens = generate(pipeline, prompt, options).tokens;
  return run;
}

// Prompts of different lengths (one longer than a batch of 16), so the sequences decode at
// different positions; the third joins two steps after the others, as a new request would.
const std::vector<std::vector<std::uint32_t>> kPrompts = {
    {1, 300, 301, 302, 40, 41, 42},
    {1, 500, 501, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25},
    {1, 77},
};
constexpr std::uint32_t kNewTokens = 7;
constexpr std::size_t kLateJoiner = 2, kJoinAfterSteps = 2;

// The same prompts decoded together in slots 3, 0 and 2 (not in order: any slot serves), the way
// the serve layer schedules them: prefill alone, then one token of every active sequence per pass.
std::vector<Decoded> batched(Pipeline& pipeline) {
  const std::uint32_t slot_of[] = {3, 0, 2};
  std::vector<Decoded> runs(kPrompts.size());
  std::vector<std::uint32_t> pos(kPrompts.size());
  std::vector<bool> active(kPrompts.size(), false);
  auto join = [&](std::size_t i) {
    const auto logits = prefill(pipeline, kPrompts[i], 0, slot_of[i]);
    runs[i].logits.emplace_back(logits.begin(), logits.end());
    runs[i].tokens.push_back(argmax(logits));
    pos[i] = static_cast<std::uint32_t>(kPrompts[i].size());
    active[i] = true;
  };
  for (std::size_t i = 0; i < kPrompts.size(); ++i) {
    if (i != kLateJoiner) join(i);
  }
  for (std::size_t step = 0;; ++step) {
    if (step == kJoinAfterSteps) join(kLateJoiner);
    std::vector<std::uint32_t> ids;
    std::vector<SequenceRows> parts;
    std::vector<std::size_t> who;
    for (std::size_t i = 0; i < kPrompts.size(); ++i) {
      if (!active[i]) continue;
      if (runs[i].tokens.size() == kNewTokens) {
        active[i] = false;
        continue;
      }
      ids.push_back(runs[i].tokens.back());
      parts.push_back({.slot = slot_of[i], .pos = pos[i]++, .tokens = 1});
      who.push_back(i);
    }
    if (parts.empty()) break;
    const auto logits = pipeline.forward_rows(ids, parts);
    const std::uint32_t vocab = pipeline.config().vocab;
    for (std::size_t k = 0; k < who.size(); ++k) {
      const auto row = logits.subspan(k * vocab, vocab);
      runs[who[k]].logits.emplace_back(row.begin(), row.end());
      runs[who[k]].tokens.push_back(argmax(row));
    }
  }
  return runs;
}

void expect_same_as_alone(const std::vector<Decoded>& got, const std::vector<Decoded>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].tokens, want[i].tokens) << "sequence " << i;
    ASSERT_EQ(got[i].logits.size(), want[i].logits.size()) << "sequence " << i;
    // Tolerance: the batch runs the decode step through the batched matmul where the sequence
    // alone runs the (fused) matvec: the same weights, f32 sums in another order, ~1e-6 per op.
    for (std::size_t t = 0; t < got[i].logits.size(); ++t) {
      EXPECT_LT(relative_error(got[i].logits[t], want[i].logits[t]), 2e-3) << "sequence " << i << " token " << t;
    }
  }
}

// Every prompt decoded alone on `device` in a pipeline of one slot: what a batch must give.
std::vector<Decoded> each_alone(const Model& model, const std::shared_ptr<Device>& device) {
  std::vector<Decoded> want;
  for (const auto& prompt : kPrompts) {
    Pipeline single = make_pipeline(model, {device}, {}, 1);
    want.push_back(alone(single, prompt, kNewTokens));
  }
  return want;
}

class LlmBatch : public testing::PerDeviceTest {};

TEST_P(LlmBatch, SequencesDecodedTogetherGiveWhatEachGivesAlone) {
  const auto device = testing::devices().at(GetParam());
  for (WeightType type : {WeightType::q8_0, WeightType::q4_k}) {
    SCOPED_TRACE(kernels::to_string(type));
    const auto model = make_model(type);
    const std::vector<Decoded> want = each_alone(*model, device);
    Pipeline shared = make_pipeline(*model, {device}, {}, 4);
    EXPECT_EQ(shared.max_sequences(), 4u);
    expect_same_as_alone(batched(shared), want);
  }
}

// The GPU path of a decode step of several sequences (a program recorded per order of slots,
// projections by the few-token weight matmul), forced on any Vulkan device with subgroup
// arithmetic (lavapipe here), in one stage and in two.
TEST_P(LlmBatch, RecordedStepsOfSeveralSequencesGiveWhatEachGivesAlone) {
  const auto device = testing::devices().at(GetParam());
  const DeviceProperties& p = device->properties();
  if (p.backend != Backend::vulkan || !p.caps.subgroup_arithmetic) GTEST_SKIP() << "no subgroup arithmetic";
  for (WeightType type : {WeightType::q8_0, WeightType::q4_k}) {
    SCOPED_TRACE(kernels::to_string(type));
    const auto model = make_model(type);
    const std::vector<Decoded> want = each_alone(*model, device);
    Pipeline shared = make_pipeline(*model, {device}, {}, 4, true);
    expect_same_as_alone(batched(shared), want);
    // Slots {3, 0} until the late joiner, then {3, 0, 2}: two programs.
    EXPECT_EQ(shared.stages().front()->rows_programs(), 2u);
    Pipeline split = make_pipeline(*model, {device, device}, {1}, 4, true);
    expect_same_as_alone(batched(split), want);
  }
}

// Cut into two stages, a batch's hidden states (one row per sequence) cross the boundary as a
// prefill batch's do; across the CPU device and this one when they differ.
TEST_P(LlmBatch, AcrossStagesAndDevicesToo) {
  const auto device = testing::devices().at(GetParam());
  const auto model = make_model(WeightType::q8_0);
  const std::vector<Decoded> want = each_alone(*model, cpu_device());
  Pipeline split = make_pipeline(*model, {cpu_device(), device}, {1}, 4);
  expect_same_as_alone(batched(split), want);
}

// A slot freed by one sequence serves the next: what the last one left in the caches does not
// leak into the new one (attention reads only the positions below the new one's).
TEST_P(LlmBatch, AFreedSlotServesTheNextSequenceAsAFreshOne) {
  const auto device = testing::devices().at(GetParam());
  const auto model = make_model(WeightType::q8_0);
  Pipeline fresh = make_pipeline(*model, {device}, {}, 1);
  const Decoded want = alone(fresh, kPrompts[0], kNewTokens);
  Pipeline reused = make_pipeline(*model, {device}, {}, 2);
  GenerateOptions options;
  options.max_tokens = kNewTokens;
  options.slot = 1;
  generate(reused, kPrompts[1], options);  // a longer sequence first, in slot 1
  Decoded got;
  options.on_logits = [&](std::span<const float> l) { got.logits.emplace_back(l.begin(), l.end()); };
  got.tokens = generate(reused, kPrompts[0], options).tokens;
  expect_same_as_alone({got}, {want});
}

TEST_P(LlmBatch, AMalformedBatchIsRefusedBeforeAnythingRuns) {
  const auto device = testing::devices().at(GetParam());
  const auto model = make_model(WeightType::q8_0);
  Pipeline p = make_pipeline(*model, {device}, {}, 2);
  const std::vector<std::uint32_t> two = {5, 6};
  const std::vector<SequenceRows> same_slot = {{.slot = 1, .pos = 0}, {.slot = 1, .pos = 3}};
  EXPECT_TRUE(throws_errc([&] { p.forward_rows(two, same_slot); }, Errc::invalid_argument, "twice"));
  const std::vector<SequenceRows> bad_slot = {{.slot = 0, .pos = 0}, {.slot = 2, .pos = 0}};
  EXPECT_TRUE(throws_errc([&] { p.forward_rows(two, bad_slot); }, Errc::invalid_argument, "slot 2"));
  const std::vector<SequenceRows> three = {{.slot = 0}, {.slot = 1}, {.slot = 0}};
  const std::vector<std::uint32_t> ids3 = {5, 6, 7};
  EXPECT_TRUE(throws_errc([&] { p.forward_rows(ids3, three); }, Errc::invalid_argument, "sequences"));
  const std::vector<SequenceRows> past = {{.slot = 0, .pos = 0}, {.slot = 1, .pos = 64}};
  EXPECT_TRUE(throws_errc([&] { p.forward_rows(two, past); }, Errc::out_of_range, "context"));
  const std::vector<SequenceRows> rows_mismatch = {{.slot = 0, .pos = 0, .tokens = 3}};
  EXPECT_TRUE(throws_errc([&] { p.forward_rows(two, rows_mismatch); }, Errc::invalid_argument));
  const std::vector<SequenceRows> zero = {{.slot = 0, .pos = 0, .tokens = 0}, {.slot = 1, .pos = 0, .tokens = 2}};
  EXPECT_TRUE(throws_errc([&] { p.stages().front()->forward_rows(zero); }, Errc::invalid_argument, "at least one"));
  EXPECT_TRUE(throws_errc([&] { p.forward(two, 0, 2); }, Errc::invalid_argument, "slot 2"));
  StageOptions no_slots{.context = 64, .max_batch = 16, .max_sequences = 0};
  EXPECT_TRUE(throws_errc(
      [&] { LlamaStage(model->config, model->file, device, StageRange{0, model->config.layers, true, true}, no_slots); },
      Errc::invalid_argument));
}

INSTANTIATE_TEST_SUITE_P(EveryDevice, LlmBatch, testing::every_device(), testing::device_param_name);

// --- the slot bookkeeping ---

TEST(SequenceSlots, ANewSequenceTakesTheSlotThatCachesItsPromptsStart) {
  SequenceSlots slots(3);
  const std::vector<std::uint32_t> a = {1, 2, 3, 4}, b = {1, 9, 9};
  const auto first = slots.acquire(a), second = slots.acquire(b);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->slot, second->slot);
  EXPECT_EQ(first->cached, 0u);
  slots.release(first->slot, {1, 2, 3, 4, 5});
  slots.release(second->slot, {1, 9, 9, 8});
  // The next turn of `a` finds its slot; a prompt equal to the cache still runs its last token.
  const auto next = slots.acquire(std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->slot, first->slot);
  EXPECT_EQ(next->cached, 5u);
  const auto again = slots.acquire(std::vector<std::uint32_t>{1, 9, 9, 8});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->slot, second->slot);
  EXPECT_EQ(again->cached, 3u);
  EXPECT_EQ(slots.free(), 1u);
}

TEST(SequenceSlots, WithoutAPrefixTheLeastRecentlyReleasedSlotIsTaken) {
  SequenceSlots slots(3);
  const std::vector<std::uint32_t> p = {7};
  std::vector<std::uint32_t> order;
  for (int i = 0; i < 3; ++i) order.push_back(slots.acquire(p)->slot);
  EXPECT_FALSE(slots.acquire(p)) << "every slot is busy";
  slots.release(order[2], {40, 41});
  slots.release(order[0], {50, 51});
  slots.release(order[1], {60, 61});
  // Nothing shares a prefix with {9, 9}: the slot released first goes, the others keep their turns.
  EXPECT_EQ(slots.acquire(std::vector<std::uint32_t>{9, 9})->slot, order[2]);
  EXPECT_EQ(slots.acquire(std::vector<std::uint32_t>{9, 9})->slot, order[0]);
  EXPECT_EQ(slots.cached(order[1]).size(), 2u);
}

TEST(SequenceSlots, AShortSharedStartDoesNotEvictAnotherConversation) {
  SequenceSlots slots(2);
  const std::uint32_t a = slots.acquire(std::vector<std::uint32_t>{1, 2, 3})->slot;
  slots.release(a, {1, 2, 3, 4, 5, 6});
  // Only the BOS in common: the never-used slot is taken, not the conversation's.
  const auto other = slots.acquire(std::vector<std::uint32_t>{1, 9, 9, 9});
  ASSERT_TRUE(other);
  EXPECT_NE(other->slot, a);
  EXPECT_EQ(other->cached, 0u);
  // With no other slot free, the short match is still used for what it is worth.
  const auto last = slots.acquire(std::vector<std::uint32_t>{1, 8, 8});
  ASSERT_TRUE(last);
  EXPECT_EQ(last->slot, a);
  EXPECT_EQ(last->cached, 1u);
}

TEST(SequenceSlots, ReleasingASlotNotInUseIsAnError) {
  EXPECT_TRUE(throws_errc([] { SequenceSlots none(0); }, Errc::invalid_argument));
  SequenceSlots slots(2);
  EXPECT_TRUE(throws_errc([&] { slots.release(0, {}); }, Errc::invalid_argument, "not in use"));
  EXPECT_TRUE(throws_errc([&] { slots.release(5, {}); }, Errc::invalid_argument));
  const auto claim = slots.acquire(std::vector<std::uint32_t>{1});
  slots.release(claim->slot, {});
  EXPECT_TRUE(throws_errc([&] { slots.release(claim->slot, {}); }, Errc::invalid_argument));
}

}  // namespace
}  // namespace crossgpu::model
