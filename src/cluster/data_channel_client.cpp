#include "cluster/data_channel_client.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {
namespace {

// Runs `body`, returning what it threw instead of throwing (for a lane's thread).
template <typename Body>
std::optional<Error> captured(Body&& body) {
  try {
    body();
    return std::nullopt;
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    return Error(Errc::backend_failure, e.what());
  }
}

}  // namespace

std::vector<LaneShare> lane_shares(std::uint64_t bytes, std::size_t lanes) {
  const std::uint64_t used =
      std::clamp<std::uint64_t>(bytes / kMinLaneBytes, 1, std::max<std::size_t>(lanes, 1));
  const std::uint64_t share = (bytes / used + 4095) / 4096 * 4096;
  std::vector<LaneShare> shares;
  for (std::uint64_t index = 0; index < used; ++index) {
    const std::uint64_t begin = std::min(bytes, index * share);
    const std::uint64_t end = index + 1 == used ? bytes : std::min(bytes, begin + share);
    shares.push_back({begin, end - begin});
  }
  return shares;
}

std::uint32_t default_data_lanes() noexcept {
  if (const char* text = std::getenv("CROSSGPU_DATA_LANES"); text && *text) {
    char* end = nullptr;
    const unsigned long lanes = std::strtoul(text, &end, 10);
    if (*end == '\0' && lanes >= 1 && lanes <= kMaxDataLanes) {
      return static_cast<std::uint32_t>(lanes);
    }
    static std::once_flag warned;
    std::call_once(warned, [&] {
      log::warn("CROSSGPU_DATA_LANES='{}' ignored: it must be a number from 1 to {}", text,
                kMaxDataLanes);
    });
  }
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<std::uint32_t>(cores / 2, 1, kDefaultDataLanesCap);
}

std::unique_ptr<DataChannelClient> DataChannelClient::connect(
    const net::NodeIdentity& identity, const std::string& address, const std::string& node_id,
    std::uint64_t session_id, std::span<const std::uint8_t> secret,
    std::chrono::milliseconds timeout, std::uint32_t lanes) {
  if (secret.size() != kDataSecretBytes) {
    fail(Errc::invalid_argument, "data channel: the node issued a {}-byte secret, expected {}",
         secret.size(), kDataSecretBytes);
  }
  lanes = std::clamp<std::uint32_t>(lanes, 1, kMaxDataLanes);
  auto tls = std::make_unique<net::TlsContext>(identity, net::TlsContext::Side::client);
  std::unique_ptr<DataChannelClient> client(new DataChannelClient(std::move(tls)));
  for (std::uint32_t index = 0; index < lanes; ++index) {
    Lane lane;
    try {
      lane.socket = net::TlsSocket::connect(*client->tls_, address, node_id, timeout);
      lane.bind(session_id, index, secret);
    } catch (const Error& e) {
      if (index == 0) throw;
      log::warn("data channel to {}: lane {} unavailable ({}); using {} lane(s)", address, index,
                e.what(), index);
      break;
    }
    client->lanes_.push_back(std::move(lane));
  }
  return client;
}

void DataChannelClient::Lane::bind(std::uint64_t session_id, std::uint64_t index,
                                   std::span<const std::uint8_t> secret) {
  const std::uint64_t id = next_request++;
  const DataFrame frame{DataOp::bind, 0, id, session_id, index, kDataSecretBytes};
  socket->write_all(encode_frame(frame), std::as_bytes(secret));
  if (std::optional<Error> refused = receive_reply(id, 0, {})) throw *refused;
  // Bound: the connection lives as long as the session; transfers have their own limit.
  socket->set_timeout(std::chrono::milliseconds(0));
}

std::optional<Error> DataChannelClient::Lane::receive_reply(std::uint64_t request_id,
                                                            std::uint64_t data_length,
                                                            std::span<std::byte> data) {
  DataHeader header;
  if (!socket->read_exact(header)) {
    fail(Errc::io, "data channel: the node closed the connection");
  }
  const DataFrame reply = decode_reply(header, request_id, data_length);
  if (reply.status == 0) {
    if (data_length > 0 && !socket->read_exact(data.first(data_length))) {
      fail(Errc::io, "data channel: the node closed the connection inside a read");
    }
    return std::nullopt;
  }
  std::string message(reply.length, '\0');
  if (reply.length > 0 && !socket->read_exact(std::as_writable_bytes(std::span(message)))) {
    fail(Errc::io, "data channel: the node closed the connection inside an error reply");
  }
  return Error(static_cast<Errc>(reply.status), message);
}

void DataChannelClient::Lane::write(DataOp op, std::span<const std::byte> grant,
                                    std::uint64_t handle, std::uint64_t offset,
                                    std::span<const std::byte> data) {
  const std::uint64_t first = next_request;
  // A granted write's header is followed by the grant's length and the grant, then the data.
  std::vector<std::byte> head(kDataHeaderBytes);
  if (op == DataOp::granted_write) {
    const auto prefix = encode_grant_length(grant.size());
    head.insert(head.end(), prefix.begin(), prefix.end());
    head.insert(head.end(), grant.begin(), grant.end());
  }
  const std::uint64_t overhead = head.size() - kDataHeaderBytes;
  // All requests go out before any reply is read: the node answers each with 40 bytes, which the
  // socket buffers hold, so the pipeline never stalls on acknowledgements.
  for (std::uint64_t done = 0; done < data.size();) {
    const std::uint64_t n = std::min<std::uint64_t>(kMaxDataRequestBytes, data.size() - done);
    const DataFrame frame{op, 0, next_request++, handle, offset + done, overhead + n};
    const DataHeader header = encode_frame(frame);
    std::copy(header.begin(), header.end(), head.begin());
    socket->write_all(head, data.subspan(done, n));
    done += n;
  }
  std::optional<Error> first_error;
  for (std::uint64_t id = first; id < next_request; ++id) {
    std::optional<Error> refused = receive_reply(id, 0, {});
    if (refused && !first_error) first_error = std::move(refused);
  }
  if (first_error) throw *first_error;
}

void DataChannelClient::Lane::read(std::uint64_t handle, std::uint64_t offset,
                                   std::span<std::byte> out) {
  const std::uint64_t first = next_request;
  for (std::uint64_t done = 0; done < out.size();) {
    const std::uint64_t n = std::min<std::uint64_t>(kMaxDataRequestBytes, out.size() - done);
    const DataFrame frame{DataOp::read, 0, next_request++, handle, offset + done, n};
    socket->write_all(encode_frame(frame));
    done += n;
  }
  std::optional<Error> first_error;
  std::uint64_t done = 0;
  for (std::uint64_t id = first; id < next_request; ++id) {
    const std::uint64_t n = std::min<std::uint64_t>(kMaxDataRequestBytes, out.size() - done);
    std::optional<Error> refused = receive_reply(id, n, out.subspan(done, n));
    if (refused && !first_error) first_error = std::move(refused);
    done += n;
  }
  if (first_error) throw *first_error;
}

template <typename Body>
void DataChannelClient::exclusive(Body&& body) {
  std::lock_guard lock(mutex_);
  if (broken_) fail(Errc::io, "data channel: a connection broke earlier");
  try {
    body();
  } catch (const Error& e) {
    if (e.code() == Errc::io) broken_ = true;  // a stream out of step is never used again
    throw;
  }
}

void DataChannelClient::across_lanes(
    std::uint64_t bytes, const std::function<void(Lane&, std::uint64_t, std::uint64_t)>& part) {
  exclusive([&] {
    const std::vector<LaneShare> shares = lane_shares(bytes, lanes_.size());
    std::vector<std::optional<Error>> failures(shares.size());
    const auto run = [&](std::size_t index) {
      const LaneShare& mine = shares[index];
      if (mine.length == 0) return;
      failures[index] = captured([&] { part(lanes_[index], mine.begin, mine.length); });
    };
    while (workers_.size() + 1 < shares.size()) workers_.push_back(std::make_unique<LaneWorker>());
    for (std::size_t index = 1; index < shares.size(); ++index) {
      workers_[index - 1]->start([&run, index] { run(index); });
    }
    run(0);
    for (std::size_t index = 1; index < shares.size(); ++index) workers_[index - 1]->wait();
    // Any lane whose stream broke breaks the client, whichever failure is reported.
    for (const auto& failure : failures) {
      if (failure && failure->code() == Errc::io) broken_ = true;
    }
    for (const auto& failure : failures) {
      if (failure) throw *failure;
    }
  });
}

void DataChannelClient::write(std::uint64_t handle, std::uint64_t offset,
                              std::span<const std::byte> data) {
  across_lanes(data.size(), [&](Lane& lane, std::uint64_t begin, std::uint64_t length) {
    lane.write(DataOp::write, {}, handle, offset + begin, data.subspan(begin, length));
  });
}

void DataChannelClient::granted_write(std::span<const std::byte> grant, std::uint64_t handle,
                                      std::uint64_t offset, std::span<const std::byte> data) {
  across_lanes(data.size(), [&](Lane& lane, std::uint64_t begin, std::uint64_t length) {
    lane.write(DataOp::granted_write, grant, handle, offset + begin, data.subspan(begin, length));
  });
}

void DataChannelClient::read(std::uint64_t handle, std::uint64_t offset,
                             std::span<std::byte> out) {
  across_lanes(out.size(), [&](Lane& lane, std::uint64_t begin, std::uint64_t length) {
    lane.read(handle, offset + begin, out.subspan(begin, length));
  });
}

void DataChannelClient::peer_copy(std::uint64_t src_handle, std::uint64_t src_offset,
                                  std::span<const std::byte> grant, std::string_view dst_address, bool round_f16) {
  if (dst_address.empty() || dst_address.size() > kMaxPeerAddressBytes) {
    fail(Errc::invalid_argument, "peer copy: the destination must be host:port");
  }
  const auto prefix = encode_grant_length(grant.size());
  std::vector<std::byte> payload(prefix.begin(), prefix.end());
  payload.insert(payload.end(), grant.begin(), grant.end());
  const auto address = std::as_bytes(std::span(dst_address));
  payload.insert(payload.end(), address.begin(), address.end());
  exclusive([&] {
    Lane& lane = lanes_.front();
    const std::uint64_t id = lane.next_request++;
    lane.socket->write_all(
        encode_frame({round_f16 ? DataOp::peer_copy_f16 : DataOp::peer_copy, 0, id, src_handle, src_offset,
                      payload.size()}),
        payload);
    if (std::optional<Error> refused = lane.receive_reply(id, 0, {})) throw *refused;
  });
}

void DataChannelClient::chain_request(DataOp op, std::span<const std::byte> grant, std::uint64_t chain,
                                      std::uint64_t field, std::span<const std::byte> payload) {
  std::vector<std::byte> head;
  if (!grant.empty()) {
    const auto prefix = encode_grant_length(grant.size());
    head.assign(prefix.begin(), prefix.end());
    head.insert(head.end(), grant.begin(), grant.end());
  }
  exclusive([&] {
    Lane& lane = lanes_.front();
    const std::uint64_t id = lane.next_request++;
    const DataHeader header = encode_frame({op, 0, id, chain, field, head.size() + payload.size()});
    std::vector<std::byte> frame(header.begin(), header.end());
    frame.insert(frame.end(), head.begin(), head.end());
    lane.socket->write_all(frame, payload);  // one write: the header and payload in one record
    if (std::optional<Error> refused = lane.receive_reply(id, 0, {})) throw *refused;
  });
}

bool DataChannelClient::chain_await(std::uint64_t chain, std::uint32_t position, std::span<std::byte> out,
                                    const std::function<void()>& meanwhile, std::span<const std::byte> sampling) {
  bool arrived = false;
  exclusive([&] {
    Lane& lane = lanes_.front();
    const std::uint64_t id = lane.next_request++;
    if (sampling.empty()) {
      lane.socket->write_all(encode_frame({DataOp::chain_await, 0, id, chain, position, out.size()}));
    } else {
      lane.socket->write_all(encode_frame({DataOp::chain_sample, 0, id, chain, position, sampling.size()}), sampling);
    }
    // The await's answer is read even when `meanwhile` fails: the lane stays in step.
    std::optional<Error> meanwhile_failed = captured(meanwhile);
    std::optional<Error> refused = lane.receive_reply(id, out.size(), out);
    if (meanwhile_failed) throw *meanwhile_failed;
    if (refused && refused->code() == Errc::timeout) return;
    if (refused) throw *refused;
    arrived = true;
  });
  return arrived;
}

void DataChannelClient::abort() noexcept {
  for (Lane& lane : lanes_) lane.socket->abort();
}

}  // namespace crossgpu::cluster
