#include "telemetry/nvml.hpp"

#include <dlfcn.h>

#include <cctype>

namespace crossgpu::telemetry {
namespace {

// The few NVML types and entry points used, as in nvml.h (stable C ABI since NVML 5).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
struct nvmlUtilization_t {
  unsigned gpu, memory;
};
struct nvmlMemory_t {
  unsigned long long total, free, used;
};
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr int NVML_TEMPERATURE_GPU = 0;
constexpr int NVML_CLOCK_GRAPHICS = 0;

}  // namespace

struct Nvml::Api {
  void* library = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*by_uuid)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*temperature)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*power)(nvmlDevice_t, unsigned*) = nullptr;
  nvmlReturn_t (*clock)(nvmlDevice_t, int, unsigned*) = nullptr;
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;

  template <typename F>
  bool bind(F& fn, const char* name) {
    fn = reinterpret_cast<F>(dlsym(library, name));
    return fn != nullptr;
  }
};

std::unique_ptr<Nvml> Nvml::load(std::string* why) {
  auto api = std::make_unique<Api>();
  api->library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) {
    if (why) *why = "NVML not installed (libnvidia-ml.so.1)";
    return nullptr;
  }
  const bool bound = api->bind(api->init, "nvmlInit_v2") && api->bind(api->shutdown, "nvmlShutdown") &&
                     api->bind(api->by_uuid, "nvmlDeviceGetHandleByUUID") &&
                     api->bind(api->temperature, "nvmlDeviceGetTemperature") &&
                     api->bind(api->power, "nvmlDeviceGetPowerUsage") &&
                     api->bind(api->clock, "nvmlDeviceGetClockInfo") &&
                     api->bind(api->utilization, "nvmlDeviceGetUtilizationRates") &&
                     api->bind(api->memory, "nvmlDeviceGetMemoryInfo");
  if (!bound || api->init() != NVML_SUCCESS) {
    if (why) *why = bound ? "nvmlInit failed (no NVIDIA GPU or driver mismatch)" : "NVML lacks expected symbols";
    dlclose(api->library);
    return nullptr;
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api)));
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
  dlclose(api_->library);
}

std::string Nvml::nvml_uuid(const std::string& hex) {
  if (hex.size() != 32) return {};
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
  }
  return "GPU-" + hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) +
         "-" + hex.substr(20, 12);
}

std::optional<NvmlReading> Nvml::read(const std::string& device_uuid_hex) const {
  const std::string uuid = nvml_uuid(device_uuid_hex);
  nvmlDevice_t device = nullptr;
  if (uuid.empty() || api_->by_uuid(uuid.c_str(), &device) != NVML_SUCCESS) return std::nullopt;
  NvmlReading r;
  unsigned value = 0;
  if (api_->temperature(device, NVML_TEMPERATURE_GPU, &value) == NVML_SUCCESS) r.temperature_c = value;
  if (api_->power(device, &value) == NVML_SUCCESS) r.power_w = value / 1000.0;  // milliwatts
  if (api_->clock(device, NVML_CLOCK_GRAPHICS, &value) == NVML_SUCCESS) r.clock_mhz = value;
  nvmlUtilization_t utilization{};
  if (api_->utilization(device, &utilization) == NVML_SUCCESS) r.busy_fraction = utilization.gpu / 100.0;
  nvmlMemory_t memory{};
  if (api_->memory(device, &memory) == NVML_SUCCESS) {
    r.memory_used_bytes = memory.used;
    r.memory_total_bytes = memory.total;
  }
  return r;
}

}  // namespace crossgpu::telemetry
