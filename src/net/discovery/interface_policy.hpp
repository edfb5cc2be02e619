// Which network interfaces discovery advertises and browses on. By default: every interface
// except loopback and the virtual bridges of containers and VMs (docker0, br-*, virbr*, veth*),
// whose peers are not other devices of the user. An explicit allow list overrides the defaults
// (it may name "lo"); the deny list always applies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::discovery {

struct InterfacePolicy {
  std::vector<std::string> allow;  // empty: every interface the defaults admit
  std::vector<std::string> deny;
  bool include_loopback = false;
  bool include_virtual_bridges = false;
};

struct NetInterface {
  std::string name;
  unsigned index = 0;
  bool loopback = false;
  bool multicast = false;
};

// The interfaces of this network namespace now. Throws Errc::io when the kernel refuses.
std::vector<NetInterface> list_interfaces();

bool is_virtual_bridge(std::string_view name) noexcept;

// The names, from `available`, that `policy` admits, in `available` order.
std::vector<std::string> choose_interfaces(const std::vector<NetInterface>& available,
                                           const InterfacePolicy& policy);

// Parses a comma-separated interface list ("eth0,wlan0") as given on the command line; names
// are checked against the kernel's rules (1 to 15 bytes, no '/', ':', whitespace).
// Throws Errc::invalid_argument.
std::vector<std::string> parse_interface_list(std::string_view text);

}  // namespace crossgpu::discovery
