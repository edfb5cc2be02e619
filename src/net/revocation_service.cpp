#include "net/revocation_service.hpp"

#include <grpcpp/grpcpp.h>

#include "core/error.hpp"
#include "net/status.hpp"

namespace crossgpu::net {

RevocationService::RevocationService(std::filesystem::path config_dir,
                                     const Authenticator& authenticator)
    : dir_(std::move(config_dir)), authenticator_(authenticator) {}

grpc::Status RevocationService::GetRevocations(grpc::ServerContext* context,
                                               const crossgpu::v1::RevocationsRequest* request,
                                               crossgpu::v1::RevocationsResponse* response) {
  PeerIdentity peer;
  if (grpc::Status status = authenticator_.authorize(*context, Role::monitor, &peer);
      !status.ok()) {
    return status;
  }
  try {
    const CallQuota::Ticket place =
        authenticator_.calls().acquire(peer, "Revocation.GetRevocations");
    const SignedRevocations list = load_signed_revocations(dir_);
    response->set_version(list.version);
    if (list.version > request->have_version()) {
      const std::vector<std::uint8_t> bytes = list.encode();
      response->set_signed_list(std::string(bytes.begin(), bytes.end()));
    }
    return grpc::Status::OK;
  } catch (const Error& e) {
    return to_status(e);
  }
}

}  // namespace crossgpu::net
