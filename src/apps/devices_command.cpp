// `crossgpu devices`: what every local device is and can do, as a table or as JSON.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/commands.hpp"
#include "apps/device_options.hpp"
#include "apps/table.hpp"
#include "core/error.hpp"
#include "device/registry.hpp"

namespace crossgpu::apps {
namespace {

struct LocalMemory {
  std::uint64_t total = 0;
  std::uint64_t free = 0;
  bool estimate = false;
};

LocalMemory local_memory(const DeviceProperties& p) {
  LocalMemory memory;
  for (const MemoryHeap& heap : p.heaps) {
    if (!heap.device_local) continue;
    memory.total += heap.total_bytes;
    memory.free += heap.free_bytes;
    memory.estimate |= heap.free_is_estimate;
  }
  return memory;
}

// "~" marks a free figure computed by crossgpu rather than reported by the driver.
std::string free_text(std::uint64_t bytes, bool estimate) {
  return (estimate ? "~" : "") + format_bytes(bytes);
}

// The CPU device reports its "no limit" as 2^63 bytes.
std::string bytes_or_unlimited(std::uint64_t bytes) {
  return bytes >= (1ull << 62) ? "unlimited" : format_bytes(bytes);
}

std::string yes_no(bool value) { return value ? "yes" : "no"; }

std::string dims(const std::uint32_t (&v)[3]) {
  return fmt::format("{} x {} x {}", v[0], v[1], v[2]);
}

void print_summary(const std::vector<DeviceProperties>& devices) {
  Table table({{"#", Align::right},
               {"id"},
               {"name"},
               {"vendor"},
               {"type"},
               {"backend"},
               {"free", Align::right},
               {"total", Align::right}});
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const DeviceProperties& p = devices[i];
    const LocalMemory memory = local_memory(p);
    table.add_row({std::to_string(i), p.id, p.name, to_string(p.vendor), to_string(p.type),
                   to_string(p.backend), free_text(memory.free, memory.estimate),
                   format_bytes(memory.total)});
  }
  fmt::print("{}", table.render());
}

std::string heap_text(const MemoryHeap& heap) {
  std::string flags = heap.device_local ? "device-local" : "host";
  if (heap.host_visible) flags += ", host-visible";
  std::string text = fmt::format("{} ({}), free {}", format_bytes(heap.total_bytes), flags,
                                 free_text(heap.free_bytes, heap.free_is_estimate));
  if (heap.budget_bytes > 0) text += fmt::format(", budget {}", format_bytes(heap.budget_bytes));
  return text;
}

void print_limits(Table& rows, const DeviceLimits& l) {
  rows.add_row({"max allocation", format_bytes(l.max_allocation_bytes)});
  rows.add_row({"max storage buffer", bytes_or_unlimited(l.max_storage_buffer_range)});
  rows.add_row(
      {"storage offset align", fmt::format("{} B", l.min_storage_buffer_offset_alignment)});
  rows.add_row({"workgroup count", dims(l.max_workgroup_count)});
  rows.add_row({"workgroup size", fmt::format("{} ({} invocations)", dims(l.max_workgroup_size),
                                              l.max_workgroup_invocations)});
  rows.add_row({"shared memory", format_bytes(l.max_shared_memory_bytes)});
  rows.add_row({"push constants", format_bytes(l.max_push_constant_bytes)});
  rows.add_row({"subgroup size", l.subgroup_size ? std::to_string(l.subgroup_size) : "none"});
}

void print_caps(Table& rows, const DeviceCaps& c) {
  rows.add_row({"fp16 arithmetic", yes_no(c.fp16_arithmetic)});
  rows.add_row({"int8 arithmetic", yes_no(c.int8_arithmetic)});
  rows.add_row({"16-bit storage", yes_no(c.storage_16bit)});
  rows.add_row({"8-bit storage", yes_no(c.storage_8bit)});
  rows.add_row(
      {"subgroup ops", fmt::format("basic {}, arithmetic {}, shuffle {}", yes_no(c.subgroup_basic),
                                   yes_no(c.subgroup_arithmetic), yes_no(c.subgroup_shuffle))});
  rows.add_row({"timeline semaphores", yes_no(c.timeline_semaphores)});
  rows.add_row({"unified memory (UMA)", yes_no(c.unified_memory)});
  rows.add_row({"memory budget", yes_no(c.memory_budget)});
  rows.add_row({"external host memory", yes_no(c.external_host_memory)});
  rows.add_row({"dedicated transfer", yes_no(c.dedicated_transfer_queue)});
}

void print_details(std::size_t index, const DeviceProperties& p) {
  Table rows({{fmt::format("[{}]", index)}, {p.name}});
  rows.add_row({"id", p.id});
  rows.add_row({"vendor", p.vendor_id == 0
                              ? std::string(to_string(p.vendor))
                              : fmt::format("{} (PCI vendor 0x{:04x}, device 0x{:04x})",
                                            to_string(p.vendor), p.vendor_id, p.device_id)});
  rows.add_row({"type / backend", fmt::format("{} / {}", to_string(p.type), to_string(p.backend))});
  std::string driver = fmt::format("{} {}", p.driver_name, p.driver_version);
  if (!p.driver_info.empty()) driver += fmt::format(" ({})", p.driver_info);
  rows.add_row({"driver", driver});
  rows.add_row({"API version", p.api_version.empty() ? "-" : p.api_version});
  if (p.compute_units > 0) rows.add_row({"compute units", std::to_string(p.compute_units)});
  const LocalMemory memory = local_memory(p);
  rows.add_row({"device-local memory", fmt::format("{} total, {} free", format_bytes(memory.total),
                                                   free_text(memory.free, memory.estimate))});
  for (std::size_t h = 0; h < p.heaps.size(); ++h) {
    rows.add_row({fmt::format("heap {}", h), heap_text(p.heaps[h])});
  }
  print_limits(rows, p.limits);
  print_caps(rows, p.caps);
  fmt::print("\n{}", rows.render());
}

nlohmann::json devices_json(const std::vector<DeviceProperties>& devices,
                            const std::vector<std::string>& warnings) {
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < devices.size(); ++i) {
    nlohmann::json device = devices[i];
    device["index"] = i;
    list.push_back(std::move(device));
  }
  return {{"devices", std::move(list)}, {"warnings", warnings}};
}

int run_devices(const DeviceOptions& options, bool json) {
  Registry registry(options.registry_options());
  std::vector<DeviceProperties> devices;
  // Refreshed: free memory and budgets are what they are now, not at enumeration.
  for (const auto& device : options.select(registry)) {
    devices.push_back(device->refreshed_properties());
  }
  if (json) {
    fmt::print("{}\n", devices_json(devices, registry.warnings()).dump(2));
  } else {
    print_summary(devices);
    for (std::size_t i = 0; i < devices.size(); ++i) print_details(i, devices[i]);
    bool any_estimate = false;
    for (const DeviceProperties& p : devices) any_estimate |= local_memory(p).estimate;
    if (any_estimate) {
      fmt::print(
          "\n~ free memory estimated as total minus what crossgpu allocated "
          "(the driver reports no memory budget)\n");
    }
  }
  return options.validation && report_validation_messages() > 0 ? 1 : 0;
}

}  // namespace

void add_devices_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<DeviceOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* command = app.add_subcommand("devices", "list every local device and what it can do");
  options->add_to(*command, /*filter=*/true);
  command->add_flag("--json", *json, "print JSON instead of a table");
  command->callback([options, json, &exit_code] { exit_code = run_devices(*options, *json); });
}

}  // namespace crossgpu::apps
