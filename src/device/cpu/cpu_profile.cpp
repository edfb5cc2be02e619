#include "device/cpu/cpu_profile.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace crossgpu::cpu {

bool DispatchProfile::requested() {
  const char* value = std::getenv("CROSSGPU_CPU_PROFILE");
  return value && std::string_view(value) == "1";
}

void DispatchProfile::add(std::string_view kernel, Clock::time_point begin, Clock::time_point end) {
  std::lock_guard lock(mutex_);
  auto it = by_kernel_.find(kernel);
  if (it == by_kernel_.end()) it = by_kernel_.emplace(std::string(kernel), Entry{}).first;
  it->second.dispatches += 1;
  it->second.seconds += std::chrono::duration<double>(end - begin).count();
  if (first_ == Clock::time_point{}) first_ = begin;
  last_ = end;
}

DispatchProfile::~DispatchProfile() {
  if (by_kernel_.empty()) return;
  double all = 0;
  std::uint64_t dispatches = 0;
  for (const auto& [name, e] : by_kernel_) {
    all += e.seconds;
    dispatches += e.dispatches;
  }
  const double wall = std::chrono::duration<double>(last_ - first_).count();
  std::fprintf(stderr, "\nCPU time per kernel on %s (%llu dispatches)\n", device_name_.c_str(),
               static_cast<unsigned long long>(dispatches));
  for (const auto& [name, e] : by_kernel_) {
    std::fprintf(stderr, "  %-40s %8llu dispatches %10.1f ms %9.2f us each %5.1f%%\n", name.c_str(),
                 static_cast<unsigned long long>(e.dispatches), e.seconds * 1e3, e.seconds * 1e6 / double(e.dispatches),
                 100.0 * e.seconds / std::max(all, 1e-12));
  }
  std::fprintf(stderr, "  %-40s %8llu dispatches %10.1f ms in kernels, %.1f ms wall from the first to the last\n",
               "all", static_cast<unsigned long long>(dispatches), all * 1e3, wall * 1e3);
}

}  // namespace crossgpu::cpu
