// One HTTPS connection of `crossgpu serve`: OpenSSL over the accepted socket made non-blocking, so
// that every step (the handshake, each read, each write) waits at most until the deadline it is
// given. A client that sends a TLS record one byte a second is then bounded exactly as a plain
// slow-loris is (serve/request_deadline_server.hpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>

#include "serve/tls_context.hpp"

namespace crossgpu::serve {

class TlsConnection {
 public:
  using Clock = std::chrono::steady_clock;
  // The server's handshake on `sock` (not owned: the caller closes it); null when the client
  // does not complete one by `until` (not TLS, a bad handshake, too slow, gone).
  static std::unique_ptr<TlsConnection> accept(const TlsContext& context, int sock, Clock::time_point until);
  ~TlsConnection();  // a close_notify when the socket takes it at once, then frees the session
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // As recv()/send(): bytes moved, 0 at the client's end of stream, -1 on an error or past `until`.
  ssize_t read(char* out, std::size_t size, Clock::time_point until);
  ssize_t write(const char* data, std::size_t size, Clock::time_point until);
  // Decrypted bytes already here: a read will not wait for the socket.
  bool pending() const;

 private:
  TlsConnection(void* ssl, int sock) : ssl_(ssl), sock_(sock) {}
  // Runs `op` until it succeeds, fails, or `until` passes while it waits for the socket.
  template <class Op>
  int retry(Op op, Clock::time_point until);

  void* ssl_;  // SSL*
  int sock_;
};

}  // namespace crossgpu::serve
