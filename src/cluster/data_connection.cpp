// The data channel's request loop. Writes go from the socket straight into the buffer's host
// mapping when it has one (the CPU device, host-visible memory), else through a staging buffer
// and the session's stream; reads the other way. Work queued on the session's stream (copies,
// kernels sent over gRPC) is waited for first, so both paths see one order of operations.
// Several connections (lanes) of one session run at once, each on its own part of a transfer.
#include "cluster/data_connection.hpp"

#include <algorithm>

#include "cluster/peer_copy.hpp"
#include "core/log.hpp"

namespace crossgpu::cluster {
namespace {

constexpr std::uint64_t kStagingBytes = 4ull << 20;

// A refused header's request id, read as-is so the error reply names it even when the rest of
// the header is garbage.
DataFrame id_only(const DataHeader& header) {
  DataFrame frame;
  for (std::size_t i = 0; i < 8; ++i) {
    frame.request_id |= static_cast<std::uint64_t>(header[8 + i]) << (8 * i);
  }
  return frame;
}

}  // namespace

void DataConnection::run() noexcept {
  try {
    if (!admit()) return;
    // Bound: an idle connection may stay open as long as its session (keepalive notices a dead
    // peer), so no receive timeout from here on.
    socket_->set_timeout(std::chrono::milliseconds(0));
    DataHeader header;
    while (socket_->read_exact(header)) {
      DataFrame request;
      try {
        request = decode_request(header);
        if (request.op == DataOp::bind) {
          fail(Errc::invalid_argument, "data bind: this connection is bound already");
        }
        check_still_admitted();
      } catch (const Error& e) {
        // Out of step, hostile or no longer a member: the payload length cannot be trusted (or
        // should not be read), so the connection ends.
        log::warn("data channel: node {} at {} broke the protocol: {}", peer_.node_id,
                  socket_->peer_address(), e.what());
        reply_error(id_only(header), e);
        return;
      }
      if (request.op == DataOp::write) {
        serve_write(request);
      } else if (request.op == DataOp::granted_write) {
        serve_granted_write(request);
      } else if (request.op == DataOp::peer_copy || request.op == DataOp::peer_copy_f16) {
        serve_peer_copy(request);
      } else if (request.op == DataOp::chain_step) {
        serve_chain_step(request);
      } else if (request.op == DataOp::chain_forward) {
        serve_chain_forward(request);
      } else if (request.op == DataOp::chain_abort) {
        serve_chain_abort(request);
      } else if (request.op == DataOp::chain_await) {
        serve_chain_await(request);
      } else if (request.op == DataOp::chain_sample) {
        serve_chain_sample(request);
      } else {
        serve_read(request);
      }
    }
  } catch (const Error& e) {
    log::debug("data channel: connection from {} ended: {}", socket_->peer_address(), e.what());
  } catch (const std::exception& e) {
    log::error("data channel: connection from {}: {}", socket_->peer_address(), e.what());
  }
}

bool DataConnection::admit() {
  std::string reason;
  certificate_pem_ = socket_->peer_certificate_pem();
  std::optional<net::PeerIdentity> peer = authenticator_.check_certificate(
      socket_->peer_address(), certificate_pem_, net::Role::compute, &reason);
  DataHeader header;
  if (!socket_->read_exact(header)) return false;
  DataFrame request = id_only(header);
  try {
    request = decode_request(header);
    if (request.op != DataOp::bind) {
      fail(Errc::invalid_argument, "data channel: the first request must be a bind");
    }
    if (!peer) fail(Errc::permission_denied, "{}", reason);
    peer_ = *peer;
  } catch (const Error& e) {
    reply_error(request, e);
    return false;
  }
  std::array<std::byte, kDataSecretBytes> secret{};
  if (!socket_->read_exact(secret)) return false;
  try {
    std::shared_ptr<Session> session = sessions_.find(request.handle, peer_.node_id);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(secret.data());
    if (!session->redeem_data_secret(std::span(bytes, secret.size()), request.offset)) {
      fail(Errc::permission_denied,
           "data bind: wrong secret for session {}, or its lane {} is bound already or was not "
           "offered: each Hello issues one secret, good once per lane",
           request.handle, request.offset);
    }
    session_ = session;
    session_id_ = request.handle;
    lane_ = request.offset;
  } catch (const Error& e) {
    log::warn("refused a data connection from node {} at {}: {}", peer_.node_id,
              socket_->peer_address(), e.what());
    reply_error(request, e);
    return false;
  }
  reply(request);
  log::info("data channel lane {} of session {} bound by {} ({})", lane_, session_id_,
            peer_.node_id, socket_->peer_address());
  return true;
}

void DataConnection::check_still_admitted() {
  constexpr auto kRecheckInterval = std::chrono::milliseconds(100);
  const auto now = std::chrono::steady_clock::now();
  if (now - checked_at_ < kRecheckInterval) return;
  checked_at_ = now;
  std::string reason;
  if (!authenticator_.check_certificate(socket_->peer_address(), certificate_pem_,
                                        net::Role::compute, &reason)) {
    fail(Errc::permission_denied, "{}", reason);
  }
}

std::shared_ptr<Session> DataConnection::session() const {
  std::shared_ptr<Session> session = session_.lock();
  if (!session) fail(Errc::device_lost, "data channel: session {} has ended", session_id_);
  return session;
}

void DataConnection::serve_write(const DataFrame& request) {
  std::shared_ptr<Session> session;
  SessionBuffer target;
  try {
    session = this->session();
    target = session->resolve(request.handle, request.offset, request.length, "data write");
  } catch (const Error& e) {
    discard(request.length);
    reply_error(request, e);
    return;
  }
  receive_into(*session, target, request, request.offset, request.length);
}

void DataConnection::serve_granted_write(const DataFrame& request) {
  std::array<std::byte, kGrantLengthBytes> prefix{};
  if (!socket_->read_exact(prefix)) {
    fail(Errc::io, "data channel: the peer closed inside a granted write");
  }
  std::size_t grant_bytes = 0;
  try {
    grant_bytes = decode_grant_length(prefix, request);
  } catch (const Error& e) {
    discard(request.length - kGrantLengthBytes);
    reply_error(request, e);
    return;
  }
  std::vector<std::byte> serialized_grant(grant_bytes);
  if (!socket_->read_exact(serialized_grant)) {
    fail(Errc::io, "data channel: the peer closed inside a granted write's grant");
  }
  const std::uint64_t bytes = request.length - kGrantLengthBytes - grant_bytes;
  GrantedTarget target;
  try {
    const v1::WriteGrant grant = parse_grant(serialized_grant, "data granted write");
    if (grant.handle() != request.handle) {
      fail(Errc::out_of_range, "data granted write: the grant is for buffer {}, not {}",
           grant.handle(), request.handle);
    }
    target = resolve_granted(grants_, sessions_, grant, peer_.node_id, request.offset, bytes,
                             "data granted write");
  } catch (const Error& e) {
    discard(bytes);
    reply_error(request, e);
    return;
  }
  receive_into(*target.owner, target.buffer, request, request.offset, bytes);
}

void DataConnection::receive_into(Session& session, const SessionBuffer& target,
                                  const DataFrame& request, std::uint64_t offset,
                                  std::uint64_t bytes) {
  // The session's work lock is held only around its stream, never while the socket is read:
  // the other lanes of this session move their parts of a transfer meanwhile. `target` keeps the
  // memory alive even if a Free of the handle arrives during the transfer.
  std::span<std::byte> mapped = target.device->try_mapped(target.ref);
  if (!mapped.empty()) {
    try {
      auto lock = session.lock();
      session.stream(*target.device).synchronize();  // queued copies and kernels may use it
    } catch (const Error& e) {
      discard(bytes);
      reply_error(request, e);
      return;
    }
    socket_->read_exact(mapped.subspan(offset, bytes));
    target.device->flush_mapped(target.ref, offset, bytes);
    reply(request);
    return;
  }
  staging_.resize(std::min(kStagingBytes, bytes));
  std::optional<Error> failed;  // the first device failure; the payload is still read to its end
  for (std::uint64_t done = 0; done < bytes;) {
    const std::uint64_t n = std::min<std::uint64_t>(staging_.size(), bytes - done);
    std::span<std::byte> chunk(staging_.data(), n);
    socket_->read_exact(chunk);
    if (!failed) {
      try {
        auto lock = session.lock();
        session.stream(*target.device).upload(target.ref, offset + done, chunk).wait();
      } catch (const Error& e) {
        failed = e;
      }
    }
    done += n;
  }
  if (failed) {
    reply_error(request, *failed);
  } else {
    reply(request);
  }
}

void DataConnection::serve_read(const DataFrame& request) {
  std::shared_ptr<Session> session;
  SessionBuffer source;
  try {
    session = this->session();
    source = session->resolve(request.handle, request.offset, request.length, "data read");
  } catch (const Error& e) {
    reply_error(request, e);
    return;
  }
  // As in serve_write: the work lock only around the stream, the memory kept alive by `source`.
  std::span<std::byte> mapped = source.device->try_mapped(source.ref);
  if (!mapped.empty()) {
    try {
      auto lock = session->lock();
      session->stream(*source.device).synchronize();
      source.device->invalidate_mapped(source.ref, request.offset, request.length);
    } catch (const Error& e) {
      reply_error(request, e);
      return;
    }
    const DataFrame frame{DataOp::reply, 0, request.request_id, request.handle, request.offset,
                          request.length};
    socket_->write_all(encode_frame(frame), mapped.subspan(request.offset, request.length));
    return;
  }
  staging_.resize(std::min(kStagingBytes, request.length));
  for (std::uint64_t done = 0; done < request.length;) {
    const std::uint64_t n = std::min<std::uint64_t>(staging_.size(), request.length - done);
    std::span<std::byte> chunk(staging_.data(), n);
    try {
      auto lock = session->lock();
      session->stream(*source.device).download(source.ref, request.offset + done, chunk).wait();
    } catch (const Error& e) {
      if (done == 0) {
        reply_error(request, e);
        return;
      }
      throw;  // the header promised the data: ending the connection is the only honest signal
    }
    if (done == 0) reply(request, request.length);
    socket_->write_all(chunk);
    done += n;
  }
}

void DataConnection::serve_peer_copy(const DataFrame& request) {
  // Small and bounded by decode_request: grant length, grant, destination address.
  std::vector<std::byte> payload(request.length);
  if (!socket_->read_exact(payload)) {
    fail(Errc::io, "data channel: the peer closed inside a peer copy request");
  }
  try {
    const std::size_t grant_bytes =
        decode_grant_length(std::span(payload).first<kGrantLengthBytes>(), request);
    const v1::WriteGrant grant =
        parse_grant(std::span(payload).subspan(kGrantLengthBytes, grant_bytes), "data peer copy");
    // The address after the grant is not used: the destination is the grant's issuer, resolved
    // through this node's own member directory.
    copy_to_peer(*session(), request.handle, request.offset, grant, grants_.issuer(), peer_links_,
                 fmt::format("{} ({})", peer_.node_id, socket_->peer_address()),
                 request.op == DataOp::peer_copy_f16);
  } catch (const Error& e) {
    reply_error(request, e);
    return;
  }
  peer_copies_.fetch_add(1, std::memory_order_relaxed);
  reply(request);
}

void DataConnection::reply(const DataFrame& request, std::uint64_t length) {
  DataFrame frame{DataOp::reply, 0, request.request_id, request.handle, request.offset, length};
  socket_->write_all(encode_frame(frame));
}

void DataConnection::reply_error(const DataFrame& request, const Error& error) {
  const std::string message =
      std::string(error.what()).substr(0, static_cast<std::size_t>(kMaxDataErrorBytes));
  DataFrame frame{DataOp::reply, static_cast<std::uint16_t>(error.code()), request.request_id,
                  request.handle, request.offset, message.size()};
  socket_->write_all(encode_frame(frame), std::as_bytes(std::span(message)));
}

void DataConnection::discard(std::uint64_t bytes) {
  staging_.resize(std::min(kStagingBytes, std::max<std::uint64_t>(bytes, 1)));
  for (std::uint64_t done = 0; done < bytes;) {
    const std::uint64_t n = std::min<std::uint64_t>(staging_.size(), bytes - done);
    if (!socket_->read_exact(std::span(staging_.data(), n))) {
      fail(Errc::io, "data channel: the peer closed inside a write's payload");
    }
    done += n;
  }
}

}  // namespace crossgpu::cluster
