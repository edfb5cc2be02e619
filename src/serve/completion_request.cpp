#include "serve/completion_request.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "serve/api_error.hpp"

namespace crossgpu::serve {
namespace {

using nlohmann::json;

// The field `name` of `body` when given and not null.
const json* field(const json& body, const char* name) {
  const auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::string text_field(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return {};
  if (!v->is_string()) bad_request(name, std::string("'") + name + "' must be a string");
  return v->get<std::string>();
}

bool bool_field(const json& body, const char* name, bool fallback) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_boolean()) bad_request(name, std::string("'") + name + "' must be true or false");
  return v->get<bool>();
}

double number_field(const json& body, const char* name, double fallback, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return fallback;
  if (!v->is_number()) bad_request(name, std::string("'") + name + "' must be a number");
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    bad_request(name, std::string("'") + name + "' must be between " + fmt::format("{}", lo) + " and " + fmt::format("{}", hi));
  }
  return x;
}

[[noreturn]] void out_of_range(const char* name, std::int64_t lo, std::int64_t hi) {
  bad_request(name, std::string("'") + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
}

std::optional<std::int64_t> integer_field(const json& body, const char* name, std::int64_t lo, std::int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) bad_request(name, std::string("'") + name + "' must be an integer");
  // Past INT64_MAX the value only fits unsigned; compare it as such before converting.
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) out_of_range(name, lo, hi);
  const std::int64_t x = v->get<std::int64_t>();
  if (x < lo || x > hi) out_of_range(name, lo, hi);
  return x;
}

// Any 64-bit integer, signed or not, as the sampler's seed.
std::uint64_t seed_field(const json& body) {
  const json* v = field(body, "seed");
  if (!v) return 0;
  if (!v->is_number_integer()) bad_request("seed", "'seed' must be an integer");
  return v->is_number_unsigned() ? v->get<std::uint64_t>() : static_cast<std::uint64_t>(v->get<std::int64_t>());
}

void check_text_budget(std::size_t bytes, const RequestLimits& limits) {
  if (bytes > limits.max_text_bytes) {
    throw ApiError(413, "invalid_request_error", "prompt_too_large",
                   "the prompt is " + std::to_string(bytes) + " bytes; this server takes at most " +
                       std::to_string(limits.max_text_bytes));
  }
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string message_content(const json& content, const std::string& param) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_request(param, "'content' must be a string or an array of text parts");
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") || !part["text"].is_string()) {
      bad_request(param, "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<model::ChatMessage> read_messages(const json& body, const RequestLimits& limits) {
  const json* messages = field(body, "messages");
  if (!messages) bad_request("messages", "'messages' is required");
  if (!messages->is_array() || messages->empty()) bad_request("messages", "'messages' must be a non-empty array");
  if (messages->size() > limits.max_messages) {
    bad_request("messages", "at most " + std::to_string(limits.max_messages) + " messages are taken");
  }
  std::vector<model::ChatMessage> out;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad_request(param, param + " must be an object");
    const json* role = field(m, "role");
    if (!role || !role->is_string()) bad_request(param + ".role", param + ".role must be a string");
    std::string r = role->get<std::string>();
    if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool") {
      bad_request(param + ".role", "unknown role '" + r + "'");
    }
    if (r == "developer") r = "system";  // OpenAI's newer name for the system message
    const auto content = m.find("content");
    out.push_back({r, message_content(content == m.end() ? json() : *content, param + ".content")});
    bytes += out.back().content.size();
  }
  check_text_budget(bytes, limits);
  return out;
}

std::string read_prompt(const json& body, const RequestLimits& limits) {
  const json* prompt = field(body, "prompt");
  if (!prompt) bad_request("prompt", "'prompt' is required");
  std::string text;
  if (prompt->is_string()) {
    text = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    text = (*prompt)[0].get<std::string>();
  } else {
    bad_request("prompt", "'prompt' must be a string (or an array holding one string)");
  }
  check_text_budget(text.size(), limits);
  return text;
}

std::vector<std::string> read_stop(const json& body, const RequestLimits& limits) {
  const json* stop = field(body, "stop");
  if (!stop) return {};
  std::vector<std::string> out;
  if (stop->is_string()) {
    out.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    for (const json& s : *stop) {
      if (!s.is_string()) bad_request("stop", "'stop' must be a string or an array of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    bad_request("stop", "'stop' must be a string or an array of strings");
  }
  if (out.size() > limits.max_stop_strings) {
    bad_request("stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings are taken");
  }
  for (const std::string& s : out) {
    if (s.empty() || s.size() > limits.max_stop_bytes) {
      bad_request("stop", "each stop string must have 1 to " + std::to_string(limits.max_stop_bytes) + " bytes");
    }
  }
  return out;
}

std::optional<std::uint32_t> read_max_tokens(const json& body) {
  // max_completion_tokens is the newer name; when both are given it wins.
  auto n = integer_field(body, "max_completion_tokens", 1, std::numeric_limits<std::uint32_t>::max());
  if (!n) n = integer_field(body, "max_tokens", 1, std::numeric_limits<std::uint32_t>::max());
  if (!n) return std::nullopt;
  return static_cast<std::uint32_t>(*n);
}

model::SamplerOptions read_sampler(const json& body) {
  model::SamplerOptions s;
  s.temperature = static_cast<float>(number_field(body, "temperature", 1.0, 0.0, 2.0));
  s.top_p = static_cast<float>(number_field(body, "top_p", 1.0, 0.0, 1.0));
  if (s.top_p == 0.0f) bad_request("top_p", "'top_p' must be above 0");
  s.top_k = static_cast<std::uint32_t>(integer_field(body, "top_k", 0, 1 << 20).value_or(0));
  s.seed = seed_field(body);
  return s;
}

void refuse_unsupported(const json& body) {
  if (const auto n = integer_field(body, "n", 1, 128); n && *n != 1) bad_request("n", "only n = 1 is supported");
  if (field(body, "tools") && !field(body, "tools")->empty()) bad_request("tools", "tools are not supported");
}

}  // namespace

CompletionRequest parse_completion_request(Endpoint endpoint, std::string_view body, const RequestLimits& limits) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "invalid_request_error", "invalid_json", "the body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "invalid_request_error", "invalid_json", "the body must be a JSON object");
  CompletionRequest r;
  r.endpoint = endpoint;
  r.model = text_field(j, "model");
  if (r.model.empty()) bad_request("model", "'model' is required (GET /v1/models lists it)");
  if (endpoint == Endpoint::chat) r.messages = read_messages(j, limits);
  else r.prompt = read_prompt(j, limits);
  r.max_tokens = read_max_tokens(j);
  r.sampler = read_sampler(j);
  r.stop = read_stop(j, limits);
  r.stream = bool_field(j, "stream", false);
  if (const json* options = field(j, "stream_options")) {
    if (!options->is_object()) bad_request("stream_options", "'stream_options' must be an object");
    r.include_usage = bool_field(*options, "include_usage", false);
  }
  refuse_unsupported(j);
  return r;
}

}  // namespace crossgpu::serve
