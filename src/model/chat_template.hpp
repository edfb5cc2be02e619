// Chat prompts from a model file's chat template. A GGUF carries Hugging Face's Jinja template in
// tokenizer.chat_template; ChatTemplate renders it with the engine in model/jinja exactly as
// transformers' apply_chat_template does (trim_blocks, lstrip_blocks, raise_exception, tojson,
// bos_token/eos_token). Only a file without a template falls back to a built-in format, written by
// code (format_chat), recognised from markers in the template text or ChatML.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossgpu::model {

class GgufFile;
namespace jinja {
class Template;
}

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant" (others are passed through where the
                     // format has role names, and treated as "user" where it has not)
  std::string content;
};

enum class ChatFormat { chatml, llama2, llama3, mistral, zephyr, gemma, phi3 };

// The format a template's markers point to; ChatML for an empty or unrecognised template.
//   <|im_start|> -> chatml, <|start_header_id|> -> llama3, <start_of_turn> -> gemma,
//   <|user|> with <|end|> -> phi3, <|user|> -> zephyr, [INST] with <<SYS>> -> llama2,
//   [INST] -> mistral.
ChatFormat detect_chat_format(std::string_view chat_template);
const char* chat_format_name(ChatFormat format);

// The conversation as the model was trained to see it; with add_assistant_prompt, followed by
// the opening of the assistant's turn so that generation continues as the assistant.
std::string format_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        bool add_assistant_prompt);

// What `crossgpu template --messages FILE` reads: a JSON array of messages, or an object with
// "messages" and further template variables (tools, enable_thinking, ...). Throws
// Error{invalid_argument} naming what is wrong.
struct ChatInput {
  nlohmann::ordered_json messages;
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();
};
ChatInput parse_chat_input(std::string_view json_text);

class ChatTemplate {
 public:
  // No template: the built-in ChatML format.
  ChatTemplate() = default;
  // `source` is the Jinja text ("" for none: then `fallback` is used). bos_token / eos_token are
  // the texts of those tokens, as the template sees them (left undefined when nullopt, as
  // transformers leaves a tokenizer's missing special tokens). Throws jinja::TemplateError
  // (syntax, with line and column) when the source does not parse.
  ChatTemplate(std::string_view source, std::optional<std::string> bos_token,
               std::optional<std::string> eos_token, ChatFormat fallback = ChatFormat::chatml);
  // tokenizer.chat_template with the texts of tokenizer.ggml.bos_token_id / eos_token_id.
  static ChatTemplate from_gguf(const GgufFile& file);

  bool has_template() const { return template_ != nullptr; }
  ChatFormat fallback_format() const { return fallback_; }
  const std::optional<std::string>& bos_token() const { return bos_; }

  // messages: a JSON array of message objects (role, content, and whatever else the template
  // reads: tool_calls, reasoning_content, ...). extra: more variables (tools, enable_thinking).
  // Throws jinja::TemplateError when the template fails (raise_exception, a limit, a bad value).
  std::string render_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                          const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // For a tokenizer that adds BOS itself: the rendering without the BOS text the template
  // wrote at its start (llama.cpp does the same), so that the prompt does not begin with two.
  std::string render_for_tokenizer(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                   bool tokenizer_adds_bos) const;

 private:
  std::shared_ptr<const jinja::Template> template_;
  std::optional<std::string> bos_, eos_;
  ChatFormat fallback_ = ChatFormat::chatml;
};

}  // namespace crossgpu::model
