// The serve layer's pieces that need no model: the OpenAI request reader (valid, malformed,
// truncated, oversized and hostile bodies), the text stream (stop strings split across tokens,
// characters split across tokens), API-key checks, listen addresses and the response shapes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "serve/api_access.hpp"
#include "serve/api_error.hpp"
#include "serve/completion_request.hpp"
#include "serve/openai_json.hpp"
#include "serve/text_stream.hpp"
#include "support/test_support.hpp"

namespace crossgpu::serve {
namespace {

using nlohmann::json;

CompletionRequest chat(const json& body) { return parse_completion_request(Endpoint::chat, body.dump()); }

// The status and the field an ApiError names, or {0, ""} when nothing was thrown.
std::pair<int, std::string> refusal(Endpoint endpoint, const std::string& body, const RequestLimits& limits = {}) {
  try {
    parse_completion_request(endpoint, body, limits);
  } catch (const ApiError& e) {
    EXPECT_FALSE(std::string(e.what()).empty());
    return {e.status(), e.param()};
  }
  return {0, ""};
}

const json kChat = {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};

TEST(CompletionRequest, ReadsEveryFieldItUses) {
  json body = kChat;
  body["messages"].push_back({{"role", "developer"}, {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}});
  body.update({{"max_tokens", 7}, {"temperature", 0}, {"top_p", 0.5}, {"top_k", 3}, {"seed", 42}, {"stop", {"x", "yz"}},
               {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"unknown_field", {1, 2}}, {"user", "u"}});
  const CompletionRequest r = chat(body);
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].role, "system");
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.max_tokens, 7u);
  EXPECT_EQ(r.sampler.temperature, 0.0f);
  EXPECT_EQ(r.sampler.top_p, 0.5f);
  EXPECT_EQ(r.sampler.top_k, 3u);
  EXPECT_EQ(r.sampler.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(CompletionRequest, DefaultsAreOpenAIsAndNullMeansNotGiven) {
  json body = kChat;
  body.update({{"max_tokens", nullptr}, {"temperature", nullptr}, {"stop", nullptr}, {"stream_options", nullptr}});
  const CompletionRequest r = chat(body);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_EQ(r.sampler.temperature, 1.0f);
  EXPECT_EQ(r.sampler.top_p, 1.0f);
  EXPECT_EQ(r.sampler.top_k, 0u);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.stop.empty());
  // max_completion_tokens is the newer name, and wins over max_tokens.
  body.update({{"max_tokens", 5}, {"max_completion_tokens", 9}});
  EXPECT_EQ(chat(body).max_tokens, 9u);
  const CompletionRequest c =
      parse_completion_request(Endpoint::completion, R"({"model": "m", "prompt": ["once upon"], "stop": "a"})");
  EXPECT_EQ(c.prompt, "once upon");
  EXPECT_EQ(c.stop, std::vector<std::string>{"a"});
}

TEST(CompletionRequest, WrongTypesAndRangesAre400sNamingTheField) {
  const std::pair<const char*, json> cases[] = {
      {"model", 5},           {"messages", "hi"},     {"messages", json::array()}, {"max_tokens", 0},
      {"max_tokens", 1.5},    {"max_tokens", -3},     {"max_tokens", "9"},         {"max_tokens", 1e30},
      {"temperature", 3},     {"temperature", "hot"}, {"top_p", 0},                {"top_p", 1.5},
      {"top_k", -1},          {"seed", 0.5},          {"stop", 7},                 {"stop", {"a", 1}},
      {"stop", ""},           {"stop", {"a", "b", "c", "d", "e"}},                 {"stream", "yes"},
      {"stream_options", 1},  {"n", 2},               {"tools", {{{"type", "function"}}}},
      {"max_tokens", 18446744073709551615ull},
  };
  for (const auto& [field, value] : cases) {
    json body = kChat;
    body[field] = value;
    const auto [status, param] = refusal(Endpoint::chat, body.dump());
    EXPECT_EQ(status, 400) << field << " = " << value.dump();
    EXPECT_EQ(param, field) << field << " = " << value.dump();
  }
  const json bad_messages[] = {
      {1}, {{{"content", "no role"}}}, {{{"role", "wizard"}, {"content", "x"}}},
      {{{"role", "user"}, {"content", 5}}}, {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}},
  };
  for (const json& m : bad_messages) {
    json body = kChat;
    body["messages"] = m;
    EXPECT_EQ(refusal(Endpoint::chat, body.dump()).first, 400) << m.dump();
  }
  EXPECT_EQ(refusal(Endpoint::completion, R"({"model": "m"})").second, "prompt");
  EXPECT_EQ(refusal(Endpoint::completion, R"({"model": "m", "prompt": [1, 2]})").second, "prompt");
  EXPECT_EQ(refusal(Endpoint::chat, R"({"messages": [{"role": "user", "content": "x"}]})").second, "model");
}

TEST(CompletionRequest, MalformedTruncatedAndHostileBodiesAreRefusedCleanly) {
  const std::string whole = kChat.dump();
  for (std::size_t n = 0; n < whole.size(); ++n) {  // every truncation
    EXPECT_EQ(refusal(Endpoint::chat, whole.substr(0, n)).first, 400) << whole.substr(0, n);
  }
  for (const std::string body : {"", "null", "[]", "\"text\"", "42", "{", "{\"model\": \"m\",}", "\xff\xfe{}",
                                 "{\"model\": \"\xc3\x28\"}"}) {
    EXPECT_EQ(refusal(Endpoint::chat, body).first, 400) << body;
  }
  // Nesting deep enough to overflow a recursive parser: read without a crash, refused for its type.
  const std::string deep = "{\"model\": \"m\", \"messages\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(refusal(Endpoint::chat, deep).first, 400);
  // Text past the limit: 413, for messages and for prompts.
  json big = kChat;
  big["messages"][0]["content"] = std::string(2000, 'x');
  EXPECT_EQ(refusal(Endpoint::chat, big.dump(), {.max_text_bytes = 1000}).first, 413);
  EXPECT_EQ(refusal(Endpoint::completion, json{{"model", "m"}, {"prompt", std::string(2000, 'x')}}.dump(),
                    {.max_text_bytes = 1000}).first, 413);
  json many = kChat;
  for (int i = 0; i < 20; ++i) many["messages"].push_back(kChat["messages"][0]);
  EXPECT_EQ(refusal(Endpoint::chat, many.dump(), {.max_messages = 10}).first, 400);
}

TEST(TextStream, StopStringsSplitAcrossPiecesAreCaughtAndNeverSent) {
  TextStream s({"</end>", "STOP"});
  std::string out;
  for (const char* piece : {"Hello ", "wor", "ld</", "en", "d> never"}) out += s.push(piece);
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(out, "Hello world");
  EXPECT_EQ(s.push("more"), "");
  // A held-back start that turns out not to be a stop string is sent in full.
  TextStream t({"</end>"});
  EXPECT_EQ(t.push("a</e"), "a");
  EXPECT_EQ(t.push("x"), "</ex");
  EXPECT_EQ(t.push("</"), "");
  EXPECT_EQ(t.finish(), "</");
  EXPECT_FALSE(t.stopped());
  // The earliest stop string wins, wherever it is in the list.
  TextStream u({"b", "a"});
  EXPECT_EQ(u.push("xxab"), "xx");
}

TEST(TextStream, CharactersSplitAcrossPiecesAreHeldUntilWhole) {
  TextStream s;
  const std::string euro = "\xE2\x82\xAC";  // €
  EXPECT_EQ(s.push("a" + euro.substr(0, 1)), "a");
  EXPECT_EQ(s.push(euro.substr(1, 1)), "");
  EXPECT_EQ(s.push(euro.substr(2) + "b"), euro + "b");
  const std::string smile = "\xF0\x9F\x98\x80";
  EXPECT_EQ(s.push(smile.substr(0, 3)), "");
  EXPECT_EQ(s.finish(), "\xEF\xBF\xBD");  // cut off for good: U+FFFD
  EXPECT_EQ(complete_utf8_prefix("ab\xC3"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xC3\xA9"), 4u);
  EXPECT_EQ(complete_utf8_prefix("\x80\x80"), 2u);  // not UTF-8: let through, replaced later
}

TEST(ApiAccess, KeysCompareExactlyAndBearerIsRequired) {
  EXPECT_TRUE(same_secret("secret", "secret"));
  EXPECT_FALSE(same_secret("secret", "secreT"));
  EXPECT_FALSE(same_secret("secret", "secret2"));
  EXPECT_FALSE(same_secret("", "x"));
  EXPECT_TRUE(bearer_matches("Bearer k1", "k1"));
  EXPECT_TRUE(bearer_matches("bearer k1", "k1"));
  EXPECT_FALSE(bearer_matches("Basic k1", "k1"));
  EXPECT_FALSE(bearer_matches("Bearer k1 ", "k1"));
  EXPECT_FALSE(bearer_matches("k1", "k1"));
  EXPECT_FALSE(bearer_matches("", "k1"));
}

TEST(ApiAccess, ListenAddressesAndLoopback) {
  EXPECT_EQ(parse_listen_address("127.0.0.1:8080").port, 8080);
  EXPECT_EQ(parse_listen_address("[::1]:0").host, "::1");
  EXPECT_EQ(parse_listen_address("9000").host, "127.0.0.1");
  for (const char* bad : {"host:", "host:70000", "host:-1", ":80", "host:8x", ""}) {
    EXPECT_TRUE(testing::throws_errc([&] { parse_listen_address(bad); }, Errc::invalid_argument)) << bad;
  }
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.5.5.5"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.evil.example"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
  EXPECT_FALSE(is_loopback_host("::"));
}

TEST(OpenAIJson, ResponsesAndChunksHaveTheFieldsClientsRead) {
  GenerationResult r;
  r.text = "hi \xC3";  // ends inside a character: replaced, never invalid JSON
  r.prompt_tokens = 5;
  r.cached_tokens = 2;
  r.completion_tokens = 3;
  r.finish = FinishReason::length;
  const ResponseHeader chat_header = new_response_header(Endpoint::chat, "m");
  EXPECT_EQ(chat_header.id.rfind("chatcmpl-", 0), 0u);
  const json whole = completion_json(chat_header, r);
  EXPECT_EQ(whole["object"], "chat.completion");
  EXPECT_EQ(whole["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(whole["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(whole["usage"]["total_tokens"], 8);
  EXPECT_EQ(whole["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  const std::string event = sse_event(whole);
  EXPECT_EQ(event.rfind("data: ", 0), 0u);
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  EXPECT_NO_THROW(json::parse(event.substr(6)));
  EXPECT_EQ(first_chunk_json(chat_header)["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(text_chunk_json(chat_header, "x")["choices"][0]["delta"]["content"], "x");
  EXPECT_EQ(finish_chunk_json(chat_header, FinishReason::stop)["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(usage_chunk_json(chat_header, r)["choices"].empty());
  const ResponseHeader text_header = new_response_header(Endpoint::completion, "m");
  EXPECT_EQ(completion_json(text_header, r)["object"], "text_completion");
  EXPECT_TRUE(completion_json(text_header, r)["choices"][0].contains("text"));
  EXPECT_NE(new_response_header(Endpoint::chat, "m").id, chat_header.id);
  const json error = error_json(ApiError(404, "invalid_request_error", "model_not_found", "no", "model"));
  EXPECT_EQ(error["error"]["code"], "model_not_found");
  EXPECT_EQ(error["error"]["param"], "model");
}

}  // namespace
}  // namespace crossgpu::serve
