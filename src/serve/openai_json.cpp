#include "serve/openai_json.hpp"

#include <chrono>
#include <random>

namespace crossgpu::serve {
namespace {

using nlohmann::json;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  while (out.size() < digits) out += kHex[rng() % 16];
  return out;
}

json envelope(const ResponseHeader& h, bool chunk) {
  const bool chat = h.endpoint == Endpoint::chat;
  const char* object = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", h.id}, {"object", object}, {"created", h.created}, {"model", h.model}, {"system_fingerprint", "crossgpu"}};
}

json choice(const ResponseHeader& h, const std::string& text, const json& finish, bool chunk) {
  json c = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}};
  if (h.endpoint == Endpoint::completion) c["text"] = text;
  else if (chunk) c["delta"] = text.empty() ? json::object() : json{{"content", text}};
  else c["message"] = {{"role", "assistant"}, {"content", text}, {"refusal", nullptr}};
  return c;
}

json finish_name(FinishReason finish) { return finish_reason_name(finish == FinishReason::cancelled ? FinishReason::stop : finish); }

}  // namespace

json model_json(const ServedModel& model) {
  return {{"id", model.id}, {"object", "model"}, {"created", model.created}, {"owned_by", "crossgpu"}};
}

json model_list_json(const ServedModel& model) { return {{"object", "list"}, {"data", json::array({model_json(model)})}}; }

ResponseHeader new_response_header(Endpoint endpoint, const std::string& model) {
  return {endpoint, (endpoint == Endpoint::chat ? "chatcmpl-" : "cmpl-") + random_hex(24), unix_now(), model};
}

json usage_json(const GenerationResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

json completion_json(const ResponseHeader& h, const GenerationResult& r) {
  json out = envelope(h, false);
  out["choices"] = json::array({choice(h, r.text, finish_name(r.finish), false)});
  out["usage"] = usage_json(r);
  return out;
}

json first_chunk_json(const ResponseHeader& h) {
  json out = envelope(h, true);
  json c = choice(h, "", nullptr, true);
  if (h.endpoint == Endpoint::chat) c["delta"] = {{"role", "assistant"}, {"content", ""}};
  out["choices"] = json::array({c});
  return out;
}

json text_chunk_json(const ResponseHeader& h, const std::string& text) {
  json out = envelope(h, true);
  out["choices"] = json::array({choice(h, text, nullptr, true)});
  return out;
}

json finish_chunk_json(const ResponseHeader& h, FinishReason finish) {
  json out = envelope(h, true);
  out["choices"] = json::array({choice(h, "", finish_name(finish), true)});
  return out;
}

json usage_chunk_json(const ResponseHeader& h, const GenerationResult& r) {
  json out = envelope(h, true);
  out["choices"] = json::array();
  out["usage"] = usage_json(r);
  return out;
}

std::string sse_event(const json& value) {
  return "data: " + value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace crossgpu::serve
