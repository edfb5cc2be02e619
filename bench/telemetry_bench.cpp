// Telemetry overhead: the CPU time a node spends on telemetry at its sampling interval —
// collecting every device and the host, and publishing the sample (the protobuf a Snapshot or
// Subscribe sends, the Prometheus text and the JSON an HTTP scrape gets) — as a share of one
// core, against the same process idle for the same wall time (the baseline). Profiling is left
// out: it runs once per device and driver at join, not at every interval.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <time.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "apps/table.hpp"
#include "device/registry.hpp"
#include "telemetry/cluster_json.hpp"
#include "telemetry/prometheus.hpp"
#include "telemetry/sampler.hpp"
#include "telemetry/service/wire.hpp"

using namespace crossgpu;

namespace {

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// What one interval publishes: the wire message, /metrics and /api/cluster. Returns bytes made.
std::size_t publish(const telemetry::ClusterAggregator& aggregator) {
  const telemetry::ClusterView view = aggregator.view();
  std::size_t bytes = telemetry::to_wire(aggregator.self()).SerializeAsString().size();
  bytes += telemetry::prometheus_text(view).size();
  bytes += telemetry::cluster_json(view).dump().size();
  return bytes;
}

struct Window {
  double wall_s = 0;
  double cpu_s = 0;
  double core_percent() const { return wall_s > 0 ? 100.0 * cpu_s / wall_s : 0; }
};

// Process CPU time over `seconds` of wall time while `running` (already started) does its work.
Window measure_process(double seconds) {
  const double cpu0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  const auto wall0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(),
          cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("crossgpu telemetry overhead benchmark");
  double seconds = 20;
  unsigned interval_ms = telemetry::kDefaultInterval.count();
  std::string json_path = "telemetry-bench-results.json";
  app.add_option("--seconds", seconds, "wall time of each measured window")->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "sampling interval")->capture_default_str();
  app.add_option("--json", json_path, "where to write the results as JSON")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Registry registry;
  const auto& devices = registry.devices();
  telemetry::ClusterAggregator aggregator("bench-node");
  telemetry::SamplerOptions options;
  options.interval = std::chrono::milliseconds(interval_ms);
  options.profile = false;
  telemetry::LocalSampler sampler(devices, aggregator, options);

  // Cost of one sample + publish, on this thread's CPU clock (100 in a row, after a warm-up).
  sampler.sample_once();
  publish(aggregator);
  constexpr int reps = 100;
  const double thread0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
  std::size_t published = 0;
  for (int i = 0; i < reps; ++i) {
    sampler.sample_once();
    published += publish(aggregator);
  }
  const double per_sample_s = (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - thread0) / reps;

  const Window idle = measure_process(seconds);  // baseline: the same process, idle
  sampler.start();
  std::atomic<bool> stop = false;
  std::thread publisher([&] {
    while (!stop) {
      publish(aggregator);
      std::this_thread::sleep_for(options.interval);
    }
  });
  const Window busy = measure_process(seconds);
  stop = true;
  publisher.join();
  sampler.stop();

  const double overhead = busy.core_percent() - idle.core_percent();
  apps::Table table({{"measure"}, {"value", apps::Align::right}});
  table.add_row({"devices sampled", std::to_string(devices.size())});
  table.add_row({"interval", fmt::format("{} ms", interval_ms)});
  table.add_row({"CPU per sample + publish", fmt::format("{:.3f} ms", per_sample_s * 1e3)});
  table.add_row({"bytes published per interval", std::to_string(published / reps)});
  table.add_row({"predicted share of one core", fmt::format("{:.4f} %", 100 * per_sample_s / (interval_ms / 1e3))});
  table.add_row({"idle process (baseline)", fmt::format("{:.4f} % over {:.1f} s", idle.core_percent(), idle.wall_s)});
  table.add_row({"with telemetry", fmt::format("{:.4f} % over {:.1f} s", busy.core_percent(), busy.wall_s)});
  table.add_row({"telemetry overhead", fmt::format("{:.4f} % of one core (goal < 1 %)", overhead)});
  std::fputs(table.render().c_str(), stdout);

  nlohmann::json out = {{"devices", devices.size()},
                        {"interval_ms", interval_ms},
                        {"window_seconds", seconds},
                        {"cpu_per_sample_s", per_sample_s},
                        {"bytes_per_interval", published / reps},
                        {"idle", {{"wall_s", idle.wall_s}, {"cpu_s", idle.cpu_s}}},
                        {"telemetry", {{"wall_s", busy.wall_s}, {"cpu_s", busy.cpu_s}}},
                        {"overhead_percent_of_one_core", overhead}};
  std::ofstream(json_path) << out.dump(2) << '\n';
  fmt::print("results written to {}\n", json_path);
  return 0;
}
