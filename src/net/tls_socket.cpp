#include "net/tls_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

#include "core/error.hpp"
#include "net/crypto.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace {

SSL_CTX* ctx_of(const TlsContext& context) { return static_cast<SSL_CTX*>(context.native()); }

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::strerror(errno);
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Reads one PEM object out of a string with `read` (PEM_read_bio_X509, ..._PrivateKey).
template <typename T, typename Read>
T* from_pem(const std::string& pem, Read read, const char* what) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  T* object = bio ? read(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!object) fail(Errc::invalid_argument, "data channel: cannot read the {}", what);
  return object;
}

void load_identity(SSL_CTX* ctx, const NodeIdentity& identity) {
  X509* cert = from_pem<X509>(identity.certificate_pem(), PEM_read_bio_X509, "node certificate");
  EVP_PKEY* key =
      from_pem<EVP_PKEY>(identity.private_key_pem(), PEM_read_bio_PrivateKey, "node key");
  X509* ca = from_pem<X509>(identity.ca_pem(), PEM_read_bio_X509, "cluster CA certificate");
  const bool ok = SSL_CTX_use_certificate(ctx, cert) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1 &&
                  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  X509_free(ca);
  if (!ok) fail(Errc::invalid_argument, "data channel: bad node identity: {}", openssl_error());
}

// "host:port" or "[v6]:port" -> host, port.
std::pair<std::string, std::string> split_address(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    fail(Errc::invalid_argument, "'{}' is not host:port", address.substr(0, 200));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, address.substr(colon + 1)};
}

void set_timeouts(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int connect_tcp(const std::string& address, std::chrono::milliseconds timeout) {
  const auto [host, port] = split_address(address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) {
    fail(Errc::io, "data channel: cannot resolve '{}'", address);
  }
  int fd = -1;
  int error = 0;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    set_timeouts(fd, timeout);  // Linux bounds connect() by the send timeout
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      error = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) fail(Errc::io, "data channel: cannot connect to {}: {}", address, std::strerror(error));
  tune_data_socket(fd);
  return fd;
}

// Attaches `fd` to `ssl`: reads straight from the socket (read-ahead fills 256 KiB at a time),
// writes through a 256 KiB buffer that TlsSocket flushes at the end of every write. Without the
// buffer OpenSSL hands each 16 KiB record to write(2) on its own, and on a fast link (loopback,
// 10+ GbE) the per-record syscall and segment cost, not AES, bounded the channel (1.1-1.4 GB/s
// on a 16-core host whose AES-GCM runs at 5+ GB/s per core).
bool attach_socket(SSL* ssl, int fd) {
  constexpr long kWriteBufferBytes = 256 * 1024;
  BIO* reader = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* writer = BIO_new_socket(fd, BIO_NOCLOSE);
  BIO* buffer = BIO_new(BIO_f_buffer());
  if (!reader || !writer || !buffer || BIO_set_write_buffer_size(buffer, kWriteBufferBytes) != 1) {
    BIO_free(reader);
    BIO_free(writer);
    BIO_free(buffer);
    return false;
  }
  SSL_set_bio(ssl, reader, BIO_push(buffer, writer));  // ssl owns all three from here
  return true;
}

}  // namespace

TlsContext::TlsContext(const NodeIdentity& identity, Side side) {
  // OpenSSL writes through write(2), also inside SSL_read (alerts, TLS 1.3 tickets): a peer that
  // vanished would raise SIGPIPE and kill the whole node. Ignored so such writes fail with EPIPE.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  SSL_CTX* ctx = SSL_CTX_new(side == Side::server ? TLS_server_method() : TLS_client_method());
  if (!ctx) fail(Errc::backend_failure, "data channel: SSL_CTX_new: {}", openssl_error());
  ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                "TLS_CHACHA20_POLY1305_SHA256");
  // Both sides must show a certificate that chains to the cluster CA (the only trust anchor).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_verify_depth(ctx, 1);
  // Fewer, larger reads from the socket: a 16 KiB TLS record per read() costs many syscalls.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 256 * 1024);
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
  if (side == Side::server) SSL_CTX_set_num_tickets(ctx, 0);  // no resumption: nothing to send
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  load_identity(ctx, identity);
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

TlsSocket::TlsSocket(void* ssl, int fd, std::string peer_address)
    : ssl_(ssl), fd_(fd), peer_address_(std::move(peer_address)) {}

TlsSocket::~TlsSocket() {
  // Shut down, not only close: the descriptor may have duplicates (the data channel server keeps
  // one per connection), and the peer must see the end now.
  ::shutdown(fd_, SHUT_RDWR);
  SSL_free(static_cast<SSL*>(ssl_));
  ::close(fd_);
}

std::unique_ptr<TlsSocket> TlsSocket::accept(const TlsContext& context, int fd,
                                             std::string peer_address,
                                             std::chrono::milliseconds timeout) {
  std::unique_ptr<TlsSocket> socket = begin_accept(context, fd, std::move(peer_address));
  // Blocking again at once: each read waits up to `timeout` (callers that need a deadline for the
  // whole handshake step it from an event loop instead).
  socket->finish_accept(timeout);
  // On a blocking socket the handshake stops short only when a read or write timed out.
  if (socket->step_accept() != HandshakeWait::done) fail(Errc::io, "handshake failed: timed out");
  return socket;
}

std::unique_ptr<TlsSocket> TlsSocket::begin_accept(const TlsContext& context, int fd,
                                                   std::string peer_address) {
  SSL* ssl = SSL_new(ctx_of(context));
  if (!ssl) {
    ::close(fd);
    fail(Errc::backend_failure, "data channel: SSL_new: {}", openssl_error());
  }
  std::unique_ptr<TlsSocket> socket(new TlsSocket(ssl, fd, std::move(peer_address)));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (!attach_socket(ssl, fd)) fail(Errc::backend_failure, "data channel: BIO_new failed");
  return socket;
}

TlsSocket::HandshakeWait TlsSocket::step_accept() {
  SSL* ssl = static_cast<SSL*>(ssl_);
  const int result = SSL_accept(ssl);
  if (result == 1) return HandshakeWait::done;
  const int code = SSL_get_error(ssl, result);
  if (code == SSL_ERROR_WANT_READ) return HandshakeWait::readable;
  if (code == SSL_ERROR_WANT_WRITE) return HandshakeWait::writable;
  const long verify = SSL_get_verify_result(ssl);
  const bool timed_out = code == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
  const std::string why = timed_out ? std::string("timed out") : openssl_error();
  if (verify != X509_V_OK) {
    fail(Errc::permission_denied, "certificate refused: {}", X509_verify_cert_error_string(verify));
  }
  // The client's alert when it refused this node's certificate (another cluster's member).
  if (why.find("certificate") != std::string::npos || why.find("unknown ca") != std::string::npos) {
    fail(Errc::permission_denied, "handshake refused: {}", why);
  }
  fail(Errc::io, "handshake failed: {}", why);
}

void TlsSocket::finish_accept(std::chrono::milliseconds timeout) {
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  set_timeouts(fd_, timeout);
}

std::unique_ptr<TlsSocket> TlsSocket::connect(const TlsContext& context,
                                              const std::string& address,
                                              const std::string& expected_node_id,
                                              std::chrono::milliseconds timeout) {
  const int fd = connect_tcp(address, timeout);
  SSL* ssl = SSL_new(ctx_of(context));
  if (!ssl) {
    ::close(fd);
    fail(Errc::backend_failure, "data channel: SSL_new: {}", openssl_error());
  }
  std::unique_ptr<TlsSocket> socket(new TlsSocket(ssl, fd, address));
  if (!attach_socket(ssl, fd)) fail(Errc::backend_failure, "data channel: BIO_new failed");
  if (SSL_connect(ssl) != 1) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      fail(Errc::permission_denied, "data channel to {}: the node's certificate is refused: {}",
           address, X509_verify_cert_error_string(verify));
    }
    fail(Errc::io, "data channel to {}: handshake failed: {}", address, openssl_error());
  }
  // The CA signed it, but is it the node we meant? A certificate of another member answering
  // at this address (a spoofed discovery record, a moved address) is refused.
  const crypto::CertificateInfo info =
      crypto::inspect_node_certificate(socket->peer_certificate_pem());
  if (info.node_id != expected_node_id) {
    fail(Errc::permission_denied,
         "data channel to {}: the node there is {}, not the expected node {}", address,
         info.node_id, expected_node_id);
  }
  return socket;
}

void TlsSocket::fail_io(const char* what, int result) const {
  const int code = SSL_get_error(static_cast<SSL*>(ssl_), result);
  const bool timed_out = code == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
  fail(Errc::io, "data channel to {}: {} failed: {}", peer_address_, what,
       timed_out ? std::string("timed out")
       : code == SSL_ERROR_ZERO_RETURN ? std::string("the peer closed the connection")
                                       : openssl_error());
}

void TlsSocket::write_records(std::span<const std::byte> data) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  while (!data.empty()) {
    std::size_t written = 0;
    const int result = SSL_write_ex(ssl, data.data(), data.size(), &written);
    if (result != 1) fail_io("write", result);
    data = data.subspan(written);
  }
}

void TlsSocket::flush() {
  if (BIO_flush(SSL_get_wbio(static_cast<SSL*>(ssl_))) != 1) {
    const bool timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
    fail(Errc::io, "data channel to {}: write failed: {}", peer_address_,
         timed_out ? std::string("timed out") : openssl_error());
  }
}

void TlsSocket::write_all(std::span<const std::byte> data) {
  write_records(data);
  flush();
}

void TlsSocket::write_all(std::span<const std::byte> head, std::span<const std::byte> body) {
  constexpr std::size_t kCoalesceBytes = 16 * 1024;  // one TLS record's worth
  if (head.size() + body.size() > kCoalesceBytes) {
    write_records(head);  // the header's record waits in the write buffer with the body's
    write_records(body);
    flush();
    return;
  }
  coalesce_.assign(head.begin(), head.end());
  coalesce_.insert(coalesce_.end(), body.begin(), body.end());
  write_all(coalesce_);
}

bool TlsSocket::read_exact(std::span<std::byte> out) {
  SSL* ssl = static_cast<SSL*>(ssl_);
  const std::size_t total = out.size();
  while (!out.empty()) {
    std::size_t got = 0;
    const int result = SSL_read_ex(ssl, out.data(), out.size(), &got);
    if (result != 1) {
      const int code = SSL_get_error(ssl, result);
      const bool closed = code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && errno == 0);
      if (closed && out.size() == total) return false;
      fail_io("read", result);
    }
    out = out.subspan(got);
  }
  return true;
}

void TlsSocket::set_timeout(std::chrono::milliseconds timeout) { set_timeouts(fd_, timeout); }

std::string TlsSocket::peer_certificate_pem() const {
  X509* cert = SSL_get1_peer_certificate(static_cast<SSL*>(ssl_));
  if (!cert) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  std::string pem;
  if (bio && PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

void TlsSocket::abort() noexcept { ::shutdown(fd_, SHUT_RDWR); }

int tcp_listen(const std::string& address, int* bound_port) {
  const auto [host, port] = split_address(address);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found) {
    fail(Errc::io, "cannot resolve the listen address '{}'", address);
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool ok = fd >= 0 && ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
                  ::listen(fd, 64) == 0;
  ::freeaddrinfo(found);
  if (!ok) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    fail(Errc::io, "cannot listen on {}: {}", address, std::strerror(error));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  *bound_port = ntohs(bound.ss_family == AF_INET6
                          ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

void tune_data_socket(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  const int idle = 5, interval = 2, count = 3;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

}  // namespace crossgpu::net
