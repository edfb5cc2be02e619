// Turns what the mDNS resolver returned for one service instance into a PeerCandidate, checking
// every field: this data comes from anyone on the link.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/discovery/peer_event.hpp"

namespace crossgpu::discovery {

struct ResolvedService {
  std::string instance_name;
  std::string host_name;
  std::vector<std::string> addresses;  // numeric
  std::uint16_t port = 0;
  std::vector<std::string> txt;  // raw TXT strings as received
};

// Throws Errc::invalid_argument (with the instance name) when the service is not a usable
// crossgpu node: port 0, no or malformed "id", no or malformed "proto", an address that is not
// a numeric IPv4/IPv6 address, an instance name that is not UTF-8 or longer than 63 bytes.
PeerCandidate to_candidate(const ResolvedService& service);

// True when `text` is a numeric IPv4 address, or IPv6 with an optional "%zone".
bool is_numeric_address(const std::string& text);

}  // namespace crossgpu::discovery
