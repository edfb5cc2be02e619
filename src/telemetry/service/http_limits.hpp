// The budget of an HTTP endpoint without authentication (BoundedHttpServer) and what it did.
// Kept apart from bounded_http.hpp so that users of the exporter do not include httplib.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace crossgpu::telemetry {

struct HttpLimits {
  std::size_t threads = 16;       // serving threads
  std::size_t per_address = 8;    // connections in service from one source address (a browser
                                  // opens up to 6 per host)
  std::chrono::milliseconds deadline{5000};  // for one request to arrive and its answer to leave
  std::chrono::milliseconds idle{2000};      // for the next request on a kept-alive connection
  std::size_t max_requests = 100;            // per connection
};

struct HttpCounts {
  std::uint64_t connections = 0;        // taken into service
  std::uint64_t refused_per_address = 0;  // closed at once: their address was at its cap
  std::uint64_t deadline_drops = 0;     // closed because an exchange ran past the deadline
};

}  // namespace crossgpu::telemetry
