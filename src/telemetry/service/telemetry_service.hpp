// The Telemetry gRPC service (proto/crossgpu/v1/telemetry.proto): this node's cluster view for
// monitors, a subscription that streams it at an interval, and the probe peers time to measure
// link bandwidth. Served by `crossgpu node` on its mutual-TLS port through the node server's
// extra-service hook; every call is authorized (role monitor or above) first and holds a place in
// the server's call quota (net/call_quota.hpp) while it runs.
#pragma once

#include <chrono>

#include "crossgpu/v1/telemetry.grpc.pb.h"
#include "net/security.hpp"
#include "telemetry/cluster_view.hpp"

namespace crossgpu::telemetry {

// Probe limits: a probe chunk is at most one protocol chunk; a call at most this many bytes.
inline constexpr std::uint64_t kMaxProbeChunkBytes = 4ull << 20;
inline constexpr std::uint64_t kMaxProbeBytes = 64ull << 20;
inline constexpr std::chrono::milliseconds kMinSubscribeInterval{100};
inline constexpr std::chrono::milliseconds kMaxSubscribeInterval{60'000};

class TelemetryService final : public v1::Telemetry::Service {
 public:
  TelemetryService(const ClusterAggregator& aggregator, const net::Authenticator& authenticator,
                   std::chrono::milliseconds default_interval);

  grpc::Status Snapshot(grpc::ServerContext*, const v1::TelemetrySnapshotRequest*,
                        v1::TelemetrySnapshotResponse*) override;
  grpc::Status Subscribe(grpc::ServerContext*, const v1::TelemetrySubscribeRequest*,
                         grpc::ServerWriter<v1::TelemetrySnapshotResponse>*) override;
  grpc::Status Probe(grpc::ServerContext*, grpc::ServerReader<v1::ProbeChunk>*,
                     v1::ProbeResponse*) override;

 private:
  template <typename Body>
  grpc::Status serve(grpc::ServerContext* context, const char* what, Body&& body);
  v1::TelemetrySnapshotResponse snapshot(bool cluster) const;

  const ClusterAggregator& aggregator_;
  const net::Authenticator& authenticator_;
  const std::chrono::milliseconds default_interval_;
};

}  // namespace crossgpu::telemetry
