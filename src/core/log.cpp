#include "core/log.hpp"

#include <cstdlib>
#include <mutex>

namespace crossgpu::log {

void init_from_env() {
  static std::once_flag once;
  std::call_once(once, [] {
    spdlog::set_level(spdlog::level::warn);
    if (const char* level = std::getenv("CROSSGPU_LOG")) {
      spdlog::set_level(spdlog::level::from_str(level));
    }
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  });
}

}  // namespace crossgpu::log
