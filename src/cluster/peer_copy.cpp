#include "cluster/peer_copy.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "cluster/data_frame.hpp"
#include "cluster/hidden_f16.hpp"
#include "cluster/wire_validation.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace crossgpu::cluster {
namespace {

// A source without a host mapping (GPU memory) is sent in pieces of this size.
constexpr std::uint64_t kStagingBytes = 4ull << 20;

std::int64_t now_unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Why the grant cannot be used by this node, or empty. The source cannot check the MAC (only
// the issuer holds its key; the issuer checks it before writing a byte), but all the rest.
std::string grant_problem(const v1::WriteGrant& grant, const std::string& this_node_id) {
  if (grant.grantee_node_id() != this_node_id) return "the grant is made out to another node";
  if (grant.bytes() == 0) return "the grant covers 0 bytes";
  if (grant.expires_unix_seconds() < now_unix_seconds()) return "the grant expired";
  if (grant.issuer_node_id().empty() || grant.issuer_node_id().size() > kMaxPeerNodeIdBytes) {
    return "the grant names no issuing node";
  }
  return {};
}

// The destination's address, resolved by this node; throws kNotAMember (and logs why) before any
// connection is made.
std::string check_request(const v1::WriteGrant& grant, const std::string& this_node_id,
                          const PeerLinks& links, const std::string& requester) {
  std::string problem = grant_problem(grant, this_node_id);
  std::string address;
  if (problem.empty()) {
    address = links.resolve(grant.issuer_node_id());
    if (address.empty()) problem = "the grant's issuer is no member this node watches";
  }
  if (!problem.empty()) {
    log::warn("refused a peer copy asked by {}: {} (issuer '{}')", requester, problem,
              grant.issuer_node_id().substr(0, kMaxPeerNodeIdBytes));
    fail(Errc::permission_denied, "{}", kNotAMember);
  }
  return address;
}

// Sends [offset, offset + grant.bytes()) of `source` to the grant's range over `link`, each f32
// rounded to the nearest f16 value with `round_f16` (in a copy: the buffer stays as it is).
void send_range(Session& session, const SessionBuffer& source, std::uint64_t offset,
                const v1::WriteGrant& grant, NodeConnection& link, bool round_f16) {
  std::span<std::byte> mapped = source.device->try_mapped(source.ref);
  if (!mapped.empty() && !round_f16) {
    {
      auto lock = session.lock();
      session.stream(*source.device).synchronize();  // queued kernels may still write it
      source.device->invalidate_mapped(source.ref, offset, grant.bytes());
    }
    // `source` keeps the memory alive should the client free it meanwhile.
    link.granted_write(grant, grant.offset(), mapped.subspan(offset, grant.bytes()));
    return;
  }
  std::vector<std::byte> staging(std::min(kStagingBytes, grant.bytes()));
  for (std::uint64_t done = 0; done < grant.bytes();) {
    const std::uint64_t n = std::min<std::uint64_t>(staging.size(), grant.bytes() - done);
    std::span<std::byte> chunk(staging.data(), n);
    {
      auto lock = session.lock();
      session.stream(*source.device).download(source.ref, offset + done, chunk).wait();
    }
    if (round_f16) round_to_f16_values(chunk);
    link.granted_write(grant, grant.offset() + done, chunk);
    done += n;
  }
}

}  // namespace

std::uint64_t copy_to_peer(Session& session, std::uint64_t src_handle, std::uint64_t src_offset,
                           const v1::WriteGrant& grant, const std::string& this_node_id,
                           PeerLinks& links, const std::string& requester, bool round_f16) {
  const std::string address = check_request(grant, this_node_id, links, requester);
  if (round_f16 && grant.bytes() % sizeof(float) != 0) {
    fail(Errc::invalid_argument, "PeerCopy f16: {} bytes are no whole number of f32 values", grant.bytes());
  }
  SessionBuffer source = session.resolve(src_handle, src_offset, grant.bytes(), "PeerCopy source");
  try {
    // The TLS handshake pins the issuer's node id: another node at that address is refused.
    std::shared_ptr<NodeConnection> link = links.get(address, grant.issuer_node_id());
    send_range(session, source, src_offset, grant, *link, round_f16);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("PeerCopy to node {}: {}", grant.issuer_node_id(), e.what()));
  }
  return grant.bytes();
}

v1::WriteGrant parse_grant(std::span<const std::byte> bytes, const char* what) {
  v1::WriteGrant grant;
  if (!grant.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    fail(Errc::invalid_argument, "{}: the grant does not parse", what);
  }
  return grant;
}

GrantedTarget resolve_granted(const GrantAuthority& grants, const SessionTable& sessions,
                              const v1::WriteGrant& grant, const std::string& presenter,
                              std::uint64_t offset, std::uint64_t bytes, const char* what) {
  grants.verify(grant, presenter);
  if (offset < grant.offset()) {
    fail(Errc::out_of_range, "{}: offset {} precedes the grant's range at {}", what, offset,
         grant.offset());
  }
  check_range(offset - grant.offset(), bytes, grant.bytes(), what);
  std::shared_ptr<Session> owner = sessions.owner_of_handle(grant.handle());
  if (!owner) fail(Errc::not_found, "{}: the granted buffer was freed", what);
  SessionBuffer buffer = owner->resolve(grant.handle(), offset, bytes, what);
  return {std::move(owner), std::move(buffer)};
}

}  // namespace crossgpu::cluster
