#include "cluster/call_quota.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace crossgpu::cluster {

CallQuotaLimits CallQuotaLimits::for_threads(std::size_t max_threads) {
  CallQuotaLimits limits;
  limits.per_identity = std::max<std::size_t>(1, max_threads / 2);
  limits.monitor_total = std::max<std::size_t>(1, max_threads / 8);
  limits.monitor_per_identity = std::max<std::size_t>(1, max_threads / 32);
  return limits;
}

CallQuota::Ticket::~Ticket() {
  if (quota_) quota_->release(key_, monitor_);
}

CallQuota::Ticket CallQuota::acquire(const net::PeerIdentity& peer, const char* what) {
  const bool monitor = peer.role == net::Role::monitor;
  std::lock_guard lock(mutex_);
  std::size_t& mine = per_identity_[peer.node_id];
  const std::size_t own_limit = monitor ? limits_.monitor_per_identity : limits_.per_identity;
  if (mine >= own_limit) {
    if (mine == 0) per_identity_.erase(peer.node_id);
    fail(Errc::out_of_memory,
         "{}: quota exceeded: identity {} (role {}) has {} calls in flight, its limit; end some "
         "(each open Session stream counts) and retry",
         what, peer.node_id, net::to_string(peer.role), mine);
  }
  if (monitor && monitors_ >= limits_.monitor_total) {
    if (mine == 0) per_identity_.erase(peer.node_id);
    fail(Errc::out_of_memory,
         "{}: quota exceeded: monitor identities have {} calls in flight, the limit of the "
         "monitor role; retry later",
         what, monitors_);
  }
  ++mine;
  if (monitor) ++monitors_;
  return Ticket(this, peer.node_id, monitor);
}

std::size_t CallQuota::in_flight(const std::string& node_id) const {
  std::lock_guard lock(mutex_);
  const auto it = per_identity_.find(node_id);
  return it == per_identity_.end() ? 0 : it->second;
}

void CallQuota::release(const std::string& key, bool monitor) noexcept {
  std::lock_guard lock(mutex_);
  const auto it = per_identity_.find(key);
  if (it != per_identity_.end() && --it->second == 0) per_identity_.erase(it);
  if (monitor) --monitors_;
}

}  // namespace crossgpu::cluster
