#include "support/hf_tokenizer.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>

#include "core/error.hpp"

namespace crossgpu::testing {
namespace {

using nlohmann::json;
using model::TokenType;

// The Split regexes of each known pre-tokenizer, as tokenizer.json files carry them, joined by
// a newline (a Sequence of Splits), and the tokenizer.ggml.pre name llama.cpp gives them.
const std::map<std::string, std::string>& known_splits() {
  static const std::map<std::string, std::string> table = {
      {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
       "llama-bpe"},
      {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
       "qwen2"},
      {"\\p{N}{1,3}\n[一-龥぀-ゟ゠-ヿ]+\n[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|"
       "[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
       "deepseek-v3"},
  };
  return table;
}

std::string token_content(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return {};
}

const json& require(const json& object, const char* key, const char* where) {
  if (!object.is_object() || !object.contains(key)) {
    fail(Errc::invalid_argument, "hf tokenizer: {} lacks \"{}\"", where, key);
  }
  return object[key];
}

struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<TokenType> types;
  std::vector<bool> present;
  std::map<std::string, std::uint32_t> ids;
};

void put(Vocabulary& v, std::uint64_t id, const std::string& text, TokenType type) {
  if (id >= (std::uint64_t{1} << 31)) fail(Errc::invalid_argument, "hf tokenizer: token id {} is too large", id);
  if (id >= v.tokens.size()) {
    v.tokens.resize(id + 1);
    v.types.resize(id + 1, TokenType::unused);
    v.present.resize(id + 1, false);
  }
  v.tokens[id] = text;
  v.types[id] = type;
  v.present[id] = true;
  v.ids[text] = static_cast<std::uint32_t>(id);
}

// convert_hf_to_gguf's does_token_look_special: added tokens some models forget to mark special.
bool looks_special(const std::string& text) {
  auto wrapped = [&](std::string_view open, std::string_view close) {
    return text.size() >= open.size() + close.size() && text.starts_with(open) && text.ends_with(close);
  };
  return text == "<pad>" || text == "<mask>" || text == "<2mass>" || text == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<｜", "｜>") || wrapped("<unused", ">");
}

bool is_id(const json& value) { return value.is_number_integer() && value.get<std::int64_t>() >= 0; }

bool is_byte_token(const std::string& text) {
  static const std::regex pattern("<0x[0-9A-Fa-f]{2}>");
  return std::regex_match(text, pattern);
}

Vocabulary read_vocabulary(const json& tokenizer, bool spm) {
  const json& model = require(tokenizer, "model", "tokenizer.json");
  const json& vocab = require(model, "vocab", "tokenizer.json model");
  if (!vocab.is_object()) fail(Errc::invalid_argument, "hf tokenizer: model.vocab is not an object");
  Vocabulary v;
  for (const auto& [text, id] : vocab.items()) {
    if (!is_id(id)) fail(Errc::invalid_argument, "hf tokenizer: model.vocab[\"{}\"] is not an id", text);
    put(v, id.get<std::uint64_t>(), text, spm && is_byte_token(text) ? TokenType::byte : TokenType::normal);
  }
  const std::string unk = token_content(model.value("unk_token", json()));
  if (!unk.empty() && v.ids.count(unk)) v.types[v.ids[unk]] = TokenType::unknown;
  if (tokenizer.contains("added_tokens")) {
    if (!tokenizer["added_tokens"].is_array()) fail(Errc::invalid_argument, "hf tokenizer: added_tokens is not an array");
    for (const json& added : tokenizer["added_tokens"]) {
      const json& id = require(added, "id", "an added token");
      const std::string text = token_content(added);
      if (!is_id(id) || text.empty()) {
        fail(Errc::invalid_argument, "hf tokenizer: an added token has no id or content: {}", added.dump());
      }
      const bool special = added.value("special", false) || looks_special(text);
      const TokenType type = text == unk ? TokenType::unknown : special ? TokenType::control : TokenType::user_defined;
      put(v, id.get<std::uint64_t>(), text, type);
    }
  }
  for (std::size_t i = 0; i < v.tokens.size(); ++i) {
    if (!v.present[i]) v.tokens[i] = "[PAD" + std::to_string(i) + "]";
  }
  return v;
}

std::vector<std::string> read_merges(const json& model) {
  std::vector<std::string> out;
  if (!model.contains("merges")) return out;
  if (!model["merges"].is_array()) fail(Errc::invalid_argument, "hf tokenizer: model.merges is not an array");
  for (const json& m : model["merges"]) {
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      fail(Errc::invalid_argument, "hf tokenizer: a merge is neither \"a b\" nor [a, b]: {}", m.dump());
    }
  }
  return out;
}

// SentencePiece scores in the order of tokenizer.json's merges: the converter that wrote them
// from tokenizer.model sorted them by the score of the piece they make, so a token scores minus
// the rank of its first merge (whitespace runs, added to Llama's model by hand with the lowest
// scores, merge last, as they do there). Normal tokens no merge makes score below every merge,
// by id; the others 0 (SentencePiece's meta pieces).
std::vector<float> spm_scores(const Vocabulary& v, const std::vector<std::string>& merges) {
  std::vector<float> scores(v.tokens.size(), 0.0f);
  std::vector<bool> ranked(v.tokens.size(), false);
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    std::string joined = merges[rank];
    const std::size_t space = joined.find(' ', 1);
    if (space == std::string::npos) fail(Errc::invalid_argument, "hf tokenizer: merge {} \"{}\" has no space", rank, joined);
    joined.erase(space, 1);
    const auto it = v.ids.find(joined);
    if (it == v.ids.end() || ranked[it->second]) continue;
    ranked[it->second] = true;
    scores[it->second] = -static_cast<float>(rank);
  }
  for (std::size_t i = 0; i < v.tokens.size(); ++i) {
    if (!ranked[i] && v.types[i] == TokenType::normal) scores[i] = -static_cast<float>(merges.size() + i);
  }
  return scores;
}

void collect_splits(const json& pre, std::vector<std::string>& out) {
  if (!pre.is_object()) return;
  const std::string type = pre.value("type", "");
  if (type == "Sequence") {
    for (const json& p : pre.value("pretokenizers", json::array())) collect_splits(p, out);
  } else if (type == "Split" && pre.contains("pattern") && pre["pattern"].contains("Regex")) {
    out.push_back(pre["pattern"]["Regex"].get<std::string>());
  } else if (type == "ByteLevel" && pre.value("use_regex", true)) {
    out.push_back("gpt2");
  }
}

bool prepends_space_mark(const json& normalizer) {
  if (!normalizer.is_object()) return false;
  if (normalizer.value("type", "") == "Prepend") return normalizer.value("prepend", "") == "\xE2\x96\x81";
  if (normalizer.value("type", "") == "Sequence") {
    for (const json& n : normalizer.value("normalizers", json::array())) {
      if (prepends_space_mark(n)) return true;
    }
  }
  return false;
}

// Whether a TemplateProcessing post-processor puts `token` before (first) or after the text.
std::optional<bool> template_adds(const json& post, bool first) {
  if (!post.is_object()) return std::nullopt;
  if (post.value("type", "") == "Sequence") {
    for (const json& p : post.value("processors", json::array())) {
      if (auto r = template_adds(p, first)) return r;
    }
    return std::nullopt;
  }
  if (post.value("type", "") != "TemplateProcessing" || !post.contains("single")) return std::nullopt;
  const json& single = post["single"];
  if (!single.is_array() || single.empty()) return false;
  return (first ? single.front() : single.back()).contains("SpecialToken");
}

std::optional<std::uint32_t> id_of(const Vocabulary& v, const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const std::string text = token_content(config[key]);
  if (text.empty()) return std::nullopt;
  const auto it = v.ids.find(text);
  if (it == v.ids.end()) fail(Errc::invalid_argument, "hf tokenizer: {} \"{}\" is not in the vocabulary", key, text);
  return it->second;
}

std::string chat_template_of(const json& config) {
  if (!config.contains("chat_template")) return {};
  const json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const json& named : t) {
      if (named.value("name", "") == "default") return named.value("template", "");
    }
  }
  return {};
}

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail(Errc::io, "hf tokenizer: cannot open {}", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail(Errc::invalid_argument, "hf tokenizer: {} is not JSON: {}", path.string(), e.what());
  }
}

}  // namespace

std::string detect_pretokenizer(const json& pre_tokenizer) {
  std::vector<std::string> splits;
  collect_splits(pre_tokenizer, splits);
  if (splits.size() == 1 && splits[0] == "gpt2") return "gpt-2";
  std::string joined;
  for (const std::string& s : splits) {
    if (s == "gpt2") continue;  // a ByteLevel after the Splits only maps bytes
    joined += (joined.empty() ? "" : "\n") + s;
  }
  const auto it = known_splits().find(joined);
  return it == known_splits().end() ? std::string() : it->second;
}

model::TokenizerSpec tokenizer_spec_from_hf(const json& tokenizer, const json& config, const std::string& pre) {
  const json& model = require(tokenizer, "model", "tokenizer.json");
  if (model.value("type", "") != "BPE") {
    fail(Errc::unsupported, "hf tokenizer: model type \"{}\"; the converter reads BPE models", model.value("type", ""));
  }
  const bool spm = model.value("byte_fallback", false);
  Vocabulary v = read_vocabulary(tokenizer, spm);
  model::TokenizerSpec spec;
  spec.kind = spm ? "llama" : "gpt2";
  if (spm) {
    spec.scores = spm_scores(v, read_merges(model));
    spec.add_space_prefix = prepends_space_mark(tokenizer.value("normalizer", json()));
  } else {
    spec.merges = read_merges(model);
    spec.pre = pre.empty() ? detect_pretokenizer(tokenizer.value("pre_tokenizer", json())) : pre;
    if (spec.pre.empty()) {
      fail(Errc::unsupported, "hf tokenizer: the pre_tokenizer {} is not one the converter recognises; name it",
           tokenizer.value("pre_tokenizer", json()).dump().substr(0, 300));
    }
  }
  spec.tokens = std::move(v.tokens);
  spec.token_types = v.types;
  spec.bos = id_of(v, config, "bos_token");
  spec.eos = id_of(v, config, "eos_token");
  spec.pad = id_of(v, config, "pad_token");
  spec.unk = id_of(v, config, "unk_token");
  const json& post = tokenizer.value("post_processor", json());
  spec.add_bos = config.contains("add_bos_token") && config["add_bos_token"].is_boolean()
                     ? config["add_bos_token"].get<bool>()
                     : template_adds(post, true).value_or(false);
  spec.add_eos = config.contains("add_eos_token") && config["add_eos_token"].is_boolean()
                     ? config["add_eos_token"].get<bool>()
                     : false;
  if (*spec.add_bos && !spec.bos) spec.add_bos = false;
  if (*spec.add_eos && !spec.eos) spec.add_eos = false;
  spec.chat_template = chat_template_of(config);
  return spec;
}

model::TokenizerSpec tokenizer_spec_from_hf_dir(const std::filesystem::path& dir, const std::string& pre) {
  const json tokenizer = read_json(dir / "tokenizer.json");
  return tokenizer_spec_from_hf(tokenizer, read_json(dir / "tokenizer_config.json"), pre);
}

}  // namespace crossgpu::testing
