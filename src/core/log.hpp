// Logging goes through spdlog; this header fixes the logger name and level handling in one place.
#pragma once

#include <spdlog/spdlog.h>

namespace crossgpu::log {

// Reads CROSSGPU_LOG (trace|debug|info|warn|error|off) once; defaults to warn so that tools
// print only what matters.
void init_from_env();

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

}  // namespace crossgpu::log
