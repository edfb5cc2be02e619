// This node's connections to other nodes, for node-to-node copies (PeerCopy): node A opens a
// session on node B as any client does (Hello, heartbeats, B's data channel with its lanes) and
// keeps it, so a copy that runs once per pipeline stage per token pays no connect, TLS handshake
// or Hello. A link that was lost is replaced on next use. Bounded: past kMaxLinks addresses the
// links are closed and opened again as needed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "cluster/node_connection.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {

class PeerLinks {
 public:
  static constexpr std::size_t kMaxLinks = 64;

  explicit PeerLinks(const net::NodeIdentity& identity) : identity_(identity) {}
  ~PeerLinks() { close_all(); }
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // The link to the node `node_id` at `address`: Errc::permission_denied when another node
  // answers there, Errc::device_lost when none does.
  std::shared_ptr<NodeConnection> get(const std::string& address, const std::string& node_id);
  void close_all() noexcept;

 private:
  const net::NodeIdentity& identity_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<NodeConnection>> links_;
};

}  // namespace crossgpu::cluster
