// What discovery reports: a CANDIDATE peer at some addresses. Nothing here is authenticated:
// anyone on the link can advertise any node id. The cluster trusts a peer only after the mutual
// TLS handshake with the cluster CA (docs/SECURITY.md); these events only say where to try.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace crossgpu::discovery {

enum class PeerSource {
  mdns,  // found through DNS-SD browsing
  seed,  // given by the user as --peer host:port
};

enum class PeerEventKind {
  found,    // a new candidate
  updated,  // a known candidate changed (an address added or removed, new TXT)
  lost,     // its advertisement went away (goodbye packet or TTL expiry)
};

struct ProtocolVersion {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  friend bool operator==(const ProtocolVersion&, const ProtocolVersion&) = default;
};

struct PeerCandidate {
  PeerSource source = PeerSource::mdns;
  std::string node_id;        // lowercase hex from TXT "id"; empty for seeds (learned in Hello)
  std::string instance_name;  // DNS-SD instance name; for seeds, the seed as given
  std::string host;           // SRV target host name, or the seed's host
  std::vector<std::string> addresses;  // numeric; IPv6 link-local ones carry "%ifname"
  std::uint16_t port = 0;
  ProtocolVersion protocol;                // from TXT "proto"; {0, 0} for seeds
  std::string devices;                     // from TXT "devices", sanitized for display
  std::map<std::string, std::string> txt;  // every TXT key (lowercase) and its value
};

struct PeerEvent {
  PeerEventKind kind = PeerEventKind::found;
  PeerCandidate peer;
};

const char* event_kind_name(PeerEventKind kind) noexcept;

}  // namespace crossgpu::discovery
