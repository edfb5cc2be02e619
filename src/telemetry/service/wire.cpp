#include "telemetry/service/wire.hpp"

#include <cmath>

#include "core/error.hpp"

namespace crossgpu::telemetry {
namespace {

// ----- encoding ------------------------------------------------------------------------------

void put(const Measured<double>& m, v1::MeasuredDouble* out) {
  out->set_available(m.available());
  if (m.value) out->set_value(*m.value);
  out->set_source(m.source);
}
void put(const Measured<std::uint64_t>& m, v1::MeasuredUint64* out) {
  out->set_available(m.available());
  if (m.value) out->set_value(*m.value);
  out->set_source(m.source);
}
void put(const Measured<bool>& m, v1::MeasuredBool* out) {
  out->set_available(m.available());
  if (m.value) out->set_value(*m.value);
  out->set_source(m.source);
}
void put(const Measured<ThermalState>& m, v1::MeasuredThermalState* out) {
  out->set_available(m.available());
  if (m.value) out->set_value(static_cast<v1::ThermalState>(static_cast<int>(*m.value) + 1));
  out->set_source(m.source);
}

// A profile rate of 0 means "not measured" (profiler.hpp): it travels as unavailable.
void put_rate(double rate, const char* missing, v1::MeasuredDouble* out) {
  put(rate > 0 ? Measured<double>::of(rate, "profile") : Measured<double>::unavailable(missing), out);
}

void put_profile(const DeviceProfile& p, v1::DeviceProfileInfo* out) {
  put_rate(p.matmul_f32_flops, "not measured", out->mutable_matmul_f32_flops());
  put_rate(p.matmul_f16_flops, "no 16-bit storage on this device", out->mutable_matmul_f16_flops());
  put_rate(p.matvec_f32_bytes_per_s, "not measured", out->mutable_matvec_f32_bytes_per_s());
  put_rate(p.matvec_f16_bytes_per_s, "no 16-bit storage on this device", out->mutable_matvec_f16_bytes_per_s());
  put_rate(p.matvec_q8_0_bytes_per_s, "not measured", out->mutable_matvec_q8_0_bytes_per_s());
  put_rate(p.copy_bytes_per_s, "not measured", out->mutable_memory_bytes_per_s());
  put_rate(p.upload_bytes_per_s, "not measured", out->mutable_upload_bytes_per_s());
  put_rate(p.download_bytes_per_s, "not measured", out->mutable_download_bytes_per_s());
  put_rate(p.round_trip_seconds, "not measured", out->mutable_round_trip_seconds());
  out->set_driver_version(p.driver_version);
  out->set_measured_at(p.measured_at);
}

void put_registration(const DeviceRegistration& r, v1::DeviceRegistration* out) {
  out->set_device_id(r.device_id);
  out->set_name(r.name);
  out->set_vendor(r.vendor);
  out->set_type(r.type);
  out->set_backend(r.backend);
  if (r.profile) put_profile(*r.profile, out->mutable_profile());
  out->set_profile_status(r.profile_status);
  out->set_self_test(r.self_test == SelfTestStatus::passed   ? v1::SELF_TEST_PASSED
                     : r.self_test == SelfTestStatus::failed ? v1::SELF_TEST_FAILED
                                                             : v1::SELF_TEST_NOT_RUN);
  out->set_self_test_reason(r.self_test_reason);
}

void put_metrics(const DeviceMetrics& m, std::int64_t at, v1::DeviceMetricsSample* out) {
  out->set_device_id(m.device_id);
  out->set_sampled_unix_nanos(at);
  put(m.memory_total_bytes, out->mutable_memory_total_bytes());
  put(m.memory_used_bytes, out->mutable_memory_used_bytes());
  put(m.memory_free_bytes, out->mutable_memory_free_bytes());
  put(m.memory_budget_bytes, out->mutable_memory_budget_bytes());
  put(m.busy_fraction, out->mutable_busy_fraction());
  put(m.temperature_c, out->mutable_temperature_c());
  put(m.power_w, out->mutable_power_w());
  put(m.clock_mhz, out->mutable_clock_mhz());
}

void put_host(const HostMetrics& h, std::int64_t at, v1::HostMetricsSample* out) {
  out->set_sampled_unix_nanos(at);
  put(h.battery_level, out->mutable_battery_level());
  put(h.charging, out->mutable_charging());
  put(h.on_mains, out->mutable_on_mains());
  put(h.max_temperature_c, out->mutable_max_temperature_c());
  out->set_hottest_zone(h.hottest_zone);
  put(h.thermal_state, out->mutable_thermal_state());
}

void put_link(const LinkMetrics& l, v1::LinkMetrics* out) {
  out->set_peer_node_id(l.peer_node_id);
  out->set_peer_address(l.peer_address);
  put(l.rtt_ms, out->mutable_rtt_ms());
  put(l.bytes_per_s, out->mutable_bytes_per_s());
  out->set_probe_bytes(l.probe_bytes);
  out->set_bandwidth_measured_unix_seconds(l.bandwidth_measured_unix_seconds);
}

// ----- decoding ------------------------------------------------------------------------------

const std::string& text(const std::string& value, const char* field) {
  if (value.size() > kMaxWireText) {
    fail(Errc::invalid_argument, "telemetry field '{}' is {} bytes long (at most {})", field,
         value.size(), kMaxWireText);
  }
  return value;
}

const char* kAbsent = "not reported by the sender";

Measured<double> get(bool has, const v1::MeasuredDouble& m, const char* field) {
  if (!has) return Measured<double>::unavailable(kAbsent);
  if (!m.available()) return Measured<double>::unavailable(text(m.source(), field));
  if (!std::isfinite(m.value())) {
    fail(Errc::invalid_argument, "telemetry field '{}' is {}, not a measurement", field, m.value());
  }
  return Measured<double>::of(m.value(), text(m.source(), field));
}
Measured<std::uint64_t> get(bool has, const v1::MeasuredUint64& m, const char* field) {
  if (!has) return Measured<std::uint64_t>::unavailable(kAbsent);
  if (!m.available()) return Measured<std::uint64_t>::unavailable(text(m.source(), field));
  return Measured<std::uint64_t>::of(m.value(), text(m.source(), field));
}
Measured<bool> get(bool has, const v1::MeasuredBool& m, const char* field) {
  if (!has) return Measured<bool>::unavailable(kAbsent);
  if (!m.available()) return Measured<bool>::unavailable(text(m.source(), field));
  return Measured<bool>::of(m.value(), text(m.source(), field));
}
Measured<ThermalState> get(bool has, const v1::MeasuredThermalState& m, const char* field) {
  if (!has) return Measured<ThermalState>::unavailable(kAbsent);
  if (!m.available()) return Measured<ThermalState>::unavailable(text(m.source(), field));
  const int value = static_cast<int>(m.value());
  if (value < v1::THERMAL_STATE_NOMINAL || value > v1::THERMAL_STATE_CRITICAL) {
    fail(Errc::invalid_argument, "telemetry field '{}': thermal state {} is not one this node knows",
         field, value);
  }
  return Measured<ThermalState>::of(static_cast<ThermalState>(value - 1), text(m.source(), field));
}

#define CROSSGPU_GET(msg, name) get(msg.has_##name(), msg.name(), #name)

// Rates travel as wrappers; the profile keeps 0 for "not measured".
double rate(const Measured<double>& m) { return m.value.value_or(0); }

DeviceProfile get_profile(const v1::DeviceProfileInfo& w, const v1::DeviceRegistration& r) {
  DeviceProfile p;
  p.device_id = r.device_id();
  p.device_name = r.name();
  p.driver_version = text(w.driver_version(), "driver_version");
  p.measured_at = text(w.measured_at(), "measured_at");
  p.matmul_f32_flops = rate(CROSSGPU_GET(w, matmul_f32_flops));
  p.matmul_f16_flops = rate(CROSSGPU_GET(w, matmul_f16_flops));
  p.matvec_f32_bytes_per_s = rate(CROSSGPU_GET(w, matvec_f32_bytes_per_s));
  p.matvec_f16_bytes_per_s = rate(CROSSGPU_GET(w, matvec_f16_bytes_per_s));
  p.matvec_q8_0_bytes_per_s = rate(CROSSGPU_GET(w, matvec_q8_0_bytes_per_s));  // absent from 1.0 senders
  p.copy_bytes_per_s = rate(CROSSGPU_GET(w, memory_bytes_per_s));
  p.upload_bytes_per_s = rate(CROSSGPU_GET(w, upload_bytes_per_s));
  p.download_bytes_per_s = rate(CROSSGPU_GET(w, download_bytes_per_s));
  p.round_trip_seconds = rate(CROSSGPU_GET(w, round_trip_seconds));
  p.self_test_passed = r.self_test() == v1::SELF_TEST_PASSED;
  if (!r.self_test_reason().empty()) p.self_test_notes.push_back(r.self_test_reason());
  return p;
}

DeviceRegistration get_registration(const v1::DeviceRegistration& w) {
  DeviceRegistration r;
  r.device_id = text(w.device_id(), "device_id");
  if (r.device_id.empty()) fail(Errc::invalid_argument, "telemetry: a device registration has no id");
  r.name = text(w.name(), "name");
  r.vendor = text(w.vendor(), "vendor");
  r.type = text(w.type(), "type");
  r.backend = text(w.backend(), "backend");
  r.profile_status = text(w.profile_status(), "profile_status");
  r.self_test_reason = text(w.self_test_reason(), "self_test_reason");
  switch (w.self_test()) {
    case v1::SELF_TEST_PASSED: r.self_test = SelfTestStatus::passed; break;
    case v1::SELF_TEST_FAILED: r.self_test = SelfTestStatus::failed; break;
    case v1::SELF_TEST_NOT_RUN: r.self_test = SelfTestStatus::not_run; break;
    default:
      // A result a newer sender added: not "passed", so the device is not trusted with work.
      r.self_test = SelfTestStatus::not_run;
      r.self_test_reason = "self-test result unknown to this node";
  }
  if (w.has_profile()) r.profile = get_profile(w.profile(), w);
  return r;
}

DeviceMetrics get_metrics(const v1::DeviceMetricsSample& w) {
  DeviceMetrics m;
  m.device_id = text(w.device_id(), "device_id");
  m.memory_total_bytes = CROSSGPU_GET(w, memory_total_bytes);
  m.memory_used_bytes = CROSSGPU_GET(w, memory_used_bytes);
  m.memory_free_bytes = CROSSGPU_GET(w, memory_free_bytes);
  m.memory_budget_bytes = CROSSGPU_GET(w, memory_budget_bytes);
  m.busy_fraction = CROSSGPU_GET(w, busy_fraction);
  m.temperature_c = CROSSGPU_GET(w, temperature_c);
  m.power_w = CROSSGPU_GET(w, power_w);
  m.clock_mhz = CROSSGPU_GET(w, clock_mhz);
  return m;
}

HostMetrics get_host(const v1::HostMetricsSample& w) {
  HostMetrics h;
  h.battery_level = CROSSGPU_GET(w, battery_level);
  h.charging = CROSSGPU_GET(w, charging);
  h.on_mains = CROSSGPU_GET(w, on_mains);
  h.max_temperature_c = CROSSGPU_GET(w, max_temperature_c);
  h.hottest_zone = text(w.hottest_zone(), "hottest_zone");
  h.thermal_state = CROSSGPU_GET(w, thermal_state);
  return h;
}

LinkMetrics get_link(const v1::LinkMetrics& w) {
  LinkMetrics l;
  l.peer_node_id = text(w.peer_node_id(), "peer_node_id");
  l.peer_address = text(w.peer_address(), "peer_address");
  l.rtt_ms = CROSSGPU_GET(w, rtt_ms);
  l.bytes_per_s = CROSSGPU_GET(w, bytes_per_s);
  l.probe_bytes = w.probe_bytes();
  l.bandwidth_measured_unix_seconds = w.bandwidth_measured_unix_seconds();
  return l;
}

#undef CROSSGPU_GET

void check_counts(const v1::NodeTelemetry& w) {
  if (static_cast<std::size_t>(w.devices_size()) > kMaxWireDevices ||
      static_cast<std::size_t>(w.metrics_size()) > kMaxWireDevices) {
    fail(Errc::invalid_argument, "telemetry of node {} lists {} devices and {} samples (at most {})",
         w.node_id().substr(0, 64), w.devices_size(), w.metrics_size(), kMaxWireDevices);
  }
  if (static_cast<std::size_t>(w.topology().links_size()) > kMaxWireLinks) {
    fail(Errc::invalid_argument, "telemetry of node {} lists {} links (at most {})",
         w.node_id().substr(0, 64), w.topology().links_size(), kMaxWireLinks);
  }
}

}  // namespace

v1::TelemetryVersion telemetry_version() {
  v1::TelemetryVersion v;
  v.set_major(kTelemetryMajor);
  v.set_minor(kTelemetryMinor);
  return v;
}

void check_telemetry_version(const v1::TelemetryVersion& version) {
  if (version.major() != kTelemetryMajor) {
    fail(Errc::unsupported,
         "telemetry protocol version {}.{} is not supported: this node speaks {}.{}; run the same "
         "major version of crossgpu on every device",
         version.major(), version.minor(), kTelemetryMajor, kTelemetryMinor);
  }
}

v1::NodeTelemetry to_wire(const NodeTelemetry& t) {
  v1::NodeTelemetry out;
  *out.mutable_version() = telemetry_version();
  out.set_node_id(t.node_id);
  out.set_name(t.name);
  out.set_address(t.address);
  out.set_state(t.state);
  out.mutable_heartbeat()->set_sequence(t.sequence);
  out.mutable_heartbeat()->set_sent_unix_nanos(t.sampled_unix_nanos);
  out.mutable_heartbeat()->set_interval_ms(t.interval_ms);
  for (const DeviceRegistration& r : t.devices) put_registration(r, out.add_devices());
  for (const DeviceMetrics& m : t.metrics) put_metrics(m, t.sampled_unix_nanos, out.add_metrics());
  put_host(t.host, t.sampled_unix_nanos, out.mutable_host());
  for (const LinkMetrics& l : t.links) put_link(l, out.mutable_topology()->add_links());
  return out;
}

NodeTelemetry from_wire(const v1::NodeTelemetry& w) {
  check_telemetry_version(w.version());
  check_counts(w);
  NodeTelemetry t;
  t.node_id = text(w.node_id(), "node_id");
  if (t.node_id.empty()) fail(Errc::invalid_argument, "telemetry without a node id");
  t.name = checked_node_name(w.name());
  t.address = text(w.address(), "address");
  t.state = text(w.state(), "state");
  t.sequence = w.heartbeat().sequence();
  t.sampled_unix_nanos = w.heartbeat().sent_unix_nanos();
  t.interval_ms = w.heartbeat().interval_ms();
  for (const auto& r : w.devices()) t.devices.push_back(get_registration(r));
  for (const auto& m : w.metrics()) t.metrics.push_back(get_metrics(m));
  t.host = get_host(w.host());
  for (const auto& l : w.topology().links()) t.links.push_back(get_link(l));
  return t;
}

}  // namespace crossgpu::telemetry
