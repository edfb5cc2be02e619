// What the runtime's node-to-node paths (decode chains, pipelined prefill) share: a step's wall
// time, and the environment switches that turn such a path off for a run.
#pragma once

#include <chrono>
#include <cstdlib>
#include <string_view>

namespace crossgpu::runtime {

// Seconds from `start` to now on the steady clock.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Whether the environment variable `name` is "off" or "0".
inline bool switched_off(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && (std::string_view(value) == "off" || std::string_view(value) == "0");
}

}  // namespace crossgpu::runtime
