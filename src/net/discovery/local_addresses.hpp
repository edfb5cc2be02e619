// The IP addresses of chosen interfaces, which the embedded responder publishes itself as A/AAAA
// records of its host name (see embedded_responder.hpp for why avahi-core's own address
// publishing is off).
#pragma once

#include <string>
#include <vector>

namespace crossgpu::discovery {

struct LocalAddress {
  unsigned if_index = 0;
  int family = 0;       // AF_INET or AF_INET6
  std::string address;  // numeric, without zone
  friend bool operator==(const LocalAddress&, const LocalAddress&) = default;
  friend auto operator<=>(const LocalAddress&, const LocalAddress&) = default;
};

// Sorted, so that two calls can be compared to detect a change. Throws Errc::io.
std::vector<LocalAddress> local_addresses(const std::vector<std::string>& interfaces,
                                          bool include_ipv6);

}  // namespace crossgpu::discovery
