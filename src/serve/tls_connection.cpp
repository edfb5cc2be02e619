#include "serve/tls_connection.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace crossgpu::serve {
namespace {

// Waits until `sock` is ready for `events` or `until` passes.
bool wait_for(int sock, short events, TlsConnection::Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - TlsConnection::Clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{sock, events, 0};
    const int n = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n > 0) return true;  // ready, or hung up: the next SSL call says which
    if (n < 0 && errno != EINTR) return false;
  }
}

SSL* native(void* ssl) { return static_cast<SSL*>(ssl); }

}  // namespace

template <class Op>
int TlsConnection::retry(Op op, Clock::time_point until) {
  for (;;) {
    ERR_clear_error();
    const int rc = op();
    if (rc > 0) return rc;
    switch (SSL_get_error(native(ssl_), rc)) {
      case SSL_ERROR_WANT_READ:
        if (!wait_for(sock_, POLLIN, until)) return -1;
        break;
      case SSL_ERROR_WANT_WRITE:
        if (!wait_for(sock_, POLLOUT, until)) return -1;
        break;
      case SSL_ERROR_ZERO_RETURN: return 0;  // the client's close_notify
      default: return -1;
    }
  }
}

std::unique_ptr<TlsConnection> TlsConnection::accept(const TlsContext& context, int sock, Clock::time_point until) {
  const int flags = ::fcntl(sock, F_GETFL, 0);
  if (flags < 0 || ::fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0) return nullptr;
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(context.native()));
  if (ssl == nullptr) return nullptr;
  std::unique_ptr<TlsConnection> connection(new TlsConnection(ssl, sock));
  if (SSL_set_fd(ssl, sock) != 1) return nullptr;
  if (connection->retry([ssl] { return SSL_accept(ssl); }, until) <= 0) return nullptr;
  return connection;
}

TlsConnection::~TlsConnection() {
  ERR_clear_error();
  SSL_shutdown(native(ssl_));  // non-blocking: sent if the socket takes it, never waited for
  SSL_free(native(ssl_));
  ERR_clear_error();
}

ssize_t TlsConnection::read(char* out, std::size_t size, Clock::time_point until) {
  const int n = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
  return retry([&] { return SSL_read(native(ssl_), out, n); }, until);
}

ssize_t TlsConnection::write(const char* data, std::size_t size, Clock::time_point until) {
  if (size == 0) return 0;
  const int n = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
  return retry([&] { return SSL_write(native(ssl_), data, n); }, until);
}

bool TlsConnection::pending() const { return SSL_pending(native(ssl_)) > 0; }

}  // namespace crossgpu::serve
