#include "telemetry/service/telemetry_service.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/status.hpp"
#include "telemetry/service/wire.hpp"

namespace crossgpu::telemetry {

TelemetryService::TelemetryService(const ClusterAggregator& aggregator,
                                   const net::Authenticator& authenticator,
                                   std::chrono::milliseconds default_interval)
    : aggregator_(aggregator), authenticator_(authenticator), default_interval_(default_interval) {}

// Authorizes (monitor may read telemetry), holds a place in the server's call quota while the
// body runs (a Subscribe stream holds a serving thread as long as it is open), maps a thrown
// Error to its status (past the quota: RESOURCE_EXHAUSTED naming it).
template <typename Body>
grpc::Status TelemetryService::serve(grpc::ServerContext* context, const char* what, Body&& body) {
  net::PeerIdentity peer;
  if (grpc::Status refused = authenticator_.authorize(*context, net::Role::monitor, &peer);
      !refused.ok()) {
    return refused;
  }
  try {
    const net::CallQuota::Ticket place = authenticator_.calls().acquire(peer, what);
    body();
    return grpc::Status::OK;
  } catch (const Error& e) {
    log::debug("{} from {} ({}) refused: {}", what, peer.node_id, peer.address, e.what());
    return net::to_status(e);
  } catch (const std::exception& e) {
    log::error("{} from {}: unexpected exception: {}", what, peer.node_id, e.what());
    return net::to_status(Errc::internal, fmt::format("{}: {}", what, e.what()));
  }
}

v1::TelemetrySnapshotResponse TelemetryService::snapshot(bool cluster) const {
  v1::TelemetrySnapshotResponse response;
  *response.mutable_version() = telemetry_version();
  if (!cluster) {
    *response.add_nodes() = to_wire(aggregator_.self());
    return response;
  }
  for (const NodeView& node : aggregator_.view().nodes) *response.add_nodes() = to_wire(node.latest);
  return response;
}

grpc::Status TelemetryService::Snapshot(grpc::ServerContext* context,
                                        const v1::TelemetrySnapshotRequest* request,
                                        v1::TelemetrySnapshotResponse* response) {
  return serve(context, "Telemetry.Snapshot", [&] {
    check_telemetry_version(request->version());
    *response = snapshot(request->cluster());
  });
}

grpc::Status TelemetryService::Subscribe(grpc::ServerContext* context,
                                         const v1::TelemetrySubscribeRequest* request,
                                         grpc::ServerWriter<v1::TelemetrySnapshotResponse>* writer) {
  return serve(context, "Telemetry.Subscribe", [&] {
    check_telemetry_version(request->version());
    const auto asked = std::chrono::milliseconds(request->interval_ms());
    const auto interval = request->interval_ms() == 0
                              ? default_interval_
                              : std::clamp(asked, kMinSubscribeInterval, kMaxSubscribeInterval);
    // Sleeps in short steps so that a cancelled call or a server shutdown ends the stream soon.
    constexpr auto step = std::chrono::milliseconds(50);
    while (!context->IsCancelled()) {
      if (!writer->Write(snapshot(request->cluster()))) return;
      const auto until = std::chrono::steady_clock::now() + interval;
      while (!context->IsCancelled() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            step, until - std::chrono::steady_clock::now()));
      }
    }
  });
}

grpc::Status TelemetryService::Probe(grpc::ServerContext* context,
                                     grpc::ServerReader<v1::ProbeChunk>* reader,
                                     v1::ProbeResponse* response) {
  return serve(context, "Telemetry.Probe", [&] {
    std::uint64_t received = 0;
    v1::ProbeChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.data().size() > kMaxProbeChunkBytes) {
        fail(Errc::out_of_range, "probe chunk of {} bytes (at most {})", chunk.data().size(),
             kMaxProbeChunkBytes);
      }
      received += chunk.data().size();
      if (received > kMaxProbeBytes) {
        fail(Errc::out_of_range, "probe of more than {} bytes refused", kMaxProbeBytes);
      }
    }
    response->set_bytes_received(received);
  });
}

}  // namespace crossgpu::telemetry
