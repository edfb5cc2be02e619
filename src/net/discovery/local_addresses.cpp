#include "net/discovery/local_addresses.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/error.hpp"

namespace crossgpu::discovery {

namespace {

bool wanted(const ifaddrs& entry, const std::vector<std::string>& interfaces, bool include_ipv6) {
  if (!entry.ifa_addr || !entry.ifa_name) return false;
  const int family = entry.ifa_addr->sa_family;
  if (family != AF_INET && !(include_ipv6 && family == AF_INET6)) return false;
  return std::find(interfaces.begin(), interfaces.end(), entry.ifa_name) != interfaces.end();
}

std::string numeric(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* raw =
      address->sa_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(address)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr);
  return inet_ntop(address->sa_family, raw, text, sizeof text) ? text : "";
}

}  // namespace

std::vector<LocalAddress> local_addresses(const std::vector<std::string>& interfaces,
                                          bool include_ipv6) {
  ifaddrs* raw = nullptr;
  if (getifaddrs(&raw) != 0)
    fail(Errc::io, "cannot list interface addresses: {}", std::strerror(errno));
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> list(raw, &freeifaddrs);
  std::vector<LocalAddress> out;
  for (const ifaddrs* it = list.get(); it; it = it->ifa_next) {
    if (!wanted(*it, interfaces, include_ipv6)) continue;
    const std::string text = numeric(it->ifa_addr);
    if (!text.empty()) out.push_back({if_nametoindex(it->ifa_name), it->ifa_addr->sa_family, text});
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace crossgpu::discovery
