// How an accepted peer is named in logs and counted by the pre-authentication caps.
#pragma once

#include <sys/socket.h>

#include <string>

namespace crossgpu::net {

struct SocketPeer {
  std::string address;  // "host:port" ("[v6]:port"), for logs
  std::string source;   // the host alone: the per-source key of the caps
};

SocketPeer describe_peer(const sockaddr_storage& address);

}  // namespace crossgpu::net
