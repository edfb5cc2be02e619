// `crossgpu serve`'s HTTP API against a real server on loopback: a generated model on the CPU
// device behind a GenerationService and an ApiServer, reached with cpp-httplib's client and with
// raw sockets (for what a well-behaved client never sends).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <latch>
#include <memory>
#include <string>
#include <thread>

#include "model/demo_model.hpp"
#include "model/generate.hpp"
#include "model/llama_config.hpp"
#include "model/tokenizer.hpp"
#include "serve/api_error.hpp"
#include "serve/api_server.hpp"
#include "serve/dashboard_assets.hpp"
#include "serve/generation_service.hpp"
#include "support/test_support.hpp"

namespace crossgpu::serve {
namespace {

using nlohmann::json;

std::shared_ptr<Device> cpu_device() {
  for (const auto& d : testing::devices()) {
    if (d->properties().backend == Backend::cpu) return d;
  }
  return nullptr;
}

// A generated model loaded whole onto the CPU device.
struct LoadedModel {
  std::vector<std::byte> bytes;
  model::GgufFile file;
  model::LlamaConfig config;
  model::Tokenizer tokenizer;

  static std::unique_ptr<LoadedModel> make() {
    model::DemoModelSpec spec;
    spec.layers = 2;
    spec.context = 2048;
    // A ChatML template as GGUF files carry them (Jinja), refusing roles that do not alternate as
    // Gemma's does: the API must render it and turn its refusal into a 400.
    model::GgufWriter writer = model::demo_model(spec);
    writer.add_string("tokenizer.chat_template",
                      "{% for m in messages %}{% if loop.index0 > 0 and m.role == messages[loop.index0 - 1].role %}"
                      "{{ raise_exception('Conversation roles must alternate') }}{% endif %}"
                      "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                      "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}");
    auto bytes = writer.bytes();
    auto file = model::GgufFile::parse(bytes);
    auto config = model::LlamaConfig::from_gguf(file);
    auto tokenizer = model::Tokenizer::from_gguf(file);
    return std::unique_ptr<LoadedModel>(
        new LoadedModel{std::move(bytes), std::move(file), std::move(config), std::move(tokenizer)});
  }
  model::Pipeline pipeline() const {
    std::vector<std::unique_ptr<model::LlamaStage>> stages;
    stages.push_back(std::make_unique<model::LlamaStage>(config, file, cpu_device(),
                                                         model::StageRange{0, config.layers, true, true},
                                                         model::StageOptions{.context = 2048, .max_batch = 32}));
    return model::Pipeline(config, std::move(stages));
  }
};

// What greedy decoding of `prompt` gives on a fresh pipeline: the reference for the API's text.
std::string greedy_text(const LoadedModel& m, const std::vector<std::uint32_t>& prompt, std::uint32_t max_tokens) {
  model::Pipeline pipeline = m.pipeline();
  model::GenerateOptions options;
  options.max_tokens = max_tokens;
  options.is_end = [&](std::uint32_t id) { return m.tokenizer.is_end_of_generation(id); };
  std::string text;
  for (std::uint32_t id : model::generate(pipeline, prompt, options).tokens) {
    if (!m.tokenizer.is_end_of_generation(id)) text += m.tokenizer.token_to_piece(id);
  }
  return text;
}

// `text` as a JSON string carries it: bytes that are not UTF-8 become U+FFFD (the demo vocabulary
// has lone byte tokens).
std::string as_sent(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

class ServeHttp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = LoadedModel::make().release(); }
  static void TearDownTestSuite() { delete model_; }

  void start(ServeOptions options = {}, std::size_t max_waiting = 8) {
    options.port = 0;
    options.max_body_bytes = 64 << 10;
    options.read_timeout_seconds = 2;
    pipeline_ = std::make_unique<model::Pipeline>(model_->pipeline());
    service_ = std::make_unique<GenerationService>(*pipeline_, model_->tokenizer, max_waiting);
    server_ = std::make_unique<ApiServer>(*service_, model_->tokenizer, ServedModel{"demo", "crossgpu-demo", 1}, options);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    service_.reset();
  }

  httplib::Result post(const std::string& path, const json& body) {
    return client_->Post(path.c_str(), body.dump(), "application/json");
  }
  std::vector<std::uint32_t> chat_ids(const std::vector<model::ChatMessage>& messages) const {
    return model_->tokenizer.encode(model_->tokenizer.apply_chat_template(messages, true), true, true);
  }

  static LoadedModel* model_;
  std::unique_ptr<model::Pipeline> pipeline_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
};
LoadedModel* ServeHttp::model_ = nullptr;

const json kHello = {{"role", "user"}, {"content", "hello there, how are you"}};

json chat_body(std::uint32_t max_tokens, bool stream = false) {
  return {{"model", "demo"}, {"messages", {kHello}}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}};
}

// The data of each server-sent event in a streamed body.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const std::size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

TEST_F(ServeHttp, ListsItsModelAndAnswersHealth) {
  start();
  auto res = client_->Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const json list = json::parse(res->body);
  EXPECT_EQ(list["object"], "list");
  EXPECT_EQ(list["data"][0]["id"], "demo");
  EXPECT_EQ(client_->Get("/v1/models/demo")->status, 200);
  EXPECT_EQ(client_->Get("/v1/models/other")->status, 404);
  res = client_->Get("/health");
  EXPECT_EQ(json::parse(res->body)["status"], "ok");
}

TEST_F(ServeHttp, ChatGivesTheGreedyTokensOfADirectRunWholeAndStreamed) {
  start();
  const std::string want = as_sent(greedy_text(*model_, chat_ids({{"user", kHello["content"]}}), 12));
  auto res = post("/v1/chat/completions", chat_body(12));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json whole = json::parse(res->body);
  EXPECT_EQ(whole["choices"][0]["message"]["content"], want);
  EXPECT_EQ(whole["usage"]["completion_tokens"], 12);
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");

  json body = chat_body(12, true);
  body["stream_options"] = {{"include_usage", true}};
  res = post("/v1/chat/completions", body);
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  const auto events = sse_data(res->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[0])["choices"][0]["delta"]["role"], "assistant");
  std::string streamed;
  for (std::size_t i = 1; i + 3 < events.size(); ++i) streamed += json::parse(events[i])["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_EQ(streamed, want);
  EXPECT_EQ(json::parse(events[events.size() - 3])["choices"][0]["finish_reason"], "length");
  const json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 12);
}

TEST_F(ServeHttp, StopStringsEndTheTextBeforeThem) {
  start();
  const std::string full = json::parse(post("/v1/chat/completions", chat_body(16))->body)["choices"][0]["message"]["content"];
  ASSERT_GE(full.size(), 12u);
  const std::string stop = full.substr(6, 3);
  json body = chat_body(16);
  body["stop"] = {stop, "never-appears"};
  const json r = json::parse(post("/v1/chat/completions", body)->body);
  EXPECT_EQ(r["choices"][0]["message"]["content"], full.substr(0, full.find(stop)));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServeHttp, TheNextTurnReusesTheCachedPrefixAndGivesTheSameText) {
  start();
  const json first = {{"model", "demo"}, {"prompt", "once upon a time"}, {"max_tokens", 6}, {"temperature", 0}};
  const json r1 = json::parse(post("/v1/completions", first)->body);
  EXPECT_EQ(r1["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  const std::string next_prompt = "once upon a time" + r1["choices"][0]["text"].get<std::string>() + " and then";
  json second = first;
  second["prompt"] = next_prompt;
  const json r2 = json::parse(post("/v1/completions", second)->body);
  const std::vector<std::uint32_t> first_ids = model_->tokenizer.encode("once upon a time", true, false);
  EXPECT_GE(r2["usage"]["prompt_tokens_details"]["cached_tokens"].get<std::size_t>(), first_ids.size() - 1);
  EXPECT_EQ(r2["choices"][0]["text"], as_sent(greedy_text(*model_, model_->tokenizer.encode(next_prompt, true, false), 6)));
  EXPECT_GT(service_->counters().reused_prompt_tokens, 0u);
}

TEST_F(ServeHttp, ErrorsAreOpenAIShapedWithTheRightStatus) {
  start();
  auto expect_error = [&](const httplib::Result& res, int status, const std::string& code) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
    const json e = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(e.contains("error")) << res->body;
    EXPECT_EQ(e["error"]["code"], code) << res->body;
    EXPECT_FALSE(e["error"]["message"].get<std::string>().empty());
  };
  expect_error(client_->Post("/v1/chat/completions", "{not json", "application/json"), 400, "invalid_json");
  json wrong = chat_body(4);
  wrong["temperature"] = "hot";
  expect_error(post("/v1/chat/completions", wrong), 400, "invalid_value");
  json unknown = chat_body(4);
  unknown["model"] = "gpt-4";
  expect_error(post("/v1/chat/completions", unknown), 404, "model_not_found");
  expect_error(client_->Get("/v1/nothing"), 404, "not_found");
  expect_error(client_->Post("/v1/chat/completions", std::string(100 << 10, ' '), "application/json"), 413, "body_too_large");
  json too_long = {{"model", "demo"}, {"prompt", std::string(30000, 'a')}};
  expect_error(post("/v1/completions", too_long), 400, "context_length_exceeded");
  EXPECT_EQ(client_->Get("/health")->status, 200);  // still serving
}

TEST_F(ServeHttp, AConversationTheModelsTemplateRefusesIsA400WithItsMessage) {
  start();
  json body = chat_body(4);
  body["messages"] = {kHello, kHello};
  const auto res = post("/v1/chat/completions", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  const json e = json::parse(res->body, nullptr, false);
  ASSERT_TRUE(e.contains("error")) << res->body;
  EXPECT_EQ(e["error"]["code"], "chat_template_error");
  EXPECT_EQ(e["error"]["param"], "messages");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("Conversation roles must alternate"), std::string::npos);
  EXPECT_EQ(post("/v1/chat/completions", chat_body(4))->status, 200);  // the next request is served
}

TEST_F(ServeHttp, AnApiKeyIsRequiredWhenSetAndComparedExactly) {
  ServeOptions options;
  options.api_key = "sk-test-key";
  start(options);
  EXPECT_EQ(post("/v1/chat/completions", chat_body(2))->status, 401);
  httplib::Headers wrong = {{"Authorization", "Bearer sk-test-kez"}};
  auto res = client_->Post("/v1/chat/completions", wrong, chat_body(2).dump(), "application/json");
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_api_key");
  httplib::Headers right = {{"Authorization", "Bearer sk-test-key"}};
  EXPECT_EQ(client_->Post("/v1/chat/completions", right, chat_body(2).dump(), "application/json")->status, 200);
  EXPECT_EQ(client_->Get("/v1/models", wrong)->status, 401);
  EXPECT_EQ(client_->Get("/health")->status, 200);  // health is for anyone who can reach it
}

TEST_F(ServeHttp, ListeningOffLoopbackWithoutAKeyIsRefused) {
  pipeline_ = std::make_unique<model::Pipeline>(model_->pipeline());
  service_ = std::make_unique<GenerationService>(*pipeline_, model_->tokenizer, 1);
  ServeOptions options;
  options.host = "0.0.0.0";
  options.port = 0;
  EXPECT_TRUE(testing::throws_errc([&] { ApiServer(*service_, model_->tokenizer, ServedModel{"demo", "", 1}, options); },
                                   Errc::permission_denied, "--api-key"));
}

// A sink that holds the worker until released: the queue behind it fills deterministically.
struct WorkerGate {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first = true;
  TextSink sink() {
    return [this](const std::string&) {
      if (first.exchange(false)) {
        entered.set_value();
        released.wait();
      }
      return true;
    };
  }
};

TEST_F(ServeHttp, AFullQueueAnswers429) {
  start({}, /*max_waiting=*/1);
  WorkerGate gate;
  GenerationRequest hold{model_->tokenizer.encode("hold", true, false), 4, {}, {}};
  auto held = service_->submit(hold, gate.sink());
  gate.entered.get_future().wait();  // the worker is inside the first request
  auto queued = std::async(std::launch::async, [&] { return post("/v1/chat/completions", chat_body(2)); });
  while (service_->counters().waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  httplib::Client other("127.0.0.1", server_->port());
  auto busy = other.Post("/v1/chat/completions", chat_body(2).dump(), "application/json");
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 429);
  EXPECT_EQ(json::parse(busy->body)["error"]["code"], "server_busy");
  EXPECT_THROW(service_->submit(hold, [](const std::string&) { return true; }), ApiError);
  gate.release.set_value();
  EXPECT_EQ(held.get().completion_tokens, 4u);
  EXPECT_EQ(queued.get()->status, 200);
  EXPECT_EQ(service_->counters().refused_busy, 2u);
}

// A raw TCP connection to the server, for requests no library would send.
class RawSocket {
 public:
  explicit RawSocket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() { close(); }
  bool connected() const { return connected_; }
  void send(const std::string& s) { (void)::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  std::string receive_some() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string http_post(const std::string& body) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

template <typename Predicate>
bool eventually(Predicate p, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST_F(ServeHttp, AClientThatLeavesMidStreamCancelsItsSequence) {
  start();
  RawSocket s(server_->port());
  ASSERT_TRUE(s.connected());
  json body = chat_body(1900, true);
  s.send(http_post(body.dump()));
  EXPECT_NE(s.receive_some().find("200"), std::string::npos);
  s.close();
  ASSERT_TRUE(eventually([&] { return service_->counters().cancelled == 1; })) << "the sequence ran on";
  EXPECT_EQ(service_->counters().running, 0u);
  EXPECT_EQ(service_->counters().completed, 0u);
  EXPECT_EQ(post("/v1/chat/completions", chat_body(2))->status, 200);  // the slot is free again
}

TEST_F(ServeHttp, TruncatedAndGarbledRequestsCloseOnlyTheirConnection) {
  start();
  {
    RawSocket truncated(server_->port());
    truncated.send(http_post(chat_body(2).dump()).substr(0, 120));  // the body never completes
    RawSocket garbage(server_->port());
    garbage.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(500, '\0') + "\r\n\r\n");
    const std::string answer = garbage.receive_some();
    EXPECT_NE(answer.find("400"), std::string::npos) << answer;
    RawSocket huge_header(server_->port());
    huge_header.send("GET /health HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    EXPECT_EQ(post("/v1/chat/completions", chat_body(2))->status, 200);  // others are served meanwhile
    const std::string late = truncated.receive_some();  // the read deadline ends it
    EXPECT_EQ(late.find("200 OK"), std::string::npos) << late;
  }
  EXPECT_EQ(service_->counters().completed, 1u);
}

// --- the dashboard: its page and its JSON (/api/...) ---

TEST_F(ServeHttp, TheDashboardPageIsServedFromTheBinaryUnderAStrictPolicy) {
  start();
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_EQ(page->body, find_dashboard_asset("/index.html")->body);
  EXPECT_NE(page->body.find("/dashboard.js"), std::string::npos);
  const std::string policy = page->get_header_value("Content-Security-Policy");
  EXPECT_NE(policy.find("script-src 'self'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  for (const char* path : {"/dashboard.js", "/dashboard.css", "/index.html"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->body, find_dashboard_asset(path)->body) << path;
    EXPECT_FALSE(res->body.empty()) << path;
  }
  EXPECT_NE(client_->Get("/dashboard.js")->get_header_value("Content-Type").find("javascript"), std::string::npos);
  EXPECT_EQ(find_dashboard_asset("/nothing.js"), nullptr);
  for (const char* path : {"/nothing.js", "/dashboard.js/", "/../dashboard.js.map", "/index.html.bak"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_NE(res->status, 200) << path;
  }
}

TEST_F(ServeHttp, ApiStatsCountsFinishedRequestsAndTheirTokens) {
  start();
  json stats = json::parse(client_->Get("/api/stats")->body);
  EXPECT_EQ(stats["model"], "demo");
  EXPECT_TRUE(stats["last_tokens_per_s"].is_null());  // nothing measured yet: not 0
  EXPECT_EQ(stats["tokens"]["completion"], 0);
  EXPECT_TRUE(stats["recent"].empty());
  EXPECT_TRUE(stats["stages"].empty());  // no request finished: nothing measured
  ASSERT_EQ(post("/v1/chat/completions", chat_body(5))->status, 200);
  json streamed = chat_body(4, true);
  ASSERT_EQ(post("/v1/chat/completions", streamed)->status, 200);
  const auto res = client_->Get("/api/stats");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store");
  stats = json::parse(res->body);
  EXPECT_EQ(stats["queue"]["requests"], 2);
  EXPECT_EQ(stats["queue"]["completed"], 2);
  EXPECT_EQ(stats["queue"]["waiting"], 0);
  EXPECT_EQ(stats["tokens"]["completion"], 9);
  EXPECT_GT(stats["tokens"]["prompt"].get<int>(), 0);
  ASSERT_EQ(stats["recent"].size(), 2u);
  EXPECT_EQ(stats["recent"][1]["completion_tokens"], 4);
  EXPECT_GT(stats["recent"][1]["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(stats["last_tokens_per_s"].get<double>(), 0);
  EXPECT_GT(stats["uptime_seconds"].get<double>(), 0);
  ASSERT_EQ(stats["stages"].size(), 1u);  // the one stage of this pipeline
  EXPECT_GE(stats["stages"][0]["passes"].get<int>(), 9);
  EXPECT_GT(stats["stages"][0]["ms_per_pass"].get<double>(), 0);
}

TEST_F(ServeHttp, ApiPlanAndClusterAnswerWhatTheServerWasGiven) {
  ServeOptions options;
  options.dashboard.plan = {{"method", "exact"}, {"layers", 2}, {"stages", json::array()}};
  // Names come from other nodes: whatever they hold goes out as JSON text, never altered into markup.
  const std::string hostile = "<img src=x onerror=alert(1)>\"\u2028";
  options.dashboard.cluster = [hostile] { return json{{"nodes", {{{"node_id", hostile}}}}, {"error", nullptr}}; };
  start(options);
  auto plan = client_->Get("/api/plan");
  ASSERT_EQ(plan->status, 200);
  EXPECT_EQ(json::parse(plan->body), options.dashboard.plan);
  auto cluster = client_->Get("/api/cluster");
  ASSERT_EQ(cluster->status, 200);
  EXPECT_NE(cluster->get_header_value("Content-Type").find("application/json"), std::string::npos);
  EXPECT_EQ(json::parse(cluster->body)["nodes"][0]["node_id"], hostile);
  EXPECT_EQ(client_->Post("/api/plan", "{}", "application/json")->status, 404);
  EXPECT_EQ(json::parse(client_->Get("/api/nothing")->body)["error"]["code"], "not_found");
}

TEST_F(ServeHttp, WithoutAPlanOrAClusterTheApiSaysSo) {
  start();
  auto plan = client_->Get("/api/plan");
  EXPECT_EQ(plan->status, 404);
  EXPECT_EQ(json::parse(plan->body)["error"]["code"], "not_found");
  auto cluster = client_->Get("/api/cluster");
  ASSERT_EQ(cluster->status, 200);  // an empty view saying why: --local serves no cluster
  const json view = json::parse(cluster->body);
  EXPECT_TRUE(view["nodes"].empty());
  EXPECT_NE(view["error"].get<std::string>().find("--local"), std::string::npos);
  EXPECT_EQ(json::parse(client_->Get("/health")->body)["api_key_required"], false);
}

TEST_F(ServeHttp, TheDashboardsDataNeedsTheKeyButItsPageDoesNot) {
  ServeOptions options;
  options.api_key = "sk-test-key";
  options.dashboard.plan = {{"stages", json::array()}};
  options.dashboard.cluster = [] { return json{{"nodes", json::array()}}; };
  start(options);
  const httplib::Headers right = {{"Authorization", "Bearer sk-test-key"}};
  const httplib::Headers wrong = {{"Authorization", "Bearer sk-test-kez"}};
  for (const char* path : {"/api/stats", "/api/plan", "/api/cluster", "/api/nothing"}) {
    EXPECT_EQ(client_->Get(path)->status, 401) << path;
    EXPECT_EQ(client_->Get(path, wrong)->status, 401) << path;
  }
  for (const char* path : {"/api/stats", "/api/plan", "/api/cluster"}) EXPECT_EQ(client_->Get(path, right)->status, 200) << path;
  // Spellings of the same path: none reaches the data without the key.
  for (const char* path : {"/%61pi/stats", "//api/stats", "/api//stats", "/./api/stats", "/v1/../api/stats"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_NE(res->status, 200) << path;
    EXPECT_EQ(res->body.find("tokens"), std::string::npos) << path;
  }
  for (const char* path : {"/", "/dashboard.js", "/dashboard.css"}) EXPECT_EQ(client_->Get(path)->status, 200) << path;
  EXPECT_EQ(json::parse(client_->Get("/health")->body)["api_key_required"], true);
}

}  // namespace
}  // namespace crossgpu::serve
