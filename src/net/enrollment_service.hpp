// Enrollment.Join, served by the node that holds the cluster CA key. The one method reachable
// without a client certificate: the caller proves itself with an invite's one-time secret.
#pragma once

#include <filesystem>

#include "crossgpu/v1/node.grpc.pb.h"
#include "net/call_quota.hpp"

namespace crossgpu::net {

class EnrollmentService final : public crossgpu::v1::Enrollment::Service {
 public:
  // The CA is loaded per call, so a node that holds no CA key refuses Join with
  // FAILED_PRECONDITION instead of failing to start. `calls` (the server's quota, may be null)
  // bounds how many Joins run at once: they come before any authentication.
  explicit EnrollmentService(std::filesystem::path config_dir, CallQuota* calls = nullptr);

  grpc::Status Join(grpc::ServerContext* context, const crossgpu::v1::JoinRequest* request,
                    crossgpu::v1::JoinResponse* response) override;

 private:
  std::filesystem::path dir_;
  CallQuota* calls_;
};

}  // namespace crossgpu::net
