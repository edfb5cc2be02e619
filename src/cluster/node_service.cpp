// Node service: sessions, devices, status and heartbeats (node_service_memory.cpp has the
// memory and kernel calls, node_service_peer.cpp the node-to-node transfers).
#include <charconv>

#include "cluster/device_info.hpp"
#include "cluster/node_service_support.hpp"
#include "cluster/protocol.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {
NodeService::NodeService(std::vector<std::shared_ptr<Device>> devices,
                         const net::NodeIdentity& identity,
                         const net::Authenticator& authenticator, SessionLimits limits,
                         PeerStatusSource peers, WeightCacheOptions cache,
                         MemberDirectory members)
    : devices_(std::move(devices)), identity_(identity), authenticator_(authenticator),
      sessions_(limits), grants_(identity.node_id()),
      peer_links_(identity, std::move(members)), peers_(std::move(peers)),
      weight_cache_(std::move(cache)) {}

std::shared_ptr<cluster::Session> NodeService::session_of(const grpc::ServerContext& context,
                                                          const net::PeerIdentity& peer) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kSessionMetadata);
  if (it == metadata.end()) {
    fail(Errc::invalid_argument, "no '{}' metadata: call Hello first and send its session id",
         kSessionMetadata);
  }
  std::uint64_t id = 0;
  const char* begin = it->second.data();
  const char* end = begin + it->second.size();
  auto [next, ec] = std::from_chars(begin, end, id);
  if (ec != std::errc{} || next != end || id == 0) {
    fail(Errc::invalid_argument, "'{}' metadata is not a session id", kSessionMetadata);
  }
  return sessions_.find(id, peer.node_id);
}

std::shared_ptr<Device> NodeService::device(const std::string& id) const {
  for (const auto& device : devices_) {
    if (device->id() == id) return device;
  }
  std::string known;
  for (const auto& device : devices_) known += (known.empty() ? "" : ", ") + device->id();
  fail(Errc::not_found, "this node has no device '{}'; it has: {}", id.substr(0, 80), known);
}

grpc::Status NodeService::Hello(grpc::ServerContext* context, const v1::HelloRequest* request,
                                v1::HelloResponse* response) {
  return serve(context, net::Role::monitor, "Hello", [&](const net::PeerIdentity& peer) {
    check_version(request->version());
    auto session = sessions_.open(peer);
    response->mutable_version()->set_major(kProtocolMajor);
    response->mutable_version()->set_minor(kProtocolMinor);
    response->set_node_id(identity_.node_id());
    response->add_capabilities("peer-copy");
    response->add_capabilities("stream-write");
    response->set_role(std::string(net::to_string(peer.role)));
    response->set_session_id(session->id());
    response->set_quota_bytes(session->quota_bytes());
    if (const int port = data_port_; port != 0) {
      response->add_capabilities("data-channel");
      response->add_capabilities("data-granted-write");
      response->add_capabilities("data-peer-copy");
      response->add_capabilities("data-peer-copy-f16");
      response->add_capabilities("data-chain");
      response->add_capabilities("data-chain-f16");
      response->add_capabilities("data-chain-token");
      response->add_capabilities("data-chain-sample");
      response->set_data_port(static_cast<std::uint32_t>(port));
      const auto secret = session->issue_data_secret(kMaxDataLanes);
      response->set_data_secret(secret.data(), secret.size());
      response->set_data_lanes(kMaxDataLanes);
    }
    log::info("session {} opened by {} ({}, {})", session->id(), peer.node_id, peer.address,
              net::to_string(peer.role));
  });
}

// The stream lives as long as the client: each heartbeat is echoed (the client measures RTT);
// when it ends for any reason the session closes and its memory is freed.
grpc::Status NodeService::Session(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::SessionEvent, v1::SessionEvent>* stream) {
  std::uint64_t id = 0;
  grpc::Status status = serve(context, net::Role::monitor, "Session",
                              [&](const net::PeerIdentity& peer) {
    v1::SessionEvent first;
    if (!stream->Read(&first)) fail(Errc::invalid_argument, "Session: no first event");
    if (!sessions_.attach(first.session_id(), peer.node_id)) {
      fail(Errc::not_found, "Session: no unattached session {} of this peer",
           first.session_id());
    }
    id = first.session_id();
    v1::SessionEvent event = first;
    do {
      v1::SessionEvent echo;
      echo.set_sent_unix_nanos(event.sent_unix_nanos());
      // Stopping: this heartbeat's answer says goodbye and ends the stream, so that the peer
      // knows the node left rather than failed.
      echo.set_node_stopping(stopping_.load());
      if (!stream->Write(echo) || echo.node_stopping()) break;
    } while (stream->Read(&event));
  });
  if (id != 0) {
    sessions_.close(id);
    log::info("session {} ended; its memory is freed", id);
  }
  return status;
}

grpc::Status NodeService::ListDevices(grpc::ServerContext* context,
                                      const v1::ListDevicesRequest*,
                                      v1::ListDevicesResponse* response) {
  return serve(context, net::Role::monitor, "ListDevices", [&](const net::PeerIdentity&) {
    for (const auto& device : devices_) {
      *response->add_devices() = to_wire(device->refreshed_properties());
    }
  });
}

grpc::Status NodeService::Status(grpc::ServerContext* context, const v1::StatusRequest*,
                                 v1::StatusResponse* response) {
  return serve(context, net::Role::monitor, "Status", [&](const net::PeerIdentity&) {
    response->set_node_id(identity_.node_id());
    response->set_sessions(static_cast<std::uint32_t>(sessions_.sessions().size()));
    for (const auto& device : devices_) {
      const MemoryUsage usage = device->usage();
      response->set_allocated_bytes(response->allocated_bytes() + usage.allocated_bytes);
      response->set_live_buffers(response->live_buffers() + usage.live_buffers);
      *response->add_devices() = to_wire(device->refreshed_properties());
    }
    if (peers_) {
      for (v1::PeerStatus& peer : peers_()) *response->add_peers() = std::move(peer);
    }
  });
}

grpc::Status NodeService::Heartbeat(grpc::ServerContext* context,
                                    const v1::HeartbeatRequest* request,
                                    v1::HeartbeatResponse* response) {
  return serve(context, net::Role::monitor, "Heartbeat", [&](const net::PeerIdentity&) {
    response->set_node_id(identity_.node_id());
    response->set_echoed_unix_nanos(request->sent_unix_nanos());
  });
}

}  // namespace crossgpu::cluster
