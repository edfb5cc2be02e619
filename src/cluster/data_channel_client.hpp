// The client side of the data channel: persistent TLS 1.3 connections ("lanes") per session,
// each bound to it with the secret from Hello and its lane index. A transfer is sent as
// pipelined requests of at most kMaxDataRequestBytes, straight from (or into) the caller's
// memory; the replies are collected after the last request is out, so nothing waits for an
// acknowledgement per chunk and a small write or read costs one round trip. A large transfer is
// cut into one contiguous part per lane, moved in parallel: one core's TLS (AES-GCM, record
// handling) is slower than loopback or a fast link, and each lane has a core on both ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/data_frame.hpp"
#include "cluster/lane_worker.hpp"
#include "core/error.hpp"
#include "net/tls_socket.hpp"

namespace crossgpu::net {
class NodeIdentity;
}

namespace crossgpu::cluster {

// A transfer is split across lanes only where each lane gets at least this much: below it, the
// hand-off to the lane threads costs more than the parallel TLS saves. (1 MiB was tried first;
// 256 KiB moved 1 MiB transfers at 1.7-1.9 GB/s instead of 1.0-1.3 on the 16-core host. Once the
// lane threads were kept rather than started per transfer, 128 KiB moved 256 KiB transfers at
// 1.5-1.6 GB/s instead of 0.8-1.0, larger ones alike.)
inline constexpr std::uint64_t kMinLaneBytes = 128ull << 10;

// One lane's part of a transfer: bytes [begin, begin + length).
struct LaneShare {
  std::uint64_t begin = 0;
  std::uint64_t length = 0;
};
// How a transfer of `bytes` is cut across at most `lanes` lanes: contiguous 4 KiB-aligned shares
// (whole pages on both ends) of at least kMinLaneBytes, the last taking the remainder; one share
// (possibly empty) when the transfer is too small to split.
std::vector<LaneShare> lane_shares(std::uint64_t bytes, std::size_t lanes);

// The lanes a client opens when it is not told: CROSSGPU_DATA_LANES (1..8) when set, else half
// the cores (each lane keeps one busy during a large transfer), at least 1, at most 4. Never
// more than the node offers, whatever this says.
std::uint32_t default_data_lanes() noexcept;

class DataChannelClient {
 public:
  // Connects to `address` ("host:port"), checks that the node there is `node_id`, and binds
  // `lanes` connections (1..kMaxDataLanes) to `session_id` with `secret`. Lane 0 must bind: its
  // refusal comes back as the node's typed error (Errc::permission_denied for a wrong secret or
  // role), Errc::io when it cannot be reached. A further lane that fails is logged and dropped.
  static std::unique_ptr<DataChannelClient> connect(const net::NodeIdentity& identity,
                                                    const std::string& address,
                                                    const std::string& node_id,
                                                    std::uint64_t session_id,
                                                    std::span<const std::uint8_t> secret,
                                                    std::chrono::milliseconds timeout,
                                                    std::uint32_t lanes = 1);

  // Thread-safe; one transfer at a time. The node's refusal is thrown as its typed error;
  // Errc::io when a connection breaks (the client is unusable afterwards: broken()).
  void write(std::uint64_t handle, std::uint64_t offset, std::span<const std::byte> data);
  void read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out);
  // A node-to-node copy's part: writes `data` at `offset` of buffer `handle`, which belongs to
  // another session of the node; `grant` is the serialized v1::WriteGrant with which that node
  // let us write the range (kMaxGrantBytes at most). Each request carries it.
  void granted_write(std::span<const std::byte> grant, std::uint64_t handle, std::uint64_t offset,
                     std::span<const std::byte> data);
  // Asks the node to copy [src_offset, + the grant's bytes) of our buffer `src_handle` to the
  // node at `dst_address` that issued `grant` (serialized v1::WriteGrant); returns when the
  // destination has it all. One request on lane 0. With `round_f16` (op peer_copy_f16) the node
  // sends each f32 rounded to the nearest f16 value.
  void peer_copy(std::uint64_t src_handle, std::uint64_t src_offset,
                 std::span<const std::byte> grant, std::string_view dst_address, bool round_f16 = false);
  // Decode chains (docs/PROTOCOL.md, "Decode chains"), each one request on lane 0 answered when
  // the node accepted it (read it whole), not when the chain ran. chain_request sends a chain
  // step (no grant), a chain forward or a chain abort (each led by `grant`); `field` is the
  // header's offset field: the position, or for an abort the Errc.
  void chain_request(DataOp op, std::span<const std::byte> grant, std::uint64_t chain, std::uint64_t field,
                     std::span<const std::byte> payload);
  // Sends an await for `position` of `chain`, runs `meanwhile` (which sends the step to the
  // chain's first node), then reads the answer: true with the result in `out`; false when the
  // node answered that the step has not reached it yet (ask again); the node's typed error else.
  // With `sampling` (an encoded ChainSampling) it is a chain sample: `out` (4 bytes) gets the
  // token the last node sampled from the result.
  bool chain_await(std::uint64_t chain, std::uint32_t position, std::span<std::byte> out,
                   const std::function<void()>& meanwhile, std::span<const std::byte> sampling = {});
  bool broken() const noexcept { return broken_; }
  std::size_t lanes() const noexcept { return lanes_.size(); }
  // Wakes a transfer blocked on a socket (the node was lost); it fails with Errc::io.
  void abort() noexcept;

 private:
  struct Lane {
    std::unique_ptr<net::TlsSocket> socket;
    std::uint64_t next_request = 1;
    void bind(std::uint64_t session_id, std::uint64_t index, std::span<const std::uint8_t> secret);
    // Writes (op write) or granted writes (op granted_write, each request led by `grant`).
    void write(DataOp op, std::span<const std::byte> grant, std::uint64_t handle,
               std::uint64_t offset, std::span<const std::byte> data);
    void read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out);
    // Reads the reply to `request_id`; on an error reply returns the Error (payload consumed).
    std::optional<Error> receive_reply(std::uint64_t request_id, std::uint64_t data_length,
                                       std::span<std::byte> data);
  };
  explicit DataChannelClient(std::unique_ptr<net::TlsContext> tls) : tls_(std::move(tls)) {}
  // Runs `body` as the one transfer in progress; Errc::io when a connection broke before, and a
  // body that fails with Errc::io (a stream out of step) marks the client broken.
  template <typename Body>
  void exclusive(Body&& body);
  // Runs `part(lane, begin, length)` for each lane's share of `bytes`, lane 0 on this thread and
  // the others on their workers; throws the first failure in lane order once all have finished.
  void across_lanes(std::uint64_t bytes,
                    const std::function<void(Lane&, std::uint64_t, std::uint64_t)>& part);

  std::unique_ptr<net::TlsContext> tls_;
  std::vector<Lane> lanes_;
  // One per lane past lane 0 (which runs on the caller's thread); declared after the lanes so
  // that they stop before the lanes' sockets go.
  std::vector<std::unique_ptr<LaneWorker>> workers_;
  std::mutex mutex_;
  bool broken_ = false;
};

}  // namespace crossgpu::cluster
