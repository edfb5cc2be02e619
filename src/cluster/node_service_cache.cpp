// Node service: the weight cache. A client fills its own buffers from blobs the node holds, or
// asks the node to keep a range of its buffer as a blob. The node never trusts the client's hash:
// it hashes what it stores itself, and verifies every blob before it serves it. Either call
// touches only the caller's session, checked like a Write or a Read.
#include <span>

#include "cluster/node_service_support.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {

grpc::Status NodeService::FillFromCache(grpc::ServerContext* context,
                                        const v1::FillFromCacheRequest* request,
                                        v1::FillFromCacheResponse* response) {
  return serve(context, net::Role::compute, "FillFromCache", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    const BlobHash hash = check_blob_range(request->offset(), request->bytes(),
                                           request->sha256(), "FillFromCache");
    SessionBuffer target = session->resolve(request->handle(), request->offset(),
                                            request->bytes(), "FillFromCache");
    const bool hit = weight_cache_.load(
        hash, request->bytes(), [&](std::uint64_t at, std::span<const std::byte> chunk) {
          auto lock = session->lock();
          // Waited per chunk: the chunk's memory is reused for the next one.
          session->stream(*target.device).upload(target.ref, request->offset() + at, chunk).wait();
        });
    response->set_hit(hit);
  });
}

grpc::Status NodeService::StoreToCache(grpc::ServerContext* context,
                                       const v1::StoreToCacheRequest* request,
                                       v1::StoreToCacheResponse* response) {
  return serve(context, net::Role::compute, "StoreToCache", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    const BlobHash hash = check_blob_range(request->offset(), request->bytes(),
                                           request->sha256(), "StoreToCache");
    SessionBuffer source = session->resolve(request->handle(), request->offset(),
                                            request->bytes(), "StoreToCache");
    // Downloads are ordered after the work queued before them on the session's stream.
    const bool stored = weight_cache_.store(
        hash, request->bytes(), [&](std::uint64_t at, std::span<std::byte> chunk) {
          auto lock = session->lock();
          session->stream(*source.device)
              .download(source.ref, request->offset() + at, chunk)
              .wait();
        });
    response->set_stored(stored);
  });
}

}  // namespace crossgpu::cluster
