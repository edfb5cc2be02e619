// Scheduling benchmark: predicted time per token of crossgpu's placement against exo's
// memory-proportional split, llama.cpp's free-memory split and the best single device, on the
// simulated clusters; then solve time for 64 devices x 128 layers against the time to compute
// a proportional split (the baseline: what the other systems spend on placement).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "apps/table.hpp"
#include "core/error.hpp"
#include "sched/placement.hpp"
#include "sched/simulated_clusters.hpp"
#include "timing.hpp"

using namespace crossgpu;
using namespace crossgpu::sched;

namespace {

std::string ms(std::optional<double> seconds) {
  return seconds ? fmt::format("{:.2f}", *seconds * 1e3) : "does not fit";
}

std::optional<double> try_plan(const std::function<Plan()>& solve) {
  try {
    return solve().seconds_per_token;
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<double> best_single(const PlacementProblem& p) {
  std::optional<double> best;
  for (std::size_t d = 0; d < p.devices.size(); ++d) {
    Plan single{.stages = {{.device = d, .first_layer = 0, .end_layer = p.layers.size()}}};
    if (auto t = try_plan([&] { evaluate(p, single); return single; }); t && (!best || *t < *best)) best = t;
  }
  return best;
}

nlohmann::json compare_strategies() {
  apps::Table table({{"cluster"}, {"crossgpu", apps::Align::right}, {"best single", apps::Align::right},
                     {"exo (memory)", apps::Align::right}, {"llama.cpp (free memory)", apps::Align::right},
                     {"stages"}});
  nlohmann::json rows = nlohmann::json::array();
  for (const SimulatedCluster& c : simulated_clusters()) {
    std::vector<std::uint64_t> free_memory;
    for (const auto& d : c.problem.devices) free_memory.push_back(d.memory_bytes);
    std::optional<Plan> plan;
    try {
      plan = place(c.problem);
    } catch (const Error&) {
    }
    const auto ours = plan ? std::optional<double>(plan->seconds_per_token) : std::nullopt;
    const auto single = best_single(c.problem);
    const auto exo = try_plan([&] { return split_by_memory(c.problem, c.total_memory, "memory"); });
    const auto llama = try_plan([&] { return split_by_memory(c.problem, free_memory, "free memory"); });
    std::string stages;
    if (plan) {
      for (const Stage& s : plan->stages) {
        stages += fmt::format("{}{}:{}-{}", stages.empty() ? "" : " ", c.problem.devices[s.device].id, s.first_layer,
                              s.end_layer - 1);
      }
    }
    table.add_row({c.name, ms(ours), ms(single), ms(exo), ms(llama), stages});
    rows.push_back({{"cluster", c.name}, {"crossgpu_s", ours ? nlohmann::json(*ours) : nlohmann::json()},
                    {"best_single_s", single ? nlohmann::json(*single) : nlohmann::json()},
                    {"exo_memory_split_s", exo ? nlohmann::json(*exo) : nlohmann::json()},
                    {"llama_free_memory_split_s", llama ? nlohmann::json(*llama) : nlohmann::json()},
                    {"stages", stages}});
  }
  fmt::print("predicted decode time per token (ms), 32-layer 7B-class model, 4096-token context\n{}\n",
             table.render());
  return rows;
}

PlacementProblem random_cluster(std::mt19937& rng, std::size_t devices, std::size_t layers) {
  std::uniform_real_distribution<double> unit(0, 1);
  PlacementProblem p;
  p.layers = llama7b_like(layers);
  for (std::size_t d = 0; d < devices; ++d) {
    p.devices.push_back({.id = fmt::format("d{}", d), .name = fmt::format("device {}", d),
                         .memory_bytes = static_cast<std::uint64_t>((6 + 16 * unit(rng)) * (1ull << 30)),
                         .flops_per_second = 1e12 + 2e13 * unit(rng), .bytes_per_second = 2e10 + 5e11 * unit(rng)});
  }
  p.links.assign(devices, std::vector<Link>(devices));
  for (auto& row : p.links) {
    for (Link& l : row) l = {.latency_seconds = 1e-4 + 3e-3 * unit(rng), .bytes_per_second = 1e7 + 1e9 * unit(rng)};
  }
  return p;
}

nlohmann::json solve_times(bool quick) {
  apps::Table table({{"devices x layers"}, {"solver"}, {"median solve", apps::Align::right},
                     {"proportional split", apps::Align::right}});
  nlohmann::json rows = nlohmann::json::array();
  std::mt19937 rng(7);
  for (auto [devices, layers] : {std::pair<std::size_t, std::size_t>{6, 128}, {16, 128}, {64, 128}}) {
    const PlacementProblem p = random_cluster(rng, devices, layers);
    std::string method;
    const bench::Timing solve = bench::measure(bench::compute_policy(quick), [&] { method = place(p).method; });
    std::vector<std::uint64_t> memory;
    for (const auto& d : p.devices) memory.push_back(d.memory_bytes);
    const bench::Timing split = bench::measure(bench::compute_policy(quick), [&] {
      try {
        split_by_memory(p, memory, "memory");
      } catch (const Error&) {
      }
    });
    table.add_row({fmt::format("{} x {}", devices, layers), method, fmt::format("{:.2f} ms", solve.median_s * 1e3),
                   fmt::format("{:.3f} ms", split.median_s * 1e3)});
    rows.push_back({{"devices", devices}, {"layers", layers}, {"solver", method},
                    {"solve_median_s", solve.median_s}, {"proportional_split_median_s", split.median_s}});
  }
  fmt::print("placement solve time (random links and devices)\n{}\n", table.render());
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"crossgpu-sched-bench: placement quality and solve time"};
  bool quick = false;
  std::string json_path = "sched-bench-results.json";
  app.add_flag("--quick", quick, "short timing loops");
  app.add_option("--json", json_path, "where to write the results as JSON");
  CLI11_PARSE(app, argc, argv);
  nlohmann::json out;
  out["strategies"] = compare_strategies();
  out["solve_times"] = solve_times(quick);
  std::ofstream(json_path) << out.dump(2) << '\n';
  fmt::print("results written to {}\n", json_path);
  return 0;
}
