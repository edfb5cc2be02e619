// Continuous batching behind `crossgpu serve`: concurrent streamed requests on a pipeline with
// several KV-cache slots each get exactly the text they get alone (greedy), while the counters
// (and /metrics) show they were decoded in shared passes; a cancelled sequence leaves the batch
// and frees its slot at once; the next turn of each of two conversations reuses its own slot.
// The prefix cache: slots beyond the decoding ones keep finished conversations (their number is
// the memory budget's), a next turn prefills only its new tokens and gives a cold run's text, the
// least recently used conversation is evicted when the budget holds no more.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/tokenizer.hpp"
#include "serve/api_server.hpp"
#include "serve/generation_service.hpp"
#include "serve/prefix_cache_budget.hpp"
#include "serve/text_stream.hpp"
#include "support/test_support.hpp"

namespace crossgpu::serve {
namespace {

constexpr std::uint32_t kSlots = 4;

struct DemoModel {
  std::vector<std::byte> bytes;
  model::GgufFile file;
  model::LlamaConfig config;
  model::Tokenizer tokenizer;
};

std::shared_ptr<Device> cpu() {
  for (const auto& d : testing::devices()) {
    if (d->properties().backend == Backend::cpu) return d;
  }
  return nullptr;
}

const DemoModel& demo() {
  static const DemoModel* m = [] {
    model::DemoModelSpec spec;
    spec.layers = 2;
    spec.context = 256;
    auto bytes = model::demo_model(spec).bytes();
    auto file = model::GgufFile::parse(bytes);
    auto config = model::LlamaConfig::from_gguf(file);
    auto tokenizer = model::Tokenizer::from_gguf(file);
    return new DemoModel{std::move(bytes), std::move(file), std::move(config), std::move(tokenizer)};
  }();
  return *m;
}

model::Pipeline pipeline(std::uint32_t slots) {
  const DemoModel& m = demo();
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  stages.push_back(std::make_unique<model::LlamaStage>(
      m.config, m.file, cpu(), model::StageRange{0, m.config.layers, true, true},
      model::StageOptions{.context = 256, .max_batch = 32, .max_sequences = slots}));
  return model::Pipeline(m.config, std::move(stages));
}

std::vector<std::uint32_t> ids(const std::string& text) { return demo().tokenizer.encode(text, true, false); }

// The tokens greedy decoding of `prompt` generates alone, on a fresh pipeline of one slot.
std::vector<std::uint32_t> alone_tokens(const std::vector<std::uint32_t>& prompt, std::uint32_t max_tokens) {
  model::Pipeline p = pipeline(1);
  model::GenerateOptions options;
  options.max_tokens = max_tokens;
  options.is_end = [](std::uint32_t id) { return demo().tokenizer.is_end_of_generation(id); };
  return model::generate(p, prompt, options).tokens;
}

// Their text, as the service would send it.
std::string alone(const std::vector<std::uint32_t>& prompt, std::uint32_t max_tokens) {
  TextStream text;
  std::string out;
  for (std::uint32_t id : alone_tokens(prompt, max_tokens)) {
    if (!demo().tokenizer.is_end_of_generation(id)) out += text.push(demo().tokenizer.token_to_piece(id));
  }
  return out + text.finish();
}

GenerationRequest greedy(const std::vector<std::uint32_t>& prompt, std::uint32_t max_tokens) {
  return GenerationRequest{prompt, max_tokens, model::SamplerOptions{.temperature = 0}, {}};
}

// A sink that holds the worker inside the first request's first piece until released, so that
// the requests behind it are queued when it goes on and all join the batch together.
struct Gate {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first = true;
  TextSink sink(std::string& streamed) {
    return [this, &streamed](const std::string& piece) {
      streamed += piece;
      if (first.exchange(false)) {
        entered.set_value();
        released.wait();
      }
      return true;
    };
  }
};

TextSink collect(std::string& streamed) {
  return [&streamed](const std::string& piece) {
    streamed += piece;
    return true;
  };
}

template <class F>
bool eventually(F&& done) {
  for (int i = 0; i < 500 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return done();
}

const std::vector<std::string> kPrompts = {"once upon a time", "the cat sat on the mat and", "hello",
                                           "a b c d e f g h i j k l m n o p"};
constexpr std::uint32_t kTokens = 16;

// The references run before the service starts: the service's worker and this thread must not
// share the CPU device's stream.
TEST(ServeBatching, ConcurrentStreamsGetTheirOwnTextsDecodedInSharedPasses) {
  std::vector<std::string> want;
  for (const std::string& prompt : kPrompts) want.push_back(alone(ids(prompt), kTokens));
  model::Pipeline p = pipeline(kSlots);
  GenerationService service(p, demo().tokenizer, 8);
  ServeOptions http;
  http.port = 0;
  ApiServer server(service, demo().tokenizer, ServedModel{"demo", "crossgpu-demo", 1}, http);
  Gate gate;
  std::vector<std::string> streamed(kPrompts.size());
  std::vector<std::future<GenerationResult>> results;
  results.push_back(service.submit(greedy(ids(kPrompts[0]), kTokens), gate.sink(streamed[0])));
  gate.entered.get_future().wait();
  for (std::size_t i = 1; i < kPrompts.size(); ++i) {
    results.push_back(service.submit(greedy(ids(kPrompts[i]), kTokens), collect(streamed[i])));
  }
  ASSERT_TRUE(eventually([&] { return service.counters().waiting == kPrompts.size() - 1; }));
  gate.release.set_value();
  std::uint32_t tokens = 0;
  for (std::size_t i = 0; i < kPrompts.size(); ++i) {
    const GenerationResult r = results[i].get();
    EXPECT_EQ(r.text, want[i]) << "request " << i;
    EXPECT_EQ(streamed[i], want[i]) << "request " << i << ", as streamed";
    tokens += r.completion_tokens;
  }
  // A request is counted just after its answer is handed over.
  ASSERT_TRUE(eventually([&] { return service.counters().completed == kPrompts.size(); }));
  const ServiceCounters c = service.counters();
  EXPECT_EQ(c.slots, kSlots);
  EXPECT_GT(c.batched_steps, 0u) << "no pass carried two sequences";
  EXPECT_GE(c.max_batch, 2u);
  EXPECT_LE(c.max_batch, kSlots);
  // Each request's first token comes from its prefill; every other one from a decode pass, and
  // sharing passes means fewer passes than tokens.
  EXPECT_EQ(c.batched_tokens, tokens - kPrompts.size());
  EXPECT_LT(c.decode_steps, c.batched_tokens);
  EXPECT_EQ(c.running, 0u);
  httplib::Client client("127.0.0.1", server.port());
  const auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("crossgpu_serve_sequence_slots 4\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("crossgpu_serve_max_batch " + std::to_string(c.max_batch) + "\n"), std::string::npos);
  EXPECT_NE(metrics->body.find("crossgpu_serve_batched_steps_total " + std::to_string(c.batched_steps) + "\n"),
            std::string::npos);
}

TEST(ServeBatching, ACancelledSequenceLeavesTheBatchAndFreesItsSlotAtOnce) {
  const std::string want_kept = alone(ids(kPrompts[1]), kTokens), want_a = alone(ids(kPrompts[2]), 4),
                    want_b = alone(ids(kPrompts[3]), 4);
  model::Pipeline p = pipeline(2);
  GenerationService service(p, demo().tokenizer, 8);
  Gate gate;
  std::string kept_text, left_text;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto kept = service.submit(greedy(ids(kPrompts[1]), kTokens), gate.sink(kept_text));
  gate.entered.get_future().wait();
  int pieces = 0;
  auto left = service.submit(greedy(ids(kPrompts[0]), 200),
                             [&](const std::string&) { return ++pieces < 3; }, cancel);
  ASSERT_TRUE(eventually([&] { return service.counters().waiting == 1; }));
  gate.release.set_value();
  EXPECT_EQ(left.get().finish, FinishReason::cancelled);
  EXPECT_EQ(kept.get().text, want_kept);
  ASSERT_TRUE(eventually([&] { return service.counters().running == 0 && service.counters().completed == 1; }));
  EXPECT_EQ(service.counters().cancelled, 1u);
  // Both slots are free: two more requests run together.
  std::string a, b;
  auto ra = service.submit(greedy(ids(kPrompts[2]), 4), collect(a));
  auto rb = service.submit(greedy(ids(kPrompts[3]), 4), collect(b));
  EXPECT_EQ(ra.get().text, want_a);
  EXPECT_EQ(rb.get().text, want_b);
}

// Two conversations, each finished in its own slot: the next turn of each reuses its slot's cache
// (only its new tokens run) and gives the text of a fresh run over the whole prompt.
TEST(ServeBatching, TheNextTurnOfEachConversationReusesItsOwnSlot) {
  model::Pipeline p = pipeline(2);
  GenerationService service(p, demo().tokenizer, 8);
  std::vector<std::vector<std::uint32_t>> next;
  for (const std::string& prompt : {kPrompts[0], kPrompts[1]}) {
    std::string streamed;
    const GenerationResult first = service.submit(greedy(ids(prompt), 6), collect(streamed)).get();
    EXPECT_EQ(first.cached_tokens, 0u);
    next.push_back(ids(prompt + first.text + " and then"));
  }
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < next.size(); ++i) {
    std::string streamed;
    const GenerationResult r = service.submit(greedy(next[i], 6), collect(streamed)).get();
    EXPECT_GE(r.cached_tokens, ids(kPrompts[i]).size() - 1) << "conversation " << i;
    texts.push_back(r.text);
  }
  // The service is idle (each request was awaited): the CPU device's stream is free for these.
  for (std::size_t i = 0; i < next.size(); ++i) EXPECT_EQ(texts[i], alone(next[i], 6)) << "conversation " << i;
  EXPECT_GT(service.counters().reused_prompt_tokens, 0u);
}


// The budget buys whole slots of the stages' real KV caches: the per-token size the app plans
// with is the one the stages allocate.
TEST(ServePrefixCache, TheBudgetBuysWholeSlotsOfTheStagesKvCaches) {
  const DemoModel& m = demo();
  const std::uint64_t per_token = kv_bytes_per_token(m.config, m.file);
  model::Pipeline p = pipeline(3);
  EXPECT_EQ(per_token * 256 * 3, p.stages().front()->cache_bytes());
  const std::uint64_t slot = per_token * 256;
  EXPECT_EQ(prefix_cache_size(per_token, 256, 0).slots, 0u);
  EXPECT_EQ(prefix_cache_size(per_token, 256, slot - 1).slots, 0u);
  EXPECT_EQ(prefix_cache_size(per_token, 256, slot).slots, 1u);
  const PrefixCacheSize two = prefix_cache_size(per_token, 256, 3 * slot - 1);
  EXPECT_EQ(two.slots, 2u);
  EXPECT_EQ(two.bytes(), 2 * slot);
  EXPECT_LE(two.bytes(), 3 * slot - 1);
  EXPECT_EQ(prefix_cache_size(per_token, 256, ~std::uint64_t{0}).slots, kMaxPrefixCacheSlots);
  EXPECT_THROW(prefix_cache_size(0, 256, slot), Error);
  EXPECT_THROW(prefix_cache_size(per_token, 0, slot), Error);
  EXPECT_THROW(GenerationService(p, m.tokenizer, 8, 4), Error);  // more decoding than slots
}

// Turn 1, then turn 2 of the same chat on a service with one decoding slot and one parked: the
// second prefills only the tokens after what the cache holds (counted), and its text is a cold
// run's over the whole prompt.
TEST(ServePrefixCache, TheSecondTurnPrefillsOnlyItsNewTokensAndEqualsAColdRun) {
  const std::vector<std::uint32_t> first = ids(kPrompts[1]);
  const std::vector<std::uint32_t> generated = alone_tokens(first, 6);
  model::Pipeline p = pipeline(2);
  GenerationService service(p, demo().tokenizer, 8, 1);
  std::string streamed;
  const GenerationResult one = service.submit(greedy(first, 6), collect(streamed)).get();
  ASSERT_TRUE(eventually([&] { return service.counters().completed == 1; }));
  EXPECT_EQ(service.counters().prefilled_tokens, first.size());
  EXPECT_EQ(service.counters().cached_tokens, first.size() + generated.size() - 1);
  const std::vector<std::uint32_t> second = ids(kPrompts[1] + one.text + " and then");
  std::vector<std::uint32_t> held = first;
  held.insert(held.end(), generated.begin(), generated.end() - 1);
  const auto shared = static_cast<std::uint32_t>(
      std::mismatch(second.begin(), second.end(), held.begin(), held.end()).first - second.begin());
  ASSERT_GE(shared, first.size());
  const GenerationResult two = service.submit(greedy(second, 6), collect(streamed)).get();
  ASSERT_TRUE(eventually([&] { return service.counters().completed == 2; }));
  EXPECT_EQ(two.cached_tokens, std::min<std::uint32_t>(shared, second.size() - 1));
  const ServiceCounters c = service.counters();
  EXPECT_EQ(c.prefilled_tokens, first.size() + second.size() - two.cached_tokens);
  EXPECT_EQ(c.prefix_hits, 1u);
  EXPECT_EQ(c.prefix_evictions, 0u);
  EXPECT_EQ(c.slots, 1u);
  EXPECT_EQ(c.cache_slots, 2u);
  EXPECT_EQ(c.cached_bytes, c.cached_tokens * kv_bytes_per_token(demo().config, demo().file));
  EXPECT_EQ(two.text, alone(second, 6));
}

// Three conversations through one decoding slot: with no slot to spare (a budget below one slot)
// each evicts the one before, so the first's next turn prefills everything; with two parked slots
// all three stay and the next turn is a hit. /metrics shows the counts.
TEST(ServePrefixCache, TheLeastRecentlyUsedConversationIsEvictedWhenTheBudgetIsFull) {
  const std::vector<std::string> chats = {kPrompts[0], kPrompts[1], kPrompts[3]};
  for (const std::uint32_t parked : {0u, 2u}) {
    model::Pipeline p = pipeline(1 + parked);
    GenerationService service(p, demo().tokenizer, 8, 1);
    std::string first_text, streamed;
    for (const std::string& chat : chats) {
      const GenerationResult r = service.submit(greedy(ids(chat), 4), collect(streamed)).get();
      if (first_text.empty()) first_text = r.text;
    }
    const std::vector<std::uint32_t> next = ids(chats[0] + first_text + " more");
    const GenerationResult r = service.submit(greedy(next, 4), collect(streamed)).get();
    ASSERT_TRUE(eventually([&] { return service.counters().completed == 4; }));
    const ServiceCounters c = service.counters();
    if (parked == 0) {
      EXPECT_LT(r.cached_tokens, ids(chats[0]).size() - 1) << "an evicted conversation was reused";
      EXPECT_EQ(c.prefix_evictions, 3u);
    } else {
      EXPECT_GE(r.cached_tokens, ids(chats[0]).size() - 1);
      EXPECT_EQ(c.prefix_evictions, 0u);
    }
    EXPECT_EQ(r.text, alone(next, 4)) << parked << " parked slots";
    ServeOptions http;
    http.port = 0;
    ApiServer server(service, demo().tokenizer, ServedModel{"demo", "crossgpu-demo", 1}, http);
    httplib::Client client("127.0.0.1", server.port());
    const auto metrics = client.Get("/metrics");
    ASSERT_TRUE(metrics);
    for (const std::string& line :
         {"crossgpu_serve_prefix_cache_slots " + std::to_string(parked),
          "crossgpu_serve_prefix_cache_evictions_total " + std::to_string(c.prefix_evictions),
          "crossgpu_serve_prefix_cache_hits_total " + std::to_string(c.prefix_hits),
          "crossgpu_serve_prefix_cache_bytes " + std::to_string(c.cached_bytes),
          "crossgpu_serve_prefilled_tokens_total " + std::to_string(c.prefilled_tokens)}) {
      EXPECT_NE(metrics->body.find(line + "\n"), std::string::npos) << line << "\n" << metrics->body;
    }
    const auto stats = client.Get("/api/stats");
    ASSERT_TRUE(stats);
    EXPECT_EQ(nlohmann::json::parse(stats->body)["prefix_cache"]["evictions"], c.prefix_evictions);
  }
}

// Two conversations' next turns arrive together (with a new one) on two decoding slots and two
// parked: both reuse their own caches while decoding in shared passes, every text a cold run's.
TEST(ServePrefixCache, ConcurrentNextTurnsReuseTheirOwnCaches) {
  model::Pipeline p = pipeline(4);
  GenerationService service(p, demo().tokenizer, 8, 2);
  std::vector<std::vector<std::uint32_t>> next;
  {
    std::string a, b;
    auto ra = service.submit(greedy(ids(kPrompts[0]), 6), collect(a));
    auto rb = service.submit(greedy(ids(kPrompts[1]), 6), collect(b));
    next.push_back(ids(kPrompts[0] + ra.get().text + " so"));
    next.push_back(ids(kPrompts[1] + rb.get().text + " so"));
  }
  next.push_back(ids(kPrompts[3]));
  ASSERT_TRUE(eventually([&] { return service.counters().completed == 2; }));
  Gate gate;
  std::vector<std::string> streamed(next.size());
  std::vector<std::future<GenerationResult>> results;
  results.push_back(service.submit(greedy(next[0], 8), gate.sink(streamed[0])));
  gate.entered.get_future().wait();
  for (std::size_t i = 1; i < next.size(); ++i) results.push_back(service.submit(greedy(next[i], 8), collect(streamed[i])));
  ASSERT_TRUE(eventually([&] { return service.counters().waiting == 2; }));
  gate.release.set_value();
  std::vector<GenerationResult> got;
  for (auto& r : results) got.push_back(r.get());
  ASSERT_TRUE(eventually([&] { return service.counters().completed == 5; }));
  EXPECT_GE(got[0].cached_tokens, ids(kPrompts[0]).size() - 1);
  EXPECT_GE(got[1].cached_tokens, ids(kPrompts[1]).size() - 1);
  const ServiceCounters c = service.counters();
  EXPECT_GE(c.prefix_hits, 2u);
  EXPECT_EQ(c.prefix_evictions, 0u);
  EXPECT_GT(c.batched_steps, 0u);
  EXPECT_LE(c.max_batch, 2u);
  for (std::size_t i = 0; i < next.size(); ++i) {
    EXPECT_EQ(got[i].text, alone(next[i], 8)) << "request " << i;
    EXPECT_EQ(streamed[i], got[i].text) << "request " << i;
  }
}

}  // namespace
}  // namespace crossgpu::serve
