// The security layer over real gRPC on loopback: mutual TLS, per-call authorization by role,
// revocation, and enrollment from an invite to a working identity.
#include <gtest/gtest.h>

#include <chrono>

#include "crossgpu/v1/node.grpc.pb.h"
#include "net/admin_service.hpp"
#include "net/enrollment_service.hpp"
#include "net/security.hpp"
#include "net/status.hpp"
#include "net_test_support.hpp"
#include "support/test_support.hpp"

namespace crossgpu::net {
namespace {

using crossgpu::testing::LoopbackServer;
using crossgpu::testing::TempDir;
using crossgpu::testing::throws_errc;
namespace v1 = crossgpu::v1;

// The smallest Node service that guards its methods as the real one must: ListDevices needs
// monitor, Allocate needs compute. It answers with one fake device so a test can tell whether
// anything leaked.
class GuardedNode final : public v1::Node::Service {
 public:
  explicit GuardedNode(const Authenticator& auth) : auth_(auth) {}
  grpc::Status ListDevices(grpc::ServerContext* context, const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse* response) override {
    if (grpc::Status s = auth_.authorize(*context, Role::monitor); !s.ok()) return s;
    response->add_devices()->set_name("secret-gpu");
    return grpc::Status::OK;
  }
  grpc::Status Allocate(grpc::ServerContext* context, const v1::AllocateRequest*,
                        v1::AllocateResponse* response) override {
    PeerIdentity peer;
    if (grpc::Status s = auth_.authorize(*context, Role::compute, &peer); !s.ok()) return s;
    response->set_handle(peer.node_id.size());
    return grpc::Status::OK;
  }

 private:
  const Authenticator& auth_;
};

std::unique_ptr<grpc::ClientContext> deadline_context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

grpc::Status list_devices(const std::shared_ptr<grpc::Channel>& channel,
                          v1::ListDevicesResponse* response) {
  auto context = deadline_context();
  return v1::Node::NewStub(channel)->ListDevices(context.get(), {}, response);
}

grpc::Status allocate(const std::shared_ptr<grpc::Channel>& channel) {
  auto context = deadline_context();
  v1::AllocateResponse response;
  return v1::Node::NewStub(channel)->Allocate(context.get(), {}, &response);
}

// A cluster with its CA node serving Node, Enrollment and Admin on loopback.
class ClusterTest : public ::testing::Test {
 protected:
  ClusterTest()
      : ca_(ClusterCa::create(admin_dir_.path(), "test-cluster")),
        admin_(NodeIdentity::load(admin_dir_.path())),
        auth_(admin_dir_.path()),
        node_(auth_),
        enrollment_(admin_dir_.path()),
        server_(admin_, {&node_, &enrollment_, &admin_service_}) {}

  // A new node joined through the real enrollment path.
  NodeIdentity join(Role role, const TempDir& dir) {
    const InviteToken token = ca_.create_invite(role, std::chrono::hours(1), {server_.address()});
    return join_cluster(token.encode(), dir.path(), "joiner");
  }

  // A channel that trusts the cluster but shows no client certificate.
  std::shared_ptr<grpc::Channel> anonymous_channel() const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = admin_.ca_pem();
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(std::string(node_dns_name));
    return grpc::CreateCustomChannel(server_.address(), grpc::SslCredentials(options), args);
  }

  TempDir admin_dir_;
  ClusterCa ca_;
  NodeIdentity admin_;
  Authenticator auth_;
  GuardedNode node_;
  EnrollmentService enrollment_;
  AdminService admin_service_{admin_dir_.path(), auth_, {}};
  LoopbackServer server_;
};

TEST_F(ClusterTest, MemberWithValidCertificateIsServed) {
  ASSERT_TRUE(server_.started());
  v1::ListDevicesResponse response;
  const grpc::Status status = list_devices(admin_.connect(server_.address()), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.devices_size(), 1);
  EXPECT_TRUE(allocate(admin_.connect(server_.address())).ok());
}

TEST_F(ClusterTest, NoCertificateLearnsNothing) {
  v1::ListDevicesResponse response;
  const grpc::Status status = list_devices(anonymous_channel(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("join"), std::string::npos);
  EXPECT_EQ(response.devices_size(), 0);
  EXPECT_EQ(allocate(anonymous_channel()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// A service that forgets to call authorize: the server credentials' gate still refuses callers
// without a certificate before the handler runs.
class ForgetfulNode final : public v1::Node::Service {
 public:
  grpc::Status ListDevices(grpc::ServerContext*, const v1::ListDevicesRequest*,
                           v1::ListDevicesResponse* response) override {
    response->add_devices()->set_name("leaked-gpu");
    return grpc::Status::OK;
  }
};

TEST_F(ClusterTest, GateRefusesAnonymousCallsEvenWhenAServiceForgetsToAuthorize) {
  ForgetfulNode forgetful;
  LoopbackServer server(admin_, {&forgetful});
  v1::ListDevicesResponse response;
  auto context = deadline_context();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = admin_.ca_pem();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(std::string(node_dns_name));
  auto channel = grpc::CreateCustomChannel(server.address(), grpc::SslCredentials(options), args);
  const grpc::Status status = v1::Node::NewStub(channel)->ListDevices(context.get(), {}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(response.devices_size(), 0);
  // A member is served.
  response.Clear();
  EXPECT_TRUE(list_devices(admin_.connect(server.address()), &response).ok());
  EXPECT_EQ(response.devices_size(), 1);
}

TEST_F(ClusterTest, PlaintextClientIsRefused) {
  auto channel = grpc::CreateChannel(server_.address(), grpc::InsecureChannelCredentials());
  v1::ListDevicesResponse response;
  EXPECT_FALSE(list_devices(channel, &response).ok());
  EXPECT_EQ(response.devices_size(), 0);
}

TEST_F(ClusterTest, AnotherClustersCertificateIsRefused) {
  TempDir other_dir;
  ClusterCa::create(other_dir.path(), "other");
  const NodeIdentity other = NodeIdentity::load(other_dir.path());
  // It even trusts our CA, so only the server's check of its certificate can stop it.
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = admin_.ca_pem();
  options.pem_private_key = other.private_key_pem();
  options.pem_cert_chain = other.certificate_pem();
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(std::string(node_dns_name));
  auto channel = grpc::CreateCustomChannel(server_.address(), grpc::SslCredentials(options), args);
  v1::ListDevicesResponse response;
  EXPECT_FALSE(list_devices(channel, &response).ok());
  EXPECT_EQ(response.devices_size(), 0);
  // And its own channel does not accept our server.
  EXPECT_FALSE(list_devices(other.connect(server_.address()), &response).ok());
}

TEST_F(ClusterTest, EnrollmentEndToEnd) {
  TempDir joiner_dir;
  const NodeIdentity joined = join(Role::compute, joiner_dir);
  EXPECT_EQ(joined.role(), Role::compute);
  EXPECT_EQ(joined.cluster_name(), "test-cluster");
  EXPECT_EQ(joined.ca_pem(), admin_.ca_pem());
  EXPECT_NE(joined.node_id(), admin_.node_id());
  const NodeIdentity loaded = NodeIdentity::load(joiner_dir.path());
  EXPECT_EQ(loaded.node_id(), joined.node_id());

  auto channel = loaded.connect(server_.address());
  v1::ListDevicesResponse response;
  EXPECT_TRUE(list_devices(channel, &response).ok());
  EXPECT_TRUE(allocate(channel).ok());
  // Joining again into the same folder needs --force.
  EXPECT_TRUE(
      throws_errc([&] { join(Role::compute, joiner_dir); }, Errc::invalid_argument, "--force"));
}

TEST_F(ClusterTest, ForcedJoinDropsAnotherClustersCa) {
  TempDir dir;
  ClusterCa::create(dir.path(), "old");
  RevocationList::revoke(dir.path(), admin_.node_id());
  const std::string token =
      ca_.create_invite(Role::compute, std::chrono::hours(1), {server_.address()}).encode();
  EXPECT_TRUE(throws_errc([&] { join_cluster(token, dir.path(), "x"); }, Errc::invalid_argument,
                          "--force"));
  const NodeIdentity joined = join_cluster(token, dir.path(), "x", /*force=*/true);
  EXPECT_EQ(joined.cluster_name(), "test-cluster");
  EXPECT_FALSE(ClusterCa::exists(dir.path()));
  EXPECT_FALSE(RevocationList::load(dir.path()).is_revoked(admin_.node_id(), ""));
}

TEST_F(ClusterTest, InviteIsSingleUse) {
  const std::string token =
      ca_.create_invite(Role::compute, std::chrono::hours(1), {server_.address()}).encode();
  TempDir first, second;
  join_cluster(token, first.path(), "first");
  EXPECT_TRUE(throws_errc([&] { join_cluster(token, second.path(), "second"); },
                          Errc::invalid_argument, "already used"));
  EXPECT_FALSE(NodeIdentity::exists(second.path()));
}

TEST_F(ClusterTest, ForgedExpiredAndWrongClusterInvitesRefused) {
  InviteToken token = ca_.create_invite(Role::admin, std::chrono::hours(1), {server_.address()});
  TempDir dir;
  InviteToken forged = token;
  forged.secret[5] ^= 0x40;
  EXPECT_TRUE(throws_errc([&] { join_cluster(forged.encode(), dir.path(), "x"); },
                          Errc::invalid_argument, "not valid for this cluster"));
  InviteToken expired = token;
  expired.expires_unix_seconds = 1000;
  EXPECT_TRUE(throws_errc([&] { join_cluster(expired.encode(), dir.path(), "x"); },
                          Errc::invalid_argument, "expired"));
  InviteToken wrong_ca = token;
  wrong_ca.ca_fingerprint[0] ^= 1;
  EXPECT_TRUE(throws_errc([&] { join_cluster(wrong_ca.encode(), dir.path(), "x"); },
                          Errc::invalid_argument, "not part of the cluster"));
  EXPECT_FALSE(NodeIdentity::exists(dir.path()));
  // None of the attempts spent the real invite.
  EXPECT_EQ(join_cluster(token.encode(), dir.path(), "x").role(), Role::admin);
}

TEST_F(ClusterTest, UnreachableAddressIsAnIoError) {
  InviteToken token = ca_.create_invite(Role::compute, std::chrono::hours(1), {"127.0.0.1:1"});
  TempDir dir;
  EXPECT_TRUE(throws_errc([&] { join_cluster(token.encode(), dir.path(), "x"); }, Errc::io,
                          "could not reach"));
}

TEST_F(ClusterTest, MonitorRoleCannotCompute) {
  TempDir dir;
  const NodeIdentity monitor = join(Role::monitor, dir);
  auto channel = monitor.connect(server_.address());
  v1::ListDevicesResponse response;
  EXPECT_TRUE(list_devices(channel, &response).ok());
  const grpc::Status status = allocate(channel);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("needs role compute"), std::string::npos);
}

TEST_F(ClusterTest, RemovedNodeIsRefused) {
  TempDir dir;
  const NodeIdentity worker = join(Role::compute, dir);
  auto channel = worker.connect(server_.address());
  ASSERT_TRUE(allocate(channel).ok());

  // A compute node may not remove anyone.
  v1::RemoveNodeRequest request;
  request.set_node_id(admin_.node_id());
  v1::RemoveNodeResponse reply;
  auto context = deadline_context();
  EXPECT_EQ(v1::Admin::NewStub(channel)->RemoveNode(context.get(), request, &reply).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  request.set_node_id(worker.node_id());
  context = deadline_context();
  const grpc::Status removed = v1::Admin::NewStub(admin_.connect(server_.address()))
                                   ->RemoveNode(context.get(), request, &reply);
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  // The same, still open channel is refused from the next call on.
  const grpc::Status refused = allocate(channel);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(refused.error_message().find("was removed"), std::string::npos);
  v1::ListDevicesResponse response;
  EXPECT_EQ(list_devices(channel, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(response.devices_size(), 0);
}

TEST_F(ClusterTest, AdminCannotRemoveItselfOrGarbage) {
  auto stub = v1::Admin::NewStub(admin_.connect(server_.address()));
  for (const std::string& id : {admin_.node_id(), std::string("../../etc"), std::string(32, 'Z')}) {
    v1::RemoveNodeRequest request;
    request.set_node_id(id);
    v1::RemoveNodeResponse reply;
    auto context = deadline_context();
    EXPECT_EQ(stub->RemoveNode(context.get(), request, &reply).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << id;
  }
}

TEST_F(ClusterTest, CreateInviteNeedsAdminAndEnrollmentAddresses) {
  // This server's AdminService knows no enrollment address: the invite cannot be made.
  auto stub = v1::Admin::NewStub(admin_.connect(server_.address()));
  v1::InviteRequest request;
  request.set_role("compute");
  v1::InviteResponse reply;
  auto context = deadline_context();
  EXPECT_EQ(stub->CreateInvite(context.get(), request, &reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  TempDir dir;
  const NodeIdentity worker = join(Role::compute, dir);
  context = deadline_context();
  EXPECT_EQ(v1::Admin::NewStub(worker.connect(server_.address()))
                ->CreateInvite(context.get(), request, &reply)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST(AdminService, CreateInviteOverTheWire) {
  TempDir dir;
  ClusterCa::create(dir.path(), "lab");
  const NodeIdentity admin = NodeIdentity::load(dir.path());
  Authenticator auth(dir.path());
  AdminService service(dir.path(), auth, {"127.0.0.1:7420"});
  EnrollmentService enrollment(dir.path());
  LoopbackServer server(admin, {&service, &enrollment});
  auto stub = v1::Admin::NewStub(admin.connect(server.address()));
  v1::InviteRequest request;
  request.set_role("monitor");
  request.set_valid_for_seconds(600);
  v1::InviteResponse reply;
  auto context = deadline_context();
  const grpc::Status status = stub->CreateInvite(context.get(), request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const InviteToken token = InviteToken::parse(reply.token());
  EXPECT_EQ(token.role, Role::monitor);
  EXPECT_EQ(token.addresses, std::vector<std::string>{"127.0.0.1:7420"});

  request.set_role("root");
  context = deadline_context();
  EXPECT_EQ(stub->CreateInvite(context.get(), request, &reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(EnrollmentService, NodeWithoutCaRefusesJoin) {
  TempDir ca_dir, member_dir;
  const ClusterCa ca = ClusterCa::create(ca_dir.path(), "lab");
  TempDir joiner;
  EnrollmentService ca_enrollment(ca_dir.path());
  LoopbackServer enroll_server(NodeIdentity::load(ca_dir.path()), {&ca_enrollment});
  const NodeIdentity member = join_cluster(
      ca.create_invite(Role::compute, std::chrono::hours(1), {enroll_server.address()}).encode(),
      member_dir.path(), "member");
  // A member without the CA key serves Enrollment too (the daemon mounts it everywhere).
  EnrollmentService member_enrollment(member_dir.path());
  LoopbackServer member_server(member, {&member_enrollment});
  const std::string token =
      ca.create_invite(Role::compute, std::chrono::hours(1), {member_server.address()}).encode();
  EXPECT_TRUE(throws_errc([&] { join_cluster(token, joiner.path(), "j"); }, Errc::invalid_argument,
                          "does not hold the cluster CA"));
}

}  // namespace
}  // namespace crossgpu::net
