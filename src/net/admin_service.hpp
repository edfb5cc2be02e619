// Admin.CreateInvite and Admin.RemoveNode (role admin).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "crossgpu/v1/node.grpc.pb.h"
#include "net/security.hpp"

namespace crossgpu::net {

class AdminService final : public crossgpu::v1::Admin::Service {
 public:
  // `enrollment_addresses` ("host:port") go into the invites this node creates: the addresses
  // where this node serves Enrollment. `authenticator` must outlive the service.
  AdminService(std::filesystem::path config_dir, const Authenticator& authenticator,
               std::vector<std::string> enrollment_addresses);

  // Only on a node holding the CA key; otherwise FAILED_PRECONDITION.
  grpc::Status CreateInvite(grpc::ServerContext* context,
                            const crossgpu::v1::InviteRequest* request,
                            crossgpu::v1::InviteResponse* response) override;
  // Adds the node id to this node's revocation list; refuses removing the caller itself.
  grpc::Status RemoveNode(grpc::ServerContext* context,
                          const crossgpu::v1::RemoveNodeRequest* request,
                          crossgpu::v1::RemoveNodeResponse* response) override;

 private:
  std::filesystem::path dir_;
  const Authenticator& authenticator_;
  std::vector<std::string> addresses_;
};

}  // namespace crossgpu::net
