#include "net/call_quota.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "net/security.hpp"

namespace crossgpu::net {

CallQuotaLimits CallQuotaLimits::for_threads(std::size_t max_threads) {
  CallQuotaLimits limits;
  limits.per_identity = std::max<std::size_t>(1, max_threads / 2);
  limits.monitor_total = std::max<std::size_t>(1, max_threads / 8);
  limits.monitor_per_identity = std::max<std::size_t>(1, max_threads / 32);
  limits.unauthenticated = std::max<std::size_t>(1, max_threads / 32);
  return limits;
}

CallQuota::Ticket::~Ticket() {
  if (quota_) quota_->release(key_, pool_);
}

CallQuota::Ticket CallQuota::acquire(const PeerIdentity& peer, const char* what) {
  const bool monitor = peer.role == Role::monitor;
  std::lock_guard lock(mutex_);
  std::size_t& mine = per_identity_[peer.node_id];
  const std::size_t own_limit = monitor ? limits_.monitor_per_identity : limits_.per_identity;
  if (mine >= own_limit) {
    if (mine == 0) per_identity_.erase(peer.node_id);
    fail(Errc::out_of_memory,
         "{}: quota exceeded: identity {} (role {}) has {} calls in flight, its limit; end some "
         "(each open Session or Subscribe stream counts) and retry",
         what, peer.node_id, to_string(peer.role), mine);
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
  return Ticket(this, peer.node_id, monitor ? Ticket::Pool::monitors : Ticket::Pool::none);
}

CallQuota::Ticket CallQuota::acquire_unauthenticated(const std::string& address,
                                                     const char* what) {
  std::lock_guard lock(mutex_);
  if (unauthenticated_ >= limits_.unauthenticated) {
    fail(Errc::out_of_memory,
         "{} from {}: quota exceeded: callers without a certificate have {} calls in flight, "
         "their limit; retry later",
         what, address, unauthenticated_);
  }
  ++unauthenticated_;
  return Ticket(this, {}, Ticket::Pool::unauthenticated);
}

std::size_t CallQuota::in_flight(const std::string& node_id) const {
  std::lock_guard lock(mutex_);
  const auto it = per_identity_.find(node_id);
  return it == per_identity_.end() ? 0 : it->second;
}

void CallQuota::release(const std::string& key, Ticket::Pool pool) noexcept {
  std::lock_guard lock(mutex_);
  if (pool == Ticket::Pool::unauthenticated) {
    --unauthenticated_;
    return;
  }
  const auto it = per_identity_.find(key);
  if (it != per_identity_.end() && --it->second == 0) per_identity_.erase(it);
  if (pool == Ticket::Pool::monitors) --monitors_;
}

}  // namespace crossgpu::net
