#include "runtime/model_plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "core/error.hpp"
#include "model/llama_costs.hpp"
#include "runtime/stage_transport.hpp"
#include "sched/condition.hpp"
#include "sched/scoring.hpp"
#include "telemetry/collector.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::runtime {
namespace {

std::filesystem::path profile_dir() {
  if (const char* dir = std::getenv("CROSSGPU_CACHE_DIR"); dir && *dir) return std::filesystem::path(dir) / "profiles";
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "crossgpu/profiles";
  if (const char* home = std::getenv("HOME"); home && *home) return std::filesystem::path(home) / ".cache/crossgpu/profiles";
  return std::filesystem::temp_directory_path() / "crossgpu-profiles";
}

std::uint64_t free_device_memory(const Device& device) {
  std::uint64_t free = 0;
  for (const MemoryHeap& heap : device.properties().heaps) {
    if (heap.device_local) free += heap.budget_bytes != 0 ? std::min(heap.free_bytes, heap.budget_bytes) : heap.free_bytes;
  }
  return free;
}

// A local device: profiled here, scored from this machine's condition.
std::optional<sched::DeviceCapacity> measure_local(const Candidate& c, const telemetry::Collector& collector,
                                                   std::vector<std::string>& excluded) {
  const telemetry::DeviceProfile p = telemetry::ProfileCache(profile_dir()).get(*c.device);
  if (!p.self_test_passed) {
    const std::string why = p.self_test_notes.empty() ? "self-test failed" : p.self_test_notes.front();
    excluded.push_back(fmt::format("{}: excluded, self-test failed ({})", c.label, why));
    return std::nullopt;
  }
  const sched::Score score = sched::score(sched::condition_of(collector.collect(*c.device), collector.collect_host()));
  if (score.excluded) {
    excluded.push_back(fmt::format("{}: excluded ({})", c.label, score.reason));
    return std::nullopt;
  }
  sched::DeviceCapacity measured;
  measured.id = c.label;
  measured.name = c.device->properties().name;
  measured.memory_bytes = free_device_memory(*c.device);
  measured.flops_per_second = telemetry::decode_flops_per_s(p);
  measured.bytes_per_second = telemetry::decode_bytes_per_s(p);
  return sched::effective(measured, score);
}

// A remote device: what its node published (already scored), or why it is not usable.
std::optional<sched::DeviceCapacity> measure_remote(const Candidate& c, const sched::PlacementInputs* cluster,
                                                    std::vector<std::string>& excluded, std::size_t& index) {
  if (cluster != nullptr) {
    for (index = 0; index < cluster->devices.size(); ++index) {
      if (cluster->devices[index].id == c.device->id()) return cluster->devices[index];
    }
    for (const sched::ExcludedDevice& e : cluster->excluded) {
      if (e.device_id == c.device->id()) {
        excluded.push_back(fmt::format("{}: excluded ({})", c.label, e.reason));
        return std::nullopt;
      }
    }
  }
  excluded.push_back(fmt::format("{}: excluded (its node has published no telemetry for it yet)", c.label));
  return std::nullopt;
}

}  // namespace

ModelPlan plan_model(const model::GgufFile& file, const model::LlamaConfig& config,
                     std::vector<Candidate> candidates, const PlanOptions& options,
                     const sched::PlacementInputs* cluster) {
  ModelPlan out;
  out.problem.layers = model::layer_costs(config, file);
  out.problem.context_tokens = options.context;
  out.problem.memory_headroom = options.headroom;
  const telemetry::Collector collector;
  std::vector<std::size_t> cluster_index;  // per chosen device: its index in cluster->devices
  for (Candidate& c : candidates) {
    std::size_t index = SIZE_MAX;
    std::optional<sched::DeviceCapacity> capacity =
        c.remote ? measure_remote(c, cluster, out.excluded, index) : measure_local(c, collector, out.excluded);
    if (!capacity) continue;
    if (c.memory_limit != 0) capacity->memory_bytes = std::min(capacity->memory_bytes, c.memory_limit);
    if (c.remote) capacity->request_seconds = request_round_trip_seconds(*c.device);
    out.problem.devices.push_back(*capacity);
    cluster_index.push_back(index);
    out.devices.push_back(std::move(c));
  }
  if (out.devices.empty()) fail(Errc::not_found, "no usable device: {}", fmt::join(out.excluded, "; "));
  // Measured links between the nodes; devices of one process (local) transfer for free.
  const bool all_remote = std::all_of(cluster_index.begin(), cluster_index.end(), [](std::size_t i) { return i != SIZE_MAX; });
  if (cluster != nullptr && all_remote) {
    const std::size_t n = cluster_index.size();
    out.problem.links.assign(n, std::vector<sched::Link>(n));
    for (std::size_t a = 0; a < n; ++a) {
      for (std::size_t b = 0; b < n; ++b) {
        out.problem.links[a][b] = cluster->links[cluster_index[a]][cluster_index[b]];
        // A decode step's hidden state rides in the stages' own requests (stage_transport): its
        // latency is the request's, counted once per stage as request_seconds.
        out.problem.links[a][b].latency_seconds = 0;
      }
    }
  }
  try {
    out.plan = sched::place(out.problem);
  } catch (const Error& e) {
    // Say which devices could have helped but were not considered, and why.
    if (out.excluded.empty()) throw;
    fail(e.code(), "{}; left out before placing: {}", e.what(), fmt::join(out.excluded, "; "));
  }

  std::vector<std::uint64_t> total, free;
  for (const Candidate& c : out.devices) {
    std::uint64_t t = 0;
    for (const MemoryHeap& h : c.device->properties().heaps) t += h.device_local ? h.total_bytes : 0;
    total.push_back(t);
    free.push_back(free_device_memory(*c.device));
  }
  for (auto [weights, method] : {std::pair{&total, "memory-proportional (exo)"}, std::pair{&free, "free-memory (llama.cpp)"}}) {
    try {
      out.baselines.push_back(sched::split_by_memory(out.problem, *weights, method));
    } catch (const Error&) {
      // That rule puts more on some device than it can hold: no baseline to compare with.
    }
  }
  return out;
}

ModelPlan whole_model_on(Candidate device, const model::LlamaConfig& config) {
  ModelPlan out;
  out.devices.push_back(std::move(device));
  out.plan.stages.push_back({.device = 0, .first_layer = 0, .end_layer = config.layers});
  return out;
}

ModelPlan same_split_on(Candidate device, const ModelPlan& plan) {
  ModelPlan out;
  out.devices.push_back(std::move(device));
  for (const sched::Stage& s : plan.plan.stages) {
    out.plan.stages.push_back({.device = 0, .first_layer = s.first_layer, .end_layer = s.end_layer});
  }
  return out;
}

nlohmann::json plan_json(const ModelPlan& plan) {
  nlohmann::json stages = nlohmann::json::array();
  for (const sched::Stage& s : plan.plan.stages) {
    stages.push_back({{"device", plan.devices[s.device].label},
                      {"first_layer", s.first_layer},
                      {"end_layer", s.end_layer},
                      {"memory_bytes", s.memory_bytes},
                      {"compute_seconds", s.compute_seconds},
                      {"transfer_seconds", s.transfer_seconds}});
  }
  nlohmann::json baselines = nlohmann::json::array();
  for (const sched::Plan& b : plan.baselines) baselines.push_back({{"method", b.method}, {"seconds_per_token", b.seconds_per_token}});
  return {{"method", plan.plan.method},     {"seconds_per_token", plan.plan.seconds_per_token},
          {"stages", stages},               {"excluded", plan.excluded},
          {"baselines", baselines}};
}

}  // namespace crossgpu::runtime
