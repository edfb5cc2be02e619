// The node's HTTP endpoint (cpp-httplib): Prometheus text at /metrics and the cluster view as
// JSON at /api/cluster. It serves only telemetry — no keys, tokens or certificates — and has no
// authentication, so `crossgpu node` binds it to loopback and refuses any other address unless
// told so explicitly (--http-allow-remote). Every connection has a budget (bounded_http.hpp): 5 s
// for a whole request to arrive and its answer to leave, at most 8 connections in service from
// one source address (of 16 threads), at most 100 requests each: a slow or half-open client holds
// one thread for 5 s at most, and one address never holds them all.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "telemetry/cluster_view.hpp"
#include "telemetry/service/http_limits.hpp"

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
// True for 127.0.0.0/8, ::1 and "localhost": hosts only this machine reaches.
bool is_loopback_host(const std::string& host);
// The endpoint has no authentication: an address beyond loopback is refused (Errc::
// permission_denied, naming the flag) unless the user said so explicitly (`allow_remote`).
void check_http_exposure(const HttpAddress& address, bool allow_remote);

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
               std::vector<StaticFile> files = {}, HttpLimits limits = {});
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  int port() const noexcept;
  // What the connection budget did so far.
  HttpCounts counts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::telemetry
