// A client's connection to one node: the mutual-TLS channel, the Hello handshake, the Session
// stream that keeps the session (and the client's memory on the node) alive, heartbeats that
// measure RTT and notice a vanished node, and one method per RPC. Once the node is lost every
// call, in flight or later, fails with Errc::device_lost; nothing aborts.
// gRPC stays out of this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cluster/data_frame.hpp"
#include "cluster/weight_cache.hpp"
#include "core/error.hpp"
#include "device/kernel.hpp"
#include "device/properties.hpp"

namespace crossgpu::net {
class NodeIdentity;
}
namespace crossgpu::v1 {
class WriteGrant;
class StatusResponse;
}

namespace crossgpu::cluster {

struct ConnectionOptions {
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds heartbeat_timeout{3000};
  std::chrono::milliseconds call_timeout{60000};  // unary calls; streams rely on heartbeats
  // The node id the caller expects at this address (from discovery or configuration). When set,
  // a node whose certificate names another id is refused with Errc::permission_denied.
  std::string expected_node_id;
  // Use the node's data channel for writes and reads when it offers one (else gRPC carries them).
  bool data_channel = true;
  // Data connections to open, each moving its part of a large transfer on its own core; 0:
  // default_data_lanes() (CROSSGPU_DATA_LANES, else half the cores, 1..4). Never more than the
  // node offers.
  std::uint32_t data_lanes = 0;
  // Queue a stream's small transfers, dispatches and replays and send them as one Run (see
  // queue_write). Off: each goes at once as its own request, one round trip per op (for
  // measuring what batching saves).
  bool batch_work = true;
};

// A binding of a remote dispatch, in wire terms.
struct RemoteRange {
  std::uint64_t handle = 0;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
};

// A dispatch in wire terms, for recording.
struct RemoteDispatch {
  std::string kernel;
  std::vector<RemoteRange> bindings;
  std::vector<std::byte> push;
  Groups groups;
};

// One stage's decode step as a chain on its node (node.proto, SetupChain): handles of the
// caller's session, a program of it, and the next stage's node and chain with the grant that
// node gave the one set up here (none: the last stage, whose result the client awaits).
struct ChainSetup {
  std::uint64_t position_handle = 0;
  std::uint64_t input_handle = 0;
  std::uint64_t input_bytes = 0;
  std::uint64_t program = 0;
  std::uint64_t output_handle = 0;
  std::uint64_t output_bytes = 0;
  std::string next_node_id;
  std::uint64_t next_chain = 0;
  const v1::WriteGrant* next_grant = nullptr;
  // Hidden states as f16 on the wire (nodes offering "data-chain-f16"): the input arrives, the
  // result leaves as half the bytes; the sizes above stay the device's f32 sizes.
  bool input_f16 = false;
  bool output_f16 = false;
};

// A command of a Run this connection sent (NodeConnection::last_run): what a decode chain is
// set up from. `first_word`: a write's first 4 bytes (little-endian), 0 when shorter.
struct SentCommand {
  enum class Kind { write, dispatch, replay, read } kind = Kind::write;
  std::uint64_t handle = 0;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
  std::uint64_t program = 0;
  std::uint32_t first_word = 0;
};

class NodeConnection {
 public:
  // Connects, says Hello and opens the Session stream. Errc::device_lost when the node cannot
  // be reached, the node's own error (e.g. Errc::unsupported for a version mismatch) otherwise.
  static std::shared_ptr<NodeConnection> open(const std::string& address,
                                              const net::NodeIdentity& identity,
                                              ConnectionOptions options = {});
  ~NodeConnection();
  NodeConnection(const NodeConnection&) = delete;
  NodeConnection& operator=(const NodeConnection&) = delete;

  const std::string& address() const noexcept;
  const std::string& node_id() const noexcept;       // the node's
  const std::string& local_node_id() const noexcept;  // ours
  const std::string& role() const noexcept;           // what the node granted us
  std::uint64_t quota_bytes() const noexcept;
  bool lost() const noexcept;
  bool closed() const noexcept;  // close() was called
  double rtt_ms() const noexcept;  // last heartbeat round trip; 0 before the first
  // True when writes and reads go over the node's data channel (TLS 1.3, binary framing).
  bool uses_data_channel() const noexcept;
  // Data connections that carry writes and reads (0 without a data channel).
  std::size_t data_lanes() const noexcept;

  std::vector<DeviceProperties> list_devices();
  v1::StatusResponse status();
  std::uint64_t allocate(const std::string& device_id, std::uint64_t bytes, bool host_visible);
  void free(std::uint64_t handle);
  // Over the data channel when open (pipelined requests, one round trip for a small write),
  // else over gRPC in chunks of at most 4 MiB in one stream.
  void write(std::uint64_t handle, std::uint64_t offset, std::span<const std::byte> data);
  void read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out);
  void copy(std::uint64_t src, std::uint64_t src_offset, std::uint64_t dst,
            std::uint64_t dst_offset, std::uint64_t bytes);
  void dispatch(std::string_view kernel, std::span<const RemoteRange> bindings,
                std::span<const std::byte> push, Groups groups);
  void synchronize(const std::string& device_id);
  // The node's weight cache. fill_from_cache: true when the node held a blob of this hash and
  // size and wrote it into [offset, offset+bytes) of the buffer; false (nothing written) else.
  // store_to_cache: the node hashes that range itself and keeps it; Errc::invalid_argument when
  // it does not hash to `sha256`, false when the node's cache is off or too small for it.
  bool fill_from_cache(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                       const BlobHash& sha256);
  bool store_to_cache(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                      const BlobHash& sha256);
  // A grant for `grantee_node_id` to write [offset, +bytes) of our buffer `handle`; one received
  // in the last GrantCache::kReuseFor for the same range is reused (no call).
  v1::WriteGrant grant_write(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                             const std::string& grantee_node_id);
  // Node side of a node-to-node copy (this connection is a node's, to the destination node):
  // writes `data` at `offset` of the granted buffer, inside the grant's range. Over the data
  // channel when open (the grant rides with each request), else a gRPC GrantedWrite stream.
  void granted_write(const v1::WriteGrant& grant, std::uint64_t offset,
                     std::span<const std::byte> data);
  // Has this node send [src_offset, + grant.bytes()) of our buffer `src_handle` to the node at
  // `dst_address` that issued `grant`; returns the bytes copied. One request on the data channel
  // when the node offers "data-peer-copy", else a PeerCopy call.
  std::uint64_t peer_copy(std::uint64_t src_handle, std::uint64_t src_offset,
                          const std::string& dst_address, const v1::WriteGrant& grant);
  // As peer_copy, the node rounding each f32 of the range to the nearest f16 value on the way
  // (an f16 stage boundary crossed node to node); on the data channel only: Errc::unsupported
  // unless offers_peer_copy_f16() ("data-peer-copy-f16").
  std::uint64_t peer_copy_f16(std::uint64_t src_handle, std::uint64_t src_offset,
                              const std::string& dst_address, const v1::WriteGrant& grant);
  bool offers_peer_copy_f16() const noexcept;

  // Batched work (node.proto, "Batched work"): queued here and sent as one Run when a read
  // needs its data, on flush(), when the batch is full, and before any other call of this
  // connection (so the node sees the session's work in order). Queued writes copy their data.
  // The node's refusal of a queued command surfaces from the call that sends the batch.
  void queue_write(std::uint64_t handle, std::uint64_t offset, std::span<const std::byte> data);
  void queue_dispatch(std::string_view kernel, std::span<const RemoteRange> bindings,
                      std::span<const std::byte> push, Groups groups);
  void queue_replay(std::uint64_t program);
  // Queues a read of `out.size()` (at most kMaxRunInlineBytes) bytes and sends the batch.
  void run_read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out);
  void flush();
  // Runs already sent (each one network request, whatever it carried).
  std::uint64_t runs_sent() const noexcept;
  // A program of dispatches the node keeps and Run replays (node.proto, Record); one device.
  std::uint64_t record(std::span<const RemoteDispatch> dispatches);
  void release_program(std::uint64_t program);

  // The commands of the last Run sent (empty before the first).
  std::vector<SentCommand> last_run() const;

  // Decode chains (docs/PROTOCOL.md, "Decode chains"). offers_chains: the node's data channel is
  // up and serves chain requests ("data-chain"). setup_chain/release_chain: gRPC calls.
  // chain_step: sends a step's input to the chain's first node (answered on acceptance).
  // chain_await: awaits `position`'s result of the chain ending on this node, running `meanwhile`
  // (the step to the first node; never through this connection) after the await is out; false
  // when the node answered "not yet".
  // chain_forward/chain_abort: a node's own link passing a result or a failure on, under the
  // grant the next node gave it. Work queued before is sent first, as for every call.
  bool offers_chains() const noexcept;
  bool offers_chain_f16() const noexcept;  // ChainSetup's input_f16/output_f16 ("data-chain-f16")
  // chain_await with a 4-byte `out` on a chain whose result is f32 logits answers the greedy
  // token, the index of the largest ("data-chain-token").
  bool offers_chain_token() const noexcept;
  // chain_await with `sampling` on such a chain answers the token the last node sampled from the
  // logits (reference::sample_token with the client's draw; "data-chain-sample"); `out` 4 bytes.
  bool offers_chain_sample() const noexcept;
  std::uint64_t setup_chain(const ChainSetup& setup);
  void release_chain(std::uint64_t chain);
  void chain_step(std::uint64_t chain, std::uint32_t position, std::span<const std::byte> input);
  bool chain_await(std::uint64_t chain, std::uint32_t position, std::span<std::byte> out,
                   const std::function<void()>& meanwhile, const ChainSampling& sampling);
  bool chain_await(std::uint64_t chain, std::uint32_t position, std::span<std::byte> out,
                   const std::function<void()>& meanwhile);
  void chain_forward(const v1::WriteGrant& grant, std::uint64_t chain, std::uint32_t position,
                     std::span<const std::byte> input);
  void chain_abort(const v1::WriteGrant& grant, std::uint64_t chain, Errc code, std::string_view message);

  // Ends the session (the node frees what it holds for us) and stops the heartbeats.
  void close() noexcept;

  struct Impl;

 private:
  explicit NodeConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::cluster
