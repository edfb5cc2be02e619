// crossgpu-bench: data movement and kernel throughput of every local device, each figure next to
// a baseline measured in the same run (memcpy, the CPU reference). Prints tables; writes JSON.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "apps/device_options.hpp"
#include "bench.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"

namespace crossgpu::bench {
namespace {

struct Options {
  apps::DeviceOptions devices;
  bool quick = false;
  bool skip_transfers = false;
  bool skip_kernels = false;
  bool weights_only = false;
  bool prefill_only = false;
  std::uint64_t max_bytes = 0;  // 0: 1 GiB, or 1 MiB with --quick
  std::string json_path = "bench-results.json";
};

void add_options(CLI::App& app, Options& options) {
  options.devices.add_to(app, /*filter=*/true);
  app.add_flag("--quick", options.quick, "small sizes and short timing loops (a smoke test)");
  app.add_option("--max-bytes", options.max_bytes,
                 "largest transfer in bytes (default 1 GiB, 1 MiB with --quick)");
  app.add_option("--json", options.json_path, "where to write the results as JSON")
      ->capture_default_str();
  app.add_flag("--skip-transfers", options.skip_transfers, "only the kernel benchmarks");
  app.add_flag("--skip-kernels", options.skip_kernels, "only the transfer benchmarks");
  app.add_flag("--weight-kernels-only", options.weights_only,
               "only the decode matvecs over quantized weights (no transfers, no other kernels)");
  app.add_flag("--prefill-kernels-only", options.prefill_only,
               "only the prefill matmuls over quantized weights (no transfers, no other kernels)");
}

BenchConfig make_config(const Options& options) {
  BenchConfig config;
  config.quick = options.quick;
  config.max_bytes = options.max_bytes ? options.max_bytes
                     : options.quick   ? 1ull << 20
                                       : 1ull << 30;
  config.bandwidth = bandwidth_policy(options.quick);
  config.latency = latency_policy(options.quick);
  config.compute = compute_policy(options.quick);
  return config;
}

void print_devices(const std::vector<std::shared_ptr<Device>>& devices) {
  apps::Table table({{"#", apps::Align::right}, {"device"}, {"backend"}, {"id"}});
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const DeviceProperties& p = devices[i]->properties();
    table.add_row({std::to_string(i), p.name, to_string(p.backend), p.id});
  }
  Report::print("devices", table);
}

void run_transfers(const std::vector<std::shared_ptr<Device>>& devices, const BenchConfig& config,
                   Report& report) {
  // Host buffers big enough for the largest transfer any device (or pair) will do.
  std::uint64_t largest = 0;
  for (const auto& device : devices) {
    const std::vector<std::uint64_t> sizes =
        transfer_sizes(transfer_cap(*device, config.max_bytes, 1));
    if (!sizes.empty()) largest = std::max(largest, sizes.back());
  }
  if (largest == 0) return;
  HostMemory host(largest);
  MemcpyBaseline memcpy(host, config.bandwidth, report);
  for (const auto& device : devices) run_transfer_bench(*device, config, memcpy, host, report);
  run_latency_bench(devices, config, report);
  run_cross_device_bench(devices, config, memcpy, report);
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

nlohmann::json run_info(int argc, char** argv, const BenchConfig& config) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return {{"tool", "crossgpu-bench"}, {"date", utc_now()},     {"host", host},
          {"command", command},       {"quick", config.quick}, {"max_bytes", config.max_bytes}};
}

void write_json(const std::string& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump(2) << '\n';
  if (!out) fail(Errc::io, "cannot write the results to '{}'", path);
  fmt::print("\nresults written to {}\n", path);
}

int run(int argc, char** argv, const Options& options) {
  const BenchConfig config = make_config(options);
  Registry registry(options.devices.registry_options());
  const std::vector<std::shared_ptr<Device>> devices = options.devices.select(registry);
  print_devices(devices);
  Report report;
  const bool only = options.weights_only || options.prefill_only;
  if (!options.skip_transfers && !only) run_transfers(devices, config, report);
  if (!options.skip_kernels && !only) run_kernel_bench(devices, config, report);
  if (!options.skip_kernels && !options.prefill_only) run_weight_kernel_bench(devices, config, report);
  if (!options.skip_kernels && !options.weights_only) run_prefill_kernel_bench(devices, config, report);
  write_json(options.json_path, report.to_json(devices, run_info(argc, argv, config)));
  return options.devices.validation && apps::report_validation_messages() > 0 ? 1 : 0;
}

}  // namespace
}  // namespace crossgpu::bench

int main(int argc, char** argv) {
  CLI::App app{"crossgpu-bench: transfer and kernel throughput of every local device"};
  crossgpu::bench::Options options;
  crossgpu::bench::add_options(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    return crossgpu::bench::run(argc, argv, options);
  } catch (const crossgpu::Error& e) {
    std::fprintf(stderr, "crossgpu-bench: %s (%s)\n", e.what(),
                 std::string(crossgpu::errc_name(e.code())).c_str());
    return 2;
  }
}
