// GPU time per dispatch of a recorded program, for finding where a decode step's time goes
// (CROSSGPU_VULKAN_PROFILE=1; off otherwise, and then it costs nothing). The recording writes a
// timestamp before its first dispatch and after each one; each replay's timestamps are read
// when the next replay is recorded (a decode step has waited for the previous one by then) and
// summed per dispatch. When the recording is freed, a table goes to stderr: per dispatch its
// kernel and mean microseconds, then per kernel name. Timestamps after a full barrier measure
// each dispatch including the drain before the next one starts: what the step really costs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

class DispatchProfile {
 public:
  static bool requested();

  // `period_ns`: the device's timestampPeriod. At most `capacity` dispatches are timed.
  DispatchProfile(const vk::raii::Device& device, double period_ns, std::string device_name,
                  std::uint32_t capacity = 4096);
  ~DispatchProfile();
  DispatchProfile(const DispatchProfile&) = delete;
  DispatchProfile& operator=(const DispatchProfile&) = delete;

  // Recorded at the start of the program: resets the queries and writes the first timestamp.
  void begin(const vk::raii::CommandBuffer& commands);
  // Recorded after each dispatch.
  void after_dispatch(const vk::raii::CommandBuffer& commands, std::string_view kernel);
  // Adds the last replay's times if they are ready (called before the next replay is recorded
  // and when the recording is freed).
  void collect();

 private:
  void print() const;

  vk::raii::QueryPool pool_ = nullptr;
  double period_ns_;
  std::string device_name_;
  std::uint32_t capacity_;
  std::vector<std::string> kernels_;  // per dispatch
  std::vector<double> total_us_;      // per dispatch, summed over collected replays
  std::uint64_t replays_ = 0;
};

}  // namespace crossgpu::vulkan
