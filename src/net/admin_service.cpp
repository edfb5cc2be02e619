#include "net/admin_service.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/status.hpp"

namespace crossgpu::net {
namespace {

constexpr std::chrono::seconds default_invite_validity{24 * 3600};

bool is_node_id(const std::string& text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

AdminService::AdminService(std::filesystem::path config_dir, const Authenticator& authenticator,
                           std::vector<std::string> enrollment_addresses)
    : dir_(std::move(config_dir)),
      authenticator_(authenticator),
      addresses_(std::move(enrollment_addresses)) {}

grpc::Status AdminService::CreateInvite(grpc::ServerContext* context,
                                        const crossgpu::v1::InviteRequest* request,
                                        crossgpu::v1::InviteResponse* response) {
  PeerIdentity peer;
  if (grpc::Status status = authenticator_.authorize(*context, Role::admin, &peer); !status.ok()) {
    return status;
  }
  try {
    const CallQuota::Ticket place = authenticator_.calls().acquire(peer, "Admin.CreateInvite");
    const Role role = parse_role(request->role());
    if (request->valid_for_seconds() < 0) {
      fail(Errc::invalid_argument, "valid_for_seconds must not be negative");
    }
    const std::chrono::seconds valid_for = request->valid_for_seconds() == 0
                                               ? default_invite_validity
                                               : std::chrono::seconds(request->valid_for_seconds());
    if (!ClusterCa::exists(dir_)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "this node does not hold the cluster CA: ask the node that ran "
                          "`crossgpu cluster init`");
    }
    response->set_token(ClusterCa::load(dir_).create_invite(role, valid_for, addresses_).encode());
    log::info("node {} at {} created a {} invite", peer.node_id, peer.address, to_string(role));
    return grpc::Status::OK;
  } catch (const Error& e) {
    return to_status(e);
  }
}

grpc::Status AdminService::RemoveNode(grpc::ServerContext* context,
                                      const crossgpu::v1::RemoveNodeRequest* request,
                                      crossgpu::v1::RemoveNodeResponse*) {
  PeerIdentity peer;
  if (grpc::Status status = authenticator_.authorize(*context, Role::admin, &peer); !status.ok()) {
    return status;
  }
  const std::string& node_id = request->node_id();
  if (!is_node_id(node_id)) {
    return to_status(Errc::invalid_argument, "node_id must be 32 lowercase hex digits");
  }
  if (node_id == peer.node_id) {
    return to_status(Errc::invalid_argument,
                     "a node cannot remove itself: remove it from another admin node");
  }
  try {
    const CallQuota::Ticket place = authenticator_.calls().acquire(peer, "Admin.RemoveNode");
    const bool added = RevocationList::revoke(dir_, node_id);
    log::warn("node {} at {} removed node {}{}", peer.node_id, peer.address, node_id,
              added ? "" : " (already removed)");
    return grpc::Status::OK;
  } catch (const Error& e) {
    return to_status(e);
  }
}

}  // namespace crossgpu::net
