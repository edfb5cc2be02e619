// Merges per-interface, per-protocol mDNS resolutions of one service instance into one peer,
// and turns changes into found / updated / lost events. A service seen on eth0 over IPv4 and over
// IPv6 is one peer with two addresses; it is lost only when every sighting is gone.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "net/discovery/peer_event.hpp"
#include "net/discovery/resolved_service.hpp"

namespace crossgpu::discovery {

class PeerTable {
 public:
  using Sink = std::function<void(const PeerEvent&)>;

  // Services advertising `own_node_id` (this node) are never reported.
  PeerTable(std::string own_node_id, Sink sink);

  // One resolution of `service` seen on interface `if_index` over `protocol` (an opaque number).
  // Invalid services are logged once and ignored; a sighting that turns invalid is removed.
  void resolved(int if_index, int protocol, const ResolvedService& service);
  void removed(int if_index, int protocol, const std::string& instance_name);

  // Emits a found event for a candidate from another source (a static seed).
  void announce(const PeerCandidate& candidate);

  std::vector<PeerCandidate> peers() const;

 private:
  using Sighting = std::tuple<int, int>;  // interface index, protocol
  struct Entry {
    std::map<Sighting, PeerCandidate> sightings;
    PeerCandidate merged;
  };

  static constexpr std::size_t kMaxRememberedRejections = 256;

  std::optional<PeerCandidate> validated(const ResolvedService& service);
  static PeerCandidate merge(const Entry& entry);
  void update(const std::string& instance, Entry& entry, std::vector<PeerEvent>& events);
  void emit(const std::vector<PeerEvent>& events);

  std::string own_node_id_;
  Sink sink_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // by instance name
  std::vector<PeerCandidate> announced_;
  std::map<std::string, std::string> rejected_;  // instance -> reason, logged once
};

}  // namespace crossgpu::discovery
