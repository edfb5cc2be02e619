#include "net/socket_peer.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

namespace crossgpu::net {

SocketPeer describe_peer(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      // A dual-stack listener's IPv4 client: named as IPv4, as gRPC names it.
      ::inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof(text));
      return {fmt::format("{}:{}", text, ntohs(v6.sin6_port)), text};
    }
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return {fmt::format("[{}]:{}", text, ntohs(v6.sin6_port)), text};
  }
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
  ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
  return {fmt::format("{}:{}", text, ntohs(v4.sin_port)), text};
}

}  // namespace crossgpu::net
