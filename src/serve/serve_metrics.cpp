#include "serve/serve_metrics.hpp"

#include <fmt/format.h>

namespace crossgpu::serve {
namespace {

// One metric's HELP and TYPE lines, then its samples ("{labels} value" or " value").
void metric(std::string& out, const char* name, const char* type, const char* help,
            std::initializer_list<std::pair<const char*, std::uint64_t>> samples) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  for (const auto& [labels, value] : samples) out += fmt::format("{}{} {}\n", name, labels, value);
}

void recovery_metrics(std::string& out, const RecoveryTotals& r) {
  metric(out, "crossgpu_serve_recoveries_total", "counter",
         "Recoveries from a lost device: re-planned, reloaded, requests in flight carried over.",
         {{"{outcome=\"recovered\"}", r.recoveries}, {"{outcome=\"failed\"}", r.failed_recoveries}});
  out += "# HELP crossgpu_serve_last_outage_seconds From the last token before the last recovery's loss to "
         "decoding again (0 before any).\n# TYPE crossgpu_serve_last_outage_seconds gauge\n";
  out += fmt::format("crossgpu_serve_last_outage_seconds {:.3f}\n", r.last_outage_seconds);
  metric(out, "crossgpu_serve_replans_total", "counter",
         "Re-plans away from a slowed device: its stages moved, requests in flight carried over.", {{"", r.replans}});
  metric(out, "crossgpu_serve_state", "gauge", "1 for the state the service is in: serving, recovering or failed.",
         {{"{state=\"serving\"}", r.state == ServiceState::serving},
          {"{state=\"recovering\"}", r.state == ServiceState::recovering},
          {"{state=\"failed\"}", r.state == ServiceState::failed}});
}

void prefix_cache_metrics(std::string& out, const ServiceCounters& c) {
  metric(out, "crossgpu_serve_prefix_cache_slots", "gauge",
         "KV-cache slots beyond those decoding, kept for cached prefixes.", {{"", c.cache_slots - c.slots}});
  metric(out, "crossgpu_serve_prefix_cache_hits_total", "counter",
         "Requests that reused cached prompt tokens instead of prefilling them.", {{"", c.prefix_hits}});
  metric(out, "crossgpu_serve_prefix_cache_evictions_total", "counter",
         "Cached conversations overwritten by a request that did not continue them (least recently used first).",
         {{"", c.prefix_evictions}});
  metric(out, "crossgpu_serve_prefix_cache_tokens", "gauge", "Tokens whose KV cache the free slots hold.",
         {{"", c.cached_tokens}});
  metric(out, "crossgpu_serve_prefix_cache_bytes", "gauge", "KV-cache bytes of the tokens the free slots hold.",
         {{"", c.cached_bytes}});
  metric(out, "crossgpu_serve_prefix_cache_dropped_tokens_total", "counter",
         "Cached tokens lost with the old stages when a recovery or re-plan rebuilt the pipeline.",
         {{"", c.dropped_cached_tokens}});
  metric(out, "crossgpu_serve_reprefilled_tokens_total", "counter",
         "Tokens of the requests in flight prefilled again on a rebuilt pipeline (recovery or re-plan).",
         {{"", c.reprefilled_tokens}});
}

}  // namespace

std::string serve_metrics_text(const ServiceCounters& c, const RecoveryTotals& recoveries) {
  std::string out;
  metric(out, "crossgpu_serve_requests_total", "counter", "Completion requests by outcome.",
         {{"{outcome=\"completed\"}", c.completed},
          {"{outcome=\"cancelled\"}", c.cancelled},
          {"{outcome=\"failed\"}", c.failed},
          {"{outcome=\"refused_busy\"}", c.refused_busy}});
  metric(out, "crossgpu_serve_reused_prompt_tokens_total", "counter",
         "Prompt tokens taken from the KV cache instead of prefilled.", {{"", c.reused_prompt_tokens}});
  metric(out, "crossgpu_serve_prefilled_tokens_total", "counter",
         "Prompt tokens run through a prefill (those not taken from the KV cache).", {{"", c.prefilled_tokens}});
  metric(out, "crossgpu_serve_waiting", "gauge", "Requests queued, not started.", {{"", c.waiting}});
  metric(out, "crossgpu_serve_sequences_active", "gauge", "Sequences holding a KV cache and generating.",
         {{"", c.running}});
  metric(out, "crossgpu_serve_sequence_slots", "gauge", "KV-cache slots: sequences that may decode together.",
         {{"", c.slots}});
  metric(out, "crossgpu_serve_decode_steps_total", "counter",
         "Decode passes, each one token of every active sequence.", {{"", c.decode_steps}});
  metric(out, "crossgpu_serve_batched_steps_total", "counter", "Decode passes that carried two sequences or more.",
         {{"", c.batched_steps}});
  metric(out, "crossgpu_serve_decode_tokens_total", "counter", "Tokens decoded in all decode passes together.",
         {{"", c.batched_tokens}});
  metric(out, "crossgpu_serve_max_batch", "gauge", "The most sequences one decode pass has carried.",
         {{"", c.max_batch}});
  prefix_cache_metrics(out, c);
  recovery_metrics(out, recoveries);
  return out;
}

}  // namespace crossgpu::serve
