#include "serve/dashboard_stats.hpp"

namespace crossgpu::serve {
namespace {

using nlohmann::json;

// Tokens per second of one request, or null when it made none (a rate of 0 would be a claim).
json rate(std::uint32_t tokens, double seconds) {
  if (tokens == 0 || seconds <= 0) return nullptr;
  return tokens / seconds;
}

// What each stage measured: its time per forward pass, compute and transfer together (a remote
// stage's compute travels in its transfer's request), beside the plan's prediction per token of
// both (decode runs one token per pass; a prompt's passes carry several).
json stages_json(const std::vector<model::StageStats>& stages) {
  json out = json::array();
  for (const model::StageStats& s : stages) {
    out.push_back({{"passes", s.passes},
                   {"seconds", s.seconds},
                   {"transfer_seconds", s.transfer_seconds},
                   {"bytes_out", s.bytes_out},
                   {"ms_per_pass", s.passes == 0 ? json(nullptr) : json(1000 * (s.seconds + s.transfer_seconds) / s.passes)},
                   {"messages", s.messages},
                   {"message_steps", s.message_steps},
                   // Network messages of one single-token decode step; null until a counted step.
                   {"messages_per_token", s.message_steps == 0
                                              ? json(nullptr)
                                              : json(static_cast<double>(s.messages) / static_cast<double>(s.message_steps))}});
  }
  return out;
}

}  // namespace

void ServeStats::record(const GenerationResult& result) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  std::lock_guard lock(mutex_);
  prompt_tokens_ += result.prompt_tokens;
  cached_tokens_ += result.cached_tokens;
  completion_tokens_ += result.completion_tokens;
  recent_.push_back({std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), result.completion_tokens,
                     result.seconds});
  if (recent_.size() > kRecent) recent_.pop_front();
}

json ServeStats::json(const ServedModel& model, const ServiceCounters& c,
                      const std::vector<model::StageStats>& stages) const {
  const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  std::lock_guard lock(mutex_);
  nlohmann::json recent = nlohmann::json::array();
  for (const Finished& f : recent_) {
    recent.push_back({{"unix_ms", f.unix_ms},
                      {"completion_tokens", f.completion_tokens},
                      {"seconds", f.seconds},
                      {"tokens_per_s", rate(f.completion_tokens, f.seconds)}});
  }
  return {{"model", model.id},
          {"uptime_seconds", uptime},
          {"queue",
           {{"requests", c.requests},
            {"completed", c.completed},
            {"cancelled", c.cancelled},
            {"failed", c.failed},
            {"refused_busy", c.refused_busy},
            {"waiting", c.waiting},
            {"running", c.running}}},
          {"tokens", {{"prompt", prompt_tokens_}, {"cached", cached_tokens_}, {"completion", completion_tokens_}}},
          {"prefix_cache",
           {{"slots", c.cache_slots - c.slots},
            {"hits", c.prefix_hits},
            {"evictions", c.prefix_evictions},
            {"tokens", c.cached_tokens},
            {"bytes", c.cached_bytes},
            {"dropped_tokens", c.dropped_cached_tokens},
            {"reprefilled_tokens", c.reprefilled_tokens}}},
          {"recent", recent},
          {"stages", stages_json(stages)},
          {"last_tokens_per_s", recent_.empty() ? nlohmann::json(nullptr)
                                                : rate(recent_.back().completion_tokens, recent_.back().seconds)}};
}

}  // namespace crossgpu::serve
