// `crossgpu serve --model FILE`: plans and loads the model once (as `crossgpu run` does), then
// serves it over OpenAI's HTTP API until SIGINT or SIGTERM.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "apps/commands.hpp"
#include "apps/model_options.hpp"
#include "apps/run_printing.hpp"
#include "apps/stop_signals.hpp"
#include "model/llama_config.hpp"
#include "model/tokenizer.hpp"
#include "runtime/recoverable_pipeline.hpp"
#include "serve/api_access.hpp"
#include "serve/api_server.hpp"
#include "serve/generation_service.hpp"
#include "serve/prefix_cache_budget.hpp"
#ifdef CROSSGPU_WITH_NETWORK
#include "serve/dashboard_cluster.hpp"
#endif

namespace crossgpu::apps {
namespace {

struct ServeCommandOptions {
  ModelOptions model;
  std::string listen = "127.0.0.1:8080";
  std::uint32_t max_concurrency = 4;  // KV-cache slots: sequences decoded together
  std::size_t max_waiting = 16;
  std::uint64_t prefix_cache_mib = serve::kDefaultPrefixCacheMib;
  serve::ServeOptions http;
};

serve::ServedModel served_model(const model::GgufFile& file, const std::string& path) {
  serve::ServedModel m;
  m.id = std::filesystem::path(path).stem().string();
  if (file.find("general.name")) m.alias = file.get_string("general.name");
  const auto written = std::chrono::file_clock::to_sys(std::filesystem::last_write_time(path));
  m.created = std::chrono::duration_cast<std::chrono::seconds>(written.time_since_epoch()).count();
  return m;
}

int run_serve(ServeCommandOptions o) {
  const sigset_t stop = block_stop_signals();
  const serve::ListenAddress listen = serve::parse_listen_address(o.listen);
  o.http.host = listen.host;
  o.http.port = listen.port;
  const auto file = model::GgufFile::open(o.model.model);
  const auto config = model::LlamaConfig::from_gguf(file);
  const auto tokenizer = model::Tokenizer::from_gguf(file);
  const runtime::CandidateSet devices = gather_devices(o.model);  // kept alive: the pipeline uses them
  // Planned once, with the prefix cache's slots; re-planned over the survivors when a device is
  // lost (the service decides when).
  serve::ServingPlan planned =
      serve::plan_serving(file, config, devices, o.model.plan, o.max_concurrency, o.prefix_cache_mib << 20);
  runtime::RecoverablePipeline& stages = *planned.stages;
  const runtime::ModelPlan plan = stages.plan();
  print_plan(plan, config, stderr);
  std::fprintf(stderr, "prefix cache: %u KV-cache slots of %.2f MiB (budget %llu MiB)\n", planned.cache.slots,
               static_cast<double>(planned.cache.slot_bytes) / (1 << 20),
               static_cast<unsigned long long>(o.prefix_cache_mib));
  stages.load(draw_weight_progress);
  serve::GenerationService service(stages, tokenizer, o.max_waiting, o.max_concurrency);
  const serve::ServedModel served = served_model(file, o.model.model);
  o.http.dashboard.plan = runtime::plan_json(plan);
  o.http.dashboard.plan["layers"] = config.layers;
#ifdef CROSSGPU_WITH_NETWORK
  std::unique_ptr<serve::ClusterWatch> cluster;
  if (!o.model.local) {
    cluster = std::make_unique<serve::ClusterWatch>(o.model.node, o.model.config);
    o.http.dashboard.cluster = [&cluster] { return cluster->json(); };
  }
#endif
  serve::ApiServer server(service, tokenizer, served, o.http);
  const char* scheme = server.tls() ? "https" : "http";
  std::fprintf(stderr, "serving %s at %s://%s:%d/v1 (OpenAI API%s), dashboard at %s://%s:%d/; stop with Ctrl-C\n",
               served.id.c_str(), scheme, server.host().c_str(), server.port(),
               o.http.api_key.empty() ? "" : ", API key required", scheme, server.host().c_str(), server.port());
  std::fflush(stderr);
  std::fprintf(stderr, "%s: stopping\n", wait_for_stop_signal(stop));
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeCommandOptions>();
  CLI::App* command = app.add_subcommand("serve", "serve a model over the OpenAI-compatible HTTP API");
  add_model_options(command, o->model);
  command->add_option("--listen", o->listen, "address and port to serve on (HOST:PORT; port 0 picks one)")
      ->capture_default_str();
  command->add_option("--api-key", o->http.api_key,
                      "key clients must send as 'Authorization: Bearer KEY' (required off loopback)");
  command->add_option("--max-concurrency", o->max_concurrency,
                      "sequences decoded together in one batched pass (a KV cache each)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  command->add_option("--max-waiting", o->max_waiting, "requests queued beyond those; more get 429")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  command->add_option("--prefix-cache-mib", o->prefix_cache_mib,
                      "device memory kept for cached conversations' KV caches (whole slots of --context "
                      "positions; 0: only free decoding slots keep theirs)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  command->add_option("--tls-cert", o->http.tls_cert,
                      "serve HTTPS with this PEM certificate (chain), e.g. a node's node.crt from its config folder");
  command->add_option("--tls-key", o->http.tls_key, "the certificate's PEM private key (e.g. node.key)");
  command->add_option("--max-body", o->http.max_body_bytes, "largest request body in bytes")->capture_default_str();
  command->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace crossgpu::apps
