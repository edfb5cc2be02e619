#include "serve/generation_service.hpp"

#include <algorithm>
#include <chrono>

#include "core/log.hpp"
#include "model/generate.hpp"
#include "serve/api_error.hpp"
#include "serve/text_stream.hpp"

namespace crossgpu::serve {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
  }
  return "stop";
}

struct GenerationService::Job {
  GenerationRequest request;
  TextSink sink;
  std::shared_ptr<std::atomic<bool>> cancel;
  std::promise<GenerationResult> promise;
};

GenerationService::GenerationService(model::Pipeline& pipeline, const model::Tokenizer& tokenizer,
                                     std::size_t max_waiting)
    : pipeline_(pipeline), tokenizer_(tokenizer), max_waiting_(max_waiting), context_(pipeline.context()) {
  worker_ = std::thread([this] { work(); });
}

GenerationService::~GenerationService() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& job : queue_) job->cancel->store(true);
  }
  wake_.notify_all();
  worker_.join();
}

std::future<GenerationResult> GenerationService::submit(GenerationRequest request, TextSink sink,
                                                        std::shared_ptr<std::atomic<bool>> cancel) {
  if (request.prompt.empty()) bad_request("messages", "the prompt has no tokens");
  if (request.prompt.size() >= context_) {
    throw ApiError(400, "invalid_request_error", "context_length_exceeded",
                   "the prompt is " + std::to_string(request.prompt.size()) + " tokens; this model's context holds " +
                       std::to_string(context_) + " with room for at least one new token");
  }
  auto job = std::make_unique<Job>();
  job->request = std::move(request);
  job->sink = std::move(sink);
  job->cancel = cancel ? std::move(cancel) : std::make_shared<std::atomic<bool>>(false);
  auto future = job->promise.get_future();
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= max_waiting_ || stopping_) {
      ++counters_.refused_busy;
      throw ApiError(429, "rate_limit_error", "server_busy",
                     std::to_string(queue_.size()) + " requests are waiting already; try again shortly");
    }
    queue_.push_back(std::move(job));
    ++counters_.requests;
    counters_.waiting = static_cast<std::uint32_t>(queue_.size());
  }
  wake_.notify_one();
  return future;
}

ServiceCounters GenerationService::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

std::vector<model::StageStats> GenerationService::stage_stats() const {
  std::lock_guard lock(mutex_);
  return stage_stats_;
}

void GenerationService::work() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      counters_.waiting = static_cast<std::uint32_t>(queue_.size());
      counters_.running = 1;
    }
    std::uint64_t* outcome = nullptr;
    std::uint32_t reused = 0;
    try {
      GenerationResult result = run(*job);
      reused = result.cached_tokens;
      outcome = result.finish == FinishReason::cancelled ? &counters_.cancelled : &counters_.completed;
      job->promise.set_value(std::move(result));
    } catch (const std::exception& e) {
      log::warn("a request failed: {}", e.what());
      outcome = &counters_.failed;
      job->promise.set_exception(std::current_exception());
    }
    std::lock_guard lock(mutex_);
    stage_stats_ = pipeline_.stats();
    ++*outcome;
    counters_.reused_prompt_tokens += reused;
    counters_.running = 0;
  }
}

GenerationResult GenerationService::run(Job& job) {
  const GenerationRequest& r = job.request;
  GenerationResult result;
  result.prompt_tokens = static_cast<std::uint32_t>(r.prompt.size());
  if (job.cancel->load()) {  // its client left while it waited
    result.finish = FinishReason::cancelled;
    return result;
  }
  const auto room = static_cast<std::uint32_t>(context_ - r.prompt.size());
  model::GenerateOptions options;
  options.max_tokens = std::min(r.max_tokens.value_or(room), room);
  options.sampler = r.sampler;
  options.cached_prefix = static_cast<std::uint32_t>(
      std::mismatch(r.prompt.begin(), r.prompt.end(), cached_.begin(), cached_.end()).first - r.prompt.begin());
  TextStream text(r.stop);
  bool client_gone = false;
  auto send = [&](const std::string& piece) {
    if (piece.empty()) return;
    result.text += piece;
    if (!job.sink(piece) || job.cancel->load()) client_gone = true;
  };
  options.is_end = [&](std::uint32_t id) { return tokenizer_.is_end_of_generation(id); };
  options.on_token = [&](std::uint32_t id) {
    if (!tokenizer_.is_end_of_generation(id)) send(text.push(tokenizer_.token_to_piece(id)));
    return !client_gone && !text.stopped();
  };
  cached_.clear();  // until generate returns, the caches hold a mix
  const auto start = std::chrono::steady_clock::now();
  const model::GenerateResult generated = model::generate(pipeline_, r.prompt, options);
  // Every sampled token but the last was fed back: the caches now hold the prompt and those.
  cached_ = r.prompt;
  cached_.insert(cached_.end(), generated.tokens.begin(), generated.tokens.end() - (generated.tokens.empty() ? 0 : 1));
  send(text.finish());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.cached_tokens = generated.cached_tokens;
  result.completion_tokens = static_cast<std::uint32_t>(generated.tokens.size());
  const bool ended = !generated.tokens.empty() && tokenizer_.is_end_of_generation(generated.tokens.back());
  result.finish = client_gone ? FinishReason::cancelled
                  : ended || text.stopped() ? FinishReason::stop
                  : result.completion_tokens >= options.max_tokens ? FinishReason::length
                                                                   : FinishReason::stop;
  return result;
}

}  // namespace crossgpu::serve
