#include "telemetry/sampler.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "telemetry/selftest.hpp"

namespace crossgpu::telemetry {
namespace {

std::int64_t unix_nanos_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LocalSampler::LocalSampler(std::vector<std::shared_ptr<Device>> devices, ClusterAggregator& aggregator,
                           SamplerOptions options, LinkSource links)
    : devices_(std::move(devices)), aggregator_(aggregator), options_(std::move(options)),
      links_(std::move(links)), collector_(options_.sysfs_root, options_.load_nvml) {
  if (options_.interval < std::chrono::milliseconds(10)) {
    fail(Errc::invalid_argument, "telemetry interval {} ms is too short (at least 10 ms)",
         options_.interval.count());
  }
  checked_node_name(options_.node_name);
  const std::string status = options_.profile ? "waiting to be profiled" : "disabled (--no-profile)";
  for (const auto& device : devices_) {
    registrations_.push_back(registration_of(*device, status));
    if (!options_.profile) registrations_.back().self_test_reason = "profiling and self-test are off (--no-profile)";
  }
}

LocalSampler::~LocalSampler() { stop(); }

NodeTelemetry LocalSampler::sample_once() {
  NodeTelemetry t;
  t.node_id = aggregator_.self_node_id();
  t.name = options_.node_name;
  t.state = "healthy";
  t.interval_ms = static_cast<std::uint32_t>(options_.interval.count());
  t.sampled_unix_nanos = unix_nanos_now();
  for (const auto& device : devices_) t.metrics.push_back(collector_.collect(*device));
  t.host = collector_.collect_host();
  if (links_) t.links = links_();
  {
    std::lock_guard lock(mutex_);
    t.sequence = ++sequence_;
    t.devices = registrations_;
  }
  aggregator_.update(t);
  return t;
}

bool LocalSampler::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void LocalSampler::start() {
  sample_once();
  sampling_ = std::thread([this] { run_sampling(); });
  if (options_.profile) profiling_ = std::thread([this] { run_profiling(); });
}

void LocalSampler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (sampling_.joinable()) sampling_.join();
  if (profiling_.joinable()) profiling_.join();
}

void LocalSampler::run_sampling() {
  auto next = std::chrono::steady_clock::now() + options_.interval;
  std::unique_lock lock(mutex_);
  while (!changed_.wait_until(lock, next, [this] { return stopping_; })) {
    lock.unlock();
    try {
      sample_once();
    } catch (const std::exception& e) {
      log::warn("telemetry sample failed: {}", e.what());
    }
    lock.lock();
    // Fixed rate, not fixed delay: a slow sample does not shift later ones; after a long stall
    // the schedule restarts from now instead of firing a burst.
    next += options_.interval;
    if (next < std::chrono::steady_clock::now()) next = std::chrono::steady_clock::now() + options_.interval;
  }
}

void LocalSampler::profile_one(std::size_t index, const ProfileCache* cache) {
  Device& device = *devices_[index];
  {
    std::lock_guard lock(mutex_);
    registrations_[index].profile_status = "profiling";
  }
  DeviceRegistration updated = registration_of(device, "");
  try {
    std::optional<DeviceProfile> cached = cache ? cache->load(device) : std::nullopt;
    const bool from_cache = cached.has_value();
    DeviceProfile profile = from_cache ? *cached : profile_device(device, options_.profile_options);
    if (!from_cache && cache) cache->store(profile);
    if (from_cache) {
      // The rates are trusted from the cache; correctness is checked again at every start.
      const SelfTestReport report = self_test(device);
      profile.self_test_passed = report.passed;
      profile.self_test_notes = report.notes;
    }
    apply_profile(updated, std::move(profile), from_cache ? "cached" : "measured");
  } catch (const std::exception& e) {
    // A device that cannot be profiled is not trusted with work: it counts as a failed test.
    updated.profile_status = fmt::format("profiling failed: {}", e.what());
    updated.self_test = SelfTestStatus::failed;
    updated.self_test_reason = updated.profile_status;
  }
  if (updated.self_test == SelfTestStatus::failed) {
    log::warn("device {} failed its self-test and is left out of placement: {}", device.id(),
              updated.self_test_reason);
  }
  std::lock_guard lock(mutex_);
  registrations_[index] = std::move(updated);
  ++profiled_;
  changed_.notify_all();
}

void LocalSampler::run_profiling() {
  std::optional<ProfileCache> cache;
  if (!options_.profile_cache.empty()) cache.emplace(options_.profile_cache);
  for (std::size_t i = 0; i < devices_.size() && !stopping(); ++i) {
    profile_one(i, cache ? &*cache : nullptr);
  }
}

bool LocalSampler::wait_profiled(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [this] {
    return !options_.profile || profiled_ == devices_.size() || stopping_;
  });
}

}  // namespace crossgpu::telemetry
