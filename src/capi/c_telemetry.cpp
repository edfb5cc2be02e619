// cg_device_telemetry and cg_device_location_get: what a device measures now, and where it is.
// Values come from telemetry::Collector as Measured<T>; an unavailable one crosses the ABI as
// measured = 0 with the reason in `source`, never as a default number.
#include <string>

#include "capi/capi_support.hpp"
#include "telemetry/collector.hpp"

namespace crossgpu::capi {
namespace {

const telemetry::Collector& collector() {
  static const telemetry::Collector instance;
  return instance;
}

template <typename Out, typename T>
void put(Out& out, const telemetry::Measured<T>& m, const std::string& prefix) {
  out.measured = m.available() ? 1 : 0;
  out.value = m.available() ? *m.value : 0;
  copy_text(out.source, sizeof(out.source), prefix + m.source);
}

// The collector reads this machine's sensors by vendor (hwmon, NVML); for another node's device
// those would be this machine's numbers, so a remote device reports them as not measured.
void drop_sensors(telemetry::DeviceMetrics& m) {
  const auto none = telemetry::Measured<double>::unavailable(
      "remote device: its node's sensors are not carried by the cluster protocol yet");
  m.temperature_c = m.power_w = m.clock_mhz = m.busy_fraction = none;
}

}  // namespace
}  // namespace crossgpu::capi

using namespace crossgpu;
using namespace crossgpu::capi;

extern "C" {

cg_status cg_device_telemetry(cg_device device, cg_telemetry* out) {
  return guarded([&] {
    auto& t = require(out, "cg_device_telemetry");
    const auto d = devices().get(device);
    telemetry::DeviceMetrics m = collector().collect(*d);
    const auto remote = remote_location(*d);
    if (remote) drop_sensors(m);
    const std::string prefix = remote ? "node " + remote->node_id.substr(0, 12) + ": " : "";
    t = cg_telemetry{};
    put(t.memory_total_bytes, m.memory_total_bytes, prefix);
    put(t.memory_used_bytes, m.memory_used_bytes, prefix);
    put(t.memory_free_bytes, m.memory_free_bytes, prefix);
    put(t.memory_budget_bytes, m.memory_budget_bytes, prefix);
    put(t.temperature_c, m.temperature_c, "");
    put(t.power_w, m.power_w, "");
    put(t.clock_mhz, m.clock_mhz, "");
    put(t.utilization, m.busy_fraction, "");
  });
}

cg_status cg_device_location_get(cg_device device, cg_device_location* out) {
  return guarded([&] {
    auto& where = require(out, "cg_device_location_get");
    const auto remote = remote_location(*devices().get(device));
    where = cg_device_location{};
    if (!remote) return;
    where.remote = 1;
    copy_text(where.node_id, sizeof(where.node_id), remote->node_id);
    copy_text(where.node_address, sizeof(where.node_address), remote->address);
    copy_text(where.remote_id, sizeof(where.remote_id), remote->remote_id);
  });
}

}  // extern "C"
