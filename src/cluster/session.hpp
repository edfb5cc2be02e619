// One client's session on a node: the buffers it allocated (by opaque wire handle), the memory
// it holds against its quota, and one stream per device it used. Everything a session owns is
// freed when the session is destroyed, which is how a disconnect releases a client's memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <array>
#include <atomic>
#include <bitset>
#include <map>
#include <optional>
#include <span>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/data_frame.hpp"
#include "device/device.hpp"
#include "device/recording.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {

// A buffer of the session, validated: what a handler may use. It keeps the memory alive while
// the handler uses it: a Free that arrives meanwhile (another call of the same client, hostile or
// not) removes the handle at once but frees the memory only when the last handler lets go, so no
// transfer ever writes into freed memory.
struct SessionBuffer {
  std::shared_ptr<Device> device;
  BufferRef ref;
  std::shared_ptr<const Buffer> keep_alive;
};

// A program of the session (node.proto, Record): dispatches recorded once on the session's
// stream of `device`, replayed by Run, and the buffers they bind, kept alive while it exists.
struct SessionProgram {
  std::shared_ptr<Device> device;
  Recording recording;
  std::vector<std::shared_ptr<const Buffer>> keep_alive;
};

class StageChain;  // cluster/stage_chain.hpp

class Session {
 public:
  Session(std::uint64_t id, net::PeerIdentity peer, std::uint64_t quota_bytes)
      : id_(id), peer_(std::move(peer)), quota_bytes_(quota_bytes),
        created_(std::chrono::steady_clock::now()) {}
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  const net::PeerIdentity& peer() const noexcept { return peer_; }
  std::uint64_t quota_bytes() const noexcept { return quota_bytes_; }
  std::uint64_t held_bytes() const;
  std::size_t buffer_count() const;
  bool holds(std::uint64_t handle) const;
  std::chrono::steady_clock::time_point created() const noexcept { return created_; }

  // Allocates under the quota (Errc::out_of_memory naming quota and use) and records the buffer
  // under `handle`, which the node issues (unique node-wide, never reused).
  void allocate(std::uint64_t handle, const std::shared_ptr<Device>& device, std::uint64_t bytes,
                MemoryKind kind);
  // Errc::not_found for a handle this session does not hold.
  void free(std::uint64_t handle);
  // The buffer behind `handle` with [offset, offset+bytes) checked against it.
  SessionBuffer resolve(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                        const char* what) const;

  // The data channel's secret: issued with Hello, redeemed by the data connections that bind to
  // this session, at most once per lane (0 <= lane < `lanes`, given at issue). Redeeming
  // compares in constant time; a lane already bound or out of range is refused.
  std::array<std::uint8_t, 32> issue_data_secret(std::uint32_t lanes);
  bool redeem_data_secret(std::span<const std::uint8_t> secret, std::uint64_t lane);

  // This session's stream on `device` (created on first use). Every use of a session's streams
  // happens under lock(): a stream is used by one thread at a time.
  Stream& stream(Device& device);
  std::unique_lock<std::mutex> lock() { return std::unique_lock(work_mutex_); }
  // Waits for the work of every stream of the session (under lock()).
  void synchronize_all();

  // Programs: an id (unique in the session, never reused) for `program`; Errc::out_of_range
  // when the session holds kMaxPrograms already. Errc::not_found for an id it does not hold.
  std::uint64_t add_program(std::shared_ptr<const SessionProgram> program);
  std::shared_ptr<const SessionProgram> program(std::uint64_t id) const;
  void release_program(std::uint64_t id);
  std::size_t program_count() const;

  // Decode chains (cluster/stage_chain.hpp), as programs: an id unique in the session;
  // Errc::out_of_range past kMaxChains, Errc::not_found for an id the session does not hold.
  std::uint64_t add_chain(std::shared_ptr<StageChain> chain);
  std::shared_ptr<StageChain> chain(std::uint64_t id) const;
  void release_chain(std::uint64_t id);

 private:
  struct Entry {
    std::shared_ptr<Device> device;
    std::shared_ptr<Buffer> buffer;  // shared with SessionBuffer::keep_alive only
  };
  const std::uint64_t id_;
  const net::PeerIdentity peer_;
  const std::uint64_t quota_bytes_;  // 0: unlimited
  const std::chrono::steady_clock::time_point created_;

  mutable std::mutex mutex_;  // buffers_, the quota check and the data secret
  std::unordered_map<std::uint64_t, Entry> buffers_;
  // Bytes of device memory the session's buffers hold, shared with each buffer's deleter: memory
  // kept alive past its Free by a transfer still counts against the quota until it is released.
  std::shared_ptr<std::atomic<std::uint64_t>> held_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  std::optional<std::array<std::uint8_t, 32>> data_secret_;  // under mutex_
  std::uint32_t data_lanes_ = 0;                              // under mutex_
  std::bitset<kMaxDataLanes> lanes_bound_;                    // under mutex_

  std::mutex work_mutex_;
  std::map<Device*, std::unique_ptr<Stream>> streams_;
  // Under mutex_. Declared after the streams: released before them.
  std::map<std::uint64_t, std::shared_ptr<const SessionProgram>> programs_;
  std::uint64_t next_program_ = 1;
  std::map<std::uint64_t, std::shared_ptr<StageChain>> chains_;  // under mutex_; hold programs
  std::uint64_t next_chain_ = 1;
};

}  // namespace crossgpu::cluster
