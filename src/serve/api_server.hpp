// `crossgpu serve`'s HTTP side: OpenAI's /v1/models, /v1/chat/completions and /v1/completions
// (streamed as server-sent events or whole), /health and /metrics, and the dashboard (the page at
// `/`, its JSON at /api/cluster, /api/plan, /api/stats and /api/recoveries), over cpp-httplib.
// Requests are checked (serve/completion_request.hpp), turned into tokens with the model's chat
// template, and queued on the GenerationService; every error is OpenAI-shaped JSON with its status.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "model/tokenizer.hpp"
#include "serve/completion_request.hpp"
#include "serve/generation_service.hpp"
#include "serve/openai_json.hpp"

namespace crossgpu::serve {

// What the dashboard's JSON endpoints show besides the service itself (docs/PROTOCOL.md,
// "Dashboard"): the plan the model was loaded with and the cluster's telemetry.
struct DashboardSources {
  nlohmann::json plan;                      // GET /api/plan; null: answered 404
  std::function<nlohmann::json()> cluster;  // GET /api/cluster; empty: serving without a cluster
};

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                          // 0: any free port (tests)
  std::string api_key;                      // required on a non-loopback host
  std::size_t max_body_bytes = 8u << 20;    // 413 past this
  // For a whole request (line, headers, body) to arrive, however the client paces its bytes:
  // a slow-loris client is dropped then (serve/request_deadline_server.hpp).
  int read_timeout_seconds = 10;
  int write_timeout_seconds = 10;           // per write of an answer (a stream may last long)
  int idle_timeout_seconds = 5;             // keep-alive connections with no request
  std::size_t threads = 32;                 // connections served at once
  // HTTPS with this PEM certificate (chain) and key (serve/tls_context.hpp); empty: plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  RequestLimits limits;
  DashboardSources dashboard;
};

class ApiServer {
 public:
  // Binds and starts serving. Throws Errc::permission_denied for a non-loopback host without an
  // API key, Errc::io when the address cannot be bound, TlsContext's errors for a certificate or
  // key that cannot be used.
  ApiServer(GenerationService& service, const model::Tokenizer& tokenizer, ServedModel model, ServeOptions options);
  ~ApiServer();  // stops accepting, finishes the connections in progress
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  int port() const noexcept;
  const std::string& host() const noexcept;
  bool tls() const noexcept;  // https

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::serve
