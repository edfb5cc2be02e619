// The node's HTTP endpoint (cpp-httplib): Prometheus text at /metrics and the cluster view as
// JSON at /api/cluster. It serves only telemetry — no keys, tokens or certificates — and has no
// authentication, so `crossgpu node` binds it to loopback unless told otherwise (--http).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  // A file served as it is at its path, with its headers: the dashboard's page, which a layer
  // above this one (serve) owns and the apps hand in. "/index.html" is served at "/" too.
  struct StaticFile {
    std::string path;
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  // Binds and starts serving on a thread of its own. Errc::io when the address cannot be bound.
  HttpExporter(const ClusterAggregator& aggregator, const HttpAddress& address, ExtraMetrics extra = {},
               std::vector<StaticFile> files = {});
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  int port() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::telemetry
