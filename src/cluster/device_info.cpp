#include "cluster/device_info.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace crossgpu::cluster {
namespace {

// The DeviceCaps bits by name: one table for both directions.
struct CapBit {
  const char* name;
  bool DeviceCaps::*bit;
};
constexpr CapBit kCaps[] = {
    {"fp16_arithmetic", &DeviceCaps::fp16_arithmetic},
    {"int8_arithmetic", &DeviceCaps::int8_arithmetic},
    {"storage_16bit", &DeviceCaps::storage_16bit},
    {"storage_8bit", &DeviceCaps::storage_8bit},
    {"subgroup_basic", &DeviceCaps::subgroup_basic},
    {"subgroup_arithmetic", &DeviceCaps::subgroup_arithmetic},
    {"subgroup_shuffle", &DeviceCaps::subgroup_shuffle},
    {"timeline_semaphores", &DeviceCaps::timeline_semaphores},
    {"unified_memory", &DeviceCaps::unified_memory},
    {"memory_budget", &DeviceCaps::memory_budget},
    {"external_host_memory", &DeviceCaps::external_host_memory},
    {"dedicated_transfer_queue", &DeviceCaps::dedicated_transfer_queue},
};

DeviceType type_from_string(const std::string& text) {
  for (DeviceType type : {DeviceType::discrete_gpu, DeviceType::integrated_gpu,
                          DeviceType::virtual_gpu, DeviceType::cpu}) {
    if (text == to_string(type)) return type;
  }
  return DeviceType::other;
}

Vendor vendor_from_string(const std::string& text) {
  for (int v = 0; v < static_cast<int>(Vendor::unknown); ++v) {
    if (text == to_string(static_cast<Vendor>(v))) return static_cast<Vendor>(v);
  }
  return Vendor::unknown;
}

void check_text(const std::string& text, const char* field) {
  if (text.size() > 256) fail(Errc::invalid_argument, "device info: {} is too long", field);
}

}  // namespace

v1::DeviceInfo to_wire(const DeviceProperties& p) {
  v1::DeviceInfo info;
  info.set_id(p.id);
  info.set_name(p.name);
  info.set_vendor(to_string(p.vendor));
  info.set_type(to_string(p.type));
  info.set_backend(to_string(p.backend));
  info.set_driver(p.driver_name + (p.driver_version.empty() ? "" : " " + p.driver_version));
  info.set_api_version(p.api_version);
  for (const MemoryHeap& heap : p.heaps) {
    v1::MemoryHeapInfo* out = info.add_heaps();
    out->set_total_bytes(heap.total_bytes);
    out->set_free_bytes(heap.free_bytes);
    out->set_device_local(heap.device_local);
    out->set_free_is_estimate(heap.free_is_estimate);
  }
  info.set_max_allocation_bytes(p.limits.max_allocation_bytes);
  info.set_max_storage_buffer_range(p.limits.max_storage_buffer_range);
  info.set_min_storage_buffer_offset_alignment(p.limits.min_storage_buffer_offset_alignment);
  for (std::uint32_t count : p.limits.max_workgroup_count) info.add_max_workgroup_count(count);
  info.set_subgroup_size(p.limits.subgroup_size);
  for (const CapBit& cap : kCaps) {
    if (p.caps.*cap.bit) info.add_caps(cap.name);
  }
  return info;
}

DeviceProperties from_wire(const v1::DeviceInfo& info) {
  if (info.id().empty()) fail(Errc::invalid_argument, "device info: empty device id");
  for (const auto* field : {&info.id(), &info.name(), &info.driver(), &info.api_version()}) {
    check_text(*field, "a text field");
  }
  if (info.heaps_size() > 16 || info.caps_size() > 64 || info.max_workgroup_count_size() > 3) {
    fail(Errc::invalid_argument, "device info of '{}': too many heaps, caps or dimensions",
         info.id());
  }
  DeviceProperties p;
  p.id = info.id();
  p.name = info.name();
  p.vendor = vendor_from_string(info.vendor());
  p.type = type_from_string(info.type());
  p.backend = info.backend() == "vulkan" ? Backend::vulkan : Backend::cpu;
  p.driver_name = info.driver();
  p.api_version = info.api_version();
  for (const v1::MemoryHeapInfo& heap : info.heaps()) {
    p.heaps.push_back({heap.total_bytes(), heap.free_bytes(), 0, heap.device_local(), false,
                       heap.free_is_estimate()});
  }
  p.limits.max_allocation_bytes = info.max_allocation_bytes();
  p.limits.max_storage_buffer_range = info.max_storage_buffer_range();
  p.limits.min_storage_buffer_offset_alignment =
      std::max<std::uint64_t>(1, info.min_storage_buffer_offset_alignment());
  for (int i = 0; i < info.max_workgroup_count_size(); ++i) {
    p.limits.max_workgroup_count[i] = info.max_workgroup_count(i);
  }
  p.limits.max_push_constant_bytes = 128;
  p.limits.subgroup_size = info.subgroup_size();
  for (const std::string& name : info.caps()) {
    for (const CapBit& cap : kCaps) {
      if (name == cap.name) p.caps.*cap.bit = true;
    }
  }
  return p;
}

}  // namespace crossgpu::cluster
