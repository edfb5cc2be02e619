#include "serve/serve_metrics.hpp"

#include <fmt/format.h>

namespace crossgpu::serve {

std::string serve_metrics_text(const ServiceCounters& c) {
  std::string out;
  out += "# HELP crossgpu_serve_requests_total Completion requests by outcome.\n";
  out += "# TYPE crossgpu_serve_requests_total counter\n";
  out += fmt::format("crossgpu_serve_requests_total{{outcome=\"completed\"}} {}\n", c.completed);
  out += fmt::format("crossgpu_serve_requests_total{{outcome=\"cancelled\"}} {}\n", c.cancelled);
  out += fmt::format("crossgpu_serve_requests_total{{outcome=\"failed\"}} {}\n", c.failed);
  out += fmt::format("crossgpu_serve_requests_total{{outcome=\"refused_busy\"}} {}\n", c.refused_busy);
  out += "# HELP crossgpu_serve_reused_prompt_tokens_total Prompt tokens taken from the KV cache instead of prefilled.\n";
  out += "# TYPE crossgpu_serve_reused_prompt_tokens_total counter\n";
  out += fmt::format("crossgpu_serve_reused_prompt_tokens_total {}\n", c.reused_prompt_tokens);
  out += "# HELP crossgpu_serve_waiting Requests queued, not started.\n";
  out += "# TYPE crossgpu_serve_waiting gauge\n";
  out += fmt::format("crossgpu_serve_waiting {}\n", c.waiting);
  out += "# HELP crossgpu_serve_sequences_active Sequences holding a KV cache and generating.\n";
  out += "# TYPE crossgpu_serve_sequences_active gauge\n";
  out += fmt::format("crossgpu_serve_sequences_active {}\n", c.running);
  return out;
}

}  // namespace crossgpu::serve
