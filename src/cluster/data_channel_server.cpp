#include "cluster/data_channel_server.hpp"

#include <arpa/inet.h>
#include <algorithm>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/data_connection.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace crossgpu::cluster {

DataChannelServer::DataChannelServer(const net::NodeIdentity& identity,
                                     const net::Authenticator& authenticator,
                                     DataServices services, DataChannelOptions options)
    : authenticator_(authenticator), services_(services), options_(std::move(options)),
      tls_(identity, net::TlsContext::Side::server),
      per_identity_({.per_identity = std::max<std::size_t>(1, options_.max_connections / 2),
                     .monitor_per_identity = 1,
                     .monitor_total = 1}) {}

DataChannelServer::~DataChannelServer() { stop(); }

void DataChannelServer::start() {
  listener_ = net::tcp_listen(options_.listen_address, &port_);
  gate_ = std::make_unique<net::HandshakeGate>(
      tls_, listener_, options_.handshake,
      [this](std::unique_ptr<net::TlsSocket> socket) { admit(std::move(socket)); },
      "data channel");
  gate_->start();
  log::info("data channel listening on port {}", port_);
}

net::HandshakeCounts DataChannelServer::handshake_counts() const noexcept {
  return gate_ ? gate_->counts() : net::HandshakeCounts{};
}

void DataChannelServer::admit(std::unique_ptr<net::TlsSocket> socket) {
  std::lock_guard lock(mutex_);
  reap_finished_locked();
  if (stopping_ || connections_.size() >= options_.max_connections) {
    log::warn("data channel: refused a connection from {}: {} connections open",
              socket->peer_address(), connections_.size());
    return;  // the socket closes here
  }
  // Its identity's share (only compute certificates are served: DataConnection refuses the
  // others with their reason, which needs no share).
  std::optional<net::CallQuota::Ticket> place;
  std::string reason;
  if (const auto peer = authenticator_.check_certificate(
          socket->peer_address(), socket->peer_certificate_pem(), net::Role::compute, &reason)) {
    try {
      place.emplace(per_identity_.acquire(*peer, "data connection"));
    } catch (const Error&) {
      log::warn("data channel: refused a connection from {}: identity {} holds {} data "
                "connections, its share of {}", socket->peer_address(), peer->node_id,
                per_identity_.in_flight(peer->node_id), options_.max_connections);
      return;  // the socket closes here
    }
  }
  // The slot keeps a duplicate of the descriptor open until it is reaped, so stop() can shut
  // the connection down without racing a close and a reuse of the number.
  const int fd = ::dup(socket->native_handle());
  if (fd < 0) {
    log::warn("data channel: refused a connection from {}: out of file descriptors",
              socket->peer_address());
    return;
  }
  net::tune_data_socket(fd);
  // The bind request must follow within the handshake's deadline (per read).
  socket->finish_accept(options_.handshake.deadline);
  Connection& slot = connections_.emplace_back();
  slot.fd = fd;
  if (place) slot.place.emplace(std::move(*place));
  slot.thread = std::thread([this, &slot, socket = std::move(socket)]() mutable {
    DataConnection(std::move(socket), authenticator_, services_).run();
    slot.done = true;
  });
}

void DataChannelServer::reap_finished_locked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->done) {
      it->thread.join();
      ::close(it->fd);
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

void DataChannelServer::stop() {
  if (stopping_.exchange(true) || listener_ < 0) return;
  if (gate_) gate_->stop();
  ::close(listener_);
  std::lock_guard lock(mutex_);
  for (Connection& connection : connections_) ::shutdown(connection.fd, SHUT_RDWR);
  for (Connection& connection : connections_) {
    connection.thread.join();
    ::close(connection.fd);
  }
  connections_.clear();
}

}  // namespace crossgpu::cluster
