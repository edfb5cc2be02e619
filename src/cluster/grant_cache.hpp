// The write grants a client got from a destination node, kept for reuse: a pipeline copies the
// same range node to node once per token, and asking for the grant again would add a round trip
// to each copy. A grant is reused for at most kReuseFor after it arrived, measured on this
// machine's clock: the node issues grants for 120 s on its own clock, so clock skew between the
// machines never makes a stale grant look fresh. Bounded: past kMaxEntries it starts over.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {

class GrantCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kReuseFor{60};
  static constexpr std::size_t kMaxEntries = 256;

  std::optional<v1::WriteGrant> find(std::uint64_t handle, std::uint64_t offset,
                                     std::uint64_t bytes, const std::string& grantee,
                                     Clock::time_point now = Clock::now()) const {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(Key{handle, offset, bytes, grantee});
    if (it == entries_.end() || now - it->second.received >= kReuseFor) return std::nullopt;
    return it->second.grant;
  }

  void store(const v1::WriteGrant& grant, Clock::time_point received = Clock::now()) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= kMaxEntries) entries_.clear();
    entries_[Key{grant.handle(), grant.offset(), grant.bytes(), grant.grantee_node_id()}] = {
        grant, received};
  }

  // The buffer was freed: its grants are worthless.
  void forget(std::uint64_t handle) {
    std::lock_guard lock(mutex_);
    std::erase_if(entries_, [&](const auto& entry) { return std::get<0>(entry.first) == handle; });
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  using Key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::string>;
  struct Entry {
    v1::WriteGrant grant;
    Clock::time_point received;
  };
  mutable std::mutex mutex_;
  std::map<Key, Entry> entries_;
};

}  // namespace crossgpu::cluster
