// The sections of crossgpu-bench. Each measures its baseline in the same run (memcpy for data
// movement, the CPU reference for kernels), prints its table and adds Records to the Report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "device/device.hpp"
#include "report.hpp"
#include "timing.hpp"

namespace crossgpu::bench {

struct BenchConfig {
  bool quick = false;
  std::uint64_t max_bytes = 1ull << 30;  // largest transfer
  TimingPolicy bandwidth;
  TimingPolicy latency;
  TimingPolicy compute;
};

// Host memory for transfers: touched once up front so that no measurement pays page faults.
struct HostMemory {
  explicit HostMemory(std::uint64_t bytes);
  std::vector<std::byte> src;
  std::vector<std::byte> dst;
};

// 4 KiB, 16 KiB, ... up to `cap` (powers of 4).
std::vector<std::uint64_t> transfer_sizes(std::uint64_t cap);
// The largest transfer that `buffers` device buffers of that size leave room for on `device`.
std::uint64_t transfer_cap(Device& device, std::uint64_t max_bytes, int buffers);

// memcpy between the two host buffers: the ceiling every transfer is compared with. Measured
// right before the transfer it is compared with, so that both see the same load on a shared
// machine, and recorded in the report each time.
class MemcpyBaseline {
 public:
  MemcpyBaseline(HostMemory& host, const TimingPolicy& policy, Report& report)
      : host_(host), policy_(policy), report_(report) {}
  // `context`: what the figure is a baseline for, kept in the JSON record.
  Timing measure(std::uint64_t bytes, const std::string& context);

 private:
  HostMemory& host_;
  TimingPolicy policy_;
  Report& report_;
};

void run_transfer_bench(Device& device, const BenchConfig& config, MemcpyBaseline& memcpy,
                        HostMemory& host, Report& report);
void run_latency_bench(const std::vector<std::shared_ptr<Device>>& devices,
                       const BenchConfig& config, Report& report);
void run_cross_device_bench(const std::vector<std::shared_ptr<Device>>& devices,
                            const BenchConfig& config, MemcpyBaseline& memcpy, Report& report);
void run_weight_kernel_bench(const std::vector<std::shared_ptr<Device>>& devices,
                             const BenchConfig& config, Report& report);
void run_kernel_bench(const std::vector<std::shared_ptr<Device>>& devices,
                      const BenchConfig& config, Report& report);
void run_prefill_kernel_bench(const std::vector<std::shared_ptr<Device>>& devices,
                              const BenchConfig& config, Report& report);

}  // namespace crossgpu::bench
