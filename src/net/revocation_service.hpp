// Revocation.GetRevocations (role monitor): serves this node's signed revocation list to peers,
// so a removal made on the CA node reaches nodes that never talk to it. Served by every node.
#pragma once

#include <filesystem>

#include "crossgpu/v1/node.grpc.pb.h"
#include "net/security.hpp"

namespace crossgpu::net {

class RevocationService final : public crossgpu::v1::Revocation::Service {
 public:
  // `authenticator` must outlive the service.
  RevocationService(std::filesystem::path config_dir, const Authenticator& authenticator);

  // The stored list when its version is above the caller's have_version; only the version
  // otherwise (most polls find nothing new and cost a few bytes).
  grpc::Status GetRevocations(grpc::ServerContext* context,
                              const crossgpu::v1::RevocationsRequest* request,
                              crossgpu::v1::RevocationsResponse* response) override;

 private:
  std::filesystem::path dir_;
  const Authenticator& authenticator_;
};

}  // namespace crossgpu::net
