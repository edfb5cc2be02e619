#include "net/discovery/interface_policy.hpp"

#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/error.hpp"

namespace crossgpu::discovery {

namespace {

bool contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

bool admitted_by_default(const NetInterface& nic, const InterfacePolicy& policy) {
  if (nic.loopback) return policy.include_loopback;
  if (!nic.multicast) return false;  // mDNS is multicast; such a link cannot carry it
  return policy.include_virtual_bridges || !is_virtual_bridge(nic.name);
}

bool is_interface_name(std::string_view name) {
  return !name.empty() && name.size() < IFNAMSIZ &&
         std::all_of(name.begin(), name.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u > 0x20 && u < 0x7F && c != '/' && c != ':' && c != ',';
         });
}

}  // namespace

bool is_virtual_bridge(std::string_view name) noexcept {
  return name == "docker0" || name.starts_with("br-") || name.starts_with("virbr") ||
         name.starts_with("veth");
}

std::vector<NetInterface> list_interfaces() {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) != 0)
    fail(Errc::io, "cannot list network interfaces: {}", std::strerror(errno));
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> list(raw, &freeifaddrs);
  std::vector<NetInterface> out;
  for (const ifaddrs* it = list.get(); it; it = it->ifa_next) {
    const std::string name = it->ifa_name ? it->ifa_name : "";
    const bool seen =
        std::any_of(out.begin(), out.end(), [&](const NetInterface& n) { return n.name == name; });
    if (name.empty() || seen) continue;  // getifaddrs lists an interface once per address
    out.push_back({name, if_nametoindex(name.c_str()), (it->ifa_flags & IFF_LOOPBACK) != 0,
                   (it->ifa_flags & IFF_MULTICAST) != 0});
  }
  return out;
}

std::vector<std::string> choose_interfaces(const std::vector<NetInterface>& available,
                                           const InterfacePolicy& policy) {
  std::vector<std::string> out;
  for (const NetInterface& nic : available) {
    if (contains(policy.deny, nic.name)) continue;
    const bool admitted =
        policy.allow.empty() ? admitted_by_default(nic, policy) : contains(policy.allow, nic.name);
    if (admitted) out.push_back(nic.name);
  }
  return out;
}

std::vector<std::string> parse_interface_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    const std::size_t comma = text.find(',', start);
    const std::string_view name =
        text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    if (!is_interface_name(name)) {
      fail(Errc::invalid_argument,
           "interface name '{}' is invalid (1 to {} printable bytes without '/', ':' or spaces)",
           std::string(name.substr(0, 32)), IFNAMSIZ - 1);
    }
    if (!contains(out, std::string(name))) out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace crossgpu::discovery
