#include "cluster/session_table.hpp"

#include <openssl/rand.h>

#include "core/error.hpp"

namespace crossgpu::cluster {
namespace {

std::uint64_t random_session_id() {
  std::uint64_t id = 0;
  while (id == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof(id)) != 1) {
      fail(Errc::internal, "the system random generator failed");
    }
  }
  return id;
}

}  // namespace

std::shared_ptr<Session> SessionTable::open(const net::PeerIdentity& peer) {
  std::lock_guard lock(mutex_);
  drop_stale_locked();
  if (sessions_.size() >= limits_.max_sessions) {
    fail(Errc::out_of_memory, "this node already serves {} sessions, its limit; retry later",
         sessions_.size());
  }
  check_shares_locked(peer);
  std::uint64_t id = random_session_id();
  while (sessions_.contains(id)) id = random_session_id();
  auto session = std::make_shared<Session>(id, peer, limits_.quota_bytes);
  sessions_.emplace(id, Slot{session, false});
  return session;
}

void SessionTable::check_shares_locked(const net::PeerIdentity& peer) const {
  std::size_t mine = 0;
  std::size_t monitors = 0;
  for (const auto& [id, slot] : sessions_) {
    const net::PeerIdentity& holder = slot.session->peer();
    if (holder.node_id == peer.node_id) ++mine;
    if (holder.role == net::Role::monitor) ++monitors;
  }
  const bool monitor = peer.role == net::Role::monitor;
  const std::size_t own = monitor ? limits_.monitor_per_identity() : limits_.per_identity();
  if (mine >= own) {
    fail(Errc::out_of_memory,
         "session quota exceeded: identity {} (role {}) holds {} sessions, its limit; end some "
         "and retry",
         peer.node_id, net::to_string(peer.role), mine);
  }
  if (monitor && monitors >= limits_.monitor_total()) {
    fail(Errc::out_of_memory,
         "session quota exceeded: monitor identities hold {} sessions, the limit of the monitor "
         "role; retry later",
         monitors);
  }
}

std::shared_ptr<Session> SessionTable::find(std::uint64_t id,
                                            const std::string& peer_node_id) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.session->peer().node_id != peer_node_id) {
    fail(Errc::not_found,
         "no session {} for this peer on this node (it ended, or Hello was not called); call "
         "Hello and send its session id in the '{}' metadata",
         id, "crossgpu-session");
  }
  return it->second.session;
}

bool SessionTable::attach(std::uint64_t id, const std::string& peer_node_id) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second.attached) return false;
  if (it->second.session->peer().node_id != peer_node_id) return false;
  it->second.attached = true;
  return true;
}

void SessionTable::close(std::uint64_t id) {
  std::shared_ptr<Session> doomed;  // destroyed outside the lock: freeing may wait for work
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  doomed = std::move(it->second.session);
  sessions_.erase(it);
}

void SessionTable::close_all() {
  std::unordered_map<std::uint64_t, Slot> doomed;
  {
    std::lock_guard lock(mutex_);
    doomed.swap(sessions_);
  }
}

std::shared_ptr<Session> SessionTable::owner_of_handle(std::uint64_t handle) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, slot] : sessions_) {
    if (slot.session->holds(handle)) return slot.session;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Session>> SessionTable::sessions() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Session>> out;
  for (const auto& [id, slot] : sessions_) out.push_back(slot.session);
  return out;
}

std::uint64_t SessionTable::held_bytes() const {
  std::uint64_t total = 0;
  for (const auto& session : sessions()) total += session->held_bytes();
  return total;
}

void SessionTable::drop_stale_locked() {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(sessions_, [&](const auto& entry) {
    return !entry.second.attached && now - entry.second.session->created() > limits_.attach_timeout;
  });
}

}  // namespace crossgpu::cluster
