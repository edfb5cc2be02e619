// The source node's side of a node-to-node copy (node A): a client asks A, by a PeerCopy call or
// a peer-copy request on A's data channel, to send a range of one of its buffers to node B with
// the write grant B gave it. A checks the request against itself and the client's session, then
// sends the range over its own link to B (PeerLinks), where B checks the grant again.
#pragma once

#include <cstdint>
#include <string>

#include "cluster/peer_links.hpp"
#include "cluster/session.hpp"
#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {

inline constexpr std::size_t kMaxPeerNodeIdBytes = 128;

// Copies [src_offset, + grant.bytes()) of `src_handle` of `session` to the grant's range on the
// node at `dst_address`, which must be the grant's issuer. Returns the bytes copied.
// Errc::invalid_argument for a grant made out to another node than `this_node_id`, an empty grant
// or a bad address; the session's errors for the source range; B's typed errors, prefixed with
// the destination.
std::uint64_t copy_to_peer(Session& session, std::uint64_t src_handle, std::uint64_t src_offset,
                           const v1::WriteGrant& grant, const std::string& dst_address,
                           const std::string& this_node_id, PeerLinks& links);

}  // namespace crossgpu::cluster
