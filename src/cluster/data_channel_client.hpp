// The client side of the data channel: one persistent TLS 1.3 connection per session, bound to
// it with the one-time secret from Hello. A transfer is sent as pipelined requests of at most
// kMaxDataRequestBytes, straight from (or into) the caller's memory; the replies are collected
// after the last request is out, so nothing waits for an acknowledgement per chunk and a small
// write or read costs one round trip.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "cluster/data_frame.hpp"
#include "core/error.hpp"
#include "net/tls_socket.hpp"

namespace crossgpu::net {
class NodeIdentity;
}

namespace crossgpu::cluster {

class DataChannelClient {
 public:
  // Connects to `address` ("host:port"), checks that the node there is `node_id`, and binds the
  // connection to `session_id` with `secret`. The node's refusal comes back as its typed error
  // (Errc::permission_denied for a wrong secret or role); Errc::io when it cannot be reached.
  static std::unique_ptr<DataChannelClient> connect(const net::NodeIdentity& identity,
                                                    const std::string& address,
                                                    const std::string& node_id,
                                                    std::uint64_t session_id,
                                                    std::span<const std::uint8_t> secret,
                                                    std::chrono::milliseconds timeout);

  // Thread-safe; one transfer at a time. The node's refusal is thrown as its typed error;
  // Errc::io when the connection breaks (the connection is unusable afterwards: broken()).
  void write(std::uint64_t handle, std::uint64_t offset, std::span<const std::byte> data);
  void read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out);
  bool broken() const noexcept { return broken_; }
  // Wakes a transfer blocked on the socket (the node was lost); it fails with Errc::io.
  void abort() noexcept;

 private:
  DataChannelClient(std::unique_ptr<net::TlsContext> tls, std::unique_ptr<net::TlsSocket> socket)
      : tls_(std::move(tls)), socket_(std::move(socket)) {}
  void send_request(DataOp op, std::uint64_t id, std::uint64_t handle, std::uint64_t offset,
                    std::uint64_t length);
  // Reads the reply to `request_id`; on an error reply returns the Error (payload consumed).
  std::optional<Error> receive_reply(std::uint64_t request_id, std::uint64_t data_length,
                                     std::span<std::byte> data);
  template <typename Body>
  void guarded(Body&& body);

  std::unique_ptr<net::TlsContext> tls_;
  std::unique_ptr<net::TlsSocket> socket_;
  std::mutex mutex_;
  std::uint64_t next_request_ = 1;
  bool broken_ = false;
};

}  // namespace crossgpu::cluster
