// Options every tool shares for choosing devices: validation layers, CPU-only, an id filter.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "device/registry.hpp"

namespace crossgpu::apps {

struct DeviceOptions {
  bool validation = false;
  bool cpu_only = false;
  std::vector<std::string> device_ids;  // empty: every device

  // Adds --validation and --cpu-only; with `filter`, also --device ID (repeatable).
  void add_to(CLI::App& command, bool filter);
  RegistryOptions registry_options() const;
  // The registry's devices that pass the filter, in registry order. Throws Errc::not_found
  // (listing the ids that exist) for an id that matches no device.
  std::vector<std::shared_ptr<Device>> select(const Registry& registry) const;
};

// Prints the validation layers' messages since the last call to stderr; returns their count.
// Tools run with --validation treat any message as a failure.
std::size_t report_validation_messages();

}  // namespace crossgpu::apps
