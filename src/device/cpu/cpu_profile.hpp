// Host time per kernel on the CPU device, for finding where a decode step's time goes
// (CROSSGPU_CPU_PROFILE=1; off otherwise, and then it costs one branch per dispatch). Each
// dispatch is timed around its CPU function (thread pool wake-up and join included, since that
// is what the step pays); when the device is freed a table goes to stderr: per kernel name its
// dispatches, total and mean time and share, and the wall time from the first dispatch to the
// last, so that what runs between dispatches (op validation, downloads, sampling) shows too.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace crossgpu::cpu {

class DispatchProfile {
 public:
  static bool requested();

  explicit DispatchProfile(std::string device_name) : device_name_(std::move(device_name)) {}
  ~DispatchProfile();
  DispatchProfile(const DispatchProfile&) = delete;
  DispatchProfile& operator=(const DispatchProfile&) = delete;

  using Clock = std::chrono::steady_clock;
  void add(std::string_view kernel, Clock::time_point begin, Clock::time_point end);

 private:
  struct Entry {
    std::uint64_t dispatches = 0;
    double seconds = 0;
  };
  std::string device_name_;
  std::mutex mutex_;  // streams of one device may dispatch from several threads
  std::map<std::string, Entry, std::less<>> by_kernel_;
  Clock::time_point first_{}, last_{};
};

}  // namespace crossgpu::cpu
