// Enrollment.Join, served by the node that holds the cluster CA key. The one method reachable
// without a client certificate: the caller proves itself with an invite's one-time secret.
#pragma once

#include <filesystem>

#include "crossgpu/v1/node.grpc.pb.h"

namespace crossgpu::net {

class EnrollmentService final : public crossgpu::v1::Enrollment::Service {
 public:
  // The CA is loaded per call, so a node that holds no CA key refuses Join with
  // FAILED_PRECONDITION instead of failing to start.
  explicit EnrollmentService(std::filesystem::path config_dir);

  grpc::Status Join(grpc::ServerContext* context, const crossgpu::v1::JoinRequest* request,
                    crossgpu::v1::JoinResponse* response) override;

 private:
  std::filesystem::path dir_;
};

}  // namespace crossgpu::net
