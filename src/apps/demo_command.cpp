// `crossgpu demo`, the embedded default (`make demo`): a heterogeneous cluster on this machine.
// It writes a llama-architecture GGUF with fixed-seed weights, starts three node processes with
// different memory quotas (one serves a Vulkan device when there is one, the others the CPU),
// lets them find each other over DNS-SD on the loopback interface, plans the model across them,
// streams each its layers, generates, checks every token against a single-device CPU run of the
// same model, and prints the summary and the cluster table.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>
#include <thread>

#include "apps/child_process.hpp"
#include "apps/commands.hpp"
#include "apps/run_printing.hpp"
#include "apps/table.hpp"
#include "cluster/node_connection.hpp"
#include "core/error.hpp"
#include "crossgpu/v1/node.pb.h"
#include "device/registry.hpp"
#include "model/demo_model.hpp"
#include "net/security.hpp"
#include "runtime/cluster_candidates.hpp"
#include "runtime/hidden_wire.hpp"
#include "runtime/model_plan.hpp"
#include "runtime/model_session.hpp"

namespace crossgpu::apps {
namespace {

namespace fs = std::filesystem;

struct DemoOptions {
  std::string dir;  // empty: a fresh temporary folder, removed at the end
  std::string prompt = "The quick brown fox jumps over the lazy dog because";
  std::uint32_t max_tokens = 24;
  std::string type = "q8_0";
  std::uint32_t layers = 8;
  bool keep = false;
  std::string write_model;  // only write the model file there and stop
};

struct NodeSpec {
  std::string name;
  std::string quota;
  bool vulkan;  // serve the first Vulkan device (else the CPU)
};

// Self path, so that the nodes run this very binary.
std::string self_path() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) fail(Errc::io, "cannot find this program's path: {}", ec.message());
  return p.string();
}

kernels::WeightType parse_weight_type(const std::string& name) {
  if (const auto type = kernels::weight_type_named(name)) return *type;
  fail(Errc::invalid_argument, "unknown weight type '{}' ({})", name, kernels::weight_type_names());
}

// The cluster as the demo's client sees it: every node, its address, quota and devices.
void print_cluster(const runtime::ClusterCandidates& cluster) {
  Table table({{"node"}, {"address"}, {"quota", Align::right}, {"devices"}});
  for (const auto& node : cluster.nodes()) {
    std::string devices;
    for (const auto& d : node->devices()) devices += (devices.empty() ? "" : "; ") + d->properties().name;
    const std::uint64_t quota = node->connection().quota_bytes();
    table.add_row({node->node_id().substr(0, 12), node->address(), quota == 0 ? "none" : format_bytes(quota), devices});
  }
  std::printf("cluster:\n%s", table.render().c_str());
}

std::string first_vulkan_device() {
  Registry registry;
  for (const auto& d : registry.devices()) {
    if (d->properties().backend == Backend::vulkan) return d->id();
  }
  return {};
}

class DemoCluster {
 public:
  DemoCluster(const fs::path& dir, const std::vector<NodeSpec>& specs) : dir_(dir) {
    const fs::path first = dir / "node0";
    const net::ClusterCa ca = net::ClusterCa::create(first, "crossgpu-demo", true);
    const std::string vulkan = first_vulkan_device();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      std::vector<std::string> args = {self_path(), "node", "--listen", "127.0.0.1:0", "--interface", "lo",
                                       // avahi-daemon ignores lo: the nodes answer mDNS themselves
                                       "--discovery", "embedded",
                                       "--quota", specs[i].quota, "--config", (dir / fmt::format("node{}", i)).string(),
                                       "--name", specs[i].name};
      if (specs[i].vulkan && !vulkan.empty()) args.insert(args.end(), {"--device", vulkan});
      else args.push_back("--cpu-only");
      if (i > 0) {
        const std::string address = fmt::format("127.0.0.1:{}", ports_.front());
        const std::string token = ca.create_invite(net::Role::compute, std::chrono::minutes(10), {address}).encode();
        args.insert(args.end(), {"--join", token});
      }
      nodes_.push_back(std::make_unique<ChildProcess>(args));
      const std::string line = nodes_.back()->wait_for_line("listening on", std::chrono::seconds(60));
      std::smatch m;
      if (!std::regex_search(line, m, std::regex(R"(\(port (\d+)\))"))) fail(Errc::io, "unexpected node output: {}", line);
      ports_.push_back(std::stoi(m[1]));
      std::printf("started %s: port %d, quota %s, %s\n", specs[i].name.c_str(), ports_.back(), specs[i].quota.c_str(),
                  specs[i].vulkan && !vulkan.empty() ? "Vulkan device" : "CPU device");
    }
  }

  std::string first_address() const { return fmt::format("127.0.0.1:{}", ports_.front()); }
  std::string client_config() const { return (dir_ / "node0").string(); }

  // Until the first node sees every other one as healthy (found through DNS-SD on lo).
  void wait_for_discovery(std::chrono::seconds timeout) const {
    const auto identity = net::NodeIdentity::load(client_config());
    auto connection = cluster::NodeConnection::open(first_address(), identity);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t healthy = 0;
      const v1::StatusResponse status = connection->status();  // kept: the loop reads into it
      for (const auto& peer : status.peers()) healthy += peer.state() == "healthy";
      if (healthy + 1 >= nodes_.size()) return;
      if (std::chrono::steady_clock::now() > deadline) {
        fail(Errc::timeout, "discovery found {} of {} peers in {} s (is multicast on 'lo' allowed?)", healthy,
             nodes_.size() - 1, timeout.count());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

 private:
  fs::path dir_;
  std::vector<std::unique_ptr<ChildProcess>> nodes_;
  std::vector<int> ports_;
};

// With f16 stage boundaries (the default) the reference keeps the plan's layer ranges, all on the
// CPU device: the boundaries round there too.
std::vector<std::uint32_t> cpu_reference_tokens(const model::GgufFile& file, const model::LlamaConfig& config,
                                                const model::Tokenizer& tokenizer, const DemoOptions& o,
                                                const runtime::ModelPlan& plan,
                                                const runtime::PlanOptions& plan_options) {
  Registry registry(RegistryOptions{.vulkan = false});
  const runtime::Candidate cpu{.device = registry.devices().front(), .label = "cpu"};
  const runtime::ModelPlan single = runtime::hidden_wire() == runtime::HiddenWire::f16
                                        ? runtime::same_split_on(cpu, plan)
                                        : runtime::whole_model_on(cpu, config);
  model::Pipeline pipeline = runtime::load_pipeline(file, config, single, plan_options);
  model::GenerateOptions g;
  g.max_tokens = o.max_tokens;
  return runtime::run_prompt(pipeline, tokenizer, o.prompt, false, g).result.tokens;
}

int run_demo(const DemoOptions& o) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they happen, even in a pipe
  const auto type = parse_weight_type(o.type);
  model::DemoModelSpec spec{.type = type, .layers = o.layers, .embedding = 512, .heads = 8, .kv_heads = 4,
                            .ffn = 1536, .context = 512, .seed = 2026};
  if (!o.write_model.empty()) {
    model::write_demo_model(o.write_model, spec);
    std::printf("wrote %s (%s)\n", o.write_model.c_str(), format_bytes(fs::file_size(o.write_model)).c_str());
    return 0;
  }
  const fs::path dir = o.dir.empty() ? fs::temp_directory_path() / fmt::format("crossgpu-demo-{}", ::getpid()) : fs::path(o.dir);
  fs::create_directories(dir);
  const fs::path model_path = dir / "demo-model.gguf";
  model::write_demo_model(model_path, spec);
  const auto file = model::GgufFile::open(model_path);
  const auto config = model::LlamaConfig::from_gguf(file);
  const auto tokenizer = model::Tokenizer::from_gguf(file);
  std::printf("wrote %s: %u layers, %s of weights (%s)\n", model_path.c_str(), config.layers,
              format_bytes(fs::file_size(model_path)).c_str(), kernels::to_string(type));

  // Quotas below the model's size: no node can hold it alone, so the plan must split it.
  const std::uint64_t size = fs::file_size(model_path);
  const auto mib = [](double x) { return fmt::format("{}MiB", static_cast<std::uint64_t>(x / (1 << 20)) + 1); };
  const std::vector<NodeSpec> specs = {{"node-gpu", mib(size * 0.60), true},
                                       {"node-cpu-a", mib(size * 0.45), false},
                                       {"node-cpu-b", mib(size * 0.35), false}};
  DemoCluster cluster(dir, specs);
  cluster.wait_for_discovery(std::chrono::seconds(60));
  std::printf("discovery: every node sees the others\n");

  const runtime::PlanOptions plan_options{.context = 256, .headroom = 0.05, .max_batch = 32};
  const runtime::ClusterCandidates candidates(cluster.first_address(), cluster.client_config());
  print_cluster(candidates);
  const sched::PlacementInputs measured = candidates.placement_inputs_when_measured(std::chrono::seconds(180));
  std::printf("telemetry: every device profiled and self-tested, every link measured\n");
  const runtime::ModelPlan plan = runtime::plan_model(file, config, candidates.candidates(), plan_options, &measured);
  print_plan(plan, config, stdout);
  model::Pipeline pipeline = runtime::load_pipeline(file, config, plan, plan_options, draw_weight_progress);
  model::GenerateOptions g;
  g.max_tokens = o.max_tokens;
  std::printf("prompt: %s\n", o.prompt.c_str());
  const runtime::RunReport report = run_prompt_printing(pipeline, tokenizer, o.prompt, false, g, stdout);
  print_summary(report, pipeline, plan, stdout);

  const std::vector<std::uint32_t> reference = cpu_reference_tokens(file, config, tokenizer, o, plan, plan_options);
  const bool same = reference == report.result.tokens;
  std::printf("check against a single-device CPU run%s: %s (%zu tokens)\n",
              runtime::hidden_wire() == runtime::HiddenWire::f16 ? " (same stages, f16 boundaries)" : "",
              same ? "identical tokens" : "MISMATCH", reference.size());
  if (!o.keep && o.dir.empty()) fs::remove_all(dir);
  return same ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<DemoOptions>();
  CLI::App* command = app.add_subcommand("demo", "a 3-node cluster on this machine runs a generated model");
  command->add_option("--dir", options->dir, "working folder (default: a temporary one, removed after)");
  command->add_option("--prompt", options->prompt)->capture_default_str();
  command->add_option("--max-tokens", options->max_tokens)->capture_default_str();
  command->add_option("--type", options->type, fmt::format("weight type: {}", kernels::weight_type_names()))->capture_default_str();
  command->add_option("--layers", options->layers)->capture_default_str()->check(CLI::Range(3u, 64u));
  command->add_flag("--keep", options->keep, "keep the temporary folder");
  command->add_option("--write-model", options->write_model, "only write the demo model to this file");
  command->callback([options, &exit_code] { exit_code = run_demo(*options); });
}

}  // namespace crossgpu::apps
