// NVIDIA's management library, loaded at run time when present (libnvidia-ml.so.1 ships with the
// driver): temperature, power, clocks and utilization of NVIDIA GPUs, matched to Vulkan devices by
// UUID. Without the library every query is unavailable; nothing links against it at build time.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace crossgpu::telemetry {

struct NvmlReading {
  std::optional<double> temperature_c;
  std::optional<double> power_w;
  std::optional<double> clock_mhz;       // graphics clock
  std::optional<double> busy_fraction;   // GPU utilization over the driver's last sample period
  std::optional<std::uint64_t> memory_used_bytes;
  std::optional<std::uint64_t> memory_total_bytes;
};

class Nvml {
 public:
  // nullptr when the library or a GPU is missing; `why` says which.
  static std::unique_ptr<Nvml> load(std::string* why = nullptr);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  // `device_uuid_hex`: the 32 hex digits of the Vulkan deviceUUID (DeviceProperties::id), which
  // on NVIDIA equals the NVML UUID. nullopt when NVML does not know the device.
  std::optional<NvmlReading> read(const std::string& device_uuid_hex) const;

  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" from 32 hex digits; empty when malformed.
  static std::string nvml_uuid(const std::string& hex);

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
};

}  // namespace crossgpu::telemetry
