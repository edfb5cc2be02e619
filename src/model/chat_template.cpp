#include "model/chat_template.hpp"

#include "core/error.hpp"
#include "model/gguf.hpp"
#include "model/jinja/template.hpp"

namespace crossgpu::model {
namespace {

bool contains(std::string_view text, std::string_view marker) {
  return text.find(marker) != std::string_view::npos;
}

// Formats whose turns are "<open role>content<close>": ChatML, Llama 3, Zephyr, Phi-3.
struct TurnMarkers {
  std::string_view open, after_role, close;
};

TurnMarkers markers_of(ChatFormat format) {
  switch (format) {
    case ChatFormat::llama3: return {"<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>"};
    case ChatFormat::zephyr: return {"<|", "|>\n", "</s>\n"};
    case ChatFormat::phi3: return {"<|", "|>\n", "<|end|>\n"};
    default: return {"<|im_start|>", "\n", "<|im_end|>\n"};
  }
}

std::string format_turns(ChatFormat format, const std::vector<ChatMessage>& messages,
                         bool add_assistant_prompt) {
  const TurnMarkers m = markers_of(format);
  std::string out;
  for (const ChatMessage& msg : messages) {
    out.append(m.open).append(msg.role).append(m.after_role).append(msg.content).append(m.close);
  }
  if (add_assistant_prompt) out.append(m.open).append("assistant").append(m.after_role);
  return out;
}

// Formats without a system role put the system text in front of the next user message.
std::vector<ChatMessage> fold_system(const std::vector<ChatMessage>& messages) {
  std::vector<ChatMessage> out;
  std::string system;
  for (const ChatMessage& msg : messages) {
    if (msg.role == "system") {
      system += system.empty() ? msg.content : "\n\n" + msg.content;
    } else if (msg.role == "assistant") {
      out.push_back(msg);
    } else {
      out.push_back({"user", system.empty() ? msg.content : system + "\n\n" + msg.content});
      system.clear();
    }
  }
  if (!system.empty()) out.push_back({"user", system});
  return out;
}

// Gemma: <start_of_turn>user\n...<end_of_turn>\n, the assistant is called "model".
std::string format_gemma(const std::vector<ChatMessage>& messages, bool add_assistant_prompt) {
  std::string out;
  for (const ChatMessage& msg : fold_system(messages)) {
    const std::string_view role = msg.role == "assistant" ? "model" : "user";
    out.append("<start_of_turn>").append(role).append("\n").append(msg.content).append("<end_of_turn>\n");
  }
  if (add_assistant_prompt) out += "<start_of_turn>model\n";
  return out;
}

// Llama 2: [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] user [/INST]
// The first <s> is the tokenizer's BOS; later ones are written so that parse_special finds them.
std::string format_llama2(const std::vector<ChatMessage>& messages) {
  std::string out;
  std::string system;
  for (const ChatMessage& msg : messages) {
    if (msg.role == "system") {
      system += system.empty() ? msg.content : "\n" + msg.content;
    } else if (msg.role == "assistant") {
      out.append(" ").append(msg.content).append(" </s>");
    } else {
      if (!out.empty()) out += "<s>";
      out += "[INST] ";
      if (!system.empty()) out.append("<<SYS>>\n").append(system).append("\n<</SYS>>\n\n");
      out.append(msg.content).append(" [/INST]");
      system.clear();
    }
  }
  return out;
}

// Mistral: [INST] user [/INST]answer</s>[INST] user [/INST]; no system role.
std::string format_mistral(const std::vector<ChatMessage>& messages) {
  std::string out;
  for (const ChatMessage& msg : fold_system(messages)) {
    if (msg.role == "assistant") {
      out.append(msg.content).append("</s>");
    } else {
      out.append("[INST] ").append(msg.content).append(" [/INST]");
    }
  }
  return out;
}

}  // namespace

ChatFormat detect_chat_format(std::string_view t) {
  if (contains(t, "<|im_start|>")) return ChatFormat::chatml;
  if (contains(t, "<|start_header_id|>")) return ChatFormat::llama3;
  if (contains(t, "<start_of_turn>")) return ChatFormat::gemma;
  if (contains(t, "<|user|>")) return contains(t, "<|end|>") ? ChatFormat::phi3 : ChatFormat::zephyr;
  if (contains(t, "[INST]")) return contains(t, "<<SYS>>") ? ChatFormat::llama2 : ChatFormat::mistral;
  return ChatFormat::chatml;
}

const char* chat_format_name(ChatFormat format) {
  switch (format) {
    case ChatFormat::chatml: return "chatml";
    case ChatFormat::llama2: return "llama2";
    case ChatFormat::llama3: return "llama3";
    case ChatFormat::mistral: return "mistral";
    case ChatFormat::zephyr: return "zephyr";
    case ChatFormat::gemma: return "gemma";
    case ChatFormat::phi3: return "phi3";
  }
  return "chatml";
}

std::string format_chat(ChatFormat format, const std::vector<ChatMessage>& messages,
                        bool add_assistant_prompt) {
  switch (format) {
    case ChatFormat::gemma: return format_gemma(messages, add_assistant_prompt);
    // After [/INST] the model answers directly: there is no assistant header to add.
    case ChatFormat::llama2: return format_llama2(messages);
    case ChatFormat::mistral: return format_mistral(messages);
    default: return format_turns(format, messages, add_assistant_prompt);
  }
}

namespace {

nlohmann::ordered_json messages_json(const std::vector<ChatMessage>& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) out.push_back({{"role", m.role}, {"content", m.content}});
  return out;
}

// The text of the token whose id is stored under `key`, if the file names one that exists.
std::optional<std::string> token_text(const GgufFile& file, const std::string& key) {
  const GgufValue* id = file.find(key);
  const GgufValue* tokens = file.find("tokenizer.ggml.tokens");
  if (!id || !tokens) return std::nullopt;
  const auto* index = std::get_if<std::uint64_t>(&id->value);
  const auto* array = std::get_if<GgufArray>(&tokens->value);
  if (!index || !array || *index >= array->size()) return std::nullopt;
  const auto* text = std::get_if<std::string>(&(*array)[*index].value);
  return text ? std::optional<std::string>(*text) : std::nullopt;
}

}  // namespace

ChatInput parse_chat_input(std::string_view json_text) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail(Errc::invalid_argument, "chat messages: not JSON ({})", e.what());
  }
  ChatInput in;
  if (j.is_array()) {
    in.messages = std::move(j);
  } else if (j.is_object() && j.contains("messages") && j["messages"].is_array()) {
    in.messages = j["messages"];
    for (auto& [k, v] : j.items()) {
      if (k != "messages") in.variables[k] = v;
    }
  } else {
    fail(Errc::invalid_argument, "chat messages: expected a JSON array of messages or an object with a \"messages\" array");
  }
  for (const auto& m : in.messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      fail(Errc::invalid_argument, "chat messages: every message must be an object with a string \"role\"");
    }
  }
  return in;
}

ChatTemplate::ChatTemplate(std::string_view source, std::optional<std::string> bos_token,
                           std::optional<std::string> eos_token, ChatFormat fallback)
    : bos_(std::move(bos_token)), eos_(std::move(eos_token)), fallback_(fallback) {
  if (!source.empty()) template_ = std::make_shared<const jinja::Template>(source);
}

ChatTemplate ChatTemplate::from_gguf(const GgufFile& file) {
  std::string source;
  if (const GgufValue* v = file.find("tokenizer.chat_template")) {
    const auto* s = std::get_if<std::string>(&v->value);
    if (!s) fail(Errc::invalid_argument, "tokenizer.chat_template is not a string");
    source = *s;
  }
  return ChatTemplate(source, token_text(file, "tokenizer.ggml.bos_token_id"),
                      token_text(file, "tokenizer.ggml.eos_token_id"), detect_chat_format(source));
}

std::string ChatTemplate::render_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                      const nlohmann::ordered_json& extra) const {
  if (!messages.is_array()) fail(Errc::invalid_argument, "chat template: the messages must be a JSON array");
  if (!template_) {
    std::vector<ChatMessage> plain;
    for (const auto& m : messages) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
        fail(Errc::invalid_argument, "chat template: every message needs a string 'role'");
      }
      const auto content = m.find("content");
      plain.push_back({m["role"].get<std::string>(),
                       content != m.end() && content->is_string() ? content->get<std::string>() : std::string()});
    }
    return format_chat(fallback_, plain, add_generation_prompt);
  }
  // The variables transformers passes: the special tokens it has, then the caller's.
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  vars["messages"] = messages;
  vars["add_generation_prompt"] = add_generation_prompt;
  if (bos_) vars["bos_token"] = *bos_;
  if (eos_) vars["eos_token"] = *eos_;
  if (extra.is_object()) {
    for (const auto& [k, v] : extra.items()) vars[k] = v;
  }
  return template_->render(vars);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  return render_json(messages_json(messages), add_generation_prompt);
}

std::string ChatTemplate::render_for_tokenizer(const std::vector<ChatMessage>& messages,
                                               bool add_generation_prompt, bool tokenizer_adds_bos) const {
  std::string out = render(messages, add_generation_prompt);
  if (template_ && tokenizer_adds_bos && bos_ && !bos_->empty() && out.starts_with(*bos_)) out.erase(0, bos_->size());
  return out;
}

}  // namespace crossgpu::model
