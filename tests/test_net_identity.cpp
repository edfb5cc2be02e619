// Cluster CA, node certificates, identities bound to their folder, invites on the CA side,
// revocation lists and the Errc <-> gRPC status mapping.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "net/crypto.hpp"
#include "net/invite_store.hpp"
#include "net/security.hpp"
#include "net/status.hpp"
#include "net_test_support.hpp"
#include "support/test_support.hpp"

namespace crossgpu::net {
namespace {

namespace fs = std::filesystem;
using crossgpu::testing::TempDir;
using crossgpu::testing::throws_errc;

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

std::string issue(const ClusterCa& ca, Role role, std::string* key_out = nullptr) {
  const std::string key = crypto::generate_key();
  if (key_out) *key_out = key;
  return ca.sign_node_csr(crypto::make_csr(key, "worker"), role);
}

TEST(ClusterCa, InitCreatesCaAndAdminIdentity) {
  TempDir dir;
  const ClusterCa ca = ClusterCa::create(dir.path(), "lab");
  EXPECT_EQ(ca.name(), "lab");
  EXPECT_TRUE(crypto::is_self_signed_ca(ca.certificate_pem()));
  EXPECT_EQ(mode_of(dir / "ca.key"), 0600u);
  EXPECT_EQ(mode_of(dir / "node.key"), 0600u);
  EXPECT_EQ(mode_of(dir.path()), 0700u);

  const NodeIdentity me = NodeIdentity::load(dir.path());
  EXPECT_EQ(me.role(), Role::admin);
  EXPECT_EQ(me.cluster_name(), "lab");
  EXPECT_EQ(me.node_id().size(), 32u);
  EXPECT_EQ(me.node_id(), crypto::node_id_of_private_key(me.private_key_pem()));
  EXPECT_EQ(me.ca_pem(), ca.certificate_pem());
  EXPECT_TRUE(crypto::verify_certificate(me.ca_pem(), me.certificate_pem()));
  EXPECT_EQ(ClusterCa::load(dir.path()).fingerprint(), ca.fingerprint());
}

TEST(ClusterCa, RefusesToOverwriteWithoutForce) {
  TempDir dir;
  const ClusterCa first = ClusterCa::create(dir.path(), "lab");
  EXPECT_TRUE(throws_errc([&] { ClusterCa::create(dir.path(), "lab"); }, Errc::invalid_argument,
                          "--force"));
  const ClusterCa second = ClusterCa::create(dir.path(), "lab2", /*force=*/true);
  EXPECT_NE(first.fingerprint(), second.fingerprint());
  EXPECT_EQ(NodeIdentity::load(dir.path()).cluster_name(), "lab2");
}

TEST(ClusterCa, RefusesBadNamesAndMissingCa) {
  TempDir dir;
  EXPECT_TRUE(throws_errc([&] { ClusterCa::create(dir.path(), ""); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ClusterCa::create(dir.path(), "a\nb"); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ClusterCa::load(dir.path()); }, Errc::not_found, "cluster init"));
  EXPECT_TRUE(throws_errc([&] { NodeIdentity::load(dir.path()); }, Errc::not_found, "--join"));
}

TEST(Certificates, CarryRoleNodeIdAndDnsName) {
  TempDir dir;
  const ClusterCa ca = ClusterCa::create(dir.path(), "lab");
  for (Role role : {Role::monitor, Role::compute, Role::admin}) {
    std::string key;
    const std::string cert = issue(ca, role, &key);
    const crypto::CertificateInfo info = crypto::inspect_node_certificate(cert);
    EXPECT_EQ(info.role, role);
    EXPECT_EQ(info.node_id, crypto::node_id_of_private_key(key));
    EXPECT_EQ(info.cluster_name, "lab");
    EXPECT_FALSE(info.serial.empty());
    EXPECT_TRUE(crypto::verify_certificate(ca.certificate_pem(), cert));
    EXPECT_TRUE(crypto::key_matches_certificate(key, cert));
    EXPECT_FALSE(crypto::is_self_signed_ca(cert));
  }
}

TEST(Certificates, AnotherClustersCertificateDoesNotVerify) {
  TempDir a, b;
  const ClusterCa ca_a = ClusterCa::create(a.path(), "a");
  const ClusterCa ca_b = ClusterCa::create(b.path(), "b");
  EXPECT_FALSE(crypto::verify_certificate(ca_a.certificate_pem(), issue(ca_b, Role::admin)));
  EXPECT_FALSE(crypto::key_matches_certificate(crypto::generate_key(), issue(ca_a, Role::admin)));
}

TEST(Certificates, CsrChecks) {
  TempDir dir;
  const ClusterCa ca = ClusterCa::create(dir.path(), "lab");
  EXPECT_TRUE(throws_errc([&] { ca.sign_node_csr("not a csr", Role::compute); },
                          Errc::invalid_argument, "PKCS#10"));
  // A request whose signature was tampered with.
  std::string csr = crypto::make_csr(crypto::generate_key(), "worker");
  const std::size_t body = csr.find('\n') + 40;
  csr[body] = csr[body] == 'A' ? 'B' : 'A';
  EXPECT_TRUE(throws_errc([&] { ca.sign_node_csr(csr, Role::compute); }, Errc::invalid_argument));
  // Oversized subject.
  EXPECT_TRUE(throws_errc(
      [&] {
        ca.sign_node_csr(crypto::make_csr(crypto::generate_key(), std::string(63, 'x') + "yz"),
                         Role::compute);
      },
      Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ca.sign_node_csr(std::string(100000, 'A'), Role::compute); },
                          Errc::invalid_argument));
}

TEST(NodeIdentity, RefusesCopiedFolder) {
  TempDir dir;
  ClusterCa::create(dir.path(), "lab");
  const fs::path copy = dir / "copy";
  fs::create_directories(copy);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.is_regular_file()) fs::copy_file(entry.path(), copy / entry.path().filename());
  }
  EXPECT_TRUE(throws_errc([&] { NodeIdentity::load(copy); }, Errc::invalid_argument,
                          "with a fresh invite"));
  EXPECT_NO_THROW(NodeIdentity::load(dir.path()));
}

TEST(NodeIdentity, RefusesFolderFromAnotherMachine) {
  TempDir dir;
  ClusterCa::create(dir.path(), "lab");
  auto meta = nlohmann::json::parse(std::ifstream(dir / "identity.json"));
  meta["machine"] = "machine-id:0123456789abcdef";
  std::ofstream(dir / "identity.json") << meta.dump();
  EXPECT_TRUE(throws_errc([&] { NodeIdentity::load(dir.path()); }, Errc::invalid_argument,
                          "on another machine"));
}

TEST(NodeIdentity, RefusesMismatchedFiles) {
  TempDir a, b;
  ClusterCa::create(a.path(), "a");
  ClusterCa::create(b.path(), "b");
  fs::copy_file(b / "node.crt", a / "node.crt", fs::copy_options::overwrite_existing);
  EXPECT_TRUE(throws_errc([&] { NodeIdentity::load(a.path()); }, Errc::invalid_argument,
                          "do not belong together"));
}

TEST(Invites, RoundTripThroughTheStore) {
  TempDir dir;
  const ClusterCa ca = ClusterCa::create(dir.path(), "lab");
  const InviteToken token =
      ca.create_invite(Role::compute, std::chrono::hours(24), {"10.0.0.1:7420"});
  const InviteToken parsed = InviteToken::parse(token.encode());
  EXPECT_EQ(parsed.ca_fingerprint, ca.fingerprint());
  EXPECT_EQ(parsed.cluster_name, "lab");
  EXPECT_EQ(mode_of(dir / "invites.json"), 0600u);
  // Only a hash of the secret is stored.
  const std::string stored = crossgpu::net::crypto::hex(parsed.secret);
  std::ifstream in(dir / "invites.json");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text.find(stored), std::string::npos);

  const std::string secret(parsed.secret.begin(), parsed.secret.end());
  EXPECT_EQ(ca.redeem_invite(secret), Role::compute);
  EXPECT_TRUE(
      throws_errc([&] { ca.redeem_invite(secret); }, Errc::invalid_argument, "already used"));
}

TEST(Invites, ExpiredForgedAndMalformedSecretsRefused) {
  TempDir dir;
  const ClusterCa ca = ClusterCa::create(dir.path(), "lab");
  const InviteToken token = ca.create_invite(Role::monitor, std::chrono::seconds(60), {"h:1"});
  EXPECT_TRUE(throws_errc([&] { redeem_invite(dir.path(), token.secret, unix_now() + 61); },
                          Errc::invalid_argument, "expired"));
  std::array<std::uint8_t, 32> forged = token.secret;
  forged[0] ^= 1;
  EXPECT_TRUE(throws_errc([&] { redeem_invite(dir.path(), forged, unix_now()); },
                          Errc::invalid_argument, "not valid for this cluster"));
  EXPECT_TRUE(throws_errc([&] { ca.redeem_invite("short"); }, Errc::invalid_argument, "32 bytes"));
  // The failed attempts did not spend the real one.
  EXPECT_EQ(redeem_invite(dir.path(), token.secret, unix_now()), Role::monitor);
}

TEST(Invites, ValidityBounds) {
  TempDir dir;
  const ClusterCa ca = ClusterCa::create(dir.path(), "lab");
  EXPECT_TRUE(
      throws_errc([&] { ca.create_invite(Role::compute, std::chrono::seconds(0), {"h:1"}); },
                  Errc::invalid_argument));
  EXPECT_TRUE(
      throws_errc([&] { ca.create_invite(Role::compute, std::chrono::hours(24 * 31), {"h:1"}); },
                  Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ca.create_invite(Role::compute, std::chrono::hours(1), {}); },
                          Errc::invalid_argument));
}

TEST(Revocation, AddsOnceAndMatchesIdOrSerial) {
  TempDir dir;
  EXPECT_FALSE(RevocationList::load(dir.path()).is_revoked("a", "1"));
  EXPECT_TRUE(RevocationList::revoke(dir.path(), "abc"));
  EXPECT_FALSE(RevocationList::revoke(dir.path(), "abc"));
  EXPECT_TRUE(RevocationList::revoke(dir.path(), "", "ff01"));
  const RevocationList list = RevocationList::load(dir.path());
  EXPECT_TRUE(list.is_revoked("abc", "99"));
  EXPECT_TRUE(list.is_revoked("other", "ff01"));
  EXPECT_FALSE(list.is_revoked("other", ""));
  std::ofstream(dir / "revoked.json") << "[garbage";
  EXPECT_TRUE(
      throws_errc([&] { RevocationList::load(dir.path()); }, Errc::invalid_argument, "corrupt"));
}

TEST(StatusMapping, RoundTripsEveryCode) {
  for (int i = 1; i <= static_cast<int>(last_errc); ++i) {
    const Errc code = static_cast<Errc>(i);
    const grpc::Status status = to_status(Error(code, "what went wrong"));
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.error_message(), "errc=" + std::to_string(i) + " what went wrong");
    const Error back = to_error(status);
    EXPECT_EQ(back.code(), code);
    EXPECT_STREQ(back.what(), "what went wrong");
  }
  EXPECT_TRUE(to_status(Errc::ok, "").ok());
}

TEST(StatusMapping, ForeignStatusesGetAnErrc) {
  EXPECT_EQ(to_error(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")).code(), Errc::io);
  EXPECT_EQ(to_error(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "")).code(), Errc::timeout);
  EXPECT_EQ(to_error(grpc::Status(grpc::StatusCode::NOT_FOUND, "errc=99 new code")).code(),
            Errc::not_found);
  EXPECT_EQ(to_error(grpc::Status(grpc::StatusCode::INTERNAL, "errc=x")).code(), Errc::internal);
  EXPECT_TRUE(throws_errc(
      [] {
        throw_if_failed(grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "errc=2 past the end"),
                        "Read");
      },
      Errc::out_of_range, "Read: past the end"));
  EXPECT_NO_THROW(throw_if_failed(grpc::Status::OK, "x"));
}

}  // namespace
}  // namespace crossgpu::net
