// cpp-httplib's server with a deadline for each whole request, for `crossgpu serve`'s API.
// httplib alone bounds each read: a client that sends its request header one byte a second (a
// slow-loris) keeps a thread forever, and 32 such clients hold every thread. Here a request (its
// line, headers and body) must arrive within `request_deadline` from its first byte being
// awaited, however the client paces it; past that the connection is closed. The answer is not
// under that deadline (a stream may last minutes): each write waits at most `write_timeout` for
// the client to take bytes. (telemetry::BoundedHttpServer, for the node's unauthenticated
// endpoint, bounds request and answer together and is built only with the network layers.)
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace crossgpu::serve {

struct RequestDeadlines {
  std::chrono::milliseconds request{10000};     // for a whole request to arrive
  std::chrono::milliseconds write{10000};       // for each write of the answer
  std::chrono::milliseconds idle{5000};         // for the next request on a kept-alive connection
  std::size_t max_requests = 100;               // per connection
};

class RequestDeadlineServer : public httplib::Server {
 public:
  RequestDeadlineServer(RequestDeadlines deadlines, std::size_t threads);
  // Connections closed because their request did not arrive in time.
  std::uint64_t deadline_drops() const noexcept { return deadline_drops_.load(); }

 private:
  bool process_and_close_socket(socket_t sock) override;

  const RequestDeadlines deadlines_;
  std::atomic<std::uint64_t> deadline_drops_{0};
};

}  // namespace crossgpu::serve
