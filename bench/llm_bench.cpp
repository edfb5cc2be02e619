// crossgpu-llm-bench: the llama forward pass on every selected device — prefill and decode
// tokens/s of one device, then of the model cut into stages (on the same device, and across the
// devices) — each next to the memory-bandwidth limit measured on the same device in the same run:
// the bytes a decoded token reads divided by the device's measured bandwidth. Prints tables and
// writes JSON. The model is a generated demo model (random weights, llm_demo_file.hpp), written to a
// temporary folder and read back through the mapping as `crossgpu run` reads a model.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "apps/device_options.hpp"
#include "apps/table.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"
#include "llm_demo_file.hpp"
#include "llm_limits.hpp"
#include "llm_model.hpp"
#include "llm_run.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::bench {
namespace {

using kernels::WeightType;
using nlohmann::json;

struct Options {
  apps::DeviceOptions devices;
  std::string type = "q8_0";
  std::string preset = "small";
  // 0: the preset's value.
  std::uint32_t layers = 0, embedding = 0, ffn = 0, heads = 0, kv_heads = 0;
  std::uint32_t stages = 3;
  bool gpus_only = false;
  RunSettings run;
  std::string model_dir;
  bool keep_models = false;
  std::string json_path = "llm-bench-results.json";
};

void add_options(CLI::App& app, Options& o) {
  o.devices.add_to(app, /*filter=*/true);
  app.add_option("--type", o.type,
                 fmt::format("weight type of the matrices ({}), a comma-separated list of them, or all",
                             kernels::weight_type_names()))
      ->capture_default_str();
  app.add_option("--preset", o.preset,
                 "model size: small (8 layers, 512 embedding, 1536 FFN; minutes on lavapipe) or large "
                 "(8 layers, 4096 embedding, 11008 FFN, 32 heads, 8 KV heads: ~1.5 GB of q8_0, for a real GPU)")
      ->check(CLI::IsMember({"small", "large"}))
      ->capture_default_str();
  app.add_option("--layers", o.layers, "layers (overrides the preset)");
  app.add_option("--embedding", o.embedding, "hidden size (overrides the preset)");
  app.add_option("--ffn", o.ffn, "feed-forward size (overrides the preset)");
  app.add_option("--heads", o.heads, "query heads (overrides the preset)");
  app.add_option("--kv-heads", o.kv_heads, "key/value heads (overrides the preset)");
  app.add_flag("--gpus-only", o.gpus_only,
               "leave out CPU devices (the CPU backend and lavapipe): for the large preset on a GPU machine");
  app.add_option("--stages", o.stages, "stages of the pipeline runs (at most the layers)")->capture_default_str();
  app.add_option("--prompt-tokens", o.run.prompt_tokens, "prompt length (prefill)")->capture_default_str();
  app.add_option("--decode-tokens", o.run.decode_tokens, "tokens decoded (greedy) per timed run")
      ->capture_default_str();
  app.add_option("--batch", o.run.batch, "tokens per prefill pass")->capture_default_str();
  app.add_flag("--op-by-op", [&o](std::int64_t) { o.run.recorded_decode = false; },
               "decode op by op instead of replaying the recorded stage program");
  app.add_option("--repeats", o.run.repeats, "timed runs per measurement; the median is reported")
      ->capture_default_str();
  app.add_option("--model-dir", o.model_dir,
                 "folder for the generated model file, removed after the run (default: a temporary folder)");
  app.add_flag("--keep-models", o.keep_models,
               "keep the generated model files in --model-dir (bench/llm-vs-llamacpp.mjs runs llama.cpp on them)")
      ->needs("--model-dir");
  app.add_option("--json", o.json_path, "where to write the results as JSON")->capture_default_str();
}

// One type, a comma-separated list of them, or "all".
std::vector<WeightType> parse_types(const std::string& text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "all") return {std::begin(kernels::kWeightTypes), std::end(kernels::kWeightTypes)};
  std::vector<WeightType> types;
  for (std::size_t at = 0; at <= lower.size();) {
    const std::size_t end = std::min(lower.find(',', at), lower.size());
    const auto type = kernels::weight_type_named(std::string_view(lower).substr(at, end - at));
    if (!type) {
      fail(Errc::invalid_argument, "unknown weight type '{}' ({}, a comma-separated list of them, or all)", text,
           kernels::weight_type_names());
    }
    types.push_back(*type);
    at = end + 1;
  }
  return types;
}

model::DemoModelSpec model_spec(const Options& o, WeightType type) {
  model::DemoModelSpec spec;
  if (o.preset == "large") {
    spec = {.layers = 8, .embedding = 4096, .heads = 32, .kv_heads = 8, .ffn = 11008};
  } else {
    spec = {.layers = 8, .embedding = 512, .heads = 8, .kv_heads = 4, .ffn = 1536};
  }
  spec.type = type;
  if (o.layers) spec.layers = o.layers;
  if (o.embedding) spec.embedding = o.embedding;
  if (o.ffn) spec.ffn = o.ffn;
  if (o.heads) spec.heads = o.heads;
  if (o.kv_heads) spec.kv_heads = o.kv_heads;
  spec.context = std::max<std::uint32_t>(512, o.run.prompt_tokens + o.run.decode_tokens + 1);
  return spec;
}

std::string gb(double bytes) { return fmt::format("{:.2f}", bytes / 1e9); }
std::string mb(double bytes) { return fmt::format("{:.1f} MB", bytes / 1e6); }
std::string ms(double seconds) { return fmt::format("{:.3f}", seconds * 1e3); }
std::string rate_pct(double achieved, double limit) {
  return limit > 0 ? fmt::format("{:.1f} ({:.0f}%)", limit, 100.0 * achieved / limit) : "-";
}

void print(const std::string& title, const apps::Table& table) {
  fmt::print("\n{}\n{}", title, table.render());
  std::fflush(stdout);
}

// ---- the devices and their measured bandwidth -------------------------------------------------

struct MeasuredDevice {
  std::shared_ptr<Device> device;
  telemetry::DeviceProfile profile;
  Bandwidth bandwidth;
};

std::vector<MeasuredDevice> profile_devices(const std::vector<std::shared_ptr<Device>>& devices) {
  apps::Table table({{"#", apps::Align::right}, {"device"}, {"backend"}, {"matvec f32 GB/s", apps::Align::right},
                     {"copy GB/s", apps::Align::right}, {"matmul f32 GFLOP/s", apps::Align::right},
                     {"bandwidth used", apps::Align::right}, {"profile s", apps::Align::right}});
  std::vector<MeasuredDevice> out;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    fmt::print("profiling {} ...\n", devices[i]->properties().name);
    std::fflush(stdout);
    MeasuredDevice m{devices[i], telemetry::profile_device(*devices[i]), {}};
    m.bandwidth = best_bandwidth(m.profile);
    table.add_row({std::to_string(i), m.device->properties().name, to_string(m.device->properties().backend),
                   gb(m.profile.matvec_f32_bytes_per_s), gb(m.profile.copy_bytes_per_s),
                   fmt::format("{:.1f}", m.profile.matmul_f32_flops / 1e9),
                   fmt::format("{} ({})", gb(m.bandwidth.bytes_per_s), m.bandwidth.source),
                   fmt::format("{:.1f}", m.profile.profile_seconds)});
    out.push_back(std::move(m));
  }
  print("devices, measured now (telemetry::profile_device)", table);
  return out;
}

json device_json(const MeasuredDevice& m) {
  json j = m.device->properties();
  j["profile"] = m.profile;
  j["bandwidth"] = {{"bytes_per_s", m.bandwidth.bytes_per_s}, {"source", m.bandwidth.source}};
  return j;
}

// ---- runs ------------------------------------------------------------------------------------

json stages_json(const RunResult& r) {
  json out = json::array();
  for (const StageShare& s : r.stages) {
    out.push_back({{"device_id", s.device_id},
                   {"device", s.device},
                   {"first_layer", s.first_layer},
                   {"end_layer", s.end_layer},
                   {"seconds_per_token", s.seconds_per_token},
                   {"transfer_seconds_per_token", s.transfer_seconds_per_token},
                   {"bytes_out_per_token", s.bytes_out_per_token}});
  }
  return out;
}

json run_json(const RunResult& r) {
  return {{"load_seconds", r.load_seconds},
          {"prefill_tokens_per_s", r.prefill_tokens_per_s},
          {"decode_tokens_per_s", r.decode_tokens_per_s},
          {"decode_seconds_per_token", r.decode_seconds_per_token()},
          {"prefill_runs_tokens_per_s", r.prefill_runs},
          {"decode_runs_tokens_per_s", r.decode_runs},
          {"stages", stages_json(r)},
          {"tokens", r.tokens}};
}

// "same" when the greedy tokens agree with the single-device run's, else where they part.
std::string token_check(const std::vector<std::uint32_t>& tokens, const std::vector<std::uint32_t>& reference) {
  const auto [a, b] = std::mismatch(tokens.begin(), tokens.end(), reference.begin(), reference.end());
  if (a == tokens.end() && b == reference.end()) return "same";
  return fmt::format("differ from token {}", a - tokens.begin());
}

std::vector<std::shared_ptr<Device>> round_robin(const std::vector<MeasuredDevice>& devices, std::uint32_t stages) {
  std::vector<std::shared_ptr<Device>> out;
  for (std::uint32_t i = 0; i < stages; ++i) out.push_back(devices[i % devices.size()].device);
  return out;
}

// What the tables of one model gather as it runs.
struct ModelTables {
  apps::Table single{{{"device"}, {"type"}, {"prefill tok/s", apps::Align::right},
                      {"prefill estimate (achieved)", apps::Align::right}, {"decode tok/s", apps::Align::right},
                      {"decode limit (achieved)", apps::Align::right}, {"ms/token", apps::Align::right},
                      {"limit ms/token", apps::Align::right}}};
  apps::Table pipeline{{{"run"}, {"stages"}, {"prefill tok/s", apps::Align::right},
                        {"decode tok/s", apps::Align::right}, {"ms/token", apps::Align::right},
                        {"baseline ms/token", apps::Align::right}, {"overhead ms/token", apps::Align::right},
                        {"tokens"}}};
  apps::Table stages{{{"run"}, {"stage"}, {"device"}, {"layers"}, {"ms/token", apps::Align::right},
                      {"transfer ms/token", apps::Align::right}, {"bytes out/token", apps::Align::right}}};
};

void add_stage_rows(ModelTables& t, const std::string& run, const RunResult& r) {
  for (std::size_t i = 0; i < r.stages.size(); ++i) {
    const StageShare& s = r.stages[i];
    t.stages.add_row({run, std::to_string(i), s.device, fmt::format("{}-{}", s.first_layer, s.end_layer - 1),
                      ms(s.seconds_per_token), ms(s.transfer_seconds_per_token),
                      fmt::format("{:.0f}", s.bytes_out_per_token)});
  }
}

void add_pipeline_row(ModelTables& t, const std::string& run, const RunResult& r, double baseline_s,
                      const std::vector<std::uint32_t>& reference) {
  t.pipeline.add_row({run, std::to_string(r.stages.size()), fmt::format("{:.1f}", r.prefill_tokens_per_s),
                      fmt::format("{:.1f}", r.decode_tokens_per_s), ms(r.decode_seconds_per_token()), ms(baseline_s),
                      ms(r.decode_seconds_per_token() - baseline_s), token_check(r.tokens, reference)});
  add_stage_rows(t, run, r);
}

struct DeviceRuns {
  RunResult single;
  std::optional<RunResult> split;  // the same device, `stages` stages
  Limits limits;
};

// One stage and the split on the same device, loaded together and timed in turn, so that both
// see the same load; each is warmed up first.
std::pair<RunResult, std::optional<RunResult>> time_single_and_split(const BenchModel& model, const MeasuredDevice& m,
                                                                     std::uint32_t stages, const RunSettings& run) {
  const std::string type = kernels::to_string(model.spec().type), name = m.device->properties().name;
  fmt::print("{} on {}: one stage{} ...\n", type, name, stages > 1 ? fmt::format(" and {} stages, in turn", stages) : "");
  std::fflush(stdout);
  GenerationBench single(model, {m.device}, run);
  std::optional<GenerationBench> split;
  if (stages > 1) split.emplace(model, std::vector<std::shared_ptr<Device>>(stages, m.device), run);
  for (int r = 0; r < run.repeats; ++r) {
    single.run_once();
    if (split) split->run_once();
  }
  return {single.result(), split ? std::optional<RunResult>(split->result()) : std::nullopt};
}

DeviceRuns run_device(const BenchModel& model, const MeasuredDevice& m, const Options& o, ModelTables& t) {
  const std::string name = m.device->properties().name;
  DeviceRuns runs;
  std::tie(runs.single, runs.split) = time_single_and_split(model, m, std::min(o.stages, model.config().layers), o.run);
  runs.limits = limits_of(model, m.profile, m.bandwidth, o.run);
  const RunResult& s = runs.single;
  t.single.add_row({name, kernels::to_string(model.spec().type), fmt::format("{:.1f}", s.prefill_tokens_per_s),
                    rate_pct(s.prefill_tokens_per_s, runs.limits.prefill_estimate_tokens_per_s),
                    fmt::format("{:.1f}", s.decode_tokens_per_s),
                    rate_pct(s.decode_tokens_per_s, runs.limits.decode_tokens_per_s), ms(s.decode_seconds_per_token()),
                    ms(runs.limits.decode_tokens_per_s > 0 ? 1.0 / runs.limits.decode_tokens_per_s : 0)});
  if (runs.split) {
    add_pipeline_row(t, fmt::format("{} stages on {}", runs.split->stages.size(), name), *runs.split,
                     s.decode_seconds_per_token(), s.tokens);
  }
  return runs;
}

json device_runs_json(const MeasuredDevice& m, const DeviceRuns& r) {
  json j = {{"device_id", m.device->id()}, {"device", m.device->properties().name},
            {"limits", limits_json(r.limits)}, {"single", run_json(r.single)}};
  j["single"]["decode_fraction_of_limit"] =
      r.limits.decode_tokens_per_s > 0 ? r.single.decode_tokens_per_s / r.limits.decode_tokens_per_s : 0;
  j["single"]["prefill_fraction_of_estimate"] =
      r.limits.prefill_estimate_tokens_per_s > 0 ? r.single.prefill_tokens_per_s / r.limits.prefill_estimate_tokens_per_s : 0;
  if (r.split) {
    j["split_same_device"] = run_json(*r.split);
    j["split_same_device"]["overhead_seconds_per_token"] =
        r.split->decode_seconds_per_token() - r.single.decode_seconds_per_token();
  }
  return j;
}

// Across devices: the baseline is the time the same stages took on their devices in the
// same-device split runs (what the pipeline would take if moving hidden states were free), and
// the fastest single device is recorded next to it.
json run_across(const BenchModel& model, const std::vector<MeasuredDevice>& devices,
                const std::vector<DeviceRuns>& per_device, const Options& o, ModelTables& t) {
  const std::uint32_t stages = std::min(o.stages, model.config().layers);
  if (devices.size() < 2 || stages < 2) return nullptr;
  fmt::print("{} across {} devices: {} stages ...\n", kernels::to_string(model.spec().type), devices.size(), stages);
  std::fflush(stdout);
  const RunResult r = run_generation(model, round_robin(devices, stages), o.run);
  double compute_only = 0, best_single = 0;
  for (std::uint32_t i = 0; i < stages; ++i) {
    compute_only += per_device[i % devices.size()].split->stages.at(i).seconds_per_token;
  }
  for (const DeviceRuns& d : per_device) {
    const double s = d.single.decode_seconds_per_token();
    if (best_single == 0 || s < best_single) best_single = s;
  }
  add_pipeline_row(t, fmt::format("{} stages across {} devices", stages, devices.size()), r, compute_only,
                   per_device.front().single.tokens);
  json j = run_json(r);
  j["baseline_same_stages_without_transfers_seconds_per_token"] = compute_only;
  j["overhead_seconds_per_token"] = r.decode_seconds_per_token() - compute_only;
  j["best_single_device_seconds_per_token"] = best_single;
  return j;
}

json run_model(WeightType type, const std::vector<MeasuredDevice>& devices, const Options& o,
               const std::filesystem::path& folder) {
  const model::DemoModelSpec spec = model_spec(o, type);
  fmt::print("\ngenerating the {} demo model ({} layers, embedding {}, FFN {}) ...\n", kernels::to_string(type),
             spec.layers, spec.embedding, spec.ffn);
  std::fflush(stdout);
  const BenchModel model(folder, spec, o.keep_models);
  fmt::print("{} written in {:.1f} s; a decoded token reads {} of weights\n", mb(model.file_bytes()),
             model.generate_seconds(), mb(model.weight_bytes_per_token()));
  ModelTables tables;
  std::vector<DeviceRuns> runs;
  json j = {{"type", kernels::to_string(type)}, {"layers", spec.layers}, {"embedding", spec.embedding},
            {"ffn", spec.ffn}, {"heads", spec.heads}, {"kv_heads", spec.kv_heads}, {"vocab", model.config().vocab},
            {"file_bytes", model.file_bytes()}, {"generate_seconds", model.generate_seconds()},
            {"weight_bytes_per_token", model.weight_bytes_per_token()}, {"flops_per_token", model.flops_per_token()},
            {"devices", json::array()}};
  if (o.keep_models) {
    // What a peer needs to run the same work on the same file.
    j["file"] = std::filesystem::absolute(model.path()).string();
    j["prompt_ids"] = bench_prompt(o.run.prompt_tokens, model.config().vocab);
    j["kv_bytes_read_last_token"] = model.kv_bytes_read(o.run.prompt_tokens + o.run.decode_tokens - 1);
  }
  for (const MeasuredDevice& m : devices) {
    runs.push_back(run_device(model, m, o, tables));
    j["devices"].push_back(device_runs_json(m, runs.back()));
  }
  j["across_devices"] = run_across(model, devices, runs, o, tables);
  const std::string label = fmt::format("{} model, {} layers x {} embedding", kernels::to_string(type), spec.layers,
                                        spec.embedding);
  print(fmt::format("{}: one device; decode against the bandwidth limit, prefill against an estimate at the profile's "
                    "bandwidth and f32 matmul rate (not a limit: the quantized kernels may beat it)", label),
        tables.single);
  if (!tables.pipeline.empty()) {
    print(fmt::format("{}: pipeline decode against one device (baseline: one stage on the same device; across "
                      "devices: the same stages' times without transfers)", label),
          tables.pipeline);
    print(fmt::format("{}: pipeline stages, per decoded token", label), tables.stages);
  }
  return j;
}

// ---- the run ---------------------------------------------------------------------------------

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

json run_info(int argc, char** argv, const Options& o) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return {{"tool", "crossgpu-llm-bench"}, {"date", utc_now()}, {"host", host}, {"command", command},
          {"preset", o.preset}, {"prompt_tokens", o.run.prompt_tokens}, {"decode_tokens", o.run.decode_tokens},
          {"batch", o.run.batch}, {"repeats", o.run.repeats}, {"stages", o.stages},
          {"recorded_decode", o.run.recorded_decode}};
}

std::vector<std::shared_ptr<Device>> selected_devices(const Registry& registry, const Options& o) {
  std::vector<std::shared_ptr<Device>> devices = o.devices.select(registry);
  if (o.gpus_only) {
    std::erase_if(devices, [](const auto& d) { return d->properties().type == DeviceType::cpu; });
  }
  if (devices.empty()) fail(Errc::not_found, "no device left to measure (--gpus-only leaves out CPU devices)");
  return devices;
}

std::filesystem::path model_folder(const Options& o) {
  if (!o.model_dir.empty()) return o.model_dir;
  return std::filesystem::temp_directory_path() / fmt::format("crossgpu-llm-bench-{}", ::getpid());
}

int run(int argc, char** argv, const Options& o) {
  // Everything the options can get wrong is refused before minutes of profiling and generating.
  const std::vector<WeightType> types = parse_types(o.type);
  check_settings(o.run);
  for (WeightType type : types) check_shape(model_spec(o, type));
  Registry registry(o.devices.registry_options());
  const std::vector<MeasuredDevice> devices = profile_devices(selected_devices(registry, o));
  const std::filesystem::path folder = model_folder(o);
  json out = run_info(argc, argv, o);
  out["devices"] = json::array();
  for (const MeasuredDevice& m : devices) out["devices"].push_back(device_json(m));
  out["models"] = json::array();
  for (WeightType type : types) out["models"].push_back(run_model(type, devices, o, folder));
  if (o.model_dir.empty()) std::filesystem::remove_all(folder);
  std::ofstream file(o.json_path);
  file << out.dump(2) << '\n';
  if (!file) fail(Errc::io, "cannot write the results to '{}'", o.json_path);
  fmt::print("\nresults written to {}\n", o.json_path);
  return o.devices.validation && apps::report_validation_messages() > 0 ? 1 : 0;
}

}  // namespace
}  // namespace crossgpu::bench

int main(int argc, char** argv) {
  CLI::App app{"crossgpu-llm-bench: llama forward pass tokens/s on each device and across devices, "
               "against the measured memory-bandwidth limit"};
  crossgpu::bench::Options options;
  crossgpu::bench::add_options(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    return crossgpu::bench::run(argc, argv, options);
  } catch (const crossgpu::Error& e) {
    std::fprintf(stderr, "crossgpu-llm-bench: %s (%s)\n", e.what(), std::string(crossgpu::errc_name(e.code())).c_str());
    return 2;
  }
}
