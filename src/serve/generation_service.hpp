// The model behind the API: one worker thread owns the pipeline and runs the queued requests in
// turn, handing each one's text to its sink as it is made. A full queue is refused (429) rather
// than grown; a request whose client has gone is cancelled between two tokens; the KV cache of
// the sequence run last is kept, so a request that starts with it (the next turn of a chat) runs
// only its new tokens.
//
// Sequences run one at a time: the stages hold one KV cache each, so continuous batching (several
// sequences in one pass) waits for per-sequence caches in the model layer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/pipeline.hpp"
#include "model/sampler.hpp"
#include "model/tokenizer.hpp"

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
  std::uint32_t waiting = 0;
  std::uint32_t running = 0;    // sequences holding the KV cache now (0 or 1)
};

class GenerationService {
 public:
  // `pipeline` and `tokenizer` must outlive the service; only its worker thread runs the pipeline.
  GenerationService(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, std::size_t max_waiting);
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

 private:
  struct Job;
  void work();
  GenerationResult run(Job& job);

  model::Pipeline& pipeline_;
  const model::Tokenizer& tokenizer_;
  const std::size_t max_waiting_;
  const std::uint32_t context_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  ServiceCounters counters_;
  std::vector<model::StageStats> stage_stats_;
  std::vector<std::uint32_t> cached_;  // the tokens whose keys and values the KV caches hold (worker only)
  std::thread worker_;
};

}  // namespace crossgpu::serve
