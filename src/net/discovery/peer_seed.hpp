// Static peers given as `--peer host:port`: "192.0.2.7:7300", "[fd00::2]:7300",
// "[fe80::1%eth0]:7300", "gpu-box.local:7300". Several may be given in one argument separated by
// commas. Parsing is strict: anything else is Errc::invalid_argument with the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/discovery/peer_event.hpp"

namespace crossgpu::discovery {

enum class SeedHostKind { ipv4, ipv6, name };

struct PeerSeed {
  std::string host;  // without brackets; IPv6 may carry "%zone"
  std::uint16_t port = 0;
  SeedHostKind kind = SeedHostKind::name;

  std::string text() const;  // "host:port", IPv6 in brackets
  friend bool operator==(const PeerSeed&, const PeerSeed&) = default;
};

PeerSeed parse_peer_seed(std::string_view text);

// Every argument may hold a comma-separated list; duplicates are dropped (first kept).
std::vector<PeerSeed> parse_peer_seeds(const std::vector<std::string>& arguments);

// The seed as a candidate: numeric hosts become its address; names are looked up through the
// system resolver (getaddrinfo), and a name that does not resolve yields no addresses (the daemon
// can retry later) rather than an error.
PeerCandidate seed_candidate(const PeerSeed& seed);

}  // namespace crossgpu::discovery
