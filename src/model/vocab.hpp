// The tokenizer's data, loaded and checked once from GGUF metadata, with the lookup tables the
// encoders need. Internal to the model layer: callers use Tokenizer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/chat_template.hpp"
#include "model/gguf.hpp"
#include "model/pretokenizer.hpp"
#include "model/tokenizer.hpp"

namespace crossgpu::model {

// The GGUF metadata keys, as llama.cpp names them.
namespace tokenizer_key {
inline constexpr const char* model = "tokenizer.ggml.model";
inline constexpr const char* pre = "tokenizer.ggml.pre";
inline constexpr const char* tokens = "tokenizer.ggml.tokens";
inline constexpr const char* scores = "tokenizer.ggml.scores";
inline constexpr const char* token_type = "tokenizer.ggml.token_type";
inline constexpr const char* merges = "tokenizer.ggml.merges";
inline constexpr const char* bos = "tokenizer.ggml.bos_token_id";
inline constexpr const char* eos = "tokenizer.ggml.eos_token_id";
inline constexpr const char* unk = "tokenizer.ggml.unknown_token_id";
inline constexpr const char* pad = "tokenizer.ggml.padding_token_id";
inline constexpr const char* eot = "tokenizer.ggml.eot_token_id";
inline constexpr const char* eom = "tokenizer.ggml.eom_token_id";
inline constexpr const char* add_bos = "tokenizer.ggml.add_bos_token";
inline constexpr const char* add_eos = "tokenizer.ggml.add_eos_token";
inline constexpr const char* add_space_prefix = "tokenizer.ggml.add_space_prefix";
inline constexpr const char* chat_template = "tokenizer.chat_template";
}  // namespace tokenizer_key

// Lets the token table be searched with a string_view without building a std::string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Merge {
  std::uint32_t rank;    // position in tokenizer.ggml.merges: lower merges first
  std::uint32_t result;  // the token the pair becomes
};

struct Vocab {
  std::string kind;  // "llama" or "gpt2"
  PreTokenizer pre;  // gpt2 only
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  // What each token prints as: bytes of byte tokens, U+2581 as a space (llama), byte-level
  // characters mapped back to bytes (gpt2), nothing for control tokens.
  std::vector<std::string> pieces;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> ids;  // first wins
  std::unordered_map<std::uint64_t, Merge> merges;  // key: left id << 32 | right id
  // The token of each byte: "<0xXX>" for llama, the byte's byte-level character for gpt2.
  std::array<std::optional<std::uint32_t>, 256> byte_tokens;
  std::optional<std::uint32_t> bos, eos, unk, pad;
  std::vector<std::uint32_t> end_of_generation;  // sorted
  // Control and user-defined tokens, by first byte, longest first: what parse_special looks for.
  std::array<std::vector<std::uint32_t>, 256> specials_by_first_byte;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  ChatFormat chat_format = ChatFormat::chatml;
  // tokenizer.chat_template as Jinja (the built-in chat_format when the file has none or it does not parse)
  ChatTemplate chat_template;

  std::optional<std::uint32_t> find(std::string_view text) const {
    const auto it = ids.find(text);
    return it == ids.end() ? std::nullopt : std::optional<std::uint32_t>(it->second);
  }
  // Whether ordinary text may turn into this token (control, byte and unknown tokens are reached
  // only by their own rules, so that text spelling "<0x41>" or "<s>" stays that text).
  bool is_text_token(std::uint32_t id) const {
    const TokenType t = types[id];
    return t == TokenType::normal || t == TokenType::user_defined || t == TokenType::undefined;
  }
};

std::shared_ptr<const Vocab> load_vocab(const GgufFile& file);

// The two algorithms; both append to `out` and accept any bytes.
void spm_encode(const Vocab& vocab, std::string_view text, std::vector<std::uint32_t>& out);
void bpe_encode(const Vocab& vocab, std::string_view text, std::vector<std::uint32_t>& out);

}  // namespace crossgpu::model
