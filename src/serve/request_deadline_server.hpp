// cpp-httplib's server with a deadline for each whole request, for `crossgpu serve`'s API.
// httplib alone bounds each read: a client that sends its request header one byte a second (a
// slow-loris) keeps a thread forever, and 32 such clients hold every thread. Here a request (its
// line, headers and body) must arrive within `request_deadline` from its first byte being
// awaited, however the client paces it; past that the connection is closed. The answer is not
// under that deadline (a stream may last minutes): each write waits at most `write_timeout` for
// the client to take bytes. (telemetry::BoundedHttpServer, for the node's unauthenticated
// endpoint, bounds request and answer together and is built only with the network layers.)
// With a TlsContext it answers HTTPS: the handshake is under the first request's deadline, and
// every read and write after it under the same deadlines (serve/tls_connection.hpp).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "serve/tls_context.hpp"

namespace crossgpu::serve {

struct RequestDeadlines {
  std::chrono::milliseconds request{10000};     // for a whole request to arrive
  std::chrono::milliseconds write{10000};       // for each write of the answer
  std::chrono::milliseconds idle{5000};         // for the next request on a kept-alive connection
  std::size_t max_requests = 100;               // per connection
};

class RequestDeadlineServer : public httplib::Server {
 public:
  // `tls`: HTTPS with that certificate (null: plain HTTP).
  RequestDeadlineServer(RequestDeadlines deadlines, std::size_t threads, std::shared_ptr<const TlsContext> tls = {});
  // Connections closed because their request did not arrive in time.
  std::uint64_t deadline_drops() const noexcept { return deadline_drops_.load(); }
  // HTTPS connections closed because no TLS handshake completed in time (plain HTTP, a bad or
  // slow handshake).
  std::uint64_t handshake_failures() const noexcept { return handshake_failures_.load(); }

 private:
  bool process_and_close_socket(socket_t sock) override;

  void serve_requests(socket_t sock, class TlsConnection* tls);

  const RequestDeadlines deadlines_;
  const std::shared_ptr<const TlsContext> tls_;
  std::atomic<std::uint64_t> deadline_drops_{0};
  std::atomic<std::uint64_t> handshake_failures_{0};
};

}  // namespace crossgpu::serve
