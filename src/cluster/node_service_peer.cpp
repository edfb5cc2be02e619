// Node service: node-to-node transfers. The client gets a write grant from the destination node
// B and hands it to the source node A (PeerCopy); A sends its buffer straight to B over its own
// link to B (PeerLinks: B's data channel, else a GrantedWrite stream), and B checks the grant
// before writing a byte.
#include <algorithm>

#include "cluster/node_service_support.hpp"
#include "cluster/protocol.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {
namespace {

constexpr std::size_t kMaxNodeIdBytes = 128;
constexpr std::size_t kMaxAddressBytes = 255;
// A source without a host mapping (GPU memory) is sent in pieces of this size.
constexpr std::uint64_t kStagingBytes = 4ull << 20;

// Sends [offset, offset + grant.bytes()) of `source` to the grant's range over `link`.
void send_to_peer(cluster::Session& session, const SessionBuffer& source, std::uint64_t offset,
                  const v1::WriteGrant& grant, NodeConnection& link) {
  std::span<std::byte> mapped = source.device->try_mapped(source.ref);
  if (!mapped.empty()) {
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
    link.granted_write(grant, grant.offset() + done, chunk);
    done += n;
  }
}

}  // namespace

grpc::Status NodeService::GrantWrite(grpc::ServerContext* context,
                                     const v1::WriteGrantRequest* request,
                                     v1::WriteGrant* response) {
  return serve(context, net::Role::compute, "GrantWrite", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    session->resolve(request->handle(), request->offset(), request->bytes(), "GrantWrite");
    if (request->bytes() == 0) fail(Errc::invalid_argument, "GrantWrite: 0 bytes");
    if (request->grantee_node_id().empty() || request->grantee_node_id().size() > kMaxNodeIdBytes) {
      fail(Errc::invalid_argument, "GrantWrite: grantee_node_id must be a node id");
    }
    *response = grants_.issue(request->handle(), request->offset(), request->bytes(),
                              request->grantee_node_id());
  });
}

grpc::Status NodeService::PeerCopy(grpc::ServerContext* context,
                                   const v1::PeerCopyRequest* request,
                                   v1::PeerCopyResponse* response) {
  return serve(context, net::Role::compute, "PeerCopy", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    const v1::WriteGrant& grant = request->grant();
    if (grant.grantee_node_id() != identity_.node_id()) {
      fail(Errc::invalid_argument, "PeerCopy: the grant is made out to {}, not to this node {}",
           grant.grantee_node_id().substr(0, kMaxNodeIdBytes), identity_.node_id());
    }
    if (grant.bytes() == 0) fail(Errc::invalid_argument, "PeerCopy: the grant covers 0 bytes");
    if (request->dst_address().empty() || request->dst_address().size() > kMaxAddressBytes) {
      fail(Errc::invalid_argument, "PeerCopy: dst_address must be host:port");
    }
    if (grant.issuer_node_id().empty() || grant.issuer_node_id().size() > kMaxNodeIdBytes) {
      fail(Errc::invalid_argument, "PeerCopy: the grant names no issuing node");
    }
    SessionBuffer source = session->resolve(request->src_handle(), request->src_offset(),
                                            grant.bytes(), "PeerCopy source");
    try {
      // The node at dst_address must be the grant's issuer (checked at the TLS handshake).
      std::shared_ptr<NodeConnection> link =
          peer_links_.get(request->dst_address(), grant.issuer_node_id());
      send_to_peer(*session, source, request->src_offset(), grant, *link);
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("PeerCopy to {}: {}", request->dst_address(), e.what()));
    }
    response->set_bytes_copied(grant.bytes());
  });
}

grpc::Status NodeService::GrantedWrite(grpc::ServerContext* context,
                                       grpc::ServerReader<v1::GrantedWriteChunk>* reader,
                                       v1::WriteResponse* response) {
  return serve(context, net::Role::monitor, "GrantedWrite", [&](const net::PeerIdentity& peer) {
    v1::GrantedWriteChunk chunk;
    if (!reader->Read(&chunk)) fail(Errc::invalid_argument, "GrantedWrite: no chunk");
    if (!chunk.has_grant()) {
      fail(Errc::invalid_argument, "GrantedWrite: the first chunk has no grant");
    }
    const v1::WriteGrant grant = chunk.grant();
    grants_.verify(grant, peer.node_id);
    auto owner = sessions_.owner_of_handle(grant.handle());
    if (!owner) fail(Errc::not_found, "GrantedWrite: the granted buffer was freed");
    std::uint64_t written = 0;
    do {
      check_chunk(chunk.offset(), chunk.data().size(), "GrantedWrite");
      check_range(chunk.offset(), chunk.data().size(), grant.bytes(), "GrantedWrite (grant)");
      const std::uint64_t offset = grant.offset() + chunk.offset();
      SessionBuffer target = owner->resolve(grant.handle(), offset, chunk.data().size(),
                                            "GrantedWrite");
      auto lock = owner->lock();
      owner->stream(*target.device)
          .upload(target.ref, offset, std::as_bytes(std::span(chunk.data())))
          .wait();
      written += chunk.data().size();
    } while (reader->Read(&chunk));
    response->set_bytes_written(written);
  });
}

}  // namespace crossgpu::cluster
