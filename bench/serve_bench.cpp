// crossgpu-serve-bench: `crossgpu serve`'s API under concurrent streaming clients. A generated
// model on one device (CPU or the first Vulkan device) behind an in-process GenerationService and
// ApiServer on loopback; N clients (1, 4, 16 by default) each stream a greedy completion at once.
// Per N: aggregate decode tokens/s, time to first token (median, p99), inter-token latency
// (p50, p99). The baseline, measured in the same run: the same generation through model::generate
// with no HTTP, no queue and no JSON. The pipeline has --slots KV-cache slots (default 16), so up
// to that many streams decode together in one batched pass per token (continuous batching); the
// table also gives each N's ratio to one stream and the most sequences one pass carried.
// --slots 1 gives the one-at-a-time service for comparison. Each N runs once untimed first (its
// kernels' pipelines are built on first use), then --repeats times; the row is the run with the
// median aggregate. --write-model keeps the generated GGUF
// (and the JSON names it with the prompt's ids) for bench/serve-vs-llamacpp.mjs, which runs
// llama.cpp on the same file at the same concurrency. Not part of make test.
#include <fmt/format.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/table.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"
#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/tokenizer.hpp"
#include "serve/api_server.hpp"
#include "serve/generation_service.hpp"

namespace crossgpu::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string backend = "cpu";  // cpu | vulkan
  std::vector<std::size_t> streams = {1, 4, 8, 16};
  std::uint32_t slots = 16;
  std::uint32_t layers = 8, embedding = 1024, ffn = 2816, heads = 16, kv_heads = 4;
  std::uint32_t tokens = 32;
  std::uint32_t repeats = 3;
  std::string type = "q8_0";
  std::string json_path = "serve-bench-results.json";
  std::string model_path;  // also write the generated model here
};

constexpr const char* kPrompt = "The quick brown fox jumps over";

std::shared_ptr<Device> pick_device(const Registry& registry, const std::string& backend) {
  for (const auto& d : registry.devices()) {
    if ((backend == "vulkan") == (d->properties().backend == Backend::vulkan)) return d;
  }
  fail(Errc::not_found, "no {} device here", backend);
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

// One streaming client: the arrival time of each text chunk after the request was sent.
struct StreamTimes {
  Clock::time_point sent;
  std::vector<Clock::time_point> chunks;
  int status = 0;
};

StreamTimes stream_once(int port, const std::string& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(600, 0);
  StreamTimes t;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  std::string pending;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    pending.append(data, n);
    for (std::size_t end; (end = pending.find("\n\n")) != std::string::npos; pending.erase(0, end + 2)) {
      const std::string event = pending.substr(0, end);
      if (event.rfind("data: {", 0) != 0) continue;
      const json chunk = json::parse(event.substr(6));
      if (!chunk["choices"].empty() && !chunk["choices"][0]["text"].get<std::string>().empty()) {
        t.chunks.push_back(Clock::now());
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error;
  t.sent = Clock::now();
  client.send(req, res, error);
  t.status = res.status;
  return t;
}

struct Row {
  std::size_t streams = 0;
  double aggregate_tps = 0, ttft_p50_ms = 0, ttft_p99_ms = 0, itl_p50_ms = 0, itl_p99_ms = 0;
  std::size_t tokens = 0;
  std::uint32_t max_batch = 0;     // the most sequences one decode pass carried
  double mean_batch = 0;           // decode tokens per decode pass
};

Row measure(int port, std::size_t streams, const Options& o, serve::GenerationService& service) {
  const serve::ServiceCounters before = service.counters();
  const std::string body =
      json{{"model", "bench"}, {"prompt", kPrompt}, {"max_tokens", o.tokens},
           {"temperature", 0}, {"stream", true}}.dump();
  std::vector<StreamTimes> results(streams);
  const auto start = Clock::now();
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < streams; ++i) clients.emplace_back([&, i] { results[i] = stream_once(port, body); });
  for (auto& c : clients) c.join();
  const double wall = seconds(Clock::now() - start);
  Row row{.streams = streams};
  std::vector<double> ttft, itl;
  for (const StreamTimes& r : results) {
    if (r.status != 200) fail(Errc::io, "a stream got HTTP {}", r.status);
    row.tokens += r.chunks.size();
    if (!r.chunks.empty()) ttft.push_back(seconds(r.chunks.front() - r.sent) * 1e3);
    for (std::size_t i = 1; i < r.chunks.size(); ++i) itl.push_back(seconds(r.chunks[i] - r.chunks[i - 1]) * 1e3);
  }
  row.aggregate_tps = static_cast<double>(row.tokens) / wall;
  row.ttft_p50_ms = percentile(ttft, 0.5);
  row.ttft_p99_ms = percentile(ttft, 0.99);
  row.itl_p50_ms = percentile(itl, 0.5);
  row.itl_p99_ms = percentile(itl, 0.99);
  const serve::ServiceCounters after = service.counters();
  row.max_batch = after.max_batch;  // since the start: streams are measured in increasing order
  const auto steps = after.decode_steps - before.decode_steps;
  row.mean_batch = steps ? static_cast<double>(after.batched_tokens - before.batched_tokens) / steps : 0;
  return row;
}

// One untimed run (first-use pipeline builds, allocations), then the median of `repeats`.
Row measure_median(int port, std::size_t streams, const Options& o, serve::GenerationService& service) {
  measure(port, streams, o, service);
  std::vector<Row> runs;
  for (std::uint32_t i = 0; i < std::max(o.repeats, 1u); ++i) runs.push_back(measure(port, streams, o, service));
  std::sort(runs.begin(), runs.end(), [](const Row& a, const Row& b) { return a.aggregate_tps < b.aggregate_tps; });
  return runs[(runs.size() - 1) / 2];
}

// The same greedy request with no server in between: generated tokens over prefill + decode time
// (what one stream's aggregate also counts), the median of 3 after a warm-up.
double direct_tps(model::Pipeline& pipeline, const model::Tokenizer& tokenizer, const Options& o) {
  model::GenerateOptions g;
  g.max_tokens = o.tokens;
  const auto ids = tokenizer.encode(kPrompt, true, false);
  model::generate(pipeline, ids, g);  // warm-up: records the decode program
  std::vector<double> runs;
  for (int i = 0; i < 3; ++i) {
    const model::GenerateResult r = model::generate(pipeline, ids, g);
    runs.push_back(static_cast<double>(r.tokens.size()) / (r.prefill_seconds + r.decode_seconds));
  }
  return percentile(runs, 0.5);
}

int run(const Options& o) {
  Registry registry;
  const auto device = pick_device(registry, o.backend);
  const auto type = kernels::weight_type_named(o.type);
  if (!type) fail(Errc::invalid_argument, "unknown weight type '{}'", o.type);
  model::DemoModelSpec spec{.type = *type, .layers = o.layers, .embedding = o.embedding,
                            .heads = o.heads, .kv_heads = o.kv_heads, .ffn = o.ffn, .context = 1024, .seed = 7};
  const auto bytes = model::demo_model(spec).bytes();
  if (!o.model_path.empty()) {
    std::ofstream(o.model_path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                        static_cast<std::streamsize>(bytes.size()));
  }
  const auto file = model::GgufFile::parse(bytes);
  const auto config = model::LlamaConfig::from_gguf(file);
  const auto tokenizer = model::Tokenizer::from_gguf(file);
  std::vector<std::unique_ptr<model::LlamaStage>> stages;
  stages.push_back(std::make_unique<model::LlamaStage>(config, file, device, model::StageRange{0, config.layers, true, true},
                                                       model::StageOptions{.context = 1024, .max_batch = 64, .max_sequences = o.slots}));
  model::Pipeline pipeline(config, std::move(stages));
  const double baseline = direct_tps(pipeline, tokenizer, o);

  serve::GenerationService service(pipeline, tokenizer, 64);
  serve::ServeOptions http;
  http.port = 0;
  http.threads = 64;
  serve::ApiServer server(service, tokenizer, serve::ServedModel{"bench", "", 0}, http);
  std::vector<Row> rows;
  for (std::size_t n : o.streams) rows.push_back(measure_median(server.port(), n, o, service));

  std::printf("serve bench on %s (%s), %u layers x %u %s, %u tokens per stream, %u sequence slots, median of %u\n",
              device->properties().name.c_str(), o.backend.c_str(), o.layers, o.embedding, o.type.c_str(), o.tokens,
              o.slots, std::max(o.repeats, 1u));
  std::printf("baseline (model::generate, no server): %.1f tokens/s (prefill + decode)\n", baseline);
  std::printf("decode steps of several sequences: %s\n",
              pipeline.batched_decode_pays() ? "one batched pass (forward_rows)" : "one recorded pass per sequence");
  apps::Table table({{"streams", apps::Align::right}, {"aggregate tok/s", apps::Align::right},
                     {"vs baseline", apps::Align::right}, {"vs 1 stream", apps::Align::right},
                     {"mean batch", apps::Align::right}, {"TTFT p50 ms", apps::Align::right},
                     {"TTFT p99 ms", apps::Align::right}, {"ITL p50 ms", apps::Align::right},
                     {"ITL p99 ms", apps::Align::right}});
  json out = {{"device", device->properties().name}, {"backend", o.backend}, {"baseline_tps", baseline},
              {"type", o.type}, {"repeats", std::max(o.repeats, 1u)}, {"batched_decode", pipeline.batched_decode_pays()},
              {"tokens_per_stream", o.tokens}, {"slots", o.slots}, {"rows", json::array()},
              {"model_file", o.model_path}, {"prompt", kPrompt}, {"prompt_ids", tokenizer.encode(kPrompt, true, false)}};
  const double one = rows.empty() ? 0 : rows.front().aggregate_tps;
  for (const Row& r : rows) {
    table.add_row({std::to_string(r.streams), fmt::format("{:.1f}", r.aggregate_tps),
                   fmt::format("{:.2f}x", r.aggregate_tps / baseline), fmt::format("{:.2f}x", r.aggregate_tps / one),
                   fmt::format("{:.2f}", r.mean_batch), fmt::format("{:.1f}", r.ttft_p50_ms),
                   fmt::format("{:.1f}", r.ttft_p99_ms), fmt::format("{:.2f}", r.itl_p50_ms),
                   fmt::format("{:.2f}", r.itl_p99_ms)});
    out["rows"].push_back({{"streams", r.streams}, {"aggregate_tps", r.aggregate_tps}, {"tokens", r.tokens},
                           {"ttft_p50_ms", r.ttft_p50_ms}, {"ttft_p99_ms", r.ttft_p99_ms},
                           {"itl_p50_ms", r.itl_p50_ms}, {"itl_p99_ms", r.itl_p99_ms},
                           {"mean_batch", r.mean_batch}, {"max_batch", r.max_batch}});
  }
  std::printf("%s", table.render().c_str());
  std::ofstream(o.json_path) << out.dump(2) << "\n";
  std::printf("wrote %s\n", o.json_path.c_str());
  return 0;
}

}  // namespace
}  // namespace crossgpu::bench

int main(int argc, char** argv) {
  crossgpu::bench::Options o;
  CLI::App app{"crossgpu-serve-bench: the OpenAI API under concurrent streaming clients"};
  app.add_option("--backend", o.backend, "cpu or vulkan")->capture_default_str();
  app.add_option("--streams", o.streams, "concurrent streams to measure")->capture_default_str();
  app.add_option("--tokens", o.tokens, "tokens per stream")->capture_default_str();
  app.add_option("--repeats", o.repeats, "timed runs per stream count (the median is reported)")->capture_default_str();
  app.add_option("--type", o.type, "weight type of the generated model (q8_0, q4_k, ...)")->capture_default_str();
  app.add_option("--slots", o.slots, "KV-cache slots: sequences decoded together")->capture_default_str();
  app.add_option("--layers", o.layers)->capture_default_str();
  app.add_option("--embedding", o.embedding)->capture_default_str();
  app.add_option("--ffn", o.ffn)->capture_default_str();
  app.add_option("--heads", o.heads)->capture_default_str();
  app.add_option("--kv-heads", o.kv_heads)->capture_default_str();
  app.add_option("--json", o.json_path)->capture_default_str();
  app.add_option("--write-model", o.model_path, "also write the generated GGUF to this file");
  CLI11_PARSE(app, argc, argv);
  try {
    return crossgpu::bench::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crossgpu-serve-bench: %s\n", e.what());
    return 1;
  }
}
