#include "telemetry/service/http_exporter.hpp"

#include "telemetry/service/listen_thread.hpp"
#include <chrono>
#include <httplib.h>

#include <charconv>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "telemetry/cluster_json.hpp"
#include "telemetry/prometheus.hpp"
#include "telemetry/service/bounded_http.hpp"

namespace crossgpu::telemetry {
namespace {

int parse_port(std::string_view text, const std::string& whole) {
  int port = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port < 0 || port > 65535) {
    fail(Errc::invalid_argument, "--http '{}': '{}' is not a port (0-65535)", whole, text);
  }
  return port;
}

}  // namespace

HttpAddress parse_http_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return {kDefaultHttpHost, parse_port(text, text)};
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = kDefaultHttpHost;
  return {host, parse_port(std::string_view(text).substr(colon + 1), text)};
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void check_http_exposure(const HttpAddress& address, bool allow_remote) {
  if (allow_remote || is_loopback_host(address.host)) return;
  fail(Errc::permission_denied,
       "--http {}:{}: the telemetry endpoint has no authentication, so it binds only loopback "
       "addresses; add --http-allow-remote to serve it on {} anyway (it shows device names, "
       "memory and peer addresses to anyone who can reach it)",
       address.host, address.port, address.host);
}

struct HttpExporter::Impl {
  explicit Impl(HttpLimits limits) : server(limits) {}
  BoundedHttpServer server;
  std::thread thread;
  int port = 0;
};

HttpExporter::HttpExporter(const ClusterAggregator& aggregator, const HttpAddress& address, ExtraMetrics extra,
                           std::vector<StaticFile> files, HttpLimits limits)
    : impl_(std::make_unique<Impl>(limits)) {
  for (StaticFile& file : files) {
    const std::string path = file.path;
    const auto serve_file = [file = std::move(file)](const httplib::Request&, httplib::Response& res) {
      for (const auto& [name, value] : file.headers) res.set_header(name, value);
      res.set_content(file.body, file.content_type);
    };
    std::string pattern;  // httplib matches routes as regular expressions: a '.' is only a '.'
    for (char c : path) pattern += c == '.' ? std::string("\\.") : std::string(1, c);
    impl_->server.Get(pattern, serve_file);
    if (path == "/index.html") impl_->server.Get("/", serve_file);
  }
  impl_->server.Get("/metrics", [&aggregator, extra = std::move(extra)](const httplib::Request&,
                                                                        httplib::Response& res) {
    std::string text = prometheus_text(aggregator.view());
    if (extra) text += extra();
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
  impl_->server.Get("/api/cluster", [&aggregator](const httplib::Request&, httplib::Response& res) {
    res.set_content(cluster_json(aggregator.view()).dump(), "application/json");
  });
  // Slow or half-open clients lose their thread at the exchange's deadline (BoundedHttpServer);
  // these only shape the headers httplib writes and the body it accepts.
  impl_->server.set_keep_alive_timeout(
      std::chrono::duration_cast<std::chrono::seconds>(limits.idle).count());
  impl_->server.set_keep_alive_max_count(limits.max_requests);
  impl_->server.set_payload_max_length(64 * 1024);
  impl_->port = address.port == 0 ? impl_->server.bind_to_any_port(address.host)
                                  : (impl_->server.bind_to_port(address.host, address.port) ? address.port : -1);
  if (impl_->port <= 0) {
    fail(Errc::io, "cannot serve HTTP on {}:{}: the address is in use or invalid; pick another "
                   "with --http", address.host, address.port);
  }
  impl_->server.widen_backlog();
  impl_->thread = listen_in_background(impl_->server);
  log::info("telemetry HTTP on {}:{} (/metrics, /api/cluster)", address.host, impl_->port);
}

HttpExporter::~HttpExporter() {
  impl_->server.close_connections();
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HttpExporter::port() const noexcept { return impl_->port; }
HttpCounts HttpExporter::counts() const { return impl_->server.counts(); }

}  // namespace crossgpu::telemetry
