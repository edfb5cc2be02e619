#include "net/enrollment_service.hpp"

#include <grpcpp/grpcpp.h>

#include <optional>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/crypto.hpp"
#include "net/security.hpp"
#include "net/status.hpp"

namespace crossgpu::net {
namespace {

constexpr std::size_t max_csr_bytes = 16 * 1024;
constexpr std::size_t max_node_name_bytes = 64;

// Field checks before any cryptography: cheap refusals for junk from an unauthenticated caller.
void check_request(const crossgpu::v1::JoinRequest& request) {
  if (request.secret().size() != 32) {
    fail(Errc::invalid_argument, "the invite secret must be 32 bytes");
  }
  if (request.csr_pem().empty() || request.csr_pem().size() > max_csr_bytes) {
    fail(Errc::invalid_argument, "the certificate request must be 1 to {} bytes of PEM",
         max_csr_bytes);
  }
  if (request.node_name().size() > max_node_name_bytes) {
    fail(Errc::invalid_argument, "node name is longer than {} bytes", max_node_name_bytes);
  }
}

// Only printable ASCII of a caller-chosen name reaches the log.
std::string loggable(const std::string& text) {
  std::string out;
  for (char c : text) {
    out.push_back(
        static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f ? c : '?');
  }
  return out;
}

}  // namespace

EnrollmentService::EnrollmentService(std::filesystem::path config_dir, CallQuota* calls)
    : dir_(std::move(config_dir)), calls_(calls) {}

grpc::Status EnrollmentService::Join(grpc::ServerContext* context,
                                     const crossgpu::v1::JoinRequest* request,
                                     crossgpu::v1::JoinResponse* response) {
  const std::string address = context->peer();
  try {
    std::optional<CallQuota::Ticket> place;
    if (calls_) place.emplace(calls_->acquire_unauthenticated(address, "Enrollment.Join"));
    check_request(*request);
    if (!ClusterCa::exists(dir_)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "this node does not hold the cluster CA and cannot admit nodes: use "
                          "the address of the node that created the invite");
    }
    const ClusterCa ca = ClusterCa::load(dir_);
    // The request is checked before the secret is spent, so a bad request does not burn it.
    const std::string node_id = crypto::check_node_csr(request->csr_pem());
    const Role role = ca.redeem_invite(request->secret());
    response->set_certificate_pem(ca.sign_node_csr(request->csr_pem(), role));
    response->set_ca_certificate_pem(ca.certificate_pem());
    response->set_role(std::string(to_string(role)));
    response->set_cluster_name(ca.name());
    log::info("enrolled node {} ('{}') from {} with role {}", node_id,
              loggable(request->node_name()), address, to_string(role));
    return grpc::Status::OK;
  } catch (const Error& e) {
    log::warn("refused enrollment from {}: {}", address, e.what());
    return to_status(e);
  }
}

}  // namespace crossgpu::net
