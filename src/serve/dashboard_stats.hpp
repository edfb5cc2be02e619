// What the dashboard shows of the service (/api/stats): the queue's counters and, from the
// requests that finished, the tokens made and how fast. The HTTP side records each finished
// request here; the generation worker is not touched.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "serve/generation_service.hpp"
#include "serve/openai_json.hpp"

namespace crossgpu::serve {

class ServeStats {
 public:
  // Finished requests kept for the recent rate (the dashboard plots them).
  static constexpr std::size_t kRecent = 60;

  void record(const GenerationResult& result);

  // {"model", "uptime_seconds", "queue": {...ServiceCounters}, "tokens": {"prompt", "cached",
  // "completion"}, "recent": [{"unix_ms", "completion_tokens", "seconds", "tokens_per_s"}],
  // "last_tokens_per_s": number|null, "stages": [{"passes", "seconds", "transfer_seconds",
  // "bytes_out", "ms_per_pass": number|null}]}. Rates are null until something was measured.
  nlohmann::json json(const ServedModel& model, const ServiceCounters& counters,
                      const std::vector<model::StageStats>& stages) const;

 private:
  struct Finished {
    std::int64_t unix_ms = 0;
    std::uint32_t completion_tokens = 0;
    double seconds = 0;
  };
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;
  std::uint64_t prompt_tokens_ = 0;
  std::uint64_t cached_tokens_ = 0;
  std::uint64_t completion_tokens_ = 0;
  std::deque<Finished> recent_;
};

}  // namespace crossgpu::serve
