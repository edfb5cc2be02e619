// Chat formatting without a Jinja engine: the common chat templates are recognised by their
// markers in tokenizer.chat_template and written out by code. The formats follow the templates the
// model families ship (BOS is left to the tokenizer, which adds it when the metadata says so).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::model {

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

}  // namespace crossgpu::model
