// NodeConnection: batched work. Writes, dispatches and replays queue up in one RunRequest and go
// to the node as a single call when something must wait for them (a read, a synchronize, a flush)
// or before any other call. A remote stage's decode step (position written, program replayed,
// output read) thus costs one network round trip.
#include <cstring>

#include "cluster/node_connection_impl.hpp"
#include "cluster/protocol.hpp"
#include "core/error.hpp"

namespace crossgpu::cluster {

using Call = NodeConnection::Impl::Call;

void to_wire(v1::DispatchRequest& request, std::string_view kernel, std::span<const RemoteRange> bindings,
             std::span<const std::byte> push, Groups groups) {
  request.set_kernel(std::string(kernel));
  for (const RemoteRange& range : bindings) {
    v1::BufferRange* binding = request.add_bindings();
    binding->set_handle(range.handle);
    binding->set_offset(range.offset);
    binding->set_bytes(range.bytes);
  }
  request.set_push_constants(reinterpret_cast<const char*>(push.data()), push.size());
  request.set_groups_x(groups.x);
  request.set_groups_y(groups.y);
  request.set_groups_z(groups.z);
}

void NodeConnection::Impl::remember_run(const v1::RunRequest& request) {
  last_run.clear();
  for (const v1::RunCommand& c : request.commands()) {
    SentCommand sent;
    if (c.has_write()) {
      sent = {SentCommand::Kind::write, c.write().handle(), c.write().offset(), c.write().data().size(), 0, 0};
      if (c.write().data().size() >= 4) std::memcpy(&sent.first_word, c.write().data().data(), 4);
    } else if (c.has_read()) {
      sent = {SentCommand::Kind::read, c.read().handle(), c.read().offset(), c.read().bytes(), 0, 0};
    } else if (c.has_dispatch()) {
      sent.kind = SentCommand::Kind::dispatch;
    } else {
      sent = {SentCommand::Kind::replay, 0, 0, 0, c.replay(), 0};
    }
    last_run.push_back(sent);
  }
}

std::vector<SentCommand> NodeConnection::last_run() const {
  std::lock_guard lock(impl_->batch_mutex);
  return impl_->last_run;
}

void NodeConnection::Impl::send_batch_locked(std::span<std::byte> read) {
  if (batch.commands_size() == 0) return;
  v1::RunRequest request;
  request.Swap(&batch);
  batch_write_bytes = 0;
  remember_run(request);
  Call call(*this, true);
  v1::RunResponse response;
  runs_sent.fetch_add(1, std::memory_order_relaxed);
  call.check(stub->Run(&call.context, request, &response), "Run");
  const bool read_queued = request.commands(request.commands_size() - 1).has_read();
  // The node is a peer, not trusted: exactly the read asked for, of exactly its size.
  if (response.reads_size() != (read_queued ? 1 : 0) ||
      (read_queued && response.reads(0).size() != read.size())) {
    fail(Errc::io, "Run on node {}: the reply carries other reads than the one asked for", address);
  }
  if (read_queued) std::memcpy(read.data(), response.reads(0).data(), read.size());
}

void NodeConnection::Impl::send_batch() {
  std::lock_guard lock(batch_mutex);
  send_batch_locked();
}

void NodeConnection::queue_write(std::uint64_t handle, std::uint64_t offset, std::span<const std::byte> data) {
  if (data.size() > kMaxRunInlineBytes) {
    fail(Errc::invalid_argument, "queue_write: {} bytes; at most {} ride in a Run (write() takes more)",
         data.size(), kMaxRunInlineBytes);
  }
  if (data.empty()) return;
  std::lock_guard lock(impl_->batch_mutex);
  if (impl_->batch_write_bytes + data.size() > kMaxRunInlineBytes ||
      impl_->batch.commands_size() + 2 > kMaxRunCommands) {
    impl_->send_batch_locked();
  }
  v1::RunWrite* write = impl_->batch.add_commands()->mutable_write();
  write->set_handle(handle);
  write->set_offset(offset);
  write->set_data(reinterpret_cast<const char*>(data.data()), data.size());
  impl_->batch_write_bytes += data.size();
  if (!impl_->options.batch_work) impl_->send_batch_locked();
}

void NodeConnection::queue_dispatch(std::string_view kernel, std::span<const RemoteRange> bindings,
                                    std::span<const std::byte> push, Groups groups) {
  std::lock_guard lock(impl_->batch_mutex);
  if (impl_->batch.commands_size() + 2 > kMaxRunCommands) impl_->send_batch_locked();
  to_wire(*impl_->batch.add_commands()->mutable_dispatch(), kernel, bindings, push, groups);
  if (!impl_->options.batch_work) impl_->send_batch_locked();
}

void NodeConnection::queue_replay(std::uint64_t program) {
  std::lock_guard lock(impl_->batch_mutex);
  if (impl_->batch.commands_size() + 2 > kMaxRunCommands) impl_->send_batch_locked();
  impl_->batch.add_commands()->set_replay(program);
  if (!impl_->options.batch_work) impl_->send_batch_locked();
}

void NodeConnection::run_read(std::uint64_t handle, std::uint64_t offset, std::span<std::byte> out) {
  if (out.empty()) return;
  if (out.size() > kMaxRunInlineBytes) {
    fail(Errc::invalid_argument, "run_read: {} bytes; at most {} ride in a Run (read() takes more)", out.size(),
         kMaxRunInlineBytes);
  }
  std::lock_guard lock(impl_->batch_mutex);
  v1::RunRead* read = impl_->batch.add_commands()->mutable_read();
  read->set_handle(handle);
  read->set_offset(offset);
  read->set_bytes(out.size());
  impl_->send_batch_locked(out);
}

void NodeConnection::flush() { impl_->send_batch(); }

std::uint64_t NodeConnection::runs_sent() const noexcept { return impl_->runs_sent.load(); }

std::uint64_t NodeConnection::record(std::span<const RemoteDispatch> dispatches) {
  impl_->send_batch();
  v1::RecordRequest request;
  for (const RemoteDispatch& d : dispatches) {
    to_wire(*request.add_dispatches(), d.kernel, d.bindings, d.push, d.groups);
  }
  Call call(*impl_, true);
  v1::RecordResponse response;
  call.check(impl_->stub->Record(&call.context, request, &response), "Record");
  if (response.program() == 0) fail(Errc::io, "Record on node {}: the reply names no program", impl_->address);
  return response.program();
}

void NodeConnection::release_program(std::uint64_t program) {
  impl_->send_batch();
  Call call(*impl_, true);
  v1::ReleaseProgramRequest request;
  request.set_program(program);
  v1::ReleaseProgramResponse response;
  call.check(impl_->stub->ReleaseProgram(&call.context, request, &response), "ReleaseProgram");
}

}  // namespace crossgpu::cluster
