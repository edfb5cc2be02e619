#include "telemetry/service/snapshot_client.hpp"

#include "crossgpu/v1/telemetry.grpc.pb.h"
#include "net/status.hpp"
#include "telemetry/service/wire.hpp"

namespace crossgpu::telemetry {

std::vector<NodeTelemetry> fetch_snapshot(const std::shared_ptr<grpc::Channel>& channel, bool cluster,
                                          std::chrono::milliseconds timeout) {
  auto stub = v1::Telemetry::NewStub(channel);
  v1::TelemetrySnapshotRequest request;
  *request.mutable_version() = telemetry_version();
  request.set_cluster(cluster);
  v1::TelemetrySnapshotResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  net::throw_if_failed(stub->Snapshot(&context, request, &response), "Telemetry.Snapshot");
  check_telemetry_version(response.version());
  std::vector<NodeTelemetry> nodes;
  nodes.reserve(static_cast<std::size_t>(response.nodes_size()));
  for (const v1::NodeTelemetry& node : response.nodes()) nodes.push_back(from_wire(node));
  return nodes;
}

}  // namespace crossgpu::telemetry
