#include "telemetry/prometheus.hpp"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <optional>

namespace crossgpu::telemetry {
namespace {

struct Family {
  const char* name;
  const char* help;
};

// Collects one family's samples, then writes HELP/TYPE and the samples; a family without a
// measured sample is left out entirely.
class FamilyWriter {
 public:
  explicit FamilyWriter(Family family) : family_(family) {}
  void add(const std::string& labels, std::optional<double> value) {
    if (!value || !std::isfinite(*value)) return;
    samples_ += fmt::format("{}{{{}}} {}\n", family_.name, labels, *value);
  }
  void write(std::string& out) const {
    if (samples_.empty()) return;
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", family_.name, family_.help, family_.name);
    out += samples_;
  }

 private:
  Family family_;
  std::string samples_;
};

template <typename T>
std::optional<double> measured(const Measured<T>& m) {
  if (!m.value) return std::nullopt;
  return static_cast<double>(*m.value);
}

std::optional<double> positive(double rate) { return rate > 0 ? std::optional(rate) : std::nullopt; }

std::string node_label(const NodeTelemetry& node) {
  return fmt::format("node=\"{}\"", prometheus_label_value(node.node_id));
}

std::string device_labels(const NodeTelemetry& node, const std::string& device) {
  return fmt::format("{},device=\"{}\"", node_label(node), prometheus_label_value(device));
}

using DeviceField = std::function<std::optional<double>(const DeviceMetrics&)>;

void device_metrics(const ClusterView& view, std::string& out) {
  const std::pair<Family, DeviceField> fields[] = {
      {{"crossgpu_device_memory_total_bytes", "Device-local memory of the device."},
       [](const DeviceMetrics& m) { return measured(m.memory_total_bytes); }},
      {{"crossgpu_device_memory_used_bytes", "Device-local memory in use (all processes where the driver says so)."},
       [](const DeviceMetrics& m) { return measured(m.memory_used_bytes); }},
      {{"crossgpu_device_memory_free_bytes", "Device-local memory free."},
       [](const DeviceMetrics& m) { return measured(m.memory_free_bytes); }},
      {{"crossgpu_device_memory_budget_bytes", "Memory budget the driver grants this process (VK_EXT_memory_budget)."},
       [](const DeviceMetrics& m) { return measured(m.memory_budget_bytes); }},
      {{"crossgpu_device_busy_ratio", "Fraction of the last driver sample period the GPU was busy."},
       [](const DeviceMetrics& m) { return measured(m.busy_fraction); }},
      {{"crossgpu_device_temperature_celsius", "GPU temperature."},
       [](const DeviceMetrics& m) { return measured(m.temperature_c); }},
      {{"crossgpu_device_power_watts", "GPU power draw."},
       [](const DeviceMetrics& m) { return measured(m.power_w); }},
      {{"crossgpu_device_clock_hertz", "GPU core clock."},
       [](const DeviceMetrics& m) {
         auto mhz = measured(m.clock_mhz);
         return mhz ? std::optional(*mhz * 1e6) : std::nullopt;
       }},
  };
  for (const auto& [family, field] : fields) {
    FamilyWriter writer(family);
    for (const NodeView& node : view.nodes) {
      for (const DeviceMetrics& m : node.latest.metrics) {
        writer.add(device_labels(node.latest, m.device_id), field(m));
      }
    }
    writer.write(out);
  }
}

using ProfileField = std::function<double(const DeviceProfile&)>;

void device_registrations(const ClusterView& view, std::string& out) {
  FamilyWriter self_test({"crossgpu_device_self_test_passed",
                          "1 when the device passed the correctness self-test, 0 when it failed."});
  for (const NodeView& node : view.nodes) {
    for (const DeviceRegistration& r : node.latest.devices) {
      if (r.self_test == SelfTestStatus::not_run) continue;
      self_test.add(device_labels(node.latest, r.device_id), r.self_test == SelfTestStatus::passed ? 1 : 0);
    }
  }
  self_test.write(out);
  const std::pair<Family, ProfileField> fields[] = {
      {{"crossgpu_device_matmul_f32_flops", "Measured f32 matmul throughput (FLOP/s)."},
       [](const DeviceProfile& p) { return p.matmul_f32_flops; }},
      {{"crossgpu_device_matmul_f16_flops", "Measured f16 matmul throughput (FLOP/s)."},
       [](const DeviceProfile& p) { return p.matmul_f16_flops; }},
      {{"crossgpu_device_matvec_bytes_per_second", "Measured f32 matvec throughput (matrix bytes/s)."},
       [](const DeviceProfile& p) { return p.matvec_f32_bytes_per_s; }},
      {{"crossgpu_device_memory_bandwidth_bytes_per_second", "Measured on-device copy bandwidth."},
       [](const DeviceProfile& p) { return p.copy_bytes_per_s; }},
      {{"crossgpu_device_upload_bytes_per_second", "Measured host-to-device bandwidth."},
       [](const DeviceProfile& p) { return p.upload_bytes_per_s; }},
      {{"crossgpu_device_download_bytes_per_second", "Measured device-to-host bandwidth."},
       [](const DeviceProfile& p) { return p.download_bytes_per_s; }},
      {{"crossgpu_device_round_trip_seconds", "Measured host-device round trip (4-byte upload + wait)."},
       [](const DeviceProfile& p) { return p.round_trip_seconds; }},
  };
  for (const auto& [family, field] : fields) {
    FamilyWriter writer(family);
    for (const NodeView& node : view.nodes) {
      for (const DeviceRegistration& r : node.latest.devices) {
        if (r.profile) writer.add(device_labels(node.latest, r.device_id), positive(field(*r.profile)));
      }
    }
    writer.write(out);
  }
}

void host_and_links(const ClusterView& view, std::string& out) {
  FamilyWriter up({"crossgpu_node_up", "1 when liveness sees the node healthy, 0 otherwise."});
  FamilyWriter battery({"crossgpu_host_battery_ratio", "Battery level, 0..1."});
  FamilyWriter charging({"crossgpu_host_charging", "1 when the battery is charging or full."});
  FamilyWriter mains({"crossgpu_host_on_mains", "1 when a mains or USB supply is online."});
  FamilyWriter temperature({"crossgpu_host_temperature_celsius", "Hottest thermal zone."});
  FamilyWriter thermal({"crossgpu_host_thermal_state",
                        "0 nominal, 1 fair, 2 serious, 3 critical (from thermal trip points)."});
  FamilyWriter rtt({"crossgpu_link_rtt_seconds", "Smoothed heartbeat round trip to the peer."});
  FamilyWriter bandwidth({"crossgpu_link_bandwidth_bytes_per_second", "Timed probe write to the peer."});
  for (const NodeView& node : view.nodes) {
    const NodeTelemetry& n = node.latest;
    const std::string labels = node_label(n);
    up.add(labels, n.state == "healthy" ? 1.0 : 0.0);
    battery.add(labels, measured(n.host.battery_level));
    charging.add(labels, measured(n.host.charging));
    mains.add(labels, measured(n.host.on_mains));
    temperature.add(labels, measured(n.host.max_temperature_c));
    thermal.add(labels, measured(n.host.thermal_state));
    for (const LinkMetrics& link : n.links) {
      const std::string link_labels =
          fmt::format("{},peer=\"{}\"", labels, prometheus_label_value(link.peer_node_id));
      const auto ms = measured(link.rtt_ms);
      rtt.add(link_labels, ms ? std::optional(*ms / 1000.0) : std::nullopt);
      bandwidth.add(link_labels, measured(link.bytes_per_s));
    }
  }
  for (const FamilyWriter* writer : {&up, &battery, &charging, &mains, &temperature, &thermal, &rtt, &bandwidth}) {
    writer->write(out);
  }
}

}  // namespace

std::string prometheus_label_value(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string prometheus_text(const ClusterView& view) {
  std::string out;
  host_and_links(view, out);
  device_metrics(view, out);
  device_registrations(view, out);
  return out;
}

}  // namespace crossgpu::telemetry
