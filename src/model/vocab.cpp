// Reading the tokenizer metadata: every value is checked for presence, type, length and range
// before use, so a malformed file gives an error naming the key, never a bad lookup later.
#include "model/vocab.hpp"

#include <algorithm>
#include <cstdio>

#include "core/error.hpp"
#include "core/log.hpp"
#include "model/jinja/error.hpp"
#include "model/unicode.hpp"

namespace crossgpu::model {
namespace {

namespace key = tokenizer_key;

// ids are uint32 everywhere; a larger vocabulary cannot be addressed.
constexpr std::size_t max_vocab = std::size_t{1} << 31;

const GgufArray& require_array(const GgufFile& file, const char* name) {
  const GgufValue* v = file.find(name);
  if (v == nullptr) fail(Errc::invalid_argument, "tokenizer: the GGUF metadata lacks '{}'", name);
  const auto* array = std::get_if<GgufArray>(&v->value);
  if (array == nullptr) fail(Errc::invalid_argument, "tokenizer: '{}' is not an array", name);
  return *array;
}

const GgufArray* optional_array(const GgufFile& file, const char* name) {
  return file.find(name) == nullptr ? nullptr : &require_array(file, name);
}

const std::string& string_item(const GgufArray& array, const char* name, std::size_t i) {
  const auto* s = std::get_if<std::string>(&array[i].value);
  if (s == nullptr) fail(Errc::invalid_argument, "tokenizer: '{}'[{}] is not a string", name, i);
  return *s;
}

double number_item(const GgufArray& array, const char* name, std::size_t i) {
  const auto& v = array[i].value;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return static_cast<double>(*u);
  if (const auto* s = std::get_if<std::int64_t>(&v)) return static_cast<double>(*s);
  fail(Errc::invalid_argument, "tokenizer: '{}'[{}] is not a number", name, i);
}

std::optional<std::int64_t> integer_value(const GgufValue& value) {
  if (const auto* u = std::get_if<std::uint64_t>(&value.value)) {
    if (*u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(*u);
  }
  if (const auto* s = std::get_if<std::int64_t>(&value.value)) return *s;
  return std::nullopt;
}

void check_length(const GgufArray& array, const char* name, std::size_t tokens) {
  if (array.size() != tokens) {
    fail(Errc::invalid_argument, "tokenizer: '{}' has {} entries but '{}' has {}", name,
         array.size(), key::tokens, tokens);
  }
}

std::optional<std::uint32_t> read_id(const GgufFile& file, const char* name, std::size_t vocab_size) {
  const GgufValue* v = file.find(name);
  if (v == nullptr) return std::nullopt;
  const auto id = integer_value(*v);
  if (!id) fail(Errc::invalid_argument, "tokenizer: '{}' is not an integer", name);
  if (*id < 0 || static_cast<std::uint64_t>(*id) >= vocab_size) {
    fail(Errc::invalid_argument, "tokenizer: '{}' is {}, outside the vocabulary of {} tokens", name,
         *id, vocab_size);
  }
  return static_cast<std::uint32_t>(*id);
}

std::optional<bool> read_bool(const GgufFile& file, const char* name) {
  const GgufValue* v = file.find(name);
  if (v == nullptr) return std::nullopt;
  const auto* b = std::get_if<bool>(&v->value);
  if (b == nullptr) fail(Errc::invalid_argument, "tokenizer: '{}' is not a boolean", name);
  return *b;
}

std::string read_string(const GgufFile& file, const char* name) {
  const GgufValue* v = file.find(name);
  if (v == nullptr) return {};
  const auto* s = std::get_if<std::string>(&v->value);
  if (s == nullptr) fail(Errc::invalid_argument, "tokenizer: '{}' is not a string", name);
  return *s;
}

void read_kind(const GgufFile& file, Vocab& vocab) {
  if (file.find(key::model) == nullptr) {
    fail(Errc::invalid_argument, "tokenizer: the GGUF metadata lacks '{}'", key::model);
  }
  vocab.kind = read_string(file, key::model);
  if (vocab.kind != "llama" && vocab.kind != "gpt2") {
    fail(Errc::unsupported, "tokenizer: '{}' is \"{}\"; crossgpu reads \"llama\" (SentencePiece) "
         "and \"gpt2\" (byte-level BPE) vocabularies", key::model, vocab.kind);
  }
  // SentencePiece vocabularies have no pre-tokenizer (llama.cpp ignores the key for them).
  if (vocab.kind == "gpt2") vocab.pre = PreTokenizer::named(read_string(file, key::pre));
}

void read_tokens(const GgufFile& file, Vocab& vocab) {
  const GgufArray& tokens = require_array(file, key::tokens);
  if (tokens.empty() || tokens.size() >= max_vocab) {
    fail(Errc::invalid_argument, "tokenizer: '{}' has {} entries", key::tokens, tokens.size());
  }
  vocab.tokens.reserve(tokens.size());
  vocab.ids.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    vocab.tokens.push_back(string_item(tokens, key::tokens, i));
    vocab.ids.emplace(vocab.tokens.back(), static_cast<std::uint32_t>(i));
  }
}

void read_scores_and_types(const GgufFile& file, Vocab& vocab) {
  const std::size_t n = vocab.tokens.size();
  vocab.scores.assign(n, 0.0f);
  if (const GgufArray* scores = optional_array(file, key::scores)) {
    check_length(*scores, key::scores, n);
    for (std::size_t i = 0; i < n; ++i) vocab.scores[i] = static_cast<float>(number_item(*scores, key::scores, i));
  }
  vocab.types.assign(n, TokenType::undefined);
  if (const GgufArray* types = optional_array(file, key::token_type)) {
    check_length(*types, key::token_type, n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto t = integer_value((*types)[i]);
      if (!t || *t < 0 || *t > static_cast<std::int64_t>(TokenType::byte)) {
        fail(Errc::invalid_argument, "tokenizer: '{}'[{}] is not a token type (0..6)", key::token_type, i);
      }
      vocab.types[i] = static_cast<TokenType>(*t);
    }
  }
}

std::optional<std::uint32_t> id_or_text(const GgufFile& file, const Vocab& vocab, const char* name,
                                        std::string_view default_text) {
  if (auto id = read_id(file, name, vocab.tokens.size())) return id;
  return default_text.empty() ? std::nullopt : vocab.find(default_text);
}

// Ids the file names, and llama.cpp's defaults by token text where it names none.
void read_special_ids(const GgufFile& file, Vocab& vocab) {
  const bool spm = vocab.kind == "llama";
  vocab.bos = id_or_text(file, vocab, key::bos, spm ? "<s>" : "<|endoftext|>");
  vocab.eos = id_or_text(file, vocab, key::eos, spm ? "</s>" : "<|endoftext|>");
  vocab.unk = id_or_text(file, vocab, key::unk, spm ? "<unk>" : "");
  vocab.pad = read_id(file, key::pad, vocab.tokens.size());
  // Without the key: SentencePiece adds BOS, and so do some pre-tokenizers (Llama 3) when there is one.
  vocab.add_bos = read_bool(file, key::add_bos).value_or(spm || (vocab.pre.adds_bos_by_default() && vocab.bos));
  vocab.add_eos = read_bool(file, key::add_eos).value_or(false);
  vocab.add_space_prefix = read_bool(file, key::add_space_prefix).value_or(spm);
  if (vocab.add_bos && !vocab.bos) {
    fail(Errc::invalid_argument, "tokenizer: '{}' is true but there is no '{}'", key::add_bos, key::bos);
  }
  if (vocab.add_eos && !vocab.eos) {
    fail(Errc::invalid_argument, "tokenizer: '{}' is true but there is no '{}'", key::add_eos, key::eos);
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0xXX>", the SentencePiece spelling of a byte token.
bool parse_byte_token(std::string_view text, std::uint8_t& byte) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return false;
  const int high = hex_digit(text[3]);
  const int low = hex_digit(text[4]);
  if (high < 0 || low < 0) return false;
  byte = static_cast<std::uint8_t>(high * 16 + low);
  return true;
}

// Files without token types: the special ids are control tokens and "<0xXX>" are byte tokens,
// which is what the converters would have written.
void derive_missing_types(const GgufFile& file, Vocab& vocab) {
  if (file.find(key::token_type) != nullptr) return;
  std::uint8_t byte = 0;
  for (std::size_t i = 0; i < vocab.tokens.size(); ++i) {
    vocab.types[i] = vocab.kind == "llama" && parse_byte_token(vocab.tokens[i], byte) ? TokenType::byte
                                                                                       : TokenType::normal;
  }
  for (const auto& id : {vocab.bos, vocab.eos}) {
    if (id) vocab.types[*id] = TokenType::control;
  }
  if (vocab.unk) vocab.types[*vocab.unk] = TokenType::unknown;
}

void find_byte_tokens(Vocab& vocab) {
  for (unsigned b = 0; b < 256; ++b) {
    std::string text;
    if (vocab.kind == "llama") {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      text = buf;
    } else {
      text = unicode::to_byte_level(std::string(1, static_cast<char>(b)));
    }
    const auto id = vocab.find(text);
    const bool usable = id && (vocab.kind == "llama" ? vocab.types[*id] == TokenType::byte : vocab.is_text_token(*id));
    if (usable) vocab.byte_tokens[b] = id;
  }
}

void check_byte_tokens(Vocab& vocab) {
  std::uint8_t byte = 0;
  for (std::size_t i = 0; i < vocab.tokens.size(); ++i) {
    if (vocab.types[i] == TokenType::byte && !parse_byte_token(vocab.tokens[i], byte)) {
      fail(Errc::invalid_argument, "tokenizer: '{}'[{}] marks \"{}\" as a byte token, which must read <0xXX>",
           key::token_type, i, vocab.tokens[i]);
    }
  }
  find_byte_tokens(vocab);
  const auto missing = std::count(vocab.byte_tokens.begin(), vocab.byte_tokens.end(), std::nullopt);
  if (missing > 0 && !vocab.unk) {
    fail(Errc::invalid_argument, "tokenizer: the vocabulary lacks tokens for {} of the 256 bytes and has "
         "no '{}': some text could not be encoded", missing, key::unk);
  }
}

// "left right" pairs, best first. A pair whose result is not a token can never apply and is skipped.
void read_merges(const GgufFile& file, Vocab& vocab) {
  if (vocab.kind != "gpt2") return;
  const GgufArray& merges = require_array(file, key::merges);
  vocab.merges.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const std::string& merge = string_item(merges, key::merges, i);
    const std::size_t space = merge.find(' ', 1);
    if (space == std::string::npos) {
      fail(Errc::invalid_argument, "tokenizer: '{}'[{}] \"{}\" is not two tokens separated by a space",
           key::merges, i, merge);
    }
    const std::string_view parts[2] = {std::string_view(merge).substr(0, space),
                                       std::string_view(merge).substr(space + 1)};
    std::uint32_t ids[2] = {};
    for (int k = 0; k < 2; ++k) {
      const auto id = vocab.find(parts[k]);
      if (!id) fail(Errc::invalid_argument, "tokenizer: '{}'[{}] names \"{}\", which is not in '{}'",
                    key::merges, i, parts[k], key::tokens);
      ids[k] = *id;
    }
    const auto result = vocab.find(merge.substr(0, space) + merge.substr(space + 1));
    if (!result) continue;
    vocab.merges.emplace(std::uint64_t{ids[0]} << 32 | ids[1], Merge{static_cast<std::uint32_t>(i), *result});
  }
}

// llama.cpp treats these texts as control tokens whatever type the file gives them (its end-of-
// turn, end-of-generation and fill-in-the-middle lists, llama-vocab.cpp), so they are split out
// of text as special tokens: a Qwen vocabulary's normal "</s>" is one of them.
void mark_control_looking_tokens(Vocab& vocab) {
  static constexpr const char* texts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
      "_<EOT>", "[EOT]", "[EOS]", "<｜end▁of▁sentence｜>", "<end_of_utterance>", "<|eom_id|>", "<|return|>",
      "<|call|>", "<|flush|>", "<|calls|>", "</s>", "<eos>", "<turn|>", "<|tool_response>", "[e~[",
      "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
      "<|prefix|>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
      "<|code_suffix|>", "<|suffix|>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
      "▁<MID>", "<|code_middle|>", "<|middle|>", "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
      "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"};
  for (const char* text : texts) {
    const auto id = vocab.find(text);
    if (id && vocab.types[*id] != TokenType::unknown) vocab.types[*id] = TokenType::control;
  }
}

// Control, user-defined and unknown tokens are what llama.cpp looks for in text before anything
// else (its cache_special_tokens).
void index_specials(Vocab& vocab) {
  for (std::size_t i = 0; i < vocab.tokens.size(); ++i) {
    const TokenType t = vocab.types[i];
    if ((t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown) &&
        !vocab.tokens[i].empty()) {
      vocab.specials_by_first_byte[static_cast<unsigned char>(vocab.tokens[i][0])].push_back(
          static_cast<std::uint32_t>(i));
    }
  }
  for (auto& list : vocab.specials_by_first_byte) {
    std::stable_sort(list.begin(), list.end(), [&](std::uint32_t a, std::uint32_t b) {
      return vocab.tokens[a].size() > vocab.tokens[b].size();
    });
  }
}

// End-of-generation: the ids the file names, plus the end-of-turn tokens of the common chat
// formats, found by text as llama.cpp does (files often leave eot_token_id out).
void find_end_of_generation(const GgufFile& file, Vocab& vocab) {
  std::vector<std::uint32_t>& eog = vocab.end_of_generation;
  for (const auto& id : {vocab.eos, read_id(file, key::eot, vocab.tokens.size()),
                         read_id(file, key::eom, vocab.tokens.size())}) {
    if (id) eog.push_back(*id);
  }
  for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                           "<|eom_id|>", "<|end_of_text|>", "<|END_OF_TURN_TOKEN|>"}) {
    if (const auto id = vocab.find(text)) eog.push_back(*id);
  }
  std::sort(eog.begin(), eog.end());
  eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
}

std::string spm_piece(std::string_view text) {
  std::string out;
  constexpr std::string_view space_mark = "\xE2\x96\x81";  // U+2581
  for (std::size_t pos = 0; pos < text.size();) {
    if (text.substr(pos, 3) == space_mark) {
      out += ' ';
      pos += 3;
    } else {
      out += text[pos++];
    }
  }
  return out;
}

// Byte-level characters back to their bytes; a character outside the mapping (a hand-added
// token) is kept as it is.
std::string byte_level_piece(std::string_view text) {
  std::string out;
  for (const unicode::Char& c : unicode::split_chars(text)) {
    if (const auto byte = unicode::unicode_to_byte(c.cp)) {
      out += static_cast<char>(*byte);
    } else {
      out += text.substr(c.offset, c.length);
    }
  }
  return out;
}

std::string piece_of(const Vocab& vocab, std::size_t id) {
  const std::string& text = vocab.tokens[id];
  std::uint8_t byte = 0;
  switch (vocab.types[id]) {
    case TokenType::control: return {};
    case TokenType::byte: parse_byte_token(text, byte); return std::string(1, static_cast<char>(byte));
    case TokenType::user_defined: return vocab.kind == "llama" ? spm_piece(text) : text;
    default: return vocab.kind == "llama" ? spm_piece(text) : byte_level_piece(text);
  }
}

void compute_pieces(Vocab& vocab) {
  vocab.pieces.reserve(vocab.tokens.size());
  for (std::size_t i = 0; i < vocab.tokens.size(); ++i) vocab.pieces.push_back(piece_of(vocab, i));
}

}  // namespace

std::shared_ptr<const Vocab> load_vocab(const GgufFile& file) {
  auto vocab = std::make_shared<Vocab>();
  read_kind(file, *vocab);
  read_tokens(file, *vocab);
  read_scores_and_types(file, *vocab);
  read_special_ids(file, *vocab);
  derive_missing_types(file, *vocab);
  check_byte_tokens(*vocab);
  read_merges(file, *vocab);
  mark_control_looking_tokens(*vocab);
  index_specials(*vocab);
  compute_pieces(*vocab);
  find_end_of_generation(file, *vocab);
  vocab->chat_format = detect_chat_format(read_string(file, key::chat_template));
  try {
    vocab->chat_template = ChatTemplate::from_gguf(file);
  } catch (const jinja::TemplateError& e) {
    // A template this engine cannot parse: the model stays usable with the recognised format.
    log::warn("{}; using the built-in {} chat format", e.what(), chat_format_name(vocab->chat_format));
    vocab->chat_template = ChatTemplate("", std::nullopt, std::nullopt, vocab->chat_format);
  }
  return vocab;
}

}  // namespace crossgpu::model
