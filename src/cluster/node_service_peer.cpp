// Node service: node-to-node transfers. The client gets a write grant from the destination node
// B and hands it to the source node A (PeerCopy); A streams its buffer straight to B
// (GrantedWrite), which checks the grant before writing a byte.
#include <algorithm>

#include "cluster/node_service_support.hpp"
#include "cluster/protocol.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {
namespace {

constexpr std::size_t kMaxNodeIdBytes = 128;
constexpr std::size_t kMaxAddressBytes = 255;

// Reads [offset, offset+bytes) of `source` chunk by chunk and sends each to `writer`.
void stream_to_peer(cluster::Session& session, const SessionBuffer& source, std::uint64_t offset,
                    const v1::WriteGrant& grant,
                    grpc::ClientWriter<v1::GrantedWriteChunk>& writer) {
  v1::GrantedWriteChunk chunk;
  *chunk.mutable_grant() = grant;
  for (std::uint64_t done = 0; done < grant.bytes();) {
    const std::uint64_t n = std::min(kMaxChunkBytes, grant.bytes() - done);
    chunk.set_offset(done);
    std::string* data = chunk.mutable_data();
    data->resize(n);
    {
      auto lock = session.lock();
      session.stream(*source.device)
          .download(source.ref, offset + done, std::as_writable_bytes(std::span(data->data(), n)))
          .wait();
    }
    if (!writer.Write(chunk)) break;  // Finish() tells why
    chunk.clear_grant();
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
    SessionBuffer source = session->resolve(request->src_handle(), request->src_offset(),
                                            grant.bytes(), "PeerCopy source");
    auto stub = v1::Node::NewStub(peer_channels_.get(request->dst_address()));
    grpc::ClientContext call;
    call.set_deadline(context->deadline());  // the client's deadline bounds the whole copy
    v1::WriteResponse written;
    auto writer = stub->GrantedWrite(&call, &written);
    stream_to_peer(*session, source, request->src_offset(), grant, *writer);
    writer->WritesDone();
    net::throw_if_failed(writer->Finish(), "PeerCopy to " + request->dst_address());
    response->set_bytes_copied(written.bytes_written());
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
