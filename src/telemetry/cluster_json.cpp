#include "telemetry/cluster_json.hpp"

#include <cmath>

namespace crossgpu::telemetry {
namespace {

using nlohmann::json;

template <typename T>
json measured(const Measured<T>& m) {
  json out = {{"available", m.available()}, {"value", nullptr}, {"source", m.source}};
  if (m.value) out["value"] = *m.value;
  return out;
}

json measured(const Measured<ThermalState>& m) {
  json out = {{"available", m.available()}, {"value", nullptr}, {"source", m.source}};
  if (m.value) out["value"] = std::string(to_string(*m.value));
  return out;
}

// A history point: the values worth plotting, null where unavailable.
template <typename T>
json value_or_null(const Measured<T>& m) {
  return m.value ? json(*m.value) : json(nullptr);
}

json metrics_json(const DeviceMetrics& m) {
  return {{"memory_total_bytes", measured(m.memory_total_bytes)},
          {"memory_used_bytes", measured(m.memory_used_bytes)},
          {"memory_free_bytes", measured(m.memory_free_bytes)},
          {"memory_budget_bytes", measured(m.memory_budget_bytes)},
          {"busy_fraction", measured(m.busy_fraction)},
          {"temperature_c", measured(m.temperature_c)},
          {"power_w", measured(m.power_w)},
          {"clock_mhz", measured(m.clock_mhz)}};
}

json history_json(const std::vector<TimedMetrics>& samples) {
  json out = json::array();
  for (const TimedMetrics& s : samples) {
    out.push_back({{"unix_nanos", s.unix_nanos},
                   {"memory_used_bytes", value_or_null(s.metrics.memory_used_bytes)},
                   {"busy_fraction", value_or_null(s.metrics.busy_fraction)},
                   {"temperature_c", value_or_null(s.metrics.temperature_c)},
                   {"power_w", value_or_null(s.metrics.power_w)}});
  }
  return out;
}

json device_json(const DeviceRegistration& r, const NodeView& node) {
  json out = {{"id", r.device_id},
              {"name", r.name},
              {"vendor", r.vendor},
              {"type", r.type},
              {"backend", r.backend},
              {"profile", nullptr},
              {"profile_status", r.profile_status},
              {"self_test", std::string(to_string(r.self_test))},
              {"self_test_reason", r.self_test_reason},
              {"metrics", nullptr},
              {"history", json::array()}};
  if (r.profile) to_json(out["profile"], *r.profile);
  for (const DeviceMetrics& m : node.latest.metrics) {
    if (m.device_id == r.device_id) out["metrics"] = metrics_json(m);
  }
  for (const DeviceHistory& h : node.history) {
    if (h.device_id == r.device_id) out["history"] = history_json(h.samples);
  }
  return out;
}

json host_json(const HostMetrics& h) {
  return {{"battery_level", measured(h.battery_level)},
          {"charging", measured(h.charging)},
          {"on_mains", measured(h.on_mains)},
          {"max_temperature_c", measured(h.max_temperature_c)},
          {"hottest_zone", h.hottest_zone},
          {"thermal_state", measured(h.thermal_state)}};
}

json link_json(const LinkMetrics& l) {
  return {{"peer_node_id", l.peer_node_id},
          {"peer_address", l.peer_address},
          {"rtt_ms", measured(l.rtt_ms)},
          {"bytes_per_s", measured(l.bytes_per_s)},
          {"probe_bytes", l.probe_bytes},
          {"bandwidth_measured_unix_seconds", l.bandwidth_measured_unix_seconds}};
}

}  // namespace

json node_json(const NodeView& node) {
  const NodeTelemetry& n = node.latest;
  json out = {{"node_id", n.node_id},
              {"name", n.name},
              {"address", n.address},
              {"state", n.state},
              {"self", node.self},
              {"sequence", n.sequence},
              {"sampled_unix_nanos", n.sampled_unix_nanos},
              {"interval_ms", n.interval_ms},
              {"host", host_json(n.host)},
              {"devices", json::array()},
              {"links", json::array()}};
  for (const DeviceRegistration& r : n.devices) out["devices"].push_back(device_json(r, node));
  for (const LinkMetrics& l : n.links) out["links"].push_back(link_json(l));
  return out;
}

json cluster_json(const ClusterView& view) {
  json nodes = json::array();
  for (const NodeView& node : view.nodes) nodes.push_back(node_json(node));
  return {{"version", {{"major", kTelemetryMajor}, {"minor", kTelemetryMinor}}}, {"nodes", nodes}};
}

}  // namespace crossgpu::telemetry
