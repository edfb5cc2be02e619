// Node service: node-to-node transfers. The client gets a write grant from the destination node
// B and hands it to the source node A (PeerCopy, src/cluster/peer_copy.cpp); A sends its buffer
// straight to B over its own link to B (B's data channel, else a GrantedWrite stream, served
// below), and B checks the grant before writing a byte.
#include "cluster/node_service_support.hpp"
#include "cluster/peer_copy.hpp"
#include "cluster/protocol.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {

grpc::Status NodeService::GrantWrite(grpc::ServerContext* context,
                                     const v1::WriteGrantRequest* request,
                                     v1::WriteGrant* response) {
  return serve(context, net::Role::compute, "GrantWrite", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    session->resolve(request->handle(), request->offset(), request->bytes(), "GrantWrite");
    if (request->bytes() == 0) fail(Errc::invalid_argument, "GrantWrite: 0 bytes");
    if (request->grantee_node_id().empty() || request->grantee_node_id().size() > kMaxPeerNodeIdBytes) {
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
    // request->dst_address() is not used: the destination is the grant's issuer, resolved
    // through this node's own member directory.
    response->set_bytes_copied(copy_to_peer(*session, request->src_handle(),
                                            request->src_offset(), request->grant(),
                                            identity_.node_id(), peer_links_,
                                            fmt::format("{} ({})", peer.node_id, peer.address)));
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
    std::uint64_t written = 0;
    do {
      check_chunk(chunk.offset(), chunk.data().size(), "GrantedWrite");
      // Chunk offsets count from the grant's start; overflow past 2^64 lands before it (refused).
      const std::uint64_t offset = grant.offset() + chunk.offset();
      const GrantedTarget target = resolve_granted(grants_, sessions_, grant, peer.node_id, offset,
                                                   chunk.data().size(), "GrantedWrite");
      auto lock = target.owner->lock();
      target.owner->stream(*target.buffer.device)
          .upload(target.buffer.ref, offset, std::as_bytes(std::span(chunk.data())))
          .wait();
      written += chunk.data().size();
    } while (reader->Read(&chunk));
    response->set_bytes_written(written);
  });
}

}  // namespace crossgpu::cluster
