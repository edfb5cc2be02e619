// The JSON bodies of OpenAI's completions API: whole responses, streamed chunks, the model list.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "serve/completion_request.hpp"
#include "serve/generation_service.hpp"

namespace crossgpu::serve {

struct ServedModel {
  std::string id;       // what clients put in "model" (the file's name without .gguf)
  std::string alias;    // general.name from the file, also accepted ("" when absent)
  std::int64_t created = 0;
  bool answers_to(const std::string& name) const { return name == id || (!alias.empty() && name == alias); }
};

nlohmann::json model_json(const ServedModel& model);
nlohmann::json model_list_json(const ServedModel& model);

// Identity of one response: its id ("chatcmpl-..." or "cmpl-...") and creation time, shared by
// all its chunks.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::chat;
  std::string id;
  std::int64_t created = 0;
  std::string model;
};
ResponseHeader new_response_header(Endpoint endpoint, const std::string& model);

nlohmann::json usage_json(const GenerationResult& result);
nlohmann::json completion_json(const ResponseHeader& header, const GenerationResult& result);

// Streamed chunks: the first (chat: the assistant role), one per piece of text, the last (the
// finish reason), and the usage chunk (empty choices) when the client asked for it.
nlohmann::json first_chunk_json(const ResponseHeader& header);
nlohmann::json text_chunk_json(const ResponseHeader& header, const std::string& text);
nlohmann::json finish_chunk_json(const ResponseHeader& header, FinishReason finish);
nlohmann::json usage_chunk_json(const ResponseHeader& header, const GenerationResult& result);

// A JSON value as one server-sent event ("data: ...\n\n"); text that is not UTF-8 is replaced.
std::string sse_event(const nlohmann::json& value);

}  // namespace crossgpu::serve
