// Shared by the node_service_*.cpp files: the authorize-run-map wrapper every handler uses.
#pragma once

#include <grpcpp/grpcpp.h>

#include <exception>

#include "cluster/node_service.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "net/status.hpp"

namespace crossgpu::cluster {

// A dispatch from the wire checked against the caller's session: its kernel, bindings resolved
// to the session's buffers (all on one device; Errc::wrong_device otherwise) and kept alive, and
// the kernel's bounds rules passed. `push` points into the request.
struct CheckedDispatch {
  const KernelSpec* kernel = nullptr;
  std::shared_ptr<Device> device;
  std::vector<BufferRange> bindings;
  std::vector<std::shared_ptr<const Buffer>> keep_alive;
  std::span<const std::byte> push;
  Groups groups;
};
CheckedDispatch check_session_dispatch(const Session& session, const v1::DispatchRequest& request);

template <typename Body>
grpc::Status NodeService::serve(grpc::ServerContext* context, net::Role need, const char* what,
                                Body&& body) {
  net::PeerIdentity peer;
  if (grpc::Status refused = authenticator_.authorize(*context, need, &peer); !refused.ok()) {
    return refused;
  }
  try {
    const net::CallQuota::Ticket place = authenticator_.calls().acquire(peer, what);
    body(peer);
    return grpc::Status::OK;
  } catch (const Error& e) {
    log::debug("{} from {} ({}) refused: {}", what, peer.node_id, peer.address, e.what());
    return net::to_status(e);
  } catch (const std::bad_alloc&) {
    return net::to_status(Errc::out_of_memory, fmt::format("{}: host memory exhausted", what));
  } catch (const std::exception& e) {
    log::error("{} from {}: unexpected exception: {}", what, peer.node_id, e.what());
    return net::to_status(Errc::internal, fmt::format("{}: {}", what, e.what()));
  }
}

}  // namespace crossgpu::cluster
