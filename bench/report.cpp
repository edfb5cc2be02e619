#include "report.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace crossgpu::bench {

void Report::print(const std::string& title, const apps::Table& table) {
  fmt::print("\n{}\n{}", title, table.render());
  std::fflush(stdout);
}

namespace {

nlohmann::json record_json(const Record& r) {
  nlohmann::json j = {{"section", r.section},     {"op", r.op},
                      {"device_id", r.device_id}, {"device", r.device},
                      {"bytes", r.bytes},         {"median_s", r.timing.median_s},
                      {"min_s", r.timing.min_s},  {"max_s", r.timing.max_s},
                      {"reps", r.timing.reps},    {"gb_per_s", r.gb_per_s()}};
  if (!r.dtype.empty()) j["dtype"] = r.dtype;
  if (!r.shape.empty()) j["shape"] = r.shape;
  if (r.flops > 0) {
    j["flops"] = r.flops;
    j["gflop_per_s"] = r.gflop_per_s();
  }
  if (!r.baseline.empty()) {
    j["baseline"] = {{"name", r.baseline}, {"median_s", r.baseline_s}, {"speedup", r.speedup()}};
  }
  if (!r.check.empty()) j["check"] = r.check;
  if (!r.context.empty()) j["context"] = r.context;
  return j;
}

}  // namespace

nlohmann::json Report::to_json(const std::vector<std::shared_ptr<Device>>& devices,
                               const nlohmann::json& run_info) const {
  nlohmann::json out = run_info;
  out["devices"] = nlohmann::json::array();
  for (const auto& device : devices) out["devices"].push_back(device->properties());
  out["results"] = nlohmann::json::array();
  for (const Record& record : records_) out["results"].push_back(record_json(record));
  return out;
}

std::string size_label(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && bytes % 1024 == 0 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return fmt::format("{} {}", bytes, units[unit]);
}

std::string duration_label(double seconds) {
  if (seconds < 1e-6) return fmt::format("{:.0f} ns", seconds * 1e9);
  if (seconds < 1e-3) return fmt::format("{:.2f} us", seconds * 1e6);
  if (seconds < 1) return fmt::format("{:.3f} ms", seconds * 1e3);
  return fmt::format("{:.3f} s", seconds);
}

std::string rate_with_ratio(double gb_per_s, double baseline_gb_per_s) {
  if (baseline_gb_per_s <= 0) return fmt::format("{:.2f}", gb_per_s);
  return fmt::format("{:.2f} ({:.0f}%)", gb_per_s, 100.0 * gb_per_s / baseline_gb_per_s);
}

}  // namespace crossgpu::bench
