#include "apps/run_printing.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "apps/table.hpp"
#include "core/error.hpp"
#include "runtime/run_summary.hpp"

namespace crossgpu::apps {
namespace {

// "1.2 GiB sent, 3.4 GiB from the node's cache"; a local device has no cache to name.
// Network messages per decoded token (runtime::network_messages_per_token), "-" for none.
std::string messages_per_token(const model::StageStats& stats) {
  const nlohmann::json m = runtime::network_messages_per_token(stats);
  return m.is_null() ? "-" : fmt::format("{:.2f}", m.get<double>());
}

std::string weights_sent(const runtime::StageSummary& stage) {
  if (!stage.remote) return format_bytes(stage.weights_sent) + " sent";
  return fmt::format("{} sent, {} from the node's cache", format_bytes(stage.weights_sent),
                     format_bytes(stage.weights_cached));
}

}  // namespace

void print_plan(const runtime::ModelPlan& plan, const model::LlamaConfig& config, std::FILE* out) {
  for (const std::string& line : plan.excluded) std::fprintf(out, "%s\n", line.c_str());
  Table table({{"stage"}, {"device"}, {"layers"}, {"memory", Align::right}, {"compute ms/token", Align::right},
               {"transfer ms/token", Align::right}});
  for (std::size_t i = 0; i < plan.plan.stages.size(); ++i) {
    const sched::Stage& s = plan.plan.stages[i];
    table.add_row({std::to_string(i), plan.devices[s.device].label,
                   fmt::format("{}-{}", s.first_layer, s.end_layer - 1), format_bytes(s.memory_bytes),
                   fmt::format("{:.3f}", s.compute_seconds * 1e3), fmt::format("{:.3f}", s.transfer_seconds * 1e3)});
  }
  std::fprintf(out, "plan for %s (%u layers) on %zu of %zu device(s), method %s:\n%s", config.name.c_str(),
               config.layers, plan.plan.stages.size(), plan.problem.devices.size(), plan.plan.method.c_str(),
               table.render().c_str());
  std::fprintf(out, "predicted: %.3f ms/token (%.1f tokens/s)\n", plan.plan.seconds_per_token * 1e3,
               1.0 / plan.plan.seconds_per_token);
  for (const sched::Plan& b : plan.baselines) {
    std::fprintf(out, "  vs %s split: %.3f ms/token\n", b.method.c_str(), b.seconds_per_token * 1e3);
  }
}

void draw_weight_progress(const runtime::WeightProgress& p) {
  // A bar redrawn in place only on a terminal; a log or a pipe gets one line per stage, when its
  // weights are all placed.
  static const bool terminal = ::isatty(STDERR_FILENO) == 1;
  if (!terminal) {
    if (p.done >= p.total) {
      std::fprintf(stderr, "weights -> stage %zu/%zu (%s): %s placed\n", p.stage + 1, p.stages, p.device.c_str(),
                   format_bytes(p.total).c_str());
    }
    return;
  }
  const int percent =
      p.total == 0 ? 100 : static_cast<int>(100.0 * static_cast<double>(p.done) / static_cast<double>(p.total));
  const int filled = percent / 5;
  std::fprintf(stderr, "\rweights -> stage %zu/%zu (%s) [%-20s] %3d%% %s / %s", p.stage + 1, p.stages,
               p.device.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(), percent,
               format_bytes(p.done).c_str(), format_bytes(p.total).c_str());
  if (p.done >= p.total) std::fputc('\n', stderr);
}

runtime::PieceCallback piece_printer(std::FILE* out) {
  if (!out) return {};
  return [out](const std::string& piece) {
    std::fputs(piece.c_str(), out);
    std::fflush(out);
  };
}

void print_recovery(const runtime::RecoveryEvent& e, std::FILE* out) {
  std::string stages;
  for (const auto& s : e.plan.plan.stages) {
    stages += fmt::format("{}{} [{}, {})", stages.empty() ? "" : ", ", e.plan.devices[s.device].label, s.first_layer,
                          s.end_layer);
  }
  if (e.slowdown()) {
    std::fprintf(out, "\nre-planned: slow %s after %u tokens; now on %s (%.2f ms per token predicted, %.2f as "
                 "measured before); took %.2f s (re-plan %.2f, reload %.2f, re-prefill %.2f)\n",
                 fmt::format("{}", fmt::join(e.slow, "; ")).c_str(), e.tokens_before, stages.c_str(),
                 e.predicted_seconds_after * 1e3, e.predicted_seconds_before * 1e3, e.outage_seconds(), e.replan_seconds,
                 e.reload_seconds, e.reprefill_seconds);
    std::fflush(out);
    return;
  }
  std::fprintf(out, "\nrecovered: lost %s after %u tokens; now on %s; took %.2f s (detect %.2f, then re-plan %.2f, "
               "reload %.2f, re-prefill %.2f)\n",
               fmt::format("{}", fmt::join(e.lost, "; ")).c_str(), e.tokens_before, stages.c_str(), e.outage_seconds(),
               e.detect_seconds, e.replan_seconds, e.reload_seconds, e.reprefill_seconds);
  std::fflush(out);
}

runtime::RunReport run_prompt_printing(model::Pipeline& pipeline, const model::Tokenizer& tokenizer,
                                       const std::string& prompt, bool chat, const model::GenerateOptions& options,
                                       std::FILE* out) {
  runtime::RunReport report = runtime::run_prompt(pipeline, tokenizer, prompt, chat, options, piece_printer(out));
  if (out) std::fputc('\n', out);
  return report;
}

void print_summary(const runtime::RunReport& report, const model::Pipeline& pipeline, const runtime::ModelPlan& plan,
                   std::FILE* out) {
  const model::GenerateResult& r = report.result;
  std::fprintf(out, "prompt: %u tokens in %.3f s (%.1f tokens/s); generated: %zu tokens, decode %.1f tokens/s\n",
               r.prompt_tokens, r.prefill_seconds, r.prefill_tokens_per_second(), r.tokens.size(),
               r.decode_tokens_per_second());
  Table table({{"stage"}, {"device"}, {"layers"}, {"ms/pass", Align::right}, {"transfer ms/pass", Align::right},
               {"bytes out/pass", Align::right}, {"predicted ms/token", Align::right},
               {"net msgs/token", Align::right}, {"weights"}});
  std::uint64_t bytes_per_pass = 0;
  const std::vector<runtime::StageSummary> stages = runtime::summarize_stages(pipeline, plan);
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const runtime::StageSummary& s = stages[i];
    const double passes = s.measured.passes == 0 ? 1.0 : static_cast<double>(s.measured.passes);
    const auto out_per_pass = static_cast<std::uint64_t>(static_cast<double>(s.measured.bytes_out) / passes);
    bytes_per_pass += out_per_pass;
    table.add_row({std::to_string(i), s.device, fmt::format("{}-{}", s.first_layer, s.end_layer - 1),
                   fmt::format("{:.3f}", s.measured.seconds / passes * 1e3),
                   fmt::format("{:.3f}", s.measured.transfer_seconds / passes * 1e3), std::to_string(out_per_pass),
                   fmt::format("{:.3f}", s.predicted_seconds * 1e3), messages_per_token(s.measured), weights_sent(s)});
  }
  std::fputs(table.render().c_str(), out);
  std::fprintf(out, "activations moved between stages: %s per decoded token; plan: %s, predicted %.3f ms/token\n",
               format_bytes(bytes_per_pass).c_str(), plan.plan.method.c_str(), plan.plan.seconds_per_token * 1e3);
}

}  // namespace crossgpu::apps
