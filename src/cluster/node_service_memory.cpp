// Node service: allocation, transfers, copies, kernel dispatch and synchronization. Copies and
// dispatches are queued on the session's stream and run in order; Synchronize waits for them,
// and a Read waits for everything queued before it.
#include <algorithm>
#include <vector>

#include "cluster/kernel_bounds.hpp"
#include "cluster/node_service_support.hpp"
#include "cluster/protocol.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {
namespace {

// Copies between two devices of this node through host memory, one chunk at a time.
void copy_across_devices(cluster::Session& session, const SessionBuffer& src,
                         std::uint64_t src_offset, const SessionBuffer& dst,
                         std::uint64_t dst_offset, std::uint64_t bytes) {
  std::vector<std::byte> staging(std::min(bytes, kMaxChunkBytes));
  for (std::uint64_t done = 0; done < bytes;) {
    const std::uint64_t n = std::min<std::uint64_t>(staging.size(), bytes - done);
    std::span<std::byte> chunk(staging.data(), n);
    session.stream(*src.device).download(src.ref, src_offset + done, chunk).wait();
    session.stream(*dst.device).upload(dst.ref, dst_offset + done, chunk).wait();
    done += n;
  }
}

}  // namespace

grpc::Status NodeService::Allocate(grpc::ServerContext* context,
                                   const v1::AllocateRequest* request,
                                   v1::AllocateResponse* response) {
  return serve(context, net::Role::compute, "Allocate", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    auto target = device(request->device_id());
    if (request->bytes() == 0) fail(Errc::invalid_argument, "Allocate: 0 bytes asked");
    const std::uint64_t handle = sessions_.next_handle();
    session->allocate(handle, target, request->bytes(),
                      request->host_visible() ? MemoryKind::host_visible
                                              : MemoryKind::device_local);
    response->set_handle(handle);
  });
}

grpc::Status NodeService::Free(grpc::ServerContext* context, const v1::FreeRequest* request,
                               v1::FreeResponse*) {
  return serve(context, net::Role::compute, "Free", [&](const net::PeerIdentity& peer) {
    session_of(*context, peer)->free(request->handle());
  });
}

grpc::Status NodeService::Write(grpc::ServerContext* context,
                                grpc::ServerReader<v1::WriteChunk>* reader,
                                v1::WriteResponse* response) {
  return serve(context, net::Role::compute, "Write", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    v1::WriteChunk chunk;
    std::uint64_t handle = 0;
    std::uint64_t written = 0;
    while (reader->Read(&chunk)) {
      if (handle == 0) handle = chunk.handle();
      if (chunk.handle() != handle) {
        fail(Errc::invalid_argument, "Write: chunks name handles {} and {}; one Write, one buffer",
             handle, chunk.handle());
      }
      check_chunk(chunk.offset(), chunk.data().size(), "Write");
      SessionBuffer target = session->resolve(handle, chunk.offset(), chunk.data().size(), "Write");
      auto lock = session->lock();
      // Waited per chunk: the stream reads the data until the event completes, and the chunk's
      // memory is reused by the next Read.
      session->stream(*target.device)
          .upload(target.ref, chunk.offset(), std::as_bytes(std::span(chunk.data())))
          .wait();
      written += chunk.data().size();
    }
    response->set_bytes_written(written);
  });
}

grpc::Status NodeService::Read(grpc::ServerContext* context, const v1::ReadRequest* request,
                               grpc::ServerWriter<v1::ReadChunk>* writer) {
  return serve(context, net::Role::compute, "Read", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    check_read(*request);
    SessionBuffer source = session->resolve(request->handle(), request->offset(),
                                            request->bytes(), "Read");
    v1::ReadChunk chunk;
    for (std::uint64_t done = 0; done < request->bytes();) {
      const std::uint64_t n = std::min(kMaxChunkBytes, request->bytes() - done);
      chunk.set_offset(request->offset() + done);
      std::string* data = chunk.mutable_data();
      data->resize(n);
      {
        auto lock = session->lock();
        session->stream(*source.device)
            .download(source.ref, request->offset() + done,
                      std::as_writable_bytes(std::span(data->data(), n)))
            .wait();
      }
      if (!writer->Write(chunk)) fail(Errc::io, "Read: the client went away");
      done += n;
    }
  });
}

grpc::Status NodeService::Copy(grpc::ServerContext* context, const v1::CopyRequest* request,
                               v1::CopyResponse*) {
  return serve(context, net::Role::compute, "Copy", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    const std::uint64_t bytes = request->bytes();
    SessionBuffer src = session->resolve(request->src_handle(), request->src_offset(), bytes,
                                         "Copy source");
    SessionBuffer dst = session->resolve(request->dst_handle(), request->dst_offset(), bytes,
                                         "Copy destination");
    auto lock = session->lock();
    if (src.device == dst.device) {
      session->stream(*src.device)
          .copy(src.ref, request->src_offset(), dst.ref, request->dst_offset(), bytes);
    } else {
      copy_across_devices(*session, src, request->src_offset(), dst, request->dst_offset(), bytes);
    }
  });
}

grpc::Status NodeService::Dispatch(grpc::ServerContext* context,
                                   const v1::DispatchRequest* request, v1::DispatchResponse*) {
  return serve(context, net::Role::compute, "Dispatch", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    counters_.dispatch_calls.fetch_add(1, std::memory_order_relaxed);
    const CheckedDispatch d = check_session_dispatch(*session, *request);
    auto lock = session->lock();
    session->stream(*d.device).dispatch(*d.kernel, d.bindings, d.push, d.groups);
  });
}

grpc::Status NodeService::Synchronize(grpc::ServerContext* context,
                                      const v1::SynchronizeRequest* request,
                                      v1::SynchronizeResponse*) {
  return serve(context, net::Role::compute, "Synchronize", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    auto lock = session->lock();
    if (request->device_id().empty()) {
      session->synchronize_all();
    } else {
      session->stream(*device(request->device_id())).synchronize();
    }
  });
}

}  // namespace crossgpu::cluster
