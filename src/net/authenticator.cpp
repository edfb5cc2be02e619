#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>

#include "core/log.hpp"
#include "net/crypto.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
namespace {

std::optional<fs::file_time_type> modified_time(const fs::path& path) {
  std::error_code ec;
  const auto time = fs::last_write_time(path, ec);
  if (ec) return std::nullopt;
  return time;
}

// The client's leaf certificate as TLS verified it, or "" when it showed none.
std::string peer_certificate(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  const auto values = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (values.empty()) return {};
  return std::string(values.front().data(), values.front().size());
}

// Enough for every node of a home cluster many times over; a flood of distinct certificates (all
// CA-signed, so only from members) just restarts the cache.
constexpr std::size_t max_cached_certificates = 256;

}  // namespace

Authenticator::Authenticator(fs::path config_dir, CallQuotaLimits calls)
    : dir_(std::move(config_dir)), calls_(calls) {}

bool Authenticator::revoked(const PeerIdentity& peer) const {
  std::lock_guard lock(mutex_);
  const auto mtime = modified_time(dir_ / "revoked.json");
  if (mtime != loaded_mtime_) {
    revocations_ = mtime ? RevocationList::load(dir_) : RevocationList{};
    loaded_mtime_ = mtime;
  }
  // The cluster-wide list, as peers deliver it (PeerMonitor stores it with an atomic rename, so
  // a new file means a new modification time).
  const auto signed_mtime = modified_time(dir_ / "revocations.bin");
  if (signed_mtime != signed_mtime_) {
    signed_revocations_ = signed_mtime ? load_signed_revocations(dir_) : SignedRevocations{};
    signed_mtime_ = signed_mtime;
  }
  return revocations_.is_revoked(peer.node_id, peer.cert_serial) ||
         signed_revocations_.contains(peer.node_id);
}

PeerIdentity Authenticator::identity_of(const std::string& pem) const {
  {
    std::lock_guard lock(mutex_);
    if (const auto found = parsed_.find(pem); found != parsed_.end()) return found->second;
  }
  const crypto::CertificateInfo info = crypto::inspect_node_certificate(pem);
  PeerIdentity peer{info.node_id, info.role, info.serial, {}};
  std::lock_guard lock(mutex_);
  if (parsed_.size() >= max_cached_certificates) parsed_.clear();
  parsed_.emplace(pem, peer);
  return peer;
}

std::optional<PeerIdentity> Authenticator::authenticate(
    const grpc::ServerContextBase& context) const {
  std::string reason;
  return check(context, &reason);
}

std::optional<PeerIdentity> Authenticator::check(const grpc::ServerContextBase& context,
                                                 std::string* reason) const {
  const std::string peer = context.peer();
  auto identity = check_pem(peer, peer_certificate(context), reason);
  if (identity && on_authenticated_) on_authenticated_(peer);
  return identity;
}

std::optional<PeerIdentity> Authenticator::check_pem(const std::string& address,
                                                     const std::string& pem,
                                                     std::string* reason) const {
  if (pem.empty()) {
    *reason =
        "this node serves only members of its cluster: join with an invite "
        "(`crossgpu node --join TOKEN`)";
    log::warn("refused a call from {}: no client certificate", address);
    return std::nullopt;
  }
  PeerIdentity peer;
  try {
    peer = identity_of(pem);
    peer.address = address;
  } catch (const std::exception& e) {
    *reason = "your certificate is not a crossgpu node certificate";
    log::warn("refused a call from {}: {}", address, e.what());
    return std::nullopt;
  }
  try {
    if (revoked(peer)) {
      *reason = fmt::format("node {} was removed from this cluster: join again with a new invite",
                            peer.node_id);
      log::warn("refused a call from node {} at {}: the node was removed from the cluster",
                peer.node_id, address);
      return std::nullopt;
    }
  } catch (const std::exception& e) {
    // Fail closed: an unreadable revocation list admits nobody.
    *reason = "this node cannot read its list of removed nodes; ask its owner to repair it";
    log::error("refused a call from node {} at {}: {}", peer.node_id, address, e.what());
    return std::nullopt;
  }
  return peer;
}

std::optional<PeerIdentity> Authenticator::check_certificate(const std::string& address,
                                                             const std::string& cert_pem,
                                                             Role need,
                                                             std::string* reason) const {
  std::optional<PeerIdentity> peer = check_pem(address, cert_pem, reason);
  if (peer && !role_allows(peer->role, need)) {
    log::warn("refused a data connection from node {} at {}: role {} may not do what needs "
              "role {}", peer->node_id, address, to_string(peer->role), to_string(need));
    *reason = fmt::format("this needs role {}; your node has role {}", to_string(need),
                          to_string(peer->role));
    return std::nullopt;
  }
  return peer;
}

grpc::Status Authenticator::authorize(const grpc::ServerContextBase& context, Role need,
                                      PeerIdentity* out) const {
  std::string reason;
  std::optional<PeerIdentity> peer = check(context, &reason);
  if (!peer) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, reason);
  if (!role_allows(peer->role, need)) {
    log::warn("refused a call from node {} at {}: role {} may not do what needs role {}",
              peer->node_id, peer->address, to_string(peer->role), to_string(need));
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        fmt::format("this call needs role {}; your node has role {}",
                                    to_string(need), to_string(peer->role)));
  }
  if (out) *out = std::move(*peer);
  return grpc::Status::OK;
}

}  // namespace crossgpu::net
