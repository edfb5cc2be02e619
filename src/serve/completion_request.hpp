// The body of POST /v1/chat/completions and /v1/completions, read and checked: every field this
// server uses has the type and range OpenAI documents (else a 400 naming the field), `null` means
// "not given", unknown fields are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/chat_template.hpp"
#include "model/sampler.hpp"

namespace crossgpu::serve {

enum class Endpoint { chat, completion };

struct RequestLimits {
  std::size_t max_text_bytes = 1 << 20;  // prompt, or all messages together
  std::size_t max_messages = 4096;
  std::size_t max_stop_strings = 4;      // as OpenAI
  std::size_t max_stop_bytes = 256;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::chat;
  std::string model;
  std::vector<model::ChatMessage> messages;  // chat
  std::string prompt;                        // completion
  std::optional<std::uint32_t> max_tokens;   // absent: until the context is full
  model::SamplerOptions sampler;             // OpenAI's defaults: temperature 1, top_p 1, no top_k
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;                // stream_options.include_usage
};

// Throws ApiError (400) for a body that is not a JSON object or a field of the wrong type or
// out of range, and (413) for text beyond `limits`.
CompletionRequest parse_completion_request(Endpoint endpoint, std::string_view body,
                                           const RequestLimits& limits = {});

}  // namespace crossgpu::serve
