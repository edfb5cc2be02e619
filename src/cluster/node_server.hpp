// A node's gRPC server: the Node service over this machine's devices, behind mutual TLS with the
// node's cluster identity, plus Enrollment and Admin when this node holds the cluster CA. There is
// no plaintext listener. gRPC stays out of this header (it is slow to compile).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/call_counts.hpp"
#include "cluster/session_table.hpp"
#include "cluster/weight_cache.hpp"
#include "device/device.hpp"
#include "net/grpc_accept_gate.hpp"
#include "net/handshake_gate.hpp"

namespace crossgpu::v1 {
class PeerStatus;
}
namespace grpc {
class Service;
}
namespace crossgpu::net {
class Authenticator;
class NodeIdentity;
}  // namespace crossgpu::net

namespace crossgpu::cluster {

struct NodeServerOptions {
  std::filesystem::path config_dir;         // holds the node identity (and the CA, if any)
  std::string listen_address = "0.0.0.0:7450";
  // host:port that other devices use to reach this node; put into invites. Empty: derived from
  // listen_address.
  std::string advertised_address;
  SessionLimits limits;
  std::size_t max_threads = 256;            // bounds a flood of concurrent calls
  std::function<std::vector<v1::PeerStatus>()> peers;  // liveness' view; may be empty
  // The members this node may copy to (PeerCopy): node id -> verified address, from its peer
  // monitor. Empty: peer copies are refused (clients then relay through themselves).
  std::function<std::string(const std::string& node_id)> members;
  // The data channel (TLS 1.3, binary framing) for bulk writes and reads. Empty: the listen
  // address's host on any free port, advertised in Hello. Off: gRPC carries all data.
  bool data_channel = true;
  std::string data_listen_address;
  // What a connection may hold before it authenticates, on the data channel and (the deadline)
  // on the gRPC port. Authenticated data connections are capped by max_sessions times the
  // default lanes and by the descriptors left after a reserve (net/descriptor_limit.hpp).
  net::HandshakeLimits handshake;
  // The weight cache (FillFromCache / StoreToCache): folder and byte limit; limit 0 turns it off.
  WeightCacheOptions weight_cache;
  // More gRPC services served on the same mutual-TLS port, from layers above cluster (the app
  // registers telemetry's). Each factory runs once, with the node's identity and authenticator;
  // every method of the service it returns must call authenticator.authorize() first.
  using ServiceFactory = std::function<std::unique_ptr<grpc::Service>(
      const net::NodeIdentity&, const net::Authenticator&)>;
  std::vector<ServiceFactory> services;
};

class NodeServer {
 public:
  // Loads the identity from options.config_dir (Errc::not_found when the folder has none).
  NodeServer(std::vector<std::shared_ptr<Device>> devices, NodeServerOptions options);
  ~NodeServer();
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

  // Binds and starts serving. Errc::io when the address cannot be bound.
  void start();
  // The bound port (after start); useful with listen port 0.
  int port() const noexcept;
  // The data channel's port (0 without one).
  int data_port() const noexcept;
  // What the data channel's pre-authentication gate did (zeros without a data channel).
  net::HandshakeCounts data_handshake_counts() const noexcept;
  // What the gRPC port's accept gate did (net/grpc_accept_gate.hpp).
  net::GrpcGateCounts grpc_gate_counts() const noexcept;
  const std::string& node_id() const noexcept;
  SessionTable& sessions() noexcept;
  NodeCallCounts call_counts() const noexcept;

  // Stops accepting calls, lets running calls finish for up to `drain`, cancels the rest, then
  // frees every session. Safe to call twice.
  void shutdown(std::chrono::milliseconds drain = std::chrono::seconds(5));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::cluster
