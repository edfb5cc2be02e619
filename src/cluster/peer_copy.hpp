// Both ends of a node-to-node copy, as a node serves them over gRPC and over its data channel.
// Source (node A): a client asks A, by a PeerCopy call or a peer-copy request, to send a range of
// one of its buffers to node B with the write grant B gave it. A checks the request against
// itself and the client's session, then sends the range over its own link to B (PeerLinks).
// Destination (node B): each granted write is checked against the grant before a byte is written.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "cluster/peer_links.hpp"
#include "cluster/session.hpp"
#include "cluster/session_table.hpp"
#include "cluster/write_grant.hpp"
#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {

inline constexpr std::size_t kMaxPeerNodeIdBytes = 128;

// Copies [src_offset, + grant.bytes()) of `src_handle` of `session` to the grant's range on the
// grant's issuer, a member whose address this node resolves itself (`links`' directory); the
// request carries no address that counts. Returns the bytes copied. Before any connection the
// grant must be made out to `this_node_id`, cover some bytes, be unexpired and name a member
// this node knows: otherwise Errc::permission_denied with the one text kNotAMember, and the
// reason is logged with `requester` (who asked). Then the session's errors for the source range;
// the destination's typed errors, prefixed with its node id. With `round_f16` each f32 of the
// range leaves rounded to the nearest f16 value (still 4 bytes; the source buffer is not
// changed): an f16 stage boundary crossed node to node. The range must then be a whole number of
// floats (Errc::invalid_argument).
std::uint64_t copy_to_peer(Session& session, std::uint64_t src_handle, std::uint64_t src_offset,
                           const v1::WriteGrant& grant, const std::string& this_node_id,
                           PeerLinks& links, const std::string& requester, bool round_f16 = false);

// A grant as it arrives inside a data request; Errc::invalid_argument naming `what` when the
// bytes are no WriteGrant.
v1::WriteGrant parse_grant(std::span<const std::byte> bytes, const char* what);

// Where a granted write lands: the buffer, resolved in (and kept alive for) the session that owns
// it. `buffer` keeps the memory alive; `owner` is the session whose stream orders the write.
struct GrantedTarget {
  std::shared_ptr<Session> owner;
  SessionBuffer buffer;
};
// The destination's check of one granted write of [offset, +bytes) (absolute in the buffer):
// the grant must be this node's, unaltered, unexpired and made out to `presenter`
// (Errc::invalid_argument), the range inside it (Errc::out_of_range), and the buffer not freed
// (Errc::not_found).
GrantedTarget resolve_granted(const GrantAuthority& grants, const SessionTable& sessions,
                              const v1::WriteGrant& grant, const std::string& presenter,
                              std::uint64_t offset, std::uint64_t bytes, const char* what);

}  // namespace crossgpu::cluster
