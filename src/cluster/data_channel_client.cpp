#include "cluster/data_channel_client.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {

std::unique_ptr<DataChannelClient> DataChannelClient::connect(
    const net::NodeIdentity& identity, const std::string& address, const std::string& node_id,
    std::uint64_t session_id, std::span<const std::uint8_t> secret,
    std::chrono::milliseconds timeout) {
  if (secret.size() != kDataSecretBytes) {
    fail(Errc::invalid_argument, "data channel: the node issued a {}-byte secret, expected {}",
         secret.size(), kDataSecretBytes);
  }
  auto tls = std::make_unique<net::TlsContext>(identity, net::TlsContext::Side::client);
  auto socket = net::TlsSocket::connect(*tls, address, node_id, timeout);
  std::unique_ptr<DataChannelClient> client(new DataChannelClient(std::move(tls),
                                                                  std::move(socket)));
  const std::uint64_t id = client->next_request_++;
  const DataFrame bind{DataOp::bind, 0, id, session_id, 0, kDataSecretBytes};
  client->socket_->write_all(encode_frame(bind), std::as_bytes(secret));
  if (std::optional<Error> refused = client->receive_reply(id, 0, {})) throw *refused;
  // Bound: the connection lives as long as the session; transfers have their own limit.
  client->socket_->set_timeout(std::chrono::milliseconds(0));
  return client;
}

void DataChannelClient::send_request(DataOp op, std::uint64_t id, std::uint64_t handle,
                                     std::uint64_t offset, std::uint64_t length) {
  const DataFrame frame{op, 0, id, handle, offset, length};
  socket_->write_all(encode_frame(frame));
}

std::optional<Error> DataChannelClient::receive_reply(std::uint64_t request_id,
                                                      std::uint64_t data_length,
                                                      std::span<std::byte> data) {
  DataHeader header;
  if (!socket_->read_exact(header)) {
    fail(Errc::io, "data channel: the node closed the connection");
  }
  const DataFrame reply = decode_reply(header, request_id, data_length);
  if (reply.status == 0) {
    if (data_length > 0 && !socket_->read_exact(data.first(data_length))) {
      fail(Errc::io, "data channel: the node closed the connection inside a read");
    }
    return std::nullopt;
  }
  std::string message(reply.length, '\0');
  if (reply.length > 0 && !socket_->read_exact(std::as_writable_bytes(std::span(message)))) {
    fail(Errc::io, "data channel: the node closed the connection inside an error reply");
  }
  return Error(static_cast<Errc>(reply.status), message);
}

template <typename Body>
void DataChannelClient::guarded(Body&& body) {
  std::lock_guard lock(mutex_);
  if (broken_) fail(Errc::io, "data channel: the connection broke earlier");
  try {
    body();
  } catch (const Error& e) {
    // A socket or framing failure leaves the stream out of step: never use it again.
    if (e.code() == Errc::io) broken_ = true;
    throw;
  }
}

void DataChannelClient::write(std::uint64_t handle, std::uint64_t offset,
                              std::span<const std::byte> data) {
  guarded([&] {
    const std::uint64_t first = next_request_;
    // All requests go out before any reply is read: the node answers each with 40 bytes,
    // which the socket buffers hold, so the pipeline never stalls on acknowledgements.
    for (std::uint64_t done = 0; done < data.size();) {
      const std::uint64_t n = std::min<std::uint64_t>(kMaxDataRequestBytes, data.size() - done);
      const DataFrame frame{DataOp::write, 0, next_request_++, handle, offset + done, n};
      socket_->write_all(encode_frame(frame), data.subspan(done, n));
      done += n;
    }
    std::optional<Error> first_error;
    for (std::uint64_t id = first; id < next_request_; ++id) {
      std::optional<Error> refused = receive_reply(id, 0, {});
      if (refused && !first_error) first_error = std::move(refused);
    }
    if (first_error) throw *first_error;
  });
}

void DataChannelClient::read(std::uint64_t handle, std::uint64_t offset,
                             std::span<std::byte> out) {
  guarded([&] {
    const std::uint64_t first = next_request_;
    for (std::uint64_t done = 0; done < out.size();) {
      const std::uint64_t n = std::min<std::uint64_t>(kMaxDataRequestBytes, out.size() - done);
      send_request(DataOp::read, next_request_++, handle, offset + done, n);
      done += n;
    }
    std::optional<Error> first_error;
    std::uint64_t done = 0;
    for (std::uint64_t id = first; id < next_request_; ++id) {
      const std::uint64_t n = std::min<std::uint64_t>(kMaxDataRequestBytes, out.size() - done);
      std::optional<Error> refused = receive_reply(id, n, out.subspan(done, n));
      if (refused && !first_error) first_error = std::move(refused);
      done += n;
    }
    if (first_error) throw *first_error;
  });
}

void DataChannelClient::abort() noexcept { socket_->abort(); }

}  // namespace crossgpu::cluster
