// What the benchmarks measured: one Record per (device, operation, size), printed as tables as
// the run goes and written as JSON at the end, with each record's baseline from the same run.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/table.hpp"
#include "device/device.hpp"
#include "timing.hpp"

namespace crossgpu::bench {

struct Record {
  std::string section;    // "memcpy", "transfer", "latency", "cross_device", "kernel"
  std::string op;         // "h2d", "d2h pinned", "matmul", ...
  std::string device_id;  // "host" for baselines that run on no device
  std::string device;
  std::string dtype;        // kernels only
  std::string shape;        // kernels only: "MxNxK" or "ROWSxCOLS"
  std::uint64_t bytes = 0;  // bytes moved (transfers) or touched at least once (kernels)
  double flops = 0;
  Timing timing;
  std::string baseline;   // what the ratio compares with: "memcpy", "cpu reference"
  double baseline_s = 0;  // the baseline's median time for the same work
  std::string check;      // kernels: "ok" or what was wrong with the result
  std::string context;    // baselines: the measurement this one is a baseline for

  double gb_per_s() const { return bench::gb_per_s(static_cast<double>(bytes), timing.median_s); }
  double gflop_per_s() const { return timing.median_s > 0 ? flops / timing.median_s / 1e9 : 0; }
  // Baseline time / this time: >1 means faster than the baseline.
  double speedup() const { return timing.median_s > 0 ? baseline_s / timing.median_s : 0; }
};

class Report {
 public:
  void add(Record record) { records_.push_back(std::move(record)); }
  const std::vector<Record>& records() const noexcept { return records_; }
  // Prints a titled table to stdout and flushes, so a long run shows progress.
  static void print(const std::string& title, const apps::Table& table);

  nlohmann::json to_json(const std::vector<std::shared_ptr<Device>>& devices,
                         const nlohmann::json& run_info) const;

 private:
  std::vector<Record> records_;
};

// "4 KiB", "16 MiB": sizes of the bandwidth tables (powers of two print exactly).
std::string size_label(std::uint64_t bytes);
// "850 ns", "12.40 us", "3.210 ms", "1.234 s": a duration in the unit that keeps it readable.
std::string duration_label(double seconds);
// "12.3" GB/s with "(85%)" of the baseline.
std::string rate_with_ratio(double gb_per_s, double baseline_gb_per_s);

}  // namespace crossgpu::bench
