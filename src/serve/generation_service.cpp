#include "serve/generation_service.hpp"

#include <algorithm>
#include <chrono>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/generate.hpp"
#include "serve/api_error.hpp"
#include "serve/text_stream.hpp"

namespace crossgpu::serve {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A recovery that cannot succeed: the requests get a 503 saying why (what was lost, how much
// memory is missing), in OpenAI's error shape.
[[noreturn]] void unavailable(const std::string& why) {
  throw ApiError(503, "server_error", "recovery_failed",
                 "lost a device and cannot go on: " + why + " (the server serves nothing more until restarted)");
}

std::exception_ptr unavailable_error(const std::string& why) {
  try {
    unavailable(why);
  } catch (...) {
    return std::current_exception();
  }
}

// What one cached token costs in the KV caches of every stage together.
std::uint64_t kv_bytes_per_token(const model::Pipeline& pipeline) {
  std::uint64_t bytes = 0;
  for (const auto& stage : pipeline.stages()) bytes += stage->cache_bytes();
  return bytes / (std::uint64_t{pipeline.max_sequences()} * pipeline.context());
}

std::uint32_t active_limit(const model::Pipeline& pipeline, std::uint32_t max_active) {
  if (max_active > pipeline.max_sequences()) {
    fail(Errc::invalid_argument, "{} sequences cannot decode together in a pipeline of {} KV-cache slots", max_active,
         pipeline.max_sequences());
  }
  return max_active == 0 ? pipeline.max_sequences() : max_active;
}

}  // namespace

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
                                     std::size_t max_waiting, std::uint32_t max_active)
    : GenerationService(pipeline, nullptr, tokenizer, max_waiting, max_active, {}) {}

GenerationService::GenerationService(runtime::RecoverablePipeline& model, const model::Tokenizer& tokenizer,
                                     std::size_t max_waiting, std::uint32_t max_active, sched::SlowdownPolicy slowdown)
    : GenerationService(model.pipeline(), &model, tokenizer, max_waiting, max_active, slowdown) {}

GenerationService::GenerationService(model::Pipeline& pipeline, runtime::RecoverablePipeline* model,
                                     const model::Tokenizer& tokenizer, std::size_t max_waiting,
                                     std::uint32_t max_active, sched::SlowdownPolicy slowdown)
    : pipeline_(&pipeline),
      model_(model),
      tokenizer_(tokenizer),
      max_waiting_(max_waiting),
      context_(pipeline.context()),
      slots_(pipeline.max_sequences()),
      max_active_(active_limit(pipeline, max_active)),
      kv_bytes_per_token_(kv_bytes_per_token(pipeline)),
      batched_(pipeline.batched_decode_pays()) {
  counters_.slots = max_active_;
  counters_.cache_slots = slots_.size();
  if (model_ != nullptr) {
    slowdown_ = std::make_unique<runtime::SlowdownMonitor>(slowdown);
    slowdown_->attach(*pipeline_, model_->plan());
  }
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
    if (!failure_.empty()) unavailable(failure_);
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

// An admitted request in its KV-cache slot, from its prefill to its last token.
struct GenerationService::Sequence {
  std::unique_ptr<Job> job;
  std::uint32_t slot = 0;
  std::uint32_t max_tokens = 0;
  std::uint32_t next_pos = 0;  // where the last sampled token goes when it is fed back
  model::Sampler sampler;
  TextStream text;
  std::vector<std::uint32_t> generated;
  GenerationResult result;
  bool client_gone = false;
  bool done = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  // Takes `j` only once nothing can throw any more (a bad sampler option does), so that a request
  // refused here still has its promise to answer.
  Sequence(std::unique_ptr<Job>& j, const model::SequenceSlots::Claim& claim, std::uint32_t context)
      : slot(claim.slot), sampler(j->request.sampler), text(j->request.stop) {
    const GenerationRequest& r = j->request;
    const auto room = static_cast<std::uint32_t>(context - r.prompt.size());
    max_tokens = std::min(r.max_tokens.value_or(room), room);
    next_pos = static_cast<std::uint32_t>(r.prompt.size());
    result.prompt_tokens = next_pos;
    result.cached_tokens = claim.cached;
    job = std::move(j);
  }
  // Hands a piece of text to the client; a sink that refuses (or a cancel) ends the sequence.
  void send(const std::string& piece) {
    if (piece.empty()) return;
    result.text += piece;
    if (!job->sink(piece) || job->cancel->load()) client_gone = true;
  }
};

void GenerationService::work() {
  Active active;
  for (;;) {
    bool stopping = false;
    std::vector<std::unique_ptr<Job>> admitted = admit(active, stopping);
    if (admitted.empty() && active.empty() && stopping) return;
    for (auto& job : admitted) {
      if (auto seq = start(std::move(job), active)) active.push_back(std::move(seq));
    }
    retire(active, stopping);
    const std::uint32_t passes = active.empty() ? 0 : step(active);
    retire(active, stopping);
    if (!stopping) watch_speed(active, passes);
  }
}

// Waits for work, then takes as many queued requests as there are free slots.
std::vector<std::unique_ptr<GenerationService::Job>> GenerationService::admit(const Active& active, bool& stop) {
  std::unique_lock lock(mutex_);
  wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active.empty(); });
  stop = stopping_;
  std::vector<std::unique_ptr<Job>> admitted;
  while (!queue_.empty() && active.size() + admitted.size() < max_active_) {
    admitted.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  counters_.waiting = static_cast<std::uint32_t>(queue_.size());
  counters_.running = static_cast<std::uint32_t>(active.size() + admitted.size());
  return admitted;
}

// Prefills a request into a slot (the part its slot does not cache already) and samples its first
// token; a request whose client left while it waited ends here, as does one whose prefill fails.
std::unique_ptr<GenerationService::Sequence> GenerationService::start(std::unique_ptr<Job> job, Active& active,
                                                                      bool retry) {
  const std::vector<std::uint32_t>& prompt = job->request.prompt;
  if (job->cancel->load()) {
    GenerationResult result;
    result.prompt_tokens = static_cast<std::uint32_t>(prompt.size());
    result.finish = FinishReason::cancelled;
    job->promise.set_value(std::move(result));
    count_end(counters_.cancelled, 0);
    return nullptr;
  }
  if (pipeline_ == nullptr) {  // queued before a recovery failed
    fail_job(*job, unavailable_error(failure_));
    return nullptr;
  }
  std::size_t held = 0;
  const std::optional<model::SequenceSlots::Claim> claim = claim_slot(prompt, held);
  if (!claim) fail(Errc::internal, "no free sequence slot for an admitted request");
  if (active.empty()) last_token_ = Clock::now();  // a loss found by this prefill is detected from here
  std::unique_ptr<Sequence> seq;
  try {
    seq = std::make_unique<Sequence>(job, *claim, context_);
    const std::span<const float> logits =
        model::prefill(*pipeline_, seq->job->request.prompt, claim->cached, claim->slot);
    count_claim(seq->job->request.prompt.size(), *claim, held);  // counted once it ran: a retry claims again
    if (seq->max_tokens == 0) {
      seq->done = true;
      return seq;
    }
    accept(*seq, logits);
  } catch (...) {
    release_slot(claim->slot, {});  // what its caches hold is unknown now
    std::unique_ptr<Job> j = seq ? std::move(seq->job) : std::move(job);
    const std::exception_ptr error = recover(active, std::current_exception());
    if (!error && retry) return start(std::move(j), active, false);  // once, on the rebuilt pipeline
    fail_job(*j, error ? error : std::current_exception());
    return nullptr;
  }
  return seq;
}

// Samples the sequence's next token from its row of logits and hands its text out.
void GenerationService::accept(Sequence& seq, std::span<const float> logits) {
  const std::uint32_t token = seq.sampler.sample(logits);
  last_token_ = Clock::now();
  seq.generated.push_back(token);
  const bool end = tokenizer_.is_end_of_generation(token);
  if (!end) seq.send(seq.text.push(tokenizer_.token_to_piece(token)));
  if (seq.job->cancel->load()) seq.client_gone = true;
  seq.done = end || seq.client_gone || seq.text.stopped() || seq.generated.size() >= seq.max_tokens;
}

// One decode step: every active sequence's last token at its position, in one batched pass (in
// chunks of the pipeline's batch when there are more sequences than rows), or one pass per
// sequence where batching does not pay (model::Pipeline::batched_decode_pays). Returns the passes
// it ran, 0 when one failed (the sequences then recovered or failed).
std::uint32_t GenerationService::step(Active& active) {
  if (slowdown_) slowdown_->step_starting();
  const std::uint32_t vocab = pipeline_->config().vocab;
  std::uint32_t passes = 0;
  const std::size_t chunk = batched_ ? pipeline_->max_batch() : 1;
  for (std::size_t first = 0; first < active.size(); first += chunk) {
    const std::size_t n = std::min(chunk, active.size() - first);
    std::vector<std::uint32_t> ids;
    std::vector<model::SequenceRows> parts;
    for (std::size_t i = first; i < first + n; ++i) {
      ids.push_back(active[i]->generated.back());
      parts.push_back({.slot = active[i]->slot, .pos = active[i]->next_pos, .tokens = 1});
    }
    try {
      const std::span<const float> logits = pipeline_->forward_rows(ids, parts);
      for (std::size_t i = 0; i < n; ++i) {
        Sequence& seq = *active[first + i];
        ++seq.next_pos;
        accept(seq, logits.subspan(i * vocab, vocab));
      }
    } catch (...) {
      // A failed pass leaves every slot's cache in doubt: unless a lost device can be replaced
      // (the caches rebuilt), all sequences in flight fail. After a recovery the next step
      // carries every sequence again, those of earlier chunks one token further.
      if (const std::exception_ptr error = recover(active, std::current_exception())) fail_all(active, error);
      return 0;
    }
    ++passes;
    std::lock_guard lock(mutex_);
    ++counters_.decode_steps;
    if (n > 1) ++counters_.batched_steps;
    counters_.batched_tokens += n;
    counters_.max_batch = std::max(counters_.max_batch, static_cast<std::uint32_t>(n));
  }
  return passes;
}

// After a decode step of `passes` passes: when a stage has measured far slower than the others
// long enough (the monitor's policy) and another plan is predicted faster, serving moves to it.
void GenerationService::watch_speed(Active& active, std::uint32_t passes) {
  if (!slowdown_ || passes == 0 || pipeline_ == nullptr) return;
  const std::vector<sched::SlowStage> slow = slowdown_->step_done(passes);
  if (slow.empty()) return;
  std::optional<runtime::RecoveryEvent> event = model_->replan_for(slow, slowdown_->policy());
  if (!event) {
    slowdown_->declined();
    return;
  }
  replan(active, std::move(*event));
}

// Loads `event`'s plan (a slowdown re-plan) and rebuilds the sequences in flight on it: serving
// --> recovering --> serving, as after a loss. A device lost meanwhile is recovered from as any
// loss (the new plan's stages may be the ones gone).
void GenerationService::replan(Active& active, runtime::RecoveryEvent event) {
  const auto start = Clock::now();
  const auto sequences = static_cast<std::uint32_t>(active.size());
  std::uint32_t tokens_before = 0;
  for (const auto& seq : active) tokens_before += static_cast<std::uint32_t>(seq->generated.size());
  recovery_log_.begin(fmt::format("slow {}", fmt::join(event.slow, "; ")), sequences);
  try {
    model_->adopt(event);
    on_new_pipeline();
    const auto reprefill_start = Clock::now();
    rebuild(active);
    event.reprefill_seconds = seconds_since(reprefill_start);
  } catch (...) {
    if (const std::exception_ptr error = recover(active, std::current_exception())) fail_all(active, error);
    return;
  }
  event.tokens_before = tokens_before;
  event.total_seconds = seconds_since(start);
  recovery_log_.replanned(event, sequences);
  log::warn("re-planned: slow {}; {} stages now ({:.2f} ms per token predicted, {:.2f} as measured before); "
            "{} requests carried over; took {:.2f} s",
            fmt::join(event.slow, "; "), event.plan.plan.stages.size(), event.predicted_seconds_after * 1e3,
            event.predicted_seconds_before * 1e3, sequences, event.total_seconds);
}

// The model's pipeline was rebuilt (a recovery or a re-plan): decode on it, watch it.
void GenerationService::on_new_pipeline() {
  pipeline_ = &model_->pipeline();
  batched_ = pipeline_->batched_decode_pays();
  if (slowdown_) slowdown_->attach(*pipeline_, model_->plan());
}

// Ends the sequences that are done (or cancelled, or all of them when the service stops) and
// frees their slots.
void GenerationService::retire(Active& active, bool stopping) {
  for (auto& seq : active) {
    if (seq->job->cancel->load() || stopping) seq->client_gone = true;
    if (seq->client_gone) seq->done = true;
    if (seq->done) finish(*seq);
  }
  std::erase_if(active, [](const std::unique_ptr<Sequence>& s) { return s->done; });
  std::lock_guard lock(mutex_);
  counters_.running = static_cast<std::uint32_t>(active.size());
}

void GenerationService::finish(Sequence& seq) {
  const GenerationRequest& r = seq.job->request;
  seq.send(seq.text.finish());
  GenerationResult& result = seq.result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - seq.start).count();
  result.completion_tokens = static_cast<std::uint32_t>(seq.generated.size());
  const bool ended = !seq.generated.empty() && tokenizer_.is_end_of_generation(seq.generated.back());
  result.finish = seq.client_gone                     ? FinishReason::cancelled
                  : ended || seq.text.stopped()       ? FinishReason::stop
                  : result.completion_tokens >= seq.max_tokens ? FinishReason::length
                                                               : FinishReason::stop;
  // Every sampled token but the last was fed back: the slot holds the prompt and those.
  std::vector<std::uint32_t> cached = r.prompt;
  cached.insert(cached.end(), seq.generated.begin(), seq.generated.end() - (seq.generated.empty() ? 0 : 1));
  release_slot(seq.slot, std::move(cached));
  const bool cancelled = result.finish == FinishReason::cancelled;
  const std::uint32_t reused = result.cached_tokens;
  seq.job->promise.set_value(std::move(result));
  count_end(cancelled ? counters_.cancelled : counters_.completed, reused);
}

// Counts a request's end at once (running included), so a client that sees its answer sees it
// counted.
void GenerationService::count_end(std::uint64_t& outcome, std::uint32_t reused_tokens) {
  std::lock_guard lock(mutex_);
  if (pipeline_ != nullptr) stage_stats_ = pipeline_->stats();
  ++outcome;
  counters_.reused_prompt_tokens += reused_tokens;
  if (counters_.running > 0) --counters_.running;
}

// Takes a slot for `prompt`; `held`: how many tokens the slot cached before.
std::optional<model::SequenceSlots::Claim> GenerationService::claim_slot(std::span<const std::uint32_t> prompt,
                                                                         std::size_t& held) {
  std::optional<model::SequenceSlots::Claim> claim = slots_.acquire(prompt);
  if (!claim) return claim;
  held = slots_.cached(claim->slot).size();  // acquire leaves the old tokens listed
  count_cache();
  return claim;
}

// What a claimed slot's prefill did to the prefix cache: a hit when it reused cached tokens, an
// eviction when the slot held a conversation the prompt does not continue (a shared start, e.g.
// the system prompt, may still be reused).
void GenerationService::count_claim(std::size_t prompt_tokens, const model::SequenceSlots::Claim& claim,
                                    std::size_t held) {
  std::lock_guard lock(mutex_);
  counters_.prefilled_tokens += prompt_tokens - claim.cached;
  if (claim.cached > 0) ++counters_.prefix_hits;
  if (held > 0 && std::uint64_t{claim.cached} * 2 < held) ++counters_.prefix_evictions;
}

void GenerationService::release_slot(std::uint32_t slot, std::vector<std::uint32_t> tokens) {
  slots_.release(slot, std::move(tokens));
  count_cache();
}

// What the free slots cache now, for the counters.
void GenerationService::count_cache() {
  std::uint64_t tokens = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_.busy(i)) tokens += slots_.cached(i).size();
  }
  std::lock_guard lock(mutex_);
  counters_.cached_tokens = tokens;
  counters_.cached_bytes = tokens * kv_bytes_per_token_;
}

void GenerationService::fail_job(Job& job, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::warn("a request failed: {}", e.what());
  }
  job.promise.set_exception(error);
  count_end(counters_.failed, 0);
}

void GenerationService::fail_all(Active& active, std::exception_ptr error) {
  for (auto& seq : active) {
    if (slots_.busy(seq->slot)) release_slot(seq->slot, {});
    fail_job(*seq->job, error);
  }
  active.clear();
}

// After a failed pass: when the failure may be a lost device and the service can re-plan, finds
// the lost devices, rebuilds the pipeline over the survivors and the KV cache of every sequence
// in flight; returns null once decoding can go on. Otherwise returns the error the requests fail
// with: `error` itself when no device was lost, a 503 when the survivors cannot take over (then
// the sequences in flight and the queued requests fail here, and every later request is refused).
std::exception_ptr GenerationService::recover(Active& active, std::exception_ptr error) {
  if (model_ == nullptr) return error;
  const auto sequences = static_cast<std::uint32_t>(active.size());
  const double detect_seconds = seconds_since(last_token_);
  const auto failure_at = Clock::now();
  std::uint32_t tokens_before = 0;
  for (const auto& seq : active) tokens_before += static_cast<std::uint32_t>(seq->generated.size());
  bool began = false;
  for (int attempt = 0;; ++attempt) {
    bool replanned = false;
    try {
      std::rethrow_exception(error);
    } catch (const Error& failure) {
      if (!runtime::may_be_a_lost_device(failure)) return error;
      if (!began) recovery_log_.begin(failure.what(), sequences);
      began = true;
      try {
        runtime::RecoveryEvent event = model_->recover(failure);
        replanned = true;
        on_new_pipeline();
        const auto reprefill_start = Clock::now();
        rebuild(active);
        event.reprefill_seconds = seconds_since(reprefill_start);
        event.tokens_before = tokens_before;
        event.detect_seconds = detect_seconds;
        event.total_seconds = seconds_since(failure_at);
        recovery_log_.recovered(event, sequences);
        log::warn("recovered: lost {}; {} stages now; {} requests carried over; outage {:.2f} s",
                  event.lost.front(), event.plan.plan.stages.size(), sequences, event.outage_seconds());
        return nullptr;
      } catch (const std::exception& e) {
        if (!model_->loaded()) return give_up(active, e.what());  // the stages are gone
        if (!replanned) {  // every device answers: the pass failed for another reason
          recovery_log_.not_recovered(e.what(), sequences);
          return std::current_exception();
        }
        const auto* engine = dynamic_cast<const Error*>(&e);
        if (attempt >= 2 || engine == nullptr || !runtime::may_be_a_lost_device(*engine)) {
          recovery_log_.not_recovered(e.what(), sequences);
          return std::current_exception();
        }
        error = std::current_exception();  // another device lost while re-prefilling: again
      }
    } catch (...) {
      return error;
    }
  }
}

// Every sequence in flight into a slot of the new pipeline (whose caches are empty): its prompt
// and the tokens it generated, all but the last, which the next decode step feeds. What the free
// slots cached is gone with the old stages: they start empty (the next request continuing one
// is prefilled again and counted as not cached), so the counters' cached tokens and bytes are
// what the new stages hold.
void GenerationService::rebuild(Active& active) {
  std::uint64_t dropped = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!slots_.busy(i)) dropped += slots_.cached(i).size();
  }
  slots_ = model::SequenceSlots(slots_.size());
  {
    std::lock_guard lock(mutex_);
    counters_.dropped_cached_tokens += dropped;
  }
  count_cache();
  for (auto& seq : active) {
    std::vector<std::uint32_t> logged = seq->job->request.prompt;
    if (!seq->generated.empty()) logged.insert(logged.end(), seq->generated.begin(), seq->generated.end() - 1);
    seq->slot = slots_.acquire(logged)->slot;
    seq->result.cached_tokens = 0;  // its whole prompt ran again: none of it came from a cache
    model::prefill(*pipeline_, logged, 0, seq->slot);
    std::lock_guard lock(mutex_);
    counters_.reprefilled_tokens += logged.size();
  }
}

// Serving stops: the pipeline is gone and the survivors cannot hold the model.
std::exception_ptr GenerationService::give_up(Active& active, const std::string& why) {
  const std::exception_ptr error = unavailable_error(why);
  recovery_log_.failed(why, static_cast<std::uint32_t>(active.size()));
  log::error("serving stops: {}", why);
  pipeline_ = nullptr;
  std::deque<std::unique_ptr<Job>> queued;
  {
    std::lock_guard lock(mutex_);
    failure_ = why;
    queued.swap(queue_);
    counters_.waiting = 0;
  }
  fail_all(active, error);
  for (auto& job : queued) fail_job(*job, error);
  return error;
}

}  // namespace crossgpu::serve
