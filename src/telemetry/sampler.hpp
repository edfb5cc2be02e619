// This node's side of telemetry: samples every local device and the host at an interval into the
// ClusterAggregator, and registers each device with its profile and self-test. Profiling runs
// once per device and driver (ProfileCache); the self-test runs at every start, because a driver
// update or a broken device must be caught at join, not trusted from a file.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "telemetry/cluster_view.hpp"
#include "telemetry/collector.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::telemetry {

inline constexpr std::chrono::milliseconds kDefaultInterval{1000};

struct SamplerOptions {
  std::string node_name;                   // this node's display name (checked_node_name)
  std::chrono::milliseconds interval = kDefaultInterval;
  bool profile = true;                     // false: registrations say "disabled"
  std::filesystem::path profile_cache;     // empty: profile at every start, store nothing
  ProfileOptions profile_options;
  std::filesystem::path sysfs_root = "/sys";
  bool load_nvml = true;
};

// This node's links to its peers, from whoever measures them (the peer poller).
using LinkSource = std::function<std::vector<LinkMetrics>()>;

class LocalSampler {
 public:
  // Throws Errc::invalid_argument for an interval below 10 ms.
  LocalSampler(std::vector<std::shared_ptr<Device>> devices, ClusterAggregator& aggregator,
               SamplerOptions options = {}, LinkSource links = {});
  ~LocalSampler();
  LocalSampler(const LocalSampler&) = delete;
  LocalSampler& operator=(const LocalSampler&) = delete;

  // Takes one sample now and hands it to the aggregator; returns it.
  NodeTelemetry sample_once();
  // Starts the sampling thread (a first sample is taken before returning) and, when enabled,
  // profiling in the background.
  void start();
  // Stops both threads; waits for a device profile in progress to finish.
  void stop();
  // Blocks until every device is registered with a profile (or profiling is off or failed).
  bool wait_profiled(std::chrono::milliseconds timeout) const;

  const SamplerOptions& options() const noexcept { return options_; }

 private:
  void run_sampling();
  void run_profiling();
  void profile_one(std::size_t index, const ProfileCache* cache);
  bool stopping() const;

  const std::vector<std::shared_ptr<Device>> devices_;
  ClusterAggregator& aggregator_;
  const SamplerOptions options_;
  const LinkSource links_;
  Collector collector_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<DeviceRegistration> registrations_;
  std::size_t profiled_ = 0;
  std::uint64_t sequence_ = 0;
  bool stopping_ = false;
  std::thread sampling_;
  std::thread profiling_;
};

}  // namespace crossgpu::telemetry
