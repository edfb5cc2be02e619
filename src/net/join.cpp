// Joining a cluster. The joiner has no CA certificate yet, only the CA's fingerprint from the
// token, so it enrolls in two steps:
//  1. a plain OpenSSL handshake fetches the server's certificate chain (the server sends the CA
//     certificate after its own); the CA certificate whose SHA-256 matches the token is pinned,
//     after checking it is a self-signed CA that signed the server's certificate. Nothing secret
//     is sent on this connection.
//  2. a gRPC TLS channel that trusts only the pinned CA carries the secret and the CSR. A server
//     of another cluster, or a man in the middle, fails step 1 or the handshake of step 2.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.hpp"
#include "core/log.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "net/crypto.hpp"
#include "net/files.hpp"
#include "net/invite_store.hpp"
#include "net/security.hpp"
#include "net/status.hpp"

namespace crossgpu::net {
namespace fs = std::filesystem;
namespace {

constexpr int probe_timeout_seconds = 5;
constexpr auto join_deadline = std::chrono::seconds(15);

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};

std::string openssl_error() {
  char text[256] = "connection closed";
  if (const unsigned long code = ERR_peek_last_error())
    ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

// A connected TCP socket with send/receive timeouts, or -1 with errno set.
int connect_with_timeout(const addrinfo& ai) {
  const int fd = ::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC, ai.ai_protocol);
  if (fd < 0) return -1;
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int result = ::connect(fd, ai.ai_addr, ai.ai_addrlen);
  if (result != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    result = ::poll(&p, 1, probe_timeout_seconds * 1000) == 1 ? 0 : -1;
    if (result != 0) errno = ETIMEDOUT;
    int error = 0;
    socklen_t len = sizeof(error);
    if (result == 0 && (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0)) {
      errno = error;
      result = -1;
    }
  }
  if (result != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  // The handshake runs blocking, bounded by socket timeouts.
  ::fcntl(fd, F_SETFL, flags);
  timeval timeout{probe_timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  return fd;
}

// Resolves "host:port" ("[v6]:port" too) and connects to the first address that answers.
BIO* connect_socket(const std::string& address) {
  char* host = nullptr;
  char* port = nullptr;
  if (BIO_parse_hostserv(address.c_str(), &host, &port, BIO_PARSE_PRIO_HOST) != 1 || !host ||
      !port) {
    OPENSSL_free(host);
    OPENSSL_free(port);
    ERR_clear_error();
    fail(Errc::invalid_argument, "'{}' is not a host:port address", address);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host, port, &hints, &found);
  OPENSSL_free(host);
  OPENSSL_free(port);
  if (rc != 0) fail(Errc::io, "cannot resolve {}: {}", address, ::gai_strerror(rc));
  int fd = -1;
  int error = 0;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    fd = connect_with_timeout(*ai);
    if (fd < 0) error = errno;
  }
  ::freeaddrinfo(found);
  if (fd < 0) fail(Errc::io, "cannot connect to {}: {}", address, std::strerror(error));
  BIO* bio = BIO_new_socket(fd, BIO_CLOSE);
  if (!bio) {
    ::close(fd);
    fail(Errc::internal, "BIO_new_socket failed: {}", openssl_error());
  }
  return bio;
}

std::vector<std::string> chain_pems(STACK_OF(X509) * chain) {
  std::vector<std::string> out;
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio && PEM_write_bio_X509(bio, sk_X509_value(chain, i)) == 1) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      out.emplace_back(data, static_cast<std::size_t>(n));
    }
    BIO_free_all(bio);
  }
  return out;
}

// The server's certificate chain, leaf first, unverified: the caller pins it.
std::vector<std::string> fetch_server_chain(const std::string& address) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) fail(Errc::internal, "SSL_CTX_new failed: {}", openssl_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  BIO* bio = connect_socket(address);
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  if (!ssl) {
    BIO_free_all(bio);
    fail(Errc::internal, "SSL_new failed: {}", openssl_error());
  }
  SSL_set_bio(ssl.get(), bio, bio);  // the SSL owns the socket from here on
  static const unsigned char alpn[] = {2, 'h', '2'};
  SSL_set_alpn_protos(ssl.get(), alpn, sizeof(alpn));
  if (SSL_connect(ssl.get()) != 1) {
    fail(Errc::io, "TLS handshake with {} failed: {}", address, openssl_error());
  }
  std::vector<std::string> chain = chain_pems(SSL_get_peer_cert_chain(ssl.get()));
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  return chain;
}

// The CA certificate of the server's chain that the token pins; throws invalid_argument when
// the server does not belong to the invite's cluster.
std::string pin_ca(const std::string& address, const InviteToken& token) {
  const std::vector<std::string> chain = fetch_server_chain(address);
  for (const std::string& pem : chain) {
    if (crypto::certificate_fingerprint(pem) != token.ca_fingerprint) continue;
    if (crypto::is_self_signed_ca(pem) && crypto::verify_certificate(pem, chain.front())) {
      return pem;
    }
  }
  fail(Errc::invalid_argument,
       "the node at {} is not part of the cluster this invite is for (its CA fingerprint does "
       "not match the token): check the address; someone may be impersonating the cluster",
       address);
}

crossgpu::v1::JoinResponse call_join(const std::string& address, const std::string& ca_pem,
                                     const crossgpu::v1::JoinRequest& request) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(std::string(node_dns_name));
  auto channel = grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
  auto stub = crossgpu::v1::Enrollment::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + join_deadline);
  crossgpu::v1::JoinResponse response;
  throw_if_failed(stub->Join(&context, request, &response),
                  fmt::format("joining through {}", address));
  return response;
}

void check_not_member(const fs::path& dir, bool force) {
  if (force || !NodeIdentity::exists(dir)) return;
  std::optional<NodeIdentity> current;
  try {
    current = NodeIdentity::load(dir);
  } catch (const Error& e) {
    // A copied or damaged identity is what joining again is for: replace it.
    if (e.code() == Errc::invalid_argument || e.code() == Errc::not_found) return;
    throw;
  }
  fail(Errc::invalid_argument,
       "{} already holds node {} of cluster '{}'; pass --force to replace it with a new identity",
       dir.string(), current->node_id(), current->cluster_name());
}

// A folder that is replaced by joining may hold another cluster's CA (a --force join of a former
// CA node, a copied folder): its key, invites and removals belong to that other cluster and must
// not be used to admit nodes or refuse peers here.
void forget_other_cluster(const fs::path& dir, const InviteToken& token) {
  if (!fs::exists(dir / "ca.crt")) return;
  bool same = false;
  try {
    same = crypto::certificate_fingerprint(read_file(dir / "ca.crt")) == token.ca_fingerprint;
  } catch (const Error&) {
  }
  if (same) return;
  for (const char* name : {"ca.key", "cluster.json", "invites.json", "revoked.json"}) {
    fs::remove(dir / name);
  }
}

NodeIdentity enroll(const std::string& address, const InviteToken& token, const fs::path& dir,
                    const std::string& node_name) {
  const std::string ca_pem = pin_ca(address, token);
  const std::string key = crypto::generate_key();
  crossgpu::v1::JoinRequest request;
  request.set_secret(std::string(token.secret.begin(), token.secret.end()));
  request.set_csr_pem(crypto::make_csr(key, node_name));
  request.set_node_name(node_name);
  const crossgpu::v1::JoinResponse response = call_join(address, ca_pem, request);
  // The pinned CA is the trust root; the response's copy only has to agree with it.
  if (crypto::certificate_fingerprint(response.ca_certificate_pem()) != token.ca_fingerprint) {
    fail(Errc::invalid_argument, "the node at {} answered with another cluster's CA", address);
  }
  forget_other_cluster(dir, token);
  NodeIdentity identity =
      NodeIdentity::store(dir, key, response.certificate_pem(), ca_pem, response.cluster_name());
  log::debug("joined cluster '{}' as node {} with role {}", identity.cluster_name(),
             identity.node_id(), to_string(identity.role()));
  return identity;
}

}  // namespace

NodeIdentity join_cluster(std::string_view text, const fs::path& dir, const std::string& node_name,
                          bool force) {
  const InviteToken token = InviteToken::parse(text);
  if (token.expires_unix_seconds <= unix_now()) {
    fail(Errc::invalid_argument, "this invite has expired: ask an admin for a new one");
  }
  check_not_member(dir, force);
  const std::string name = node_name.empty() ? local_hostname().substr(0, 64) : node_name;
  std::string errors;
  for (const std::string& address : token.addresses) {
    try {
      return enroll(address, token, dir, name);
    } catch (const Error& e) {
      // Only an unreachable address is worth trying the next one; a refusal is final.
      if (e.code() != Errc::io && e.code() != Errc::timeout) throw;
      log::info("enrollment through {} failed: {}", address, e.what());
      errors += fmt::format("\n  {}: {}", address, e.what());
    }
  }
  fail(Errc::io, "could not reach any enrollment address of the invite:{}", errors);
}

}  // namespace crossgpu::net
