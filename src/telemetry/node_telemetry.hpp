// One node's telemetry as the protocol carries it (proto/crossgpu/v1/telemetry.proto), in plain
// C++ so that aggregation, exporters and placement need no gRPC: device registrations (profile
// and self-test), the latest metrics of each device and of the host, and the node's links.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "telemetry/collector.hpp"
#include "telemetry/measured.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::telemetry {

// Telemetry protocol version (telemetry.proto): another major is refused, a newer minor accepted.
inline constexpr std::uint32_t kTelemetryMajor = 1;
inline constexpr std::uint32_t kTelemetryMinor = 2;  // 1.1: DeviceProfileInfo.matvec_q8_0_bytes_per_s
                                                     // 1.2: NodeTelemetry.name

enum class SelfTestStatus { not_run, passed, failed };

struct DeviceRegistration {
  std::string device_id;
  std::string name;
  std::string vendor;
  std::string type;
  std::string backend;
  std::optional<DeviceProfile> profile;  // nullopt until measured; profile_status says why
  std::string profile_status;
  SelfTestStatus self_test = SelfTestStatus::not_run;
  std::string self_test_reason;          // first mismatches when failed; why not run otherwise
};

struct LinkMetrics {
  std::string peer_node_id;
  std::string peer_address;
  Measured<double> rtt_ms = Measured<double>::unavailable("no heartbeat answered yet");
  Measured<double> bytes_per_s = Measured<double>::unavailable("not probed yet");
  std::uint64_t probe_bytes = 0;
  std::int64_t bandwidth_measured_unix_seconds = 0;
};

struct NodeTelemetry {
  std::string node_id;
  std::string name;     // the owner's name for the node (self-declared; empty from a 1.1 node)
  std::string address;  // how the aggregating node reaches it; empty for itself
  std::string state;    // healthy | suspect | lost (liveness' view); "healthy" for itself
  std::uint64_t sequence = 0;
  std::int64_t sampled_unix_nanos = 0;
  std::uint32_t interval_ms = 0;
  std::vector<DeviceRegistration> devices;
  std::vector<DeviceMetrics> metrics;
  HostMetrics host;
  std::vector<LinkMetrics> links;
};

std::string_view to_string(SelfTestStatus status) noexcept;

// A node's display name: at most this many bytes of UTF-8 without control characters.
inline constexpr std::size_t kMaxNodeNameBytes = 64;
// Returns `name` when it is a valid display name; Errc::invalid_argument saying why otherwise.
// Checked where a node takes its name (`--name`) and where telemetry brings another's.
const std::string& checked_node_name(const std::string& name);

// Registration of a local device before it is profiled.
DeviceRegistration registration_of(const Device& device, std::string profile_status);
// The profile's outcome folded into a registration: rates, self-test result and reason.
void apply_profile(DeviceRegistration& registration, DeviceProfile profile, std::string status);

}  // namespace crossgpu::telemetry
