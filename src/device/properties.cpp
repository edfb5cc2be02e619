#include "device/properties.hpp"

#include <nlohmann/json.hpp>

namespace crossgpu {

Vendor vendor_from_pci_id(std::uint32_t vendor_id) {
  switch (vendor_id) {
    case 0x10DE: return Vendor::nvidia;
    case 0x1002: case 0x1022: return Vendor::amd;
    case 0x8086: return Vendor::intel;
    case 0x106B: return Vendor::apple;
    case 0x5143: return Vendor::qualcomm;
    case 0x13B5: return Vendor::arm;
    case 0x1010: return Vendor::imgtec;
    case 0x144D: return Vendor::samsung;
    case 0x14E4: return Vendor::broadcom;
    case 0x1414: return Vendor::microsoft;
    case 0x10005: return Vendor::mesa;  // VK_VENDOR_ID_MESA: lavapipe, llvmpipe
    default: return Vendor::unknown;
  }
}

const char* to_string(Backend backend) {
  switch (backend) {
    case Backend::cpu: return "cpu";
    case Backend::vulkan: return "vulkan";
  }
  return "unknown";
}

const char* to_string(DeviceType type) {
  switch (type) {
    case DeviceType::discrete_gpu: return "discrete";
    case DeviceType::integrated_gpu: return "integrated";
    case DeviceType::virtual_gpu: return "virtual";
    case DeviceType::cpu: return "cpu";
    case DeviceType::other: return "other";
  }
  return "unknown";
}

const char* to_string(Vendor vendor) {
  switch (vendor) {
    case Vendor::nvidia: return "NVIDIA";
    case Vendor::amd: return "AMD";
    case Vendor::intel: return "Intel";
    case Vendor::apple: return "Apple";
    case Vendor::qualcomm: return "Qualcomm";
    case Vendor::arm: return "ARM";
    case Vendor::imgtec: return "Imagination";
    case Vendor::samsung: return "Samsung";
    case Vendor::broadcom: return "Broadcom";
    case Vendor::microsoft: return "Microsoft";
    case Vendor::mesa: return "Mesa";
    case Vendor::unknown: return "unknown";
  }
  return "unknown";
}

std::uint64_t DeviceProperties::device_local_bytes() const {
  std::uint64_t total = 0;
  for (const MemoryHeap& heap : heaps) {
    if (heap.device_local) total += heap.total_bytes;
  }
  return total;
}

void to_json(nlohmann::json& out, const DeviceProperties& p) {
  nlohmann::json heaps = nlohmann::json::array();
  for (const MemoryHeap& h : p.heaps) {
    heaps.push_back({{"total_bytes", h.total_bytes},
                     {"free_bytes", h.free_bytes},
                     {"budget_bytes", h.budget_bytes},
                     {"device_local", h.device_local},
                     {"host_visible", h.host_visible},
                     {"free_is_estimate", h.free_is_estimate}});
  }
  const DeviceLimits& l = p.limits;
  const DeviceCaps& c = p.caps;
  out = {
      {"id", p.id},
      {"backend", to_string(p.backend)},
      {"name", p.name},
      {"vendor", to_string(p.vendor)},
      {"vendor_id", p.vendor_id},
      {"device_id", p.device_id},
      {"type", to_string(p.type)},
      {"driver_name", p.driver_name},
      {"driver_info", p.driver_info},
      {"driver_version", p.driver_version},
      {"api_version", p.api_version},
      {"compute_units", p.compute_units},
      {"heaps", heaps},
      {"limits",
       {{"max_allocation_bytes", l.max_allocation_bytes},
        {"max_storage_buffer_range", l.max_storage_buffer_range},
        {"min_storage_buffer_offset_alignment", l.min_storage_buffer_offset_alignment},
        {"max_workgroup_count", {l.max_workgroup_count[0], l.max_workgroup_count[1], l.max_workgroup_count[2]}},
        {"max_workgroup_size", {l.max_workgroup_size[0], l.max_workgroup_size[1], l.max_workgroup_size[2]}},
        {"max_workgroup_invocations", l.max_workgroup_invocations},
        {"max_shared_memory_bytes", l.max_shared_memory_bytes},
        {"max_push_constant_bytes", l.max_push_constant_bytes},
        {"subgroup_size", l.subgroup_size}}},
      {"caps",
       {{"fp16_arithmetic", c.fp16_arithmetic},
        {"int8_arithmetic", c.int8_arithmetic},
        {"storage_16bit", c.storage_16bit},
        {"storage_8bit", c.storage_8bit},
        {"subgroup_basic", c.subgroup_basic},
        {"subgroup_arithmetic", c.subgroup_arithmetic},
        {"subgroup_shuffle", c.subgroup_shuffle},
        {"timeline_semaphores", c.timeline_semaphores},
        {"unified_memory", c.unified_memory},
        {"memory_budget", c.memory_budget},
        {"external_host_memory", c.external_host_memory},
        {"dedicated_transfer_queue", c.dedicated_transfer_queue}}},
  };
}

}  // namespace crossgpu
