#include "core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>

namespace crossgpu::log {

void init_from_env() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Logs go to stderr: stdout carries what commands print for people and programs (tables,
    // `--json`, generated text), which a warning must never corrupt.
    spdlog::set_default_logger(spdlog::stderr_color_mt("crossgpu"));
    spdlog::set_level(spdlog::level::warn);
    if (const char* level = std::getenv("CROSSGPU_LOG")) {
      spdlog::set_level(spdlog::level::from_str(level));
    }
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  });
}

}  // namespace crossgpu::log
