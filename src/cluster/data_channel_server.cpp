#include "cluster/data_channel_server.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/data_connection.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace crossgpu::cluster {
namespace {

std::string address_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return fmt::format("[{}]:{}", text, ntohs(v6.sin6_port));
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
  return fmt::format("{}:{}", text, ntohs(v4.sin_port));
}

}  // namespace

DataChannelServer::DataChannelServer(const net::NodeIdentity& identity,
                                     const net::Authenticator& authenticator,
                                     DataServices services, DataChannelOptions options)
    : authenticator_(authenticator), services_(services), options_(std::move(options)),
      tls_(identity, net::TlsContext::Side::server) {}

DataChannelServer::~DataChannelServer() { stop(); }

void DataChannelServer::start() {
  listener_ = net::tcp_listen(options_.listen_address, &port_);
  acceptor_ = std::thread([this] { accept_loop(); });
  log::info("data channel listening on port {}", port_);
}

void DataChannelServer::accept_loop() {
  while (!stopping_) {
    sockaddr_storage from{};
    socklen_t length = sizeof(from);
    const int fd =
        ::accept4(listener_, reinterpret_cast<sockaddr*>(&from), &length, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) break;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      log::warn("data channel: accept failed: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // e.g. out of descriptors
      continue;
    }
    const std::string peer = address_of(from);
    std::lock_guard lock(mutex_);
    reap_finished_locked();
    if (stopping_ || connections_.size() >= options_.max_connections) {
      log::warn("data channel: refused a connection from {}: {} connections open", peer,
                connections_.size());
      ::close(fd);
      continue;
    }
    net::tune_data_socket(fd);
    Connection& slot = connections_.emplace_back();
    slot.fd = fd;
    // The socket object gets a duplicate; the slot keeps `fd` open until it is reaped, so stop()
    // can shut the connection down without racing a close and a reuse of the number.
    const int owned = ::dup(fd);
    slot.thread = std::thread([this, &slot, owned, peer] {
      try {
        if (owned < 0) fail(Errc::io, "out of file descriptors");
        auto socket = net::TlsSocket::accept(tls_, owned, peer, options_.handshake_timeout);
        DataConnection(std::move(socket), authenticator_, services_).run();
      } catch (const Error& e) {
        log::warn("refused a data connection from {}: {}", peer, e.what());
      }
      slot.done = true;
    });
  }
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
  ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
  if (acceptor_.joinable()) acceptor_.join();
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
