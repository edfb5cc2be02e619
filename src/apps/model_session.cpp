#include "apps/model_session.hpp"

#include <fmt/format.h>

#include "apps/table.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#if CROSSGPU_WITH_NETWORK
#include "cluster/cached_upload.hpp"
#include "cluster/remote_device.hpp"
#endif

namespace crossgpu::apps {
namespace {

bool is_remote(const Device& device) {
#if CROSSGPU_WITH_NETWORK
  return dynamic_cast<const cluster::RemoteDevice*>(&device) != nullptr;
#else
  (void)device;
  return false;
#endif
}

// Hidden states go node to node when both stages are remote (the client never sees them);
// otherwise through this process.
void move_activations(BufferRef src, BufferRef dst, std::uint64_t bytes) {
#if CROSSGPU_WITH_NETWORK
  if (src.device && dst.device && is_remote(*src.device) && is_remote(*dst.device)) {
    cluster::copy_between_nodes(src, 0, dst, 0, bytes);
    return;
  }
#endif
  copy_between_devices(src, 0, dst, 0, bytes);
}

#if CROSSGPU_WITH_NETWORK
// Weights for a node go through its weight cache (cluster::upload_through_cache): a second run
// sends hashes instead of weights. A node that cannot cache (an older node, a read-only disk)
// costs one warning, then plain uploads.
class NodeCacheUpload {
 public:
  model::WeightSource operator()(Device& device, BufferRef dst, std::uint64_t offset,
                                 std::span<const std::byte> bytes) {
    auto* remote = dynamic_cast<cluster::RemoteDevice*>(&device);
    if (remote == nullptr || *off_) return model::WeightSource::not_handled;
    try {
      return cluster::upload_through_cache(*remote, dst, offset, bytes) ? model::WeightSource::cached
                                                                    : model::WeightSource::sent;
    } catch (const Error& e) {
      if (e.code() == Errc::device_lost) throw;
      log::warn("weight cache of {} unavailable ({}); sending its weights in full", device.id(),
                e.what());
      *off_ = true;
      return model::WeightSource::not_handled;  // the stage uploads this tensor itself
    }
  }

 private:
  std::shared_ptr<bool> off_ = std::make_shared<bool>(false);  // std::function copies the hook
};
#endif

class ProgressBar {
 public:
  ProgressBar(bool enabled, std::size_t stage, std::size_t stages, std::string device)
      : enabled_(enabled), stage_(stage), stages_(stages), device_(std::move(device)) {}
  void operator()(std::uint64_t done, std::uint64_t total) const {
    if (!enabled_) return;
    const int percent = total == 0 ? 100 : static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
    const int filled = percent / 5;
    std::fprintf(stderr, "\rweights -> stage %zu/%zu (%s) [%-20s] %3d%% %s / %s", stage_ + 1, stages_, device_.c_str(),
                 std::string(static_cast<std::size_t>(filled), '#').c_str(), percent, format_bytes(done).c_str(),
                 format_bytes(total).c_str());
    if (done >= total) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  std::size_t stage_, stages_;
  std::string device_;
};

// "1.2 GiB sent, 3.4 GiB from the node's cache"; a local device has no cache to name.
std::string weights_sent(const model::LlamaStage& stage) {
  if (!is_remote(stage.device())) return format_bytes(stage.sent_bytes()) + " sent";
  return fmt::format("{} sent, {} from the node's cache", format_bytes(stage.sent_bytes()),
                     format_bytes(stage.cached_bytes()));
}

}  // namespace

model::Pipeline load_pipeline(const model::GgufFile& file, const model::LlamaConfig& config, const ModelPlan& plan,
                              const PlanOptions& options, bool progress) {
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  const auto& planned = plan.plan.stages;
  for (std::size_t i = 0; i < planned.size(); ++i) {
    const sched::Stage& s = planned[i];
    const Candidate& c = plan.devices[s.device];
    model::StageRange range{static_cast<std::uint32_t>(s.first_layer), static_cast<std::uint32_t>(s.end_layer), i == 0,
                            i + 1 == planned.size()};
    model::StageOptions stage_options{.context = options.context, .max_batch = options.max_batch,
                                      .on_progress = ProgressBar(progress, i, planned.size(), c.label)};
#if CROSSGPU_WITH_NETWORK
    if (is_remote(*c.device)) stage_options.upload_weights = NodeCacheUpload();
#endif
    stages.push_back(std::make_unique<model::LlamaStage>(config, file, c.device, range, std::move(stage_options)));
  }
  return model::Pipeline(config, std::move(stages), move_activations);
}

RunReport run_prompt(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, const std::string& prompt, bool chat,
                     const model::GenerateOptions& options, std::FILE* out) {
  const std::string text = chat ? tokenizer.apply_chat_template({{"user", prompt}}, true) : prompt;
  const std::vector<std::uint32_t> ids = tokenizer.encode(text, true, chat);
  RunReport report;
  model::GenerateOptions o = options;
  o.is_end = [&](std::uint32_t id) { return tokenizer.is_end_of_generation(id); };
  o.on_token = [&](std::uint32_t id) {
    if (tokenizer.is_end_of_generation(id)) return true;
    const std::string piece = tokenizer.token_to_piece(id);
    report.text += piece;
    if (out) {
      std::fputs(piece.c_str(), out);
      std::fflush(out);
    }
    return true;
  };
  report.result = model::generate(pipeline, ids, o);
  if (out) std::fputc('\n', out);
  return report;
}

void print_summary(const RunReport& report, const model::Pipeline& pipeline, const ModelPlan& plan, std::FILE* out) {
  const model::GenerateResult& r = report.result;
  std::fprintf(out, "prompt: %u tokens in %.3f s (%.1f tokens/s); generated: %zu tokens, decode %.1f tokens/s\n",
               r.prompt_tokens, r.prefill_seconds, r.prefill_tokens_per_second(), r.tokens.size(),
               r.decode_tokens_per_second());
  Table table({{"stage"}, {"device"}, {"layers"}, {"ms/pass", Align::right}, {"transfer ms/pass", Align::right},
               {"bytes out/pass", Align::right}, {"predicted ms/token", Align::right}, {"weights"}});
  std::uint64_t bytes_per_pass = 0;
  for (std::size_t i = 0; i < pipeline.stages().size(); ++i) {
    const model::StageStats& s = pipeline.stats()[i];
    const sched::Stage& p = plan.plan.stages[i];
    const double passes = s.passes == 0 ? 1.0 : static_cast<double>(s.passes);
    bytes_per_pass += static_cast<std::uint64_t>(static_cast<double>(s.bytes_out) / passes);
    table.add_row({std::to_string(i), plan.devices[p.device].label, fmt::format("{}-{}", p.first_layer, p.end_layer - 1),
                   fmt::format("{:.3f}", s.seconds / passes * 1e3), fmt::format("{:.3f}", s.transfer_seconds / passes * 1e3),
                   std::to_string(static_cast<std::uint64_t>(static_cast<double>(s.bytes_out) / passes)),
                   fmt::format("{:.3f}", (p.compute_seconds + p.transfer_seconds) * 1e3),
                   weights_sent(*pipeline.stages()[i])});
  }
  std::fputs(table.render().c_str(), out);
  std::fprintf(out, "activations moved between stages: %s per decoded token; plan: %s, predicted %.3f ms/token\n",
               format_bytes(bytes_per_pass).c_str(), plan.plan.method.c_str(), plan.plan.seconds_per_token * 1e3);
}

nlohmann::json summary_json(const RunReport& report, const model::Pipeline& pipeline, const ModelPlan& plan) {
  const model::GenerateResult& r = report.result;
  nlohmann::json stages = nlohmann::json::array();
  for (std::size_t i = 0; i < pipeline.stages().size(); ++i) {
    const model::StageStats& s = pipeline.stats()[i];
    stages.push_back({{"device", plan.devices[plan.plan.stages[i].device].label},
                      {"seconds", s.seconds},
                      {"transfer_seconds", s.transfer_seconds},
                      {"bytes_out", s.bytes_out},
                      {"passes", s.passes}});
  }
  return {{"prompt_tokens", r.prompt_tokens},
          {"tokens", r.tokens},
          {"text", report.text},
          {"prefill_seconds", r.prefill_seconds},
          {"decode_seconds", r.decode_seconds},
          {"prefill_tokens_per_second", r.prefill_tokens_per_second()},
          {"decode_tokens_per_second", r.decode_tokens_per_second()},
          {"stages", stages},
          {"plan", plan_json(plan)}};
}

}  // namespace crossgpu::apps
