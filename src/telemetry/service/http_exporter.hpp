// The node's HTTP endpoint (cpp-httplib): Prometheus text at /metrics and the cluster view as
// JSON at /api/cluster. It serves only telemetry — no keys, tokens or certificates — and has no
// authentication, so `crossgpu node` binds it to loopback unless told otherwise (--http).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "telemetry/cluster_view.hpp"

namespace crossgpu::telemetry {

inline constexpr const char* kDefaultHttpHost = "127.0.0.1";
inline constexpr int kDefaultHttpPort = 9464;  // Prometheus' registry port for exporters

struct HttpAddress {
  std::string host;
  int port = 0;
};

// "127.0.0.1:9464", "[::1]:9464", ":9464" or "9464" (loopback), "0.0.0.0:9464"; port 0 picks a
// free one. Errc::invalid_argument for anything else.
HttpAddress parse_http_address(const std::string& text);

class HttpExporter {
 public:
  // Prometheus text that a layer this one does not know appends to /metrics (the node's request
  // counters); empty when there is none.
  using ExtraMetrics = std::function<std::string()>;

  // Binds and starts serving on a thread of its own. Errc::io when the address cannot be bound.
  HttpExporter(const ClusterAggregator& aggregator, const HttpAddress& address, ExtraMetrics extra = {});
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  int port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::telemetry
