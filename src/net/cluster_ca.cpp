#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/crypto.hpp"
#include "net/files.hpp"
#include "net/invite_store.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
namespace {

constexpr std::chrono::seconds ca_validity{10LL * 365 * 24 * 3600};
// Node certificates live as long as the CA: removal is by revocation, not by expiry.
constexpr std::chrono::seconds node_validity = ca_validity;
constexpr std::chrono::seconds max_invite_validity{30LL * 24 * 3600};

void check_cluster_name(const std::string& name) {
  const bool printable = std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (name.empty() || name.size() > InviteToken::max_cluster_name_bytes || !printable) {
    fail(Errc::invalid_argument, "cluster name must be 1 to {} printable ASCII characters",
         InviteToken::max_cluster_name_bytes);
  }
}

// A new cluster starts with no invites and no revocations of an old one.
void forget_previous_cluster(const fs::path& dir) {
  for (const char* name : {"invites.json", "revoked.json"}) fs::remove(dir / name);
}

}  // namespace

ClusterCa::ClusterCa(fs::path dir, std::string name, std::string cert_pem, std::string key_pem)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      cert_pem_(std::move(cert_pem)),
      key_pem_(std::move(key_pem)) {}

bool ClusterCa::exists(const fs::path& dir) { return fs::exists(dir / "ca.key"); }

ClusterCa ClusterCa::create(const fs::path& dir, const std::string& name, bool force) {
  check_cluster_name(name);
  if (!force && (exists(dir) || NodeIdentity::exists(dir))) {
    fail(Errc::invalid_argument,
         "{} already holds a cluster or a node identity; use --force to replace it (every node "
         "of the old cluster will have to join again)",
         dir.string());
  }
  ensure_config_dir(dir);
  FolderLock lock(dir);
  forget_previous_cluster(dir);
  std::string key = crypto::generate_key();
  std::string cert = crypto::make_ca_certificate(key, name, ca_validity);
  write_file_atomic(dir / "ca.key", key, private_mode);
  write_file_atomic(dir / "ca.crt", cert, public_mode);
  write_file_atomic(dir / "cluster.json", nlohmann::json{{"name", name}}.dump(2), public_mode);
  ClusterCa ca(dir, name, std::move(cert), std::move(key));

  // This node is the cluster's first member, with every right.
  const std::string node_key = crypto::generate_key();
  const std::string csr = crypto::make_csr(node_key, local_hostname().substr(0, 64));
  NodeIdentity::store(dir, node_key, ca.sign_node_csr(csr, Role::admin), ca.cert_pem_, name);
  log::debug("created cluster '{}' in {}", name, dir.string());
  return ca;
}

ClusterCa ClusterCa::load(const fs::path& dir) {
  if (!exists(dir)) {
    fail(Errc::not_found,
         "{} holds no cluster CA key: run `crossgpu cluster init` there, or use the node that "
         "created the cluster",
         dir.string());
  }
  std::string key = read_file(dir / "ca.key");
  std::string cert = read_file(dir / "ca.crt");
  auto meta = nlohmann::json::parse(read_file(dir / "cluster.json"), nullptr, false);
  if (!meta.is_object() || !meta["name"].is_string()) {
    fail(Errc::invalid_argument, "{} is corrupt", (dir / "cluster.json").string());
  }
  if (!crypto::key_matches_certificate(key, cert) || !crypto::is_self_signed_ca(cert)) {
    fail(Errc::invalid_argument, "ca.key and ca.crt in {} do not belong together", dir.string());
  }
  return ClusterCa(dir, meta["name"].get<std::string>(), std::move(cert), std::move(key));
}

std::array<std::uint8_t, 32> ClusterCa::fingerprint() const {
  return crypto::certificate_fingerprint(cert_pem_);
}

std::string ClusterCa::sign_node_csr(std::string_view csr_pem, Role role) const {
  return crypto::sign_node_csr(key_pem_, cert_pem_, csr_pem, role, node_validity);
}

InviteToken ClusterCa::create_invite(Role role, std::chrono::seconds valid_for,
                                     std::vector<std::string> addresses) const {
  if (valid_for.count() <= 0 || valid_for > max_invite_validity) {
    fail(Errc::invalid_argument, "an invite must be valid for 1 second to 30 days");
  }
  InviteToken token;
  token.addresses = std::move(addresses);
  token.ca_fingerprint = fingerprint();
  const std::vector<std::uint8_t> secret = crypto::random_bytes(token.secret.size());
  std::copy(secret.begin(), secret.end(), token.secret.begin());
  token.role = role;
  token.expires_unix_seconds = unix_now() + valid_for.count();
  token.cluster_name = name_;
  token.encode();  // validates the addresses before anything is recorded
  record_invite(dir_, token.secret, role, token.expires_unix_seconds);
  log::debug("created a {} invite valid until {}", to_string(role), token.expires_unix_seconds);
  return token;
}

Role ClusterCa::redeem_invite(std::string_view secret) const {
  return net::redeem_invite(
      dir_, {reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()}, unix_now());
}

}  // namespace crossgpu::net
