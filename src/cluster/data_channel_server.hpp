// The node's data channel: a TLS 1.3 listener (next to the gRPC port) for bulk writes and reads
// of session buffers. A connection is admitted only with a cluster certificate of role compute
// that is not revoked, and only once it binds to a session with the one-time secret that Hello
// gave that session's owner: a data connection then acts for exactly one session, its quota and
// its buffers, plus the ranges of other sessions' buffers this node granted the connected peer
// (node-to-node copies). Before the TLS handshake completes a connection costs no thread: a
// HandshakeGate runs every pending handshake under its budget (deadline for the whole handshake,
// caps globally and per source address). Once authenticated, one thread per connection; at most
// max_connections at once, and at most half of them for one identity (so one member, or a stolen
// member key, cannot take every connection).
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cluster/data_connection.hpp"
#include "net/call_quota.hpp"
#include "net/handshake_gate.hpp"
#include "net/security.hpp"
#include "net/tls_socket.hpp"

namespace crossgpu::cluster {

struct DataChannelOptions {
  std::string listen_address = "0.0.0.0:0";  // host:port; port 0: any free port
  std::size_t max_connections = 256;  // authenticated connections (one thread each)
  // The budget before authentication; its deadline also bounds each read of the bind request.
  net::HandshakeLimits handshake;
};

class DataChannelServer {
 public:
  DataChannelServer(const net::NodeIdentity& identity, const net::Authenticator& authenticator,
                    DataServices services, DataChannelOptions options);
  ~DataChannelServer();
  DataChannelServer(const DataChannelServer&) = delete;
  DataChannelServer& operator=(const DataChannelServer&) = delete;

  // Binds and starts accepting. Errc::io when the address cannot be bound.
  void start();
  int port() const noexcept { return port_; }
  // What the pre-authentication gate did so far (zeros before start).
  net::HandshakeCounts handshake_counts() const noexcept;
  // Closes the listener and every connection, and joins their threads. Safe to call twice.
  void stop();

 private:
  struct Connection {
    std::thread thread;
    int fd = -1;
    std::atomic<bool> done{false};
    std::optional<net::CallQuota::Ticket> place;  // its identity's share
  };
  // Takes an authenticated socket from the gate: a thread of its own, or closed when full.
  void admit(std::unique_ptr<net::TlsSocket> socket);
  void reap_finished_locked();

  const net::Authenticator& authenticator_;
  const DataServices services_;
  const DataChannelOptions options_;
  net::TlsContext tls_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<net::HandshakeGate> gate_;
  net::CallQuota per_identity_;  // authenticated connections of one identity
  std::mutex mutex_;
  std::list<Connection> connections_;
};

}  // namespace crossgpu::cluster
