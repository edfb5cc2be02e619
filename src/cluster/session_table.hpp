// Every session of a node: created by Hello, kept alive by the Session stream, ended (and all its
// memory freed) when that stream ends. Session ids are random so that one cannot be guessed, and
// a session answers only to the peer identity that opened it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cluster/session.hpp"

namespace crossgpu::cluster {

struct SessionLimits {
  std::uint64_t quota_bytes = 0;   // per session; 0: unlimited
  std::size_t max_sessions = 256;  // a flood of Hellos cannot exhaust the node
  // Shares of max_sessions, so that one identity, or the read-only monitors, cannot take the
  // sessions compute clients need: half for one identity, an eighth for all monitor identities
  // together, a thirty-second for one monitor identity (at least one each).
  std::size_t per_identity() const noexcept { return share(2); }
  std::size_t monitor_total() const noexcept { return share(8); }
  std::size_t monitor_per_identity() const noexcept { return share(32); }
  std::size_t share(std::size_t divisor) const noexcept {
    return max_sessions / divisor > 0 ? max_sessions / divisor : 1;
  }
  // A session whose Session stream has not attached by then is dropped.
  std::chrono::seconds attach_timeout{30};
};

class SessionTable {
 public:
  explicit SessionTable(SessionLimits limits) : limits_(limits) {}

  const SessionLimits& limits() const noexcept { return limits_; }

  // Errc::out_of_memory when max_sessions are open (after dropping stale unattached ones), or
  // the peer's identity or role holds its share (SessionLimits), naming the quota.
  std::shared_ptr<Session> open(const net::PeerIdentity& peer);
  // The session `id` of `peer`; Errc::not_found otherwise (another peer's id is not found).
  std::shared_ptr<Session> find(std::uint64_t id, const std::string& peer_node_id) const;
  // Marks the session attached to its Session stream; false when it is not (or no longer) open
  // or already attached.
  bool attach(std::uint64_t id, const std::string& peer_node_id);
  // Ends a session: it is destroyed, with everything it holds, once the last call using it
  // returns.
  void close(std::uint64_t id);
  void close_all();

  // Node-wide buffer handles: unique across sessions and never reused.
  std::uint64_t next_handle() noexcept { return next_handle_.fetch_add(1); }
  // The session that holds buffer `handle`, or nullptr (for granted writes from other nodes).
  std::shared_ptr<Session> owner_of_handle(std::uint64_t handle) const;

  std::vector<std::shared_ptr<Session>> sessions() const;
  std::uint64_t held_bytes() const;

 private:
  struct Slot {
    std::shared_ptr<Session> session;
    bool attached = false;
  };
  void drop_stale_locked();
  void check_shares_locked(const net::PeerIdentity& peer) const;

  const SessionLimits limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Slot> sessions_;
  std::atomic<std::uint64_t> next_handle_{1};
};

}  // namespace crossgpu::cluster
