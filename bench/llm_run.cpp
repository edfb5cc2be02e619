#include "llm_run.hpp"

#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "model/generate.hpp"
#include "model/pipeline.hpp"

namespace crossgpu::bench {
namespace {

model::Pipeline build_pipeline(const BenchModel& m, const std::vector<std::shared_ptr<Device>>& devices,
                               const RunSettings& settings) {
  const auto n = static_cast<std::uint32_t>(devices.size());
  const std::uint32_t layers = m.config().layers;
  if (n == 0 || n > layers) fail(Errc::invalid_argument, "{} stages for a model of {} layers", n, layers);
  // The context covers the prompt and every decoded token; the warm-up reuses the same positions.
  const model::StageOptions options{.context = settings.prompt_tokens + settings.decode_tokens + 1,
                                    .max_batch = settings.batch,
                                    .recorded_decode = settings.recorded_decode};
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  for (std::uint32_t i = 0; i < n; ++i) {
    const model::StageRange range{i * layers / n, (i + 1) * layers / n, i == 0, i + 1 == n};
    stages.push_back(std::make_unique<model::LlamaStage>(m.config(), m.file(), devices[i], range, options));
  }
  return model::Pipeline(m.config(), std::move(stages));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

// Sums of the decode passes' stats over the timed runs, per stage.
struct DecodeStats {
  std::vector<model::StageStats> sum;
  std::uint64_t passes = 0;

  void add(const std::vector<model::StageStats>& before, const std::vector<model::StageStats>& after,
           std::uint64_t decode_passes) {
    sum.resize(after.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
      sum[i].seconds += after[i].seconds - before[i].seconds;
      sum[i].transfer_seconds += after[i].transfer_seconds - before[i].transfer_seconds;
      sum[i].bytes_out += after[i].bytes_out - before[i].bytes_out;
    }
    passes += decode_passes;
  }
};

// One generation; the stats are taken when prefill's logits arrive (before the first decode
// pass) and at the end, so their difference is the decode passes alone.
model::GenerateResult generate_once(model::Pipeline& pipeline, const std::vector<std::uint32_t>& prompt,
                                    std::uint32_t decode_tokens, DecodeStats* stats) {
  model::GenerateOptions options;
  options.max_tokens = decode_tokens + 1;  // the first token comes from prefill's logits
  options.sampler.temperature = 0;         // greedy: every run and split must agree
  std::vector<model::StageStats> before;
  options.on_logits = [&](std::span<const float>) {
    if (before.empty()) before = pipeline.stats();
  };
  model::GenerateResult result = model::generate(pipeline, prompt, options);
  if (stats != nullptr) stats->add(before, pipeline.stats(), result.decode_passes);
  return result;
}

std::vector<StageShare> shares(const model::Pipeline& pipeline, const DecodeStats& stats) {
  std::vector<StageShare> out;
  const double passes = static_cast<double>(std::max<std::uint64_t>(stats.passes, 1));
  for (std::size_t i = 0; i < pipeline.stages().size(); ++i) {
    const model::LlamaStage& stage = *pipeline.stages()[i];
    const model::StageStats& s = stats.sum.at(i);
    out.push_back({.device_id = stage.device().id(),
                   .device = stage.device().properties().name,
                   .first_layer = stage.range().first_layer,
                   .end_layer = stage.range().end_layer,
                   .seconds_per_token = s.seconds / passes,
                   .transfer_seconds_per_token = s.transfer_seconds / passes,
                   .bytes_out_per_token = static_cast<double>(s.bytes_out) / passes});
  }
  return out;
}

}  // namespace

std::vector<std::uint32_t> bench_prompt(std::uint32_t tokens, std::uint32_t vocab) {
  std::vector<std::uint32_t> ids(tokens);
  for (std::uint32_t i = 0; i < tokens; ++i) ids[i] = static_cast<std::uint32_t>((7919ull * i + 3) % vocab);
  return ids;
}

void check_settings(const RunSettings& settings) {
  if (settings.prompt_tokens == 0 || settings.decode_tokens == 0 || settings.batch == 0 || settings.repeats < 1) {
    fail(Errc::invalid_argument, "prompt tokens, decode tokens, batch and repeats must be at least 1");
  }
}

struct GenerationBench::State {
  RunSettings settings;
  model::Pipeline pipeline;
  std::vector<std::uint32_t> prompt;
  RunResult result;
  DecodeStats stats;
};

GenerationBench::GenerationBench(const BenchModel& model, const std::vector<std::shared_ptr<Device>>& stage_devices,
                                 const RunSettings& settings) {
  check_settings(settings);
  const auto load_start = std::chrono::steady_clock::now();
  model::Pipeline pipeline = build_pipeline(model, stage_devices, settings);
  const double load_seconds = seconds_since(load_start);
  state_ = std::make_unique<State>(State{.settings = settings,
                                         .pipeline = std::move(pipeline),
                                         .prompt = bench_prompt(settings.prompt_tokens, model.config().vocab)});
  state_->result.load_seconds = load_seconds;
  // Warm-up: the same prefill batches and two decode passes compile every shader and touch every
  // buffer; the timed runs then rewrite the same cache positions.
  generate_once(state_->pipeline, state_->prompt, std::min<std::uint32_t>(settings.decode_tokens, 2), nullptr);
}

GenerationBench::~GenerationBench() = default;

void GenerationBench::run_once() {
  State& s = *state_;
  const model::GenerateResult run = generate_once(s.pipeline, s.prompt, s.settings.decode_tokens, &s.stats);
  s.result.prefill_runs.push_back(run.prefill_tokens_per_second());
  s.result.decode_runs.push_back(run.decode_tokens_per_second());
  s.result.tokens = run.tokens;
}

RunResult GenerationBench::result() const {
  RunResult r = state_->result;
  r.prefill_tokens_per_s = median(r.prefill_runs);
  r.decode_tokens_per_s = median(r.decode_runs);
  r.stages = shares(state_->pipeline, state_->stats);
  return r;
}

RunResult run_generation(const BenchModel& model, const std::vector<std::shared_ptr<Device>>& stage_devices,
                         const RunSettings& settings) {
  GenerationBench bench(model, stage_devices, settings);
  for (int r = 0; r < settings.repeats; ++r) bench.run_once();
  return bench.result();
}

}  // namespace crossgpu::bench
