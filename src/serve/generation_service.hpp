// The model behind the API: one worker thread owns the pipeline and runs the queued requests by
// continuous batching. The pipeline has a KV-cache slot per sequence that may be in flight
// (model::Pipeline::max_sequences()); between two decode steps, queued requests take free slots
// (each is prefilled alone, then joins), and every active sequence then advances by one token in
// one batched pass (model::Pipeline::forward_rows; one pass each on devices where that does not
// pay, model::Pipeline::batched_decode_pays), each sampled with its own options. A sequence
// that ends, or whose client has gone, leaves at once and frees its slot. A full queue is
// refused (429) rather than grown. A freed slot keeps its tokens: a request that starts with them
// (the next turn of a chat) takes that slot and runs only its new tokens (model::SequenceSlots).
//
// The prefix cache: the pipeline may hold more slots than sequences decode at once (`max_active`);
// the others park finished conversations' KV caches on the stages' devices (their memory is the
// prefix-cache budget, serve/prefix_cache_budget.hpp). A request takes the free slot its prompt
// continues, else the one released longest ago (LRU), evicting what it held.
//
// Served from a runtime::RecoverablePipeline, the service survives losing a device: a pass that
// fails because a stage's device is gone re-plans over the survivors, rebuilds every sequence in
// flight by prefilling its prompt and the tokens it generated into the new stages, and decoding
// goes on (greedy sequences give the tokens of an undisturbed run). Requests that arrive
// meanwhile wait in the queue. When the survivors cannot hold the model, every request in flight
// and queued fails with a 503 (recovery_failed) and so does every later one; the RecoveryLog
// says what happened (GET /health, /metrics, /api/recoveries).
//
// It also moves off a device that slowed down, as `crossgpu run` does: a runtime::SlowdownMonitor
// times every decode step's stages against the plan's predictions, and when one stage stays far
// slower than the others (sched::SlowdownWatch's hysteresis) and another plan is predicted
// faster, the service loads that plan between two steps and rebuilds the sequences in flight on
// it as a recovery does (greedy ones keep their tokens); later requests run on it.
//
// A rebuild (after a loss or a slowdown) leaves the parked prefix-cache slots empty: their keys
// and values were on the old stages. A conversation that continues one of them is prefilled
// again on the new plan and reports no cached tokens; so does a sequence carried over (its whole
// prompt was prefilled again).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "model/pipeline.hpp"
#include "model/sequence_slots.hpp"
#include "model/sampler.hpp"
#include "model/tokenizer.hpp"
#include "runtime/recoverable_pipeline.hpp"
#include "runtime/slowdown_monitor.hpp"
#include "serve/recovery_log.hpp"

namespace crossgpu::serve {

struct GenerationRequest {
  std::vector<std::uint32_t> prompt;
  std::optional<std::uint32_t> max_tokens;  // absent: until the context is full
  model::SamplerOptions sampler;
  std::vector<std::string> stop;
};

enum class FinishReason { stop, length, cancelled };
const char* finish_reason_name(FinishReason reason);

struct GenerationResult {
  std::string text;
  std::uint32_t prompt_tokens = 0;
  std::uint32_t cached_tokens = 0;      // of the prompt, taken from the KV cache, not run again
  std::uint32_t completion_tokens = 0;
  FinishReason finish = FinishReason::stop;
  double seconds = 0;                   // from the start of its prefill to its last token
};

// Receives each piece of text that can be sent; returns false when nobody wants more (the
// client disconnected), which cancels the request.
using TextSink = std::function<bool(const std::string& text)>;

struct ServiceCounters {
  std::uint64_t requests = 0;   // accepted into the queue
  std::uint64_t completed = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t failed = 0;
  std::uint64_t refused_busy = 0;
  std::uint64_t reused_prompt_tokens = 0;
  std::uint64_t prefilled_tokens = 0;  // prompt tokens run through a prefill (not taken from a cache)
  std::uint32_t waiting = 0;
  std::uint32_t running = 0;    // sequences holding a KV-cache slot now
  std::uint32_t slots = 0;      // KV-cache slots: sequences that may decode together
  std::uint64_t decode_steps = 0;   // batched passes of one token per active sequence
  std::uint64_t batched_steps = 0;  // of those, the passes that carried two sequences or more
  std::uint64_t batched_tokens = 0; // tokens decoded in all decode steps together
  std::uint32_t max_batch = 0;      // the most sequences one decode step carried
  // The prefix cache (KV caches kept in free slots): requests that reused cached prompt tokens,
  // free slots whose cached tokens a request overwrote without continuing them, and what the free
  // slots hold now (tokens, and their KV-cache bytes on the stages).
  std::uint32_t cache_slots = 0;    // all KV-cache slots: `slots` decoding, the rest parked
  std::uint64_t prefix_hits = 0;
  std::uint64_t prefix_evictions = 0;
  std::uint64_t cached_tokens = 0;
  std::uint64_t cached_bytes = 0;
  // Rebuilds of the sequences in flight on a new plan (a recovery or a slowdown re-plan): tokens
  // prefilled again (prompts and generated tokens), and parked tokens dropped with the old stages.
  std::uint64_t reprefilled_tokens = 0;
  std::uint64_t dropped_cached_tokens = 0;
};

// The slowdown watch's thresholds for serving: stricter than `crossgpu run`'s defaults. A serve
// step carries several sequences (batched rows, or one pass each) and new requests' prefills
// share the devices between steps, so stage times are noisier: on this project's 2-core test VM,
// with run's thresholds, 3-stage loopback serving re-planned once on noise alone (a stage 2.3x and
// 3.7x the others over 8 steps, no device slowed), and the 10 s interval then held back the move
// off the node really slowed (30-200x its prediction against 8-12x for the others).
inline sched::SlowdownPolicy serve_slowdown_policy() {
  sched::SlowdownPolicy policy;
  policy.slow_ratio = 4.0;
  policy.clear_ratio = 2.5;
  policy.sustained = 12;
  policy.warmup = 16;
  return policy;
}

class GenerationService {
 public:
  // `pipeline` and `tokenizer` must outlive the service; only its worker thread runs the pipeline.
  // `max_active` sequences decode together (0: as many as the pipeline has slots; the slots beyond
  // them only cache prefixes); `max_waiting` more may queue. Throws Errc::invalid_argument for a
  // `max_active` above the pipeline's slots.
  GenerationService(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, std::size_t max_waiting,
                    std::uint32_t max_active = 0);
  // The same over `model` (loaded; it must outlive the service), recovering from lost devices and
  // re-planning away from slowed ones (`slowdown`: the watch's thresholds).
  GenerationService(runtime::RecoverablePipeline& model, const model::Tokenizer& tokenizer, std::size_t max_waiting,
                    std::uint32_t max_active = 0, sched::SlowdownPolicy slowdown = serve_slowdown_policy());
  ~GenerationService();  // cancels what is queued and joins the worker
  GenerationService(const GenerationService&) = delete;
  GenerationService& operator=(const GenerationService&) = delete;

  // Queues a request. Throws ApiError 400 when its prompt is empty or fills the context, 429 when
  // `max_waiting` requests are already queued. `cancel`, when set, cancels it from outside.
  std::future<GenerationResult> submit(GenerationRequest request, TextSink sink,
                                       std::shared_ptr<std::atomic<bool>> cancel = {});

  ServiceCounters counters() const;
  // The pipeline's per-stage totals since it was loaded, as of the last finished request (a copy:
  // only the worker touches the pipeline).
  std::vector<model::StageStats> stage_stats() const;
  std::uint32_t context() const noexcept { return context_; }
  const RecoveryLog& recovery_log() const noexcept { return recovery_log_; }

 private:
  struct Job;
  struct Sequence;
  using Active = std::vector<std::unique_ptr<Sequence>>;
  GenerationService(model::Pipeline& pipeline, runtime::RecoverablePipeline* model, const model::Tokenizer& tokenizer,
                    std::size_t max_waiting, std::uint32_t max_active, sched::SlowdownPolicy slowdown);
  void work();
  std::vector<std::unique_ptr<Job>> admit(const Active& active, bool& stop);
  std::unique_ptr<Sequence> start(std::unique_ptr<Job> job, Active& active, bool retry = true);
  std::exception_ptr recover(Active& active, std::exception_ptr error);
  void rebuild(Active& active);
  void fail_all(Active& active, std::exception_ptr error);
  std::exception_ptr give_up(Active& active, const std::string& why);
  void accept(Sequence& seq, std::span<const float> logits);
  std::uint32_t step(Active& active);
  void watch_speed(Active& active, std::uint32_t passes);
  void replan(Active& active, runtime::RecoveryEvent event);
  void on_new_pipeline();
  void retire(Active& active, bool stopping);
  void finish(Sequence& seq);
  void fail_job(Job& job, std::exception_ptr error);
  void count_end(std::uint64_t& outcome, std::uint32_t reused_tokens);
  std::optional<model::SequenceSlots::Claim> claim_slot(std::span<const std::uint32_t> prompt, std::size_t& held);
  void count_claim(std::size_t prompt_tokens, const model::SequenceSlots::Claim& claim, std::size_t held);
  void release_slot(std::uint32_t slot, std::vector<std::uint32_t> tokens);
  void count_cache();

  model::Pipeline* pipeline_;               // null once a recovery failed
  runtime::RecoverablePipeline* const model_;  // what rebuilds pipeline_ (null: no recovery)
  // Times the decode steps for a slowdown re-plan (only with model_). Worker only.
  std::unique_ptr<runtime::SlowdownMonitor> slowdown_;
  const model::Tokenizer& tokenizer_;
  const std::size_t max_waiting_;
  const std::uint32_t context_;
  model::SequenceSlots slots_;  // worker only
  const std::uint32_t max_active_;
  const std::uint64_t kv_bytes_per_token_;  // of every stage's KV caches together
  bool batched_;                // decode steps share one pass (else one pass per sequence)
  // The last token sampled (or the start of a prefill on an idle service): where a recovery's
  // detection time starts. Worker only.
  std::chrono::steady_clock::time_point last_token_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  ServiceCounters counters_;
  std::vector<model::StageStats> stage_stats_;
  std::string failure_;         // why serving stopped (a failed recovery); empty while serving
  RecoveryLog recovery_log_;
  std::thread worker_;
};

}  // namespace crossgpu::serve
