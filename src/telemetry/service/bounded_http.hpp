// cpp-httplib's server with a budget for every connection, for endpoints without authentication
// (the node's telemetry at --http). httplib alone bounds each read (so a client sending one byte
// per second keeps a thread forever) and hands every connection a thread of one pool (so a few
// such clients from one address hold them all). Here:
//  - a deadline for a whole exchange: a request must arrive and its answer be taken within it,
//    however the client paces its bytes;
//  - a cap on connections in service from one source address: past it a connection is closed
//    as soon as a thread picks it up (no read, no answer), so one address never holds more than
//    its share of the threads, and the others keep serving everyone else;
//  - at most max_requests per connection and an idle wait between them.
#pragma once

#include <httplib.h>

#include "telemetry/service/http_limits.hpp"

#include <map>
#include <mutex>
#include <set>
#include <string>

namespace crossgpu::telemetry {

class BoundedHttpServer : public httplib::Server {
 public:
  explicit BoundedHttpServer(HttpLimits limits);
  HttpCounts counts() const;
  // httplib listens with a backlog of 5: a burst of connections then loses SYNs and a client
  // waits seconds for the retry. Call after binding.
  void widen_backlog();
  // Closes every connection in service and every one picked up from now on; call before stop()
  // so that stopping never waits for a slow client's deadline.
  void close_connections();

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Registers the connection under its address; false when the address is at its cap.
  bool enter(const std::string& address, socket_t sock);
  void leave(const std::string& address, socket_t sock);
  void serve(socket_t sock);

  const HttpLimits limits_;
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t> per_address_;
  std::set<socket_t> open_;
  bool closing_ = false;
  HttpCounts counts_;
};

}  // namespace crossgpu::telemetry
