// `crossgpu selftest`: the join-time correctness self-test (telemetry/selftest.hpp) on every
// device, on demand. One PASS/FAIL line per device; the exit code
// is nonzero when any device fails.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "apps/commands.hpp"
#include "apps/device_options.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"
#include "telemetry/selftest.hpp"

namespace crossgpu::apps {
namespace {

void print_report(std::size_t index, const Device& device, const telemetry::SelfTestReport& r) {
  const DeviceProperties& p = device.properties();
  fmt::print(
      "{}  [{}] {} ({}, {})  {} checks  max rel error {:.1e}  cold {:.1f} ms  warm {:.2f} ms\n",
      r.passed ? "PASS" : "FAIL", index, p.name, to_string(p.backend), p.id, r.checks, r.max_error,
      r.cold_ms, r.warm_ms);
  for (const std::string& note : r.notes) fmt::print("      {}\n", note);
}

int run_selftest(const DeviceOptions& options, std::uint32_t seed) {
  Registry registry(options.registry_options());
  const std::vector<std::shared_ptr<Device>> devices = options.select(registry);
  if (devices.empty()) fail(Errc::not_found, "selftest: no device to test");
  int failures = 0;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    telemetry::SelfTestReport report = telemetry::self_test(*devices[i], seed);
    if (options.validation) {
      if (const std::size_t messages = report_validation_messages(); messages > 0) {
        report.passed = false;
        report.notes.push_back(fmt::format("{} Vulkan validation message(s)", messages));
      }
    }
    print_report(i, *devices[i], report);
    failures += report.passed ? 0 : 1;
  }
  fmt::print("{} of {} devices passed (seed {})\n", devices.size() - failures, devices.size(),
             seed);
  return failures == 0 ? 0 : 1;
}

}  // namespace

void add_selftest_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<DeviceOptions>();
  auto seed = std::make_shared<std::uint32_t>(1);
  CLI::App* command = app.add_subcommand(
      "selftest", "run a chain of ops on every device and check it against the CPU reference");
  options->add_to(*command, /*filter=*/true);
  command->add_option("--seed", *seed, "seed of the random inputs")->capture_default_str();
  command->callback([options, seed, &exit_code] { exit_code = run_selftest(*options, *seed); });
}

}  // namespace crossgpu::apps
