#include "serve/api_server.hpp"

#include "telemetry/service/listen_thread.hpp"
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/jinja/error.hpp"
#include "serve/api_access.hpp"
#include "serve/api_error.hpp"
#include "serve/dashboard_assets.hpp"
#include "serve/dashboard_stats.hpp"
#include "serve/request_deadline_server.hpp"
#include "serve/serve_metrics.hpp"

namespace crossgpu::serve {
namespace {

using nlohmann::json;
constexpr auto kStreamPoll = std::chrono::milliseconds(50);
constexpr int kKeepAliveEvery = 40;  // polls without text between SSE comments (~2 s)

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status(), error_json(e)); }

// The error a failure of the engine or the cluster becomes.
ApiError engine_error(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) {
    const Errc c = error->code();
    if (c == Errc::device_lost || c == Errc::timeout || c == Errc::io || c == Errc::out_of_memory) {
      return ApiError(503, "server_error", "cluster_unavailable", std::string("the cluster cannot serve: ") + e.what());
    }
  }
  return ApiError(500, "server_error", "internal_error", e.what());
}

ApiError status_error(int status) {
  switch (status) {
    case 400: return ApiError(400, "invalid_request_error", "bad_request", "the request could not be read");
    case 404: return ApiError(404, "invalid_request_error", "not_found", "no such path");
    case 405: return ApiError(405, "invalid_request_error", "method_not_allowed", "method not allowed on this path");
    case 413: return ApiError(413, "invalid_request_error", "body_too_large", "the request body is too large");
    case 414: return ApiError(414, "invalid_request_error", "uri_too_long", "the request URI is too long");
    default: return ApiError(status, "server_error", "http_error", "HTTP error " + std::to_string(status));
  }
}

// The data behind the API and the dashboard needs the key (when there is one); the page itself,
// /health and /metrics carry none of it.
bool needs_key(const std::string& path) { return path.rfind("/v1/", 0) == 0 || path.rfind("/api/", 0) == 0; }

// Live data: a browser or proxy must not answer the next poll from its cache.
void send_api_json(httplib::Response& res, const json& body) {
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, body);
}

void send_asset(httplib::Response& res, const DashboardAsset& asset) {
  for (const DashboardHeader& h : dashboard_headers()) res.set_header(std::string(h.name), std::string(h.value));
  res.set_content(std::string(asset.body), std::string(asset.content_type));
}

// Text pieces handed from the worker thread to the connection streaming them.
struct PieceQueue {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<std::string> pieces;

  bool push(const std::string& piece) {
    {
      std::lock_guard lock(mutex);
      pieces.push_back(piece);
    }
    ready.notify_one();
    return true;
  }
  std::deque<std::string> take(bool wait) {
    std::unique_lock lock(mutex);
    if (wait) ready.wait_for(lock, kStreamPoll, [&] { return !pieces.empty(); });
    std::deque<std::string> out;
    out.swap(pieces);
    return out;
  }
};

struct Stream {
  ResponseHeader header;
  ServeStats* stats = nullptr;
  bool include_usage = false;
  PieceQueue queue;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  std::future<GenerationResult> result;
  bool started = false;
  int idle_polls = 0;
};

// One call of the chunked content provider: sends what is ready; at the end the finish chunk,
// the usage chunk when asked for, and [DONE]. A failed write means the client left: cancel.
bool stream_step(Stream& s, httplib::DataSink& sink) {
  auto write = [&](const std::string& event) {
    if (sink.write(event.data(), event.size())) return true;
    s.cancel->store(true);
    return false;
  };
  if (!s.started) {
    s.started = true;
    return write(sse_event(first_chunk_json(s.header)));
  }
  // All pieces are queued before the result is set: once it is, draining the queue gets them all.
  const bool finished = s.result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  const std::deque<std::string> pieces = s.queue.take(!finished);
  for (const std::string& piece : pieces) {
    if (!write(sse_event(text_chunk_json(s.header, piece)))) return false;
  }
  if (!finished) {
    if (!pieces.empty()) s.idle_polls = 0;
    else if (++s.idle_polls % kKeepAliveEvery == 0) return write(": keep-alive\n\n");  // notices a gone client
    return true;
  }
  try {
    const GenerationResult r = s.result.get();
    s.stats->record(r);
    if (!write(sse_event(finish_chunk_json(s.header, r.finish)))) return false;
    if (s.include_usage && !write(sse_event(usage_chunk_json(s.header, r)))) return false;
  } catch (const ApiError& e) {
    if (!write(sse_event(error_json(e)))) return false;
  } catch (const std::exception& e) {
    if (!write(sse_event(error_json(engine_error(e))))) return false;
  }
  if (!write("data: [DONE]\n\n")) return false;
  sink.done();
  return true;
}

// HTTPS when a certificate or key is given (both are needed: TlsContext says which is missing).
std::shared_ptr<const TlsContext> tls_of(const ServeOptions& o) {
  if (o.tls_cert.empty() && o.tls_key.empty()) return nullptr;
  return std::make_shared<const TlsContext>(o.tls_cert, o.tls_key);
}

}  // namespace

struct ApiServer::Impl {
  GenerationService& service;
  const model::Tokenizer& tokenizer;
  ServedModel model;
  ServeOptions options;
  ServeStats stats;
  RequestDeadlineServer server;
  std::thread thread;
  int port = -1;

  Impl(GenerationService& s, const model::Tokenizer& t, ServedModel m, ServeOptions o)
      : service(s),
        tokenizer(t),
        model(std::move(m)),
        options(std::move(o)),
        server(RequestDeadlines{.request = std::chrono::seconds(options.read_timeout_seconds),
                                .write = std::chrono::seconds(options.write_timeout_seconds),
                                .idle = std::chrono::seconds(options.idle_timeout_seconds)},
               options.threads, tls_of(options)) {}

  std::vector<std::uint32_t> prompt_tokens(const CompletionRequest& r) const {
    if (r.endpoint == Endpoint::completion) return tokenizer.encode(r.prompt, true, false);
    try {
      return tokenizer.encode(tokenizer.apply_chat_template(r.messages, true), true, true);
    } catch (const model::jinja::TemplateError& e) {
      // The model's own template refused the conversation (e.g. roles that do not alternate):
      // the client's to fix, with the template's words.
      throw ApiError(400, "invalid_request_error", "chat_template_error", e.detail(), "messages");
    }
  }

  void complete(Endpoint endpoint, const httplib::Request& req, httplib::Response& res) {
    const CompletionRequest r = parse_completion_request(endpoint, req.body, options.limits);
    if (!model.answers_to(r.model)) {
      throw ApiError(404, "invalid_request_error", "model_not_found",
                     "the model '" + r.model + "' is not served here (GET /v1/models lists '" + model.id + "')", "model");
    }
    GenerationRequest g{prompt_tokens(r), r.max_tokens, r.sampler, r.stop};
    const ResponseHeader header = new_response_header(endpoint, model.id);
    if (!r.stream) {
      const GenerationResult result = service.submit(std::move(g), [](const std::string&) { return true; }).get();
      stats.record(result);
      send_json(res, 200, completion_json(header, result));
      return;
    }
    auto stream = std::make_shared<Stream>();
    stream->header = header;
    stream->stats = &stats;
    stream->include_usage = r.include_usage;
    stream->result = service.submit(
        std::move(g), [stream](const std::string& piece) { return stream->queue.push(piece); }, stream->cancel);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [stream](std::size_t, httplib::DataSink& sink) { return stream_step(*stream, sink); },
        [stream](bool success) {
          if (!success) stream->cancel->store(true);
        });
  }

  // Runs a handler, turning what it throws into OpenAI-shaped errors.
  template <typename Handler>
  httplib::Server::Handler guarded(Handler handler) {
    return [handler](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        log::warn("{} {}: {}", req.method, req.path, e.what());
        send_error(res, engine_error(e));
      }
    };
  }

  void add_routes() {
    server.Get("/health", guarded([this](const httplib::Request&, httplib::Response& res) {
      const ServiceCounters c = service.counters();
      const RecoveryTotals r = service.recovery_log().totals();
      // api_key_required: the dashboard asks for the key before its first call rather than after a 401.
      json body{{"status", r.state == ServiceState::serving ? "ok" : service_state_name(r.state)},
                {"model", model.id}, {"waiting", c.waiting}, {"running", c.running},
                {"recoveries", r.recoveries}, {"api_key_required", !options.api_key.empty()}};
      // Failed: nothing can be served until a restart, and a load balancer should know.
      if (r.state == ServiceState::failed) body["error"] = r.failure;
      send_json(res, r.state == ServiceState::failed ? 503 : 200, body);
    }));
    server.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
      std::string text = serve_metrics_text(service.counters(), service.recovery_log().totals());
      text += "# HELP crossgpu_serve_http_deadline_drops_total Connections closed because a request did not arrive "
              "within its deadline (slow clients).\n# TYPE crossgpu_serve_http_deadline_drops_total counter\n"
              "crossgpu_serve_http_deadline_drops_total " + std::to_string(server.deadline_drops()) + "\n";
      if (!options.tls_cert.empty()) {
        text += "# HELP crossgpu_serve_tls_handshake_failures_total HTTPS connections closed without a TLS handshake "
                "(plain HTTP, a bad or slow handshake).\n# TYPE crossgpu_serve_tls_handshake_failures_total counter\n"
                "crossgpu_serve_tls_handshake_failures_total " + std::to_string(server.handshake_failures()) + "\n";
      }
      res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
    }));
    server.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, model_list_json(model));
    }));
    server.Get(R"(/v1/models/(.+))", guarded([this](const httplib::Request& req, httplib::Response& res) {
      if (!model.answers_to(req.matches[1])) {
        throw ApiError(404, "invalid_request_error", "model_not_found", "no model '" + std::string(req.matches[1]) + "'");
      }
      send_json(res, 200, model_json(model));
    }));
    server.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      complete(Endpoint::chat, req, res);
    }));
    server.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
      complete(Endpoint::completion, req, res);
    }));
  }

  // The dashboard: its page (static, no data: open like /health) and its JSON under /api/.
  void add_dashboard_routes() {
    server.Get("/api/stats", guarded([this](const httplib::Request&, httplib::Response& res) {
      send_api_json(res, stats.json(model, service.counters(), service.stage_stats()));
    }));
    server.Get("/api/plan", guarded([this](const httplib::Request&, httplib::Response& res) {
      if (options.dashboard.plan.is_null()) throw ApiError(404, "invalid_request_error", "not_found", "no plan to show");
      // After a recovery, the plan serving runs on now (the layer count is the model's).
      json plan = service.recovery_log().current_plan();
      if (plan.is_null()) plan = options.dashboard.plan;
      else if (options.dashboard.plan.contains("layers")) plan["layers"] = options.dashboard.plan["layers"];
      send_api_json(res, plan);
    }));
    server.Get("/api/recoveries", guarded([this](const httplib::Request&, httplib::Response& res) {
      send_api_json(res, service.recovery_log().json());
    }));
    server.Get("/api/cluster", guarded([this](const httplib::Request&, httplib::Response& res) {
      if (!options.dashboard.cluster) {
        // The same shape as a cluster view, empty, saying why (a 404 would be a failure to the page).
        send_api_json(res, {{"nodes", json::array()}, {"node", nullptr}, {"fetched_unix_ms", 0},
                            {"error", "serving this machine's devices only (--local): there is no cluster to show"}});
        return;
      }
      send_api_json(res, options.dashboard.cluster());
    }));
    server.Get(R"(/|/[a-z]+\.(html|js|css|svg))", guarded([](const httplib::Request& req, httplib::Response& res) {
      const DashboardAsset* asset = find_dashboard_asset(req.path);
      if (asset == nullptr) throw ApiError(404, "invalid_request_error", "not_found", "no such path");
      send_asset(res, *asset);
    }));
  }

  void add_access_and_errors() {
    if (!options.api_key.empty()) {
      server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!needs_key(req.path) || bearer_matches(req.get_header_value("Authorization"), options.api_key)) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        send_error(res, ApiError(401, "invalid_request_error", "invalid_api_key",
                                 "a valid API key is needed: send it as 'Authorization: Bearer KEY'"));
        return httplib::Server::HandlerResponse::Handled;
      });
    }
    // httplib's own refusals (no route, body too large, unreadable request) get an OpenAI body.
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) send_error(res, status_error(res.status));
    });
  }

  void configure() {
    // Threads and time limits are the RequestDeadlineServer's (constructed with them).
    server.set_payload_max_length(options.max_body_bytes);
  }
};

ApiServer::ApiServer(GenerationService& service, const model::Tokenizer& tokenizer, ServedModel model,
                     ServeOptions options)
    : impl_(std::make_unique<Impl>(service, tokenizer, std::move(model), std::move(options))) {
  const ServeOptions& o = impl_->options;
  if (!is_loopback_host(o.host) && o.api_key.empty()) {
    fail(Errc::permission_denied,
         "serving on {} would let anyone who can reach this machine use the model: give --api-key KEY "
         "(or listen on 127.0.0.1)", o.host);
  }
  // httplib writes with plain send(): a client that left would raise SIGPIPE and end the process.
  ::signal(SIGPIPE, SIG_IGN);
  impl_->configure();
  impl_->add_access_and_errors();
  impl_->add_routes();
  impl_->add_dashboard_routes();
  impl_->port = o.port == 0 ? impl_->server.bind_to_any_port(o.host)
                            : (impl_->server.bind_to_port(o.host, o.port) ? o.port : -1);
  if (impl_->port <= 0) fail(Errc::io, "cannot listen on {}:{}: the address is in use or not this machine's", o.host, o.port);
  // Bound and listening already: connections wait in the backlog until the loop accepts them.
  impl_->thread = telemetry::listen_in_background(impl_->server);
}

ApiServer::~ApiServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int ApiServer::port() const noexcept { return impl_->port; }
bool ApiServer::tls() const noexcept { return !impl_->options.tls_cert.empty(); }
const std::string& ApiServer::host() const noexcept { return impl_->options.host; }

}  // namespace crossgpu::serve
