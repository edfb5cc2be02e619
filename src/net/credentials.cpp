#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include "core/log.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace {

constexpr int keepalive_time_ms = 20'000;
constexpr int keepalive_timeout_ms = 10'000;
constexpr std::string_view enrollment_method = "/crossgpu.v1.Enrollment/Join";

// Defense in depth below Authenticator::authorize: gRPC runs this before any handler, so a call
// without a verified client certificate is refused even by a method that forgot to authorize.
// Only Enrollment.Join is let through (its caller has no certificate yet).
class CertificateGate final : public grpc::AuthMetadataProcessor {
 public:
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    if (context && context->IsPeerAuthenticated()) return grpc::Status::OK;
    const auto path = metadata.find(":path");
    const std::string_view method =
        path == metadata.end() ? std::string_view()
                               : std::string_view(path->second.data(), path->second.size());
    if (method == enrollment_method) return grpc::Status::OK;
    log::warn("refused a call of {} without a client certificate", method.substr(0, 128));
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this node serves only members of its cluster: join with an invite "
                        "(`crossgpu node --join TOKEN`)");
  }
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> NodeIdentity::server_credentials() const {
  // Client certificates: optional at the handshake (Enrollment.Join has none), verified against
  // the cluster CA whenever presented, so a foreign certificate never completes a handshake.
  grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca_pem_;
  // The CA certificate rides in the chain so a joiner can pin it by the token's fingerprint.
  options.pem_key_cert_pairs.push_back({key_pem_, cert_pem_ + ca_pem_});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  credentials->SetAuthMetadataProcessor(std::make_shared<CertificateGate>());
  return credentials;
}

std::shared_ptr<grpc::Channel> NodeIdentity::connect(const std::string& address) const {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem_;
  options.pem_private_key = key_pem_;
  options.pem_cert_chain = cert_pem_;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(std::string(node_dns_name));
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_time_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_timeout_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

void apply_server_limits(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             keepalive_time_ms / 2);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
}

}  // namespace crossgpu::net
