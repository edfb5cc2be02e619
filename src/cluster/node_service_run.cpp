// Node service: batched work (node.proto, "Batched work"). Record turns a list of dispatches into
// a program of the session, recorded natively on the node's device; Run executes writes,
// dispatches, replays and reads in order on the session's streams, waits for them and returns the
// reads. A remote stage's decode step is one Run: its input written, its program replayed, its
// output read.
#include <algorithm>
#include <set>
#include <vector>

#include "cluster/kernel_bounds.hpp"
#include "cluster/node_service_support.hpp"
#include "cluster/protocol.hpp"
#include "cluster/wire_validation.hpp"

namespace crossgpu::cluster {

CheckedDispatch check_session_dispatch(const Session& session, const v1::DispatchRequest& request) {
  CheckedDispatch d;
  d.kernel = &check_dispatch(request);
  std::vector<std::uint64_t> bound_bytes;
  for (const v1::BufferRange& range : request.bindings()) {
    SessionBuffer buffer = session.resolve(range.handle(), range.offset(), range.bytes(), "Dispatch binding");
    if (d.device && buffer.device != d.device) {
      fail(Errc::wrong_device, "kernel '{}': bindings lie on different devices", d.kernel->name);
    }
    d.device = buffer.device;
    bound_bytes.push_back(range.bytes() == 0 ? buffer.ref.size - range.offset() : range.bytes());
    d.bindings.push_back({buffer.ref, range.offset(), range.bytes() == 0 ? BufferRange::whole : range.bytes()});
    d.keep_alive.push_back(std::move(buffer.keep_alive));
  }
  if (!d.device) fail(Errc::invalid_argument, "kernel '{}': no bindings", d.kernel->name);
  d.groups = Groups{request.groups_x(), request.groups_y(), request.groups_z()};
  d.push = std::as_bytes(std::span(request.push_constants()));
  check_kernel_bounds(*d.kernel, d.push, bound_bytes, d.groups);
  return d;
}

namespace {

// Everything a Run touches is resolved before any of it runs: a refused command leaves the
// session's buffers as they were.
struct ResolvedCommand {
  const v1::RunCommand* command = nullptr;
  SessionBuffer buffer;                                  // write, read
  std::optional<CheckedDispatch> dispatch;               // dispatch
  std::shared_ptr<const SessionProgram> program;         // replay
};

std::vector<ResolvedCommand> resolve_run(const Session& session, const v1::RunRequest& request) {
  std::vector<ResolvedCommand> resolved;
  resolved.reserve(static_cast<std::size_t>(request.commands_size()));
  for (const v1::RunCommand& command : request.commands()) {
    ResolvedCommand r{&command, {}, {}, {}};
    switch (command.command_case()) {
      case v1::RunCommand::kWrite:
        r.buffer = session.resolve(command.write().handle(), command.write().offset(), command.write().data().size(),
                                   "Run write");
        break;
      case v1::RunCommand::kRead:
        r.buffer = session.resolve(command.read().handle(), command.read().offset(), command.read().bytes(),
                                   "Run read");
        break;
      case v1::RunCommand::kDispatch:
        r.dispatch = check_session_dispatch(session, command.dispatch());
        break;
      default:  // replay; check_run refused anything else
        r.program = session.program(command.replay());
        break;
    }
    resolved.push_back(std::move(r));
  }
  return resolved;
}

}  // namespace

grpc::Status NodeService::Run(grpc::ServerContext* context, const v1::RunRequest* request,
                              v1::RunResponse* response) {
  return serve(context, net::Role::compute, "Run", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    counters_.run_calls.fetch_add(1, std::memory_order_relaxed);
    check_run(*request);
    const std::vector<ResolvedCommand> commands = resolve_run(*session, *request);
    auto lock = session->lock();
    std::set<Device*> used;
    // Reads land in the response's strings, which exist before the work runs; the copies
    // complete when the streams are synchronized below.
    for (const ResolvedCommand& r : commands) {
      switch (r.command->command_case()) {
        case v1::RunCommand::kWrite: {
          const v1::RunWrite& w = r.command->write();
          session->stream(*r.buffer.device).upload(r.buffer.ref, w.offset(), std::as_bytes(std::span(w.data())));
          used.insert(r.buffer.device.get());
          break;
        }
        case v1::RunCommand::kRead: {
          std::string* out = response->add_reads();
          out->resize(r.command->read().bytes());
          session->stream(*r.buffer.device)
              .download(r.buffer.ref, r.command->read().offset(), std::as_writable_bytes(std::span(*out)));
          used.insert(r.buffer.device.get());
          break;
        }
        case v1::RunCommand::kDispatch:
          session->stream(*r.dispatch->device)
              .dispatch(*r.dispatch->kernel, r.dispatch->bindings, r.dispatch->push, r.dispatch->groups);
          used.insert(r.dispatch->device.get());
          break;
        default:
          session->stream(*r.program->device).replay(r.program->recording);
          used.insert(r.program->device.get());
          break;
      }
    }
    // The request's bytes (uploads' sources) and the response's (downloads' destinations) live
    // only as long as this call: the work completes before it returns.
    for (Device* device : used) session->stream(*device).synchronize();
  });
}

grpc::Status NodeService::Record(grpc::ServerContext* context, const v1::RecordRequest* request,
                                 v1::RecordResponse* response) {
  return serve(context, net::Role::compute, "Record", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    counters_.record_calls.fetch_add(1, std::memory_order_relaxed);
    check_record(*request);
    std::vector<CheckedDispatch> dispatches;
    auto program = std::make_shared<SessionProgram>();
    for (const v1::DispatchRequest& dispatch : request->dispatches()) {
      dispatches.push_back(check_session_dispatch(*session, dispatch));
      if (dispatches.back().device != dispatches.front().device) {
        fail(Errc::wrong_device, "Record: a program runs on one device; dispatch {} binds another",
             dispatches.size() - 1);
      }
      for (auto& buffer : dispatches.back().keep_alive) program->keep_alive.push_back(std::move(buffer));
    }
    program->device = dispatches.front().device;
    auto lock = session->lock();
    Stream& stream = session->stream(*program->device);
    stream.begin_recording();
    try {
      for (const CheckedDispatch& d : dispatches) stream.dispatch(*d.kernel, d.bindings, d.push, d.groups);
    } catch (...) {
      (void)stream.end_recording();  // leave the stream usable
      throw;
    }
    program->recording = stream.end_recording();
    response->set_program(session->add_program(std::move(program)));
  });
}

grpc::Status NodeService::ReleaseProgram(grpc::ServerContext* context, const v1::ReleaseProgramRequest* request,
                                         v1::ReleaseProgramResponse*) {
  return serve(context, net::Role::compute, "ReleaseProgram", [&](const net::PeerIdentity& peer) {
    auto session = session_of(*context, peer);
    // A replay in flight holds its own reference; the recording goes when the last one lets go.
    auto lock = session->lock();
    session->release_program(request->program());
  });
}

}  // namespace crossgpu::cluster
