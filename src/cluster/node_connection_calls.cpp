// NodeConnection: one method per RPC. Each call carries the session id, is cancelled when the
// node is lost, and turns failures into typed errors (Impl::Call::check).
#include <algorithm>
#include <cstring>

#include "cluster/device_info.hpp"
#include "cluster/node_connection_impl.hpp"
#include "cluster/protocol.hpp"
#include "core/error.hpp"

namespace crossgpu::cluster {

using Call = NodeConnection::Impl::Call;

namespace {

// A Write or GrantedWrite client stream: `data` in chunks of at most kMaxChunkBytes whose offsets
// count from `offset`; the last chunk goes out with the end of the stream (one flush for a small
// write). `sent(chunk)` runs after each chunk (a granted write's grant rides on the first only).
// Then checks the call and that the node wrote every byte.
template <typename Chunk, typename Sent>
void stream_chunks(Call& call, grpc::ClientWriter<Chunk>& writer,
                   const v1::WriteResponse& response, Chunk& chunk, std::uint64_t offset,
                   std::span<const std::byte> data, const std::string& address, const char* what,
                   Sent&& sent) {
  for (std::uint64_t done = 0; done < data.size();) {
    const std::uint64_t n = std::min<std::uint64_t>(kMaxChunkBytes, data.size() - done);
    chunk.set_offset(offset + done);
    chunk.set_data(reinterpret_cast<const char*>(data.data() + done), n);
    done += n;
    grpc::WriteOptions options;
    if (done == data.size()) options.set_last_message();
    if (!writer.Write(chunk, options)) break;  // Finish() says why
    sent(chunk);
  }
  if (data.empty()) writer.WritesDone();
  call.check(writer.Finish(), what);
  if (response.bytes_written() != data.size()) {
    fail(Errc::io, "{} on node {}: {} of {} bytes written", what, address,
         response.bytes_written(), data.size());
  }
}

}  // namespace

std::vector<DeviceProperties> NodeConnection::list_devices() {
  Call call(*impl_, true);
  v1::ListDevicesResponse response;
  call.check(impl_->stub->ListDevices(&call.context, {}, &response), "ListDevices");
  std::vector<DeviceProperties> devices;
  for (const v1::DeviceInfo& info : response.devices()) devices.push_back(from_wire(info));
  return devices;
}

v1::StatusResponse NodeConnection::status() {
  Call call(*impl_, true);
  v1::StatusResponse response;
  call.check(impl_->stub->Status(&call.context, {}, &response), "Status");
  return response;
}

std::uint64_t NodeConnection::allocate(const std::string& device_id, std::uint64_t bytes,
                                       bool host_visible) {
  Call call(*impl_, true);
  v1::AllocateRequest request;
  request.set_device_id(device_id);
  request.set_bytes(bytes);
  request.set_host_visible(host_visible);
  v1::AllocateResponse response;
  call.check(impl_->stub->Allocate(&call.context, request, &response), "Allocate");
  return response.handle();
}

void NodeConnection::free(std::uint64_t handle) {
  impl_->send_batch();  // queued work first: the node runs the session's work in order
  impl_->grants.forget(handle);
  Call call(*impl_, true);
  v1::FreeRequest request;
  request.set_handle(handle);
  v1::FreeResponse response;
  call.check(impl_->stub->Free(&call.context, request, &response), "Free");
}

void NodeConnection::write(std::uint64_t handle, std::uint64_t offset,
                           std::span<const std::byte> data) {
  impl_->send_batch();
  if (uses_data_channel()) {
    impl_->data_call("Write", [&] { impl_->data->write(handle, offset, data); });
    return;
  }
  Call call(*impl_, false);
  v1::WriteResponse response;
  auto writer = impl_->stub->Write(&call.context, &response);
  v1::WriteChunk chunk;
  chunk.set_handle(handle);
  stream_chunks(call, *writer, response, chunk, offset, data, impl_->address, "Write",
                [](v1::WriteChunk&) {});
}

void NodeConnection::read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out) {
  impl_->send_batch();
  if (uses_data_channel()) {
    impl_->data_call("Read", [&] { impl_->data->read(handle, offset, out); });
    return;
  }
  Call call(*impl_, false);
  v1::ReadRequest request;
  request.set_handle(handle);
  request.set_offset(offset);
  request.set_bytes(out.size());
  auto reader = impl_->stub->Read(&call.context, request);
  v1::ReadChunk chunk;
  std::uint64_t received = 0;
  while (reader->Read(&chunk)) {
    // The node is a peer, not trusted: its chunk must land inside what we asked for.
    const std::uint64_t at = chunk.offset() - offset;
    if (chunk.offset() < offset || at > out.size() || chunk.data().size() > out.size() - at) {
      call.context.TryCancel();
      fail(Errc::io, "Read on node {}: a chunk at offset {} lies outside the requested range",
           impl_->address, chunk.offset());
    }
    std::memcpy(out.data() + at, chunk.data().data(), chunk.data().size());
    received += chunk.data().size();
  }
  call.check(reader->Finish(), "Read");
  if (received != out.size()) {
    fail(Errc::io, "Read on node {}: {} of {} bytes arrived", impl_->address, received,
         out.size());
  }
}

namespace {

// FillFromCache and StoreToCache name a range of a buffer and the blob's hash alike.
template <typename Request>
Request blob_range(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                   const BlobHash& sha256) {
  Request request;
  request.set_handle(handle);
  request.set_offset(offset);
  request.set_bytes(bytes);
  request.set_sha256(sha256.data(), sha256.size());
  return request;
}

}  // namespace

bool NodeConnection::fill_from_cache(std::uint64_t handle, std::uint64_t offset,
                                     std::uint64_t bytes, const BlobHash& sha256) {
  impl_->send_batch();
  Call call(*impl_, true);
  const auto request = blob_range<v1::FillFromCacheRequest>(handle, offset, bytes, sha256);
  v1::FillFromCacheResponse response;
  call.check(impl_->stub->FillFromCache(&call.context, request, &response), "FillFromCache");
  return response.hit();
}

bool NodeConnection::store_to_cache(std::uint64_t handle, std::uint64_t offset,
                                    std::uint64_t bytes, const BlobHash& sha256) {
  impl_->send_batch();
  Call call(*impl_, true);
  const auto request = blob_range<v1::StoreToCacheRequest>(handle, offset, bytes, sha256);
  v1::StoreToCacheResponse response;
  call.check(impl_->stub->StoreToCache(&call.context, request, &response), "StoreToCache");
  return response.stored();
}

void NodeConnection::copy(std::uint64_t src, std::uint64_t src_offset, std::uint64_t dst,
                          std::uint64_t dst_offset, std::uint64_t bytes) {
  impl_->send_batch();
  Call call(*impl_, true);
  v1::CopyRequest request;
  request.set_src_handle(src);
  request.set_src_offset(src_offset);
  request.set_dst_handle(dst);
  request.set_dst_offset(dst_offset);
  request.set_bytes(bytes);
  v1::CopyResponse response;
  call.check(impl_->stub->Copy(&call.context, request, &response), "Copy");
}

void NodeConnection::dispatch(std::string_view kernel, std::span<const RemoteRange> bindings,
                              std::span<const std::byte> push, Groups groups) {
  impl_->send_batch();
  Call call(*impl_, true);
  v1::DispatchRequest request;
  to_wire(request, kernel, bindings, push, groups);
  v1::DispatchResponse response;
  call.check(impl_->stub->Dispatch(&call.context, request, &response), "Dispatch");
}

void NodeConnection::synchronize(const std::string& device_id) {
  impl_->send_batch();
  Call call(*impl_, true);
  v1::SynchronizeRequest request;
  request.set_device_id(device_id);
  v1::SynchronizeResponse response;
  call.check(impl_->stub->Synchronize(&call.context, request, &response), "Synchronize");
}

v1::WriteGrant NodeConnection::grant_write(std::uint64_t handle, std::uint64_t offset,
                                           std::uint64_t bytes,
                                           const std::string& grantee_node_id) {
  impl_->send_batch();
  if (auto cached = impl_->grants.find(handle, offset, bytes, grantee_node_id)) return *cached;
  Call call(*impl_, true);
  v1::WriteGrantRequest request;
  request.set_handle(handle);
  request.set_offset(offset);
  request.set_bytes(bytes);
  request.set_grantee_node_id(grantee_node_id);
  v1::WriteGrant grant;
  call.check(impl_->stub->GrantWrite(&call.context, request, &grant), "GrantWrite");
  // The node is a peer, not trusted: a grant for another range is useless to us and to it.
  if (grant.handle() != handle || grant.offset() != offset || grant.bytes() != bytes ||
      grant.grantee_node_id() != grantee_node_id) {
    fail(Errc::io, "GrantWrite on node {}: the grant covers another range or node", impl_->address);
  }
  impl_->grants.store(grant);
  return grant;
}

void NodeConnection::granted_write(const v1::WriteGrant& grant, std::uint64_t offset,
                                   std::span<const std::byte> data) {
  if (data.empty()) return;
  impl_->send_batch();
  if (impl_->data_offers("data-granted-write")) {
    const std::string serialized = grant.SerializeAsString();
    impl_->data_call("GrantedWrite", [&] {
      impl_->data->granted_write(std::as_bytes(std::span(serialized)), grant.handle(), offset,
                                 data);
    });
    return;
  }
  if (offset < grant.offset()) {
    fail(Errc::out_of_range, "GrantedWrite: offset {} precedes the grant's {}", offset,
         grant.offset());
  }
  Call call(*impl_, false);
  v1::WriteResponse response;
  auto writer = impl_->stub->GrantedWrite(&call.context, &response);
  v1::GrantedWriteChunk chunk;
  *chunk.mutable_grant() = grant;
  // Chunk offsets count from the grant's start.
  stream_chunks(call, *writer, response, chunk, offset - grant.offset(), data, impl_->address,
                "GrantedWrite", [](v1::GrantedWriteChunk& sent) { sent.clear_grant(); });
}

std::uint64_t NodeConnection::peer_copy(std::uint64_t src_handle, std::uint64_t src_offset,
                                        const std::string& dst_address,
                                        const v1::WriteGrant& grant) {
  impl_->send_batch();
  if (impl_->data_offers("data-peer-copy")) {
    const std::string serialized = grant.SerializeAsString();
    impl_->data_call("PeerCopy", [&] {
      impl_->data->peer_copy(src_handle, src_offset, std::as_bytes(std::span(serialized)),
                             dst_address);
    });
    return grant.bytes();
  }
  Call call(*impl_, false);
  v1::PeerCopyRequest request;
  request.set_src_handle(src_handle);
  request.set_src_offset(src_offset);
  request.set_dst_address(dst_address);
  *request.mutable_grant() = grant;
  v1::PeerCopyResponse response;
  call.check(impl_->stub->PeerCopy(&call.context, request, &response), "PeerCopy");
  return response.bytes_copied();
}

bool NodeConnection::offers_peer_copy_f16() const noexcept { return impl_->data_offers("data-peer-copy-f16"); }

std::uint64_t NodeConnection::peer_copy_f16(std::uint64_t src_handle, std::uint64_t src_offset,
                                            const std::string& dst_address, const v1::WriteGrant& grant) {
  impl_->send_batch();
  if (!offers_peer_copy_f16()) {
    fail(Errc::unsupported, "node {} does not round peer copies to f16 (no data-peer-copy-f16)", impl_->address);
  }
  const std::string serialized = grant.SerializeAsString();
  impl_->data_call("PeerCopy", [&] {
    impl_->data->peer_copy(src_handle, src_offset, std::as_bytes(std::span(serialized)), dst_address, true);
  });
  return grant.bytes();
}

}  // namespace crossgpu::cluster
