// What a device is and what it can do: stable, backend-neutral properties. Callers branch on
// capability bits and limits, never on vendor names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace crossgpu {

enum class Backend { cpu, vulkan };
enum class DeviceType { discrete_gpu, integrated_gpu, virtual_gpu, cpu, other };
enum class Vendor { nvidia, amd, intel, apple, qualcomm, arm, imgtec, samsung, broadcom, microsoft, mesa, unknown };

Vendor vendor_from_pci_id(std::uint32_t vendor_id);
const char* to_string(Backend backend);
const char* to_string(DeviceType type);
const char* to_string(Vendor vendor);

struct MemoryHeap {
  std::uint64_t total_bytes = 0;
  // Free bytes for this process: from VK_EXT_memory_budget when present, else total minus what
  // crossgpu itself allocated (free_is_estimate tells which).
  std::uint64_t free_bytes = 0;
  std::uint64_t budget_bytes = 0;  // the driver's budget for this process; 0 when unknown
  bool device_local = false;
  bool host_visible = false;       // some memory type of this heap can be mapped by the host
  bool free_is_estimate = true;
};

struct DeviceLimits {
  std::uint64_t max_allocation_bytes = 0;
  std::uint64_t max_storage_buffer_range = 0;
  std::uint64_t min_storage_buffer_offset_alignment = 1;
  std::uint32_t max_workgroup_count[3] = {0, 0, 0};
  std::uint32_t max_workgroup_size[3] = {0, 0, 0};
  std::uint32_t max_workgroup_invocations = 0;
  std::uint32_t max_shared_memory_bytes = 0;
  std::uint32_t max_push_constant_bytes = 0;
  std::uint32_t subgroup_size = 0;  // 0 when the device has no subgroups
};

struct DeviceCaps {
  bool fp16_arithmetic = false;
  bool int8_arithmetic = false;
  bool storage_16bit = false;
  bool storage_8bit = false;
  bool subgroup_basic = false;
  bool subgroup_arithmetic = false;
  bool subgroup_shuffle = false;
  bool timeline_semaphores = false;
  bool unified_memory = false;          // device-local memory is also host-visible (UMA)
  bool memory_budget = false;           // VK_EXT_memory_budget
  bool external_host_memory = false;    // VK_EXT_external_memory_host
  bool dedicated_transfer_queue = false;
};

struct DeviceProperties {
  std::string id;           // stable: Vulkan deviceUUID in hex, "cpu-<hostid>" for the CPU
  Backend backend = Backend::cpu;
  std::string name;
  Vendor vendor = Vendor::unknown;
  std::uint32_t vendor_id = 0;
  std::uint32_t device_id = 0;
  DeviceType type = DeviceType::other;
  std::string driver_name;
  std::string driver_info;
  std::string driver_version;  // decoded per vendor convention
  std::string api_version;     // "1.3.239"; empty for the CPU backend
  std::uint32_t compute_units = 0;  // CPU threads; 0 when the API does not tell
  std::vector<MemoryHeap> heaps;
  DeviceLimits limits;
  DeviceCaps caps;

  std::uint64_t device_local_bytes() const;
};

void to_json(nlohmann::json& out, const DeviceProperties& props);

}  // namespace crossgpu
