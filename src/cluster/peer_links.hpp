// This node's connections to other nodes, for node-to-node copies (PeerCopy): node A opens a
// session on node B as any client does (Hello, heartbeats, B's data channel with its lanes) and
// keeps it, so a copy that runs once per pipeline stage per token pays no connect, TLS handshake
// or Hello. A link that was lost is replaced on next use. Bounded: past kMaxLinks addresses the
// links are closed and opened again as needed.
//
// A link goes only to a cluster member this node knows: the destination's node id is resolved
// through the node's own member directory (its peer table), never an address from a request, so
// a client cannot aim the node at an arbitrary host, port or socket path.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "cluster/node_connection.hpp"
#include "net/security.hpp"

namespace crossgpu::cluster {

// node id -> address of a member this node verified (TLS and Hello); empty when unknown.
using MemberDirectory = std::function<std::string(const std::string& node_id)>;

// The one answer to every peer copy refused before a connection: it tells a requester nothing
// about which nodes, ports or files exist.
inline constexpr const char* kNotAMember =
    "peer copy refused: the destination is not a member this node can copy to";

class PeerLinks {
 public:
  static constexpr std::size_t kMaxLinks = 64;

  // Without a directory no destination is a member: peer copies are refused.
  PeerLinks(const net::NodeIdentity& identity, MemberDirectory members)
      : identity_(identity), members_(std::move(members)) {}
  ~PeerLinks() { close_all(); }
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;

  // The address of member `node_id`; empty when it is none this node knows. Connects nowhere.
  std::string resolve(const std::string& node_id) const;
  // The link to member `node_id` at `address` (from resolve()): Errc::permission_denied when
  // another node answers there, Errc::device_lost when none does.
  std::shared_ptr<NodeConnection> get(const std::string& address, const std::string& node_id);
  void close_all() noexcept;

 private:
  const net::NodeIdentity& identity_;
  const MemberDirectory members_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<NodeConnection>> links_;
};

}  // namespace crossgpu::cluster
