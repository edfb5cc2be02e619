// The security layer of crossgpu: the cluster CA, node identities, invites, enrollment and the
// mutual-TLS credentials every node-to-node connection uses. docs/SECURITY.md has the threat model.
//
// Who uses what:
//  - `crossgpu cluster init` -> ClusterCa::create (also writes this node's admin identity)
//  - `crossgpu cluster invite` -> ClusterCa::create_invite -> one-line token
//  - `crossgpu node --join TOKEN` -> join_cluster -> NodeIdentity in the config folder
//  - the node daemon -> NodeIdentity::load, server_credentials(), connect(), and an Authenticator
//    that every service method (except Enrollment.Join) calls first.
//
// gRPC types are only forward-declared here: include <grpcpp/grpcpp.h> where you call these.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/call_quota.hpp"

namespace grpc {
class Channel;
class ServerBuilder;
class ServerContextBase;
class ServerCredentials;
class Status;
}  // namespace grpc

namespace crossgpu::net {

// ---------------------------------------------------------------------------------------------
// Roles. Each includes the rights of the ones before it: admin ⊇ compute ⊇ monitor.

enum class Role { monitor, compute, admin };

std::string_view to_string(Role role) noexcept;
// "monitor" | "compute" | "admin"; anything else throws Errc::invalid_argument.
Role parse_role(std::string_view text);
bool role_allows(Role have, Role need) noexcept;

// ---------------------------------------------------------------------------------------------
// The config folder: $XDG_CONFIG_HOME/crossgpu, else ~/.config/crossgpu. Every command takes
// --config to use another one (tests, several nodes on one machine).

std::filesystem::path default_config_dir();
// `flag` empty -> default_config_dir(); otherwise the flag's path.
std::filesystem::path resolve_config_dir(const std::string& flag);

// Hostname of this machine; the default node name when joining.
std::string local_hostname();

// SAN DNS name every node certificate carries. Nodes are reached by IP address, so clients
// verify the server's certificate against this fixed name (gRPC's target-name override); the
// CA signature and the per-cluster root are what actually identify a node.
inline constexpr std::string_view node_dns_name = "crossgpu-node";

// Limits every channel and server of the cluster uses.
inline constexpr int max_message_bytes = 8 * 1024 * 1024;

// Applies the cluster's server limits to a builder: max message sizes, and a keepalive policy
// that accepts the pings connect() sends (gRPC's default would answer them with GOAWAY).
void apply_server_limits(grpc::ServerBuilder& builder);

// ---------------------------------------------------------------------------------------------
// An invite: a one-line token a new device uses to join. The token carries where to enroll, how
// to recognize the cluster (the SHA-256 fingerprint of its CA certificate) and a one-time secret;
// the CA holder keeps only a hash of the secret, with the role and expiry.

struct InviteToken {
  static constexpr std::string_view prefix = "crossgpu-invite-v1:";
  static constexpr std::size_t max_text_bytes = 2048;  // longer input is refused unread
  static constexpr std::size_t max_addresses = 8;
  static constexpr std::size_t max_address_bytes = 255;
  static constexpr std::size_t max_cluster_name_bytes = 64;

  std::vector<std::string> addresses;             // enrollment endpoints, "host:port"
  std::array<std::uint8_t, 32> ca_fingerprint{};  // SHA-256 of the CA certificate (DER)
  std::array<std::uint8_t, 32> secret{};          // one-time secret
  Role role = Role::monitor;                      // informative: the CA side holds the binding
  std::int64_t expires_unix_seconds = 0;
  std::string cluster_name;

  // Strict decoder for untrusted text: malformed, truncated, oversized or inconsistent input
  // throws Errc::invalid_argument with a message that says which part is wrong. Leading and
  // trailing whitespace (a pasted newline) is ignored.
  static InviteToken parse(std::string_view text);
  std::string encode() const;
};

struct SignedRevocations;

// ---------------------------------------------------------------------------------------------
// The cluster certificate authority: an EC P-256 key and a self-signed certificate (10 years)
// kept in the config folder of the node that ran `crossgpu cluster init`.

class ClusterCa {
 public:
  // Creates the CA and this node's own identity (role admin) signed by it. Refuses with
  // Errc::invalid_argument when the folder already holds a cluster or an identity, unless force.
  static ClusterCa create(const std::filesystem::path& config_dir, const std::string& name,
                          bool force = false);
  // Throws Errc::not_found when this folder holds no CA key (the node joined with an invite).
  static ClusterCa load(const std::filesystem::path& config_dir);
  static bool exists(const std::filesystem::path& config_dir);

  const std::string& name() const noexcept { return name_; }
  const std::string& certificate_pem() const noexcept { return cert_pem_; }
  std::array<std::uint8_t, 32> fingerprint() const;

  // Checks a PKCS#10 request (valid signature, EC P-256 key, sane subject) and signs it as a
  // node certificate carrying `role`; the node id is derived from the request's public key.
  std::string sign_node_csr(std::string_view csr_pem, Role role) const;

  // Creates an invite: records the secret's hash, role and expiry in the config folder and
  // returns the token. `addresses` are the enrollment endpoints ("host:port") put in the token.
  InviteToken create_invite(Role role, std::chrono::seconds valid_for,
                            std::vector<std::string> addresses) const;

  // Consumes an invite secret: constant-time match against the stored hashes, refuses used and
  // expired ones (Errc::invalid_argument), marks it used, and returns the role bound to it.
  Role redeem_invite(std::string_view secret) const;

  // Signs a revocation list of `node_ids` (sorted and deduplicated here) with `version`
  // (src/net/revocation_signing.cpp).
  SignedRevocations sign_revocations(std::vector<std::string> node_ids,
                                     std::uint64_t version) const;

 private:
  ClusterCa(std::filesystem::path dir, std::string name, std::string cert_pem, std::string key_pem);
  std::filesystem::path dir_;
  std::string name_;
  std::string cert_pem_;
  std::string key_pem_;
};

// ---------------------------------------------------------------------------------------------
// This node's identity: its own key pair (generated here, never sent anywhere), its certificate
// signed by the cluster CA, and the CA certificate. Bound to this machine and folder: a copied
// folder is refused at load, so a copy never yields two nodes with one identity.

class NodeIdentity {
 public:
  // Throws Errc::not_found when the folder holds no identity (run `crossgpu cluster init` or
  // join with an invite), Errc::invalid_argument when it was copied from another machine or
  // folder, or when its files do not match each other.
  static NodeIdentity load(const std::filesystem::path& config_dir);
  static bool exists(const std::filesystem::path& config_dir);

  const std::string& node_id() const noexcept { return node_id_; }  // 32 hex digits
  Role role() const noexcept { return role_; }
  const std::string& cluster_name() const noexcept { return cluster_name_; }
  const std::string& ca_pem() const noexcept { return ca_pem_; }
  const std::string& certificate_pem() const noexcept { return cert_pem_; }
  const std::string& private_key_pem() const noexcept { return key_pem_; }
  const std::string& certificate_serial() const noexcept { return serial_; }  // hex
  const std::filesystem::path& config_dir() const noexcept { return dir_; }

  // Server side of mutual TLS: presents this node's certificate (with the CA certificate in the
  // chain, so joiners can pin it), verifies client certificates against the cluster CA when one
  // is presented. A certificate is optional at the TLS level only so that Enrollment.Join is
  // reachable: a gate in these credentials refuses every other method's calls that come
  // without one before any handler runs. Methods still call Authenticator::authorize first,
  // for the role and revocation checks.
  std::shared_ptr<grpc::ServerCredentials> server_credentials() const;

  // A mutual-TLS channel to another node of this cluster at "host:port": verifies the server
  // against the cluster CA (target name node_dns_name), max message size max_message_bytes,
  // keepalive pings every 20 s.
  std::shared_ptr<grpc::Channel> connect(const std::string& address) const;

  // Writes an identity into a config folder, binding it to this machine and folder.
  // Used by ClusterCa::create and join_cluster; validates that key, certificate and CA match.
  static NodeIdentity store(const std::filesystem::path& config_dir, const std::string& key_pem,
                            const std::string& cert_pem, const std::string& ca_pem,
                            const std::string& cluster_name);

 private:
  NodeIdentity() = default;
  std::filesystem::path dir_;
  std::string node_id_;
  Role role_ = Role::monitor;
  std::string cluster_name_;
  std::string ca_pem_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string serial_;
};

// Joins a cluster with an invite: generates this node's key pair, checks the enrollment server
// against the CA fingerprint in the token, sends the secret and a CSR, and stores the identity
// it receives in config_dir. Refuses when config_dir already holds an identity, unless force.
// Network failures throw Errc::io; a refused invite throws Errc::invalid_argument.
NodeIdentity join_cluster(std::string_view token, const std::filesystem::path& config_dir,
                          const std::string& node_name, bool force = false);

// ---------------------------------------------------------------------------------------------
// Authentication of incoming calls.

struct PeerIdentity {
  std::string node_id;
  Role role = Role::monitor;
  std::string cert_serial;  // hex
  std::string address;      // gRPC peer string, e.g. "ipv4:10.0.0.2:51234"
};

// Removed nodes as this node decided them: node ids and certificate serials kept in the config
// folder (revoked.json). On the node holding the cluster CA, revoke() also signs a new
// cluster-wide list (SignedRevocations) that spreads to every node.
class RevocationList {
 public:
  static RevocationList load(const std::filesystem::path& config_dir);
  bool is_revoked(std::string_view node_id, std::string_view cert_serial) const;
  // Adds and saves atomically; returns false when it was already revoked. Where config_dir
  // holds the CA key, the node id also goes into a newly signed list of a higher version.
  static bool revoke(const std::filesystem::path& config_dir, const std::string& node_id,
                     const std::string& cert_serial = {});
  const std::vector<std::string>& node_ids() const noexcept { return node_ids_; }
  const std::vector<std::string>& cert_serials() const noexcept { return serials_; }

 private:
  std::vector<std::string> node_ids_;
  std::vector<std::string> serials_;
};

// The cluster-wide revocation list: the node ids the cluster CA removed, a version that only
// grows, and the CA's ECDSA signature over both. Only the CA key holder can make one; every node
// verifies it against the CA certificate it already trusts (ca.crt) before storing it
// (revocations.bin in its config folder), and serves it to its peers, which fetch it
// periodically (PeerMonitor), so a removal reaches nodes that never talk to the CA node.
// docs/PROTOCOL.md has the byte layout; docs/SECURITY.md the threat model.
struct SignedRevocations {
  static constexpr std::size_t max_nodes = 4096;
  static constexpr std::size_t max_signature_bytes = 80;  // ECDSA P-256 DER is at most 72
  static constexpr std::size_t max_encoded_bytes = 4 + 1 + 32 + 8 + 4 + max_nodes * 16 + 2 +
                                                   max_signature_bytes;

  std::array<std::uint8_t, 32> ca_fingerprint{};  // SHA-256 of the signing CA certificate (DER)
  std::uint64_t version = 0;                      // 0: no list
  std::vector<std::string> node_ids;              // 32 lowercase hex digits, sorted, unique
  std::vector<std::uint8_t> signature;            // over signed_bytes()

  // Strict decoder for untrusted bytes (structure only, no signature check): truncated,
  // oversized, unsorted or otherwise malformed input throws Errc::invalid_argument saying which
  // part is wrong.
  static SignedRevocations decode(std::span<const std::uint8_t> bytes);
  std::vector<std::uint8_t> encode() const;
  // Everything encode() writes before the signature: what the CA signs.
  std::vector<std::uint8_t> signed_bytes() const;
  bool contains(std::string_view node_id) const;

  // Throws Errc::permission_denied when the list was not signed by the CA of `ca_pem` (another
  // cluster's CA, a tampered list, a forged signature).
  void verify(std::string_view ca_pem) const;
};

// The signed list stored in config_dir, verified against its ca.crt; an empty list (version 0)
// when there is none or it belongs to another cluster (a folder reused for a new cluster).
// Throws Errc::invalid_argument when the stored list is damaged or its signature is wrong.
SignedRevocations load_signed_revocations(const std::filesystem::path& config_dir);

// What accept_signed_revocations did with a list.
enum class RevocationUpdate { stored, not_newer };

// Decodes and verifies `bytes` against config_dir's CA certificate and stores them atomically
// when their version is higher than the stored list's. A lower or equal version is ignored
// (not_newer: no rollback). Garbage throws Errc::invalid_argument; a list not signed by this
// cluster's CA throws Errc::permission_denied; neither stores anything.
RevocationUpdate accept_signed_revocations(const std::filesystem::path& config_dir,
                                           std::span<const std::uint8_t> bytes);

// One per server; thread-safe. Reads the revocation list again whenever its file changes, so a
// RemoveNode takes effect on the next call.
class Authenticator {
 public:
  // `calls`: the quotas of calls in flight per identity and role (net/call_quota.hpp) that every
  // service of the server takes a place in (calls()); size them from the server's threads.
  explicit Authenticator(std::filesystem::path config_dir, CallQuotaLimits calls = {});

  // The server's call quota, shared by all of its services: after authorize(), a service holds
  // calls().acquire(peer, what) for as long as the call runs.
  CallQuota& calls() const noexcept { return calls_; }

  // Told the gRPC peer address ("ipv4:1.2.3.4:5678") of every call that authenticated (the
  // gRPC port's accept gate releases that connection from its unauthenticated count). Set it
  // before the server starts; it runs on gRPC's threads and must be cheap.
  void on_authenticated(std::function<void(const std::string& grpc_peer)> hook) {
    on_authenticated_ = std::move(hook);
  }

  // The verified client certificate's identity, or nullopt (logged with the peer's address and
  // whatever identity it showed) when there is none, it is malformed or it was revoked.
  std::optional<PeerIdentity> authenticate(const grpc::ServerContextBase& context) const;

  // OK when the caller is authenticated and its role allows `need`; otherwise UNAUTHENTICATED
  // or PERMISSION_DENIED with a message that says why. Every refusal is logged. On OK the
  // caller's identity goes to *peer when given.
  grpc::Status authorize(const grpc::ServerContextBase& context, Role need,
                         PeerIdentity* peer = nullptr) const;

  // The same checks for a connection that is not gRPC (the data channel): `cert_pem` is the
  // client certificate TLS verified against the cluster CA. Returns the identity when it is a
  // node certificate, not revoked and its role allows `need`; otherwise nullopt, with the reason
  // (for the peer) in *reason. Every refusal is logged.
  std::optional<PeerIdentity> check_certificate(const std::string& address,
                                                const std::string& cert_pem, Role need,
                                                std::string* reason) const;

 private:
  bool revoked(const PeerIdentity& peer) const;
  // authenticate(), with the reason of a refusal (for the caller's status message) in *reason.
  std::optional<PeerIdentity> check(const grpc::ServerContextBase& context,
                                    std::string* reason) const;
  std::optional<PeerIdentity> check_pem(const std::string& address, const std::string& pem,
                                        std::string* reason) const;
  PeerIdentity identity_of(const std::string& cert_pem) const;
  std::filesystem::path dir_;
  std::function<void(const std::string&)> on_authenticated_;
  // Parsed client certificates by PEM: a connection's calls all show the same certificate, so
  // it is parsed once, not on every call.
  mutable std::unordered_map<std::string, PeerIdentity> parsed_;
  mutable std::mutex mutex_;
  mutable std::optional<std::filesystem::file_time_type> loaded_mtime_;
  mutable RevocationList revocations_;
  mutable std::optional<std::filesystem::file_time_type> signed_mtime_;
  mutable SignedRevocations signed_revocations_;
  mutable CallQuota calls_;  // its own mutex
};

}  // namespace crossgpu::net
