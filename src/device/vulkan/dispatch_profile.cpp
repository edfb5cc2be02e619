#include "device/vulkan/dispatch_profile.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

namespace crossgpu::vulkan {

bool DispatchProfile::requested() {
  const char* value = std::getenv("CROSSGPU_VULKAN_PROFILE");
  return value && std::string_view(value) == "1";
}

DispatchProfile::DispatchProfile(const vk::raii::Device& device, double period_ns,
                                 std::string device_name, std::uint32_t capacity)
    : period_ns_(period_ns), device_name_(std::move(device_name)), capacity_(capacity) {
  pool_ = vk::raii::QueryPool(device, vk::QueryPoolCreateInfo{.queryType = vk::QueryType::eTimestamp,
                                                              .queryCount = capacity_ + 1});
}

DispatchProfile::~DispatchProfile() { print(); }

void DispatchProfile::begin(const vk::raii::CommandBuffer& commands) {
  commands.resetQueryPool(*pool_, 0, capacity_ + 1);
  commands.writeTimestamp(vk::PipelineStageFlagBits::eAllCommands, *pool_, 0);
}

void DispatchProfile::after_dispatch(const vk::raii::CommandBuffer& commands,
                                     std::string_view kernel) {
  if (kernels_.size() >= capacity_) return;
  kernels_.emplace_back(kernel);
  total_us_.push_back(0);
  commands.writeTimestamp(vk::PipelineStageFlagBits::eAllCommands, *pool_,
                          static_cast<std::uint32_t>(kernels_.size()));
}

void DispatchProfile::collect() {
  if (kernels_.empty()) return;
  std::vector<std::uint64_t> stamps(kernels_.size() + 1);
  const auto [status, values] = pool_.getResults<std::uint64_t>(
      0, static_cast<std::uint32_t>(stamps.size()), stamps.size() * sizeof(std::uint64_t),
      sizeof(std::uint64_t), vk::QueryResultFlagBits::e64);
  if (status != vk::Result::eSuccess) return;  // not run yet, or still running
  for (std::size_t i = 0; i < kernels_.size(); ++i) {
    total_us_[i] += double(values[i + 1] - values[i]) * period_ns_ / 1000.0;
  }
  ++replays_;
}

void DispatchProfile::print() const {
  if (replays_ == 0) return;
  double all = 0;
  std::map<std::string, std::pair<double, int>> by_kernel;
  std::fprintf(stderr, "\nGPU time per dispatch of a recording on %s (%zu dispatches, mean of %llu replays)\n",
               device_name_.c_str(), kernels_.size(), static_cast<unsigned long long>(replays_));
  for (std::size_t i = 0; i < kernels_.size(); ++i) {
    const double us = total_us_[i] / double(replays_);
    all += us;
    auto& entry = by_kernel[kernels_[i]];
    entry.first += us;
    entry.second += 1;
    std::fprintf(stderr, "  %4zu  %-40s %10.2f us\n", i, kernels_[i].c_str(), us);
  }
  std::fprintf(stderr, "per kernel:\n");
  for (const auto& [name, entry] : by_kernel) {
    std::fprintf(stderr, "  %-40s %4d dispatches %10.2f us  %5.1f%%\n", name.c_str(), entry.second,
                 entry.first, 100.0 * entry.first / std::max(all, 1e-9));
  }
  std::fprintf(stderr, "  %-40s %4zu dispatches %10.2f us\n", "all", kernels_.size(), all);
}

}  // namespace crossgpu::vulkan
