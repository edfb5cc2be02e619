// Calls in flight per identity and per role, so that no one identity, and no read-only monitor,
// can hold the threads a compute client needs. gRPC's synchronous server runs each call on one
// of its max_threads threads for as long as the call lasts (a Session or Telemetry.Subscribe
// stream: as long as it is open); without quotas ~250 Session streams of one monitor exhausted
// the pool and every other client's calls failed. One quota covers every service of a server
// (Node, Telemetry, Revocation, Admin: they share the threads); the Authenticator carries it.
// Past a quota a call is refused at once with Errc::out_of_memory (RESOURCE_EXHAUSTED on the
// wire) naming the quota. Calls that come before authentication (Enrollment.Join) share one
// small pool of their own.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace crossgpu::net {

struct PeerIdentity;

struct CallQuotaLimits {
  std::size_t per_identity = 128;         // calls in flight of one compute or admin identity
  std::size_t monitor_per_identity = 8;   // of one monitor identity
  std::size_t monitor_total = 32;         // of every monitor identity together
  std::size_t unauthenticated = 8;        // of every caller without a certificate together
  // Fractions of a server's thread pool: half for one identity, an eighth for all monitors,
  // a thirty-second for one monitor and for all unauthenticated callers (at least one each).
  static CallQuotaLimits for_threads(std::size_t max_threads);
};

class CallQuota {
 public:
  // Holds one call's place until destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept : quota_(other.quota_), key_(std::move(other.key_)),
                                      pool_(other.pool_) { other.quota_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class CallQuota;
    enum class Pool { none, monitors, unauthenticated };
    Ticket(CallQuota* quota, std::string key, Pool pool)
        : quota_(quota), key_(std::move(key)), pool_(pool) {}
    CallQuota* quota_;
    std::string key_;  // empty: no identity (unauthenticated)
    Pool pool_;
  };

  explicit CallQuota(CallQuotaLimits limits) : limits_(limits) {}
  const CallQuotaLimits& limits() const noexcept { return limits_; }

  // A place for one call of `peer`; Errc::out_of_memory naming the quota when none is left.
  Ticket acquire(const PeerIdentity& peer, const char* what);
  // A place for one call made before authentication (from `address`, for the message).
  Ticket acquire_unauthenticated(const std::string& address, const char* what);
  std::size_t in_flight(const std::string& node_id) const;

 private:
  void release(const std::string& key, Ticket::Pool pool) noexcept;

  const CallQuotaLimits limits_;
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> per_identity_;
  std::size_t monitors_ = 0;
  std::size_t unauthenticated_ = 0;
};

}  // namespace crossgpu::net
