// Text <-> token ids for a model, built from the tokenizer metadata of its GGUF file the way
// llama.cpp reads it: "llama" vocabularies are SentencePiece-style (score-driven merges, U+2581
// for spaces, <0xXX> byte fallback), "gpt2" ones byte-level BPE (pre-tokenizer, merges by rank).
// Control and user-defined tokens written literally in the text ("<|im_start|>") are found first.
// Any input text is accepted, invalid UTF-8 included; only the metadata can be refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/chat_template.hpp"
#include "model/gguf.hpp"

namespace crossgpu::model {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : std::int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

struct Vocab;  // the loaded metadata and its lookup tables (model/vocab.hpp)

class Tokenizer {
 public:
  // Throws Error{invalid_argument} naming the key for missing or malformed metadata (and ids out
  // of range), Error{unsupported} for a tokenizer model other than "llama" and "gpt2".
  static Tokenizer from_gguf(const GgufFile& file);

  // add_special: BOS (and EOS) where the metadata asks for them. parse_special: control and
  // unknown tokens written in `text` become their ids instead of being spelled out; user-defined
  // tokens always do (as llama.cpp and Hugging Face split them out of any text).
  std::vector<std::uint32_t> encode(std::string_view text, bool add_special = true,
                                    bool parse_special = true) const;
  // The text of `ids`: control tokens (BOS, EOS, <|im_end|>, ...) print as nothing, and the space
  // the SentencePiece dummy prefix put before the first word is removed. Throws out_of_range.
  std::string decode(std::span<const std::uint32_t> ids) const;
  // One token's bytes, for streaming (may be part of a UTF-8 character). Throws out_of_range.
  std::string token_to_piece(std::uint32_t id) const;
  // The text of a token as stored in the vocabulary ("▁the", "<0x0A>", "Ġthe").
  const std::string& token_text(std::uint32_t id) const;
  TokenType token_type(std::uint32_t id) const;

  // Throw Error{not_found} when the vocabulary has no such token.
  std::uint32_t bos() const;
  std::uint32_t eos() const;
  // EOS, tokenizer.ggml.eot_token_id / eom_token_id, and the end-of-turn tokens of the common
  // chat formats (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ...).
  bool is_end_of_generation(std::uint32_t id) const;
  std::size_t vocab_size() const;
  const std::string& model_kind() const;  // "llama" or "gpt2"

  // The conversation rendered with the file's tokenizer.chat_template (Jinja, as Hugging Face
  // renders it; without a leading BOS text when encode adds BOS), or the built-in format when the
  // file has none: see chat_template.hpp. Throws jinja::TemplateError (raise_exception, limits).
  std::string apply_chat_template(const std::vector<ChatMessage>& messages,
                                  bool add_assistant_prompt) const;
  ChatFormat chat_format() const;

 private:
  explicit Tokenizer(std::shared_ptr<const Vocab> vocab) : vocab_(std::move(vocab)) {}
  void encode_text(std::string_view text, bool first, std::vector<std::uint32_t>& out) const;
  std::shared_ptr<const Vocab> vocab_;  // immutable, so copies of a Tokenizer share it
};

// Everything add_tokenizer_metadata writes. Empty vectors / strings and nullopt ids are left out
// of the file (so tests can write incomplete metadata on purpose).
struct TokenizerSpec {
  std::string kind = "llama";           // tokenizer.ggml.model
  std::string pre;                      // tokenizer.ggml.pre (gpt2 pre-tokenizer name)
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> token_types;
  std::vector<std::string> merges;      // "left right", best first (gpt2)
  std::optional<std::uint32_t> bos, eos, unk, pad, eot;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string chat_template;
};

void add_tokenizer_metadata(GgufWriter& writer, const TokenizerSpec& spec);

// A small but real SentencePiece vocabulary for generated demo models: <unk> <s> </s>, the 256
// byte tokens, the ChatML control tokens, printable ASCII, and pieces (with prefixes, so merges
// can reach them) of common English words, scored so that longer pieces merge last. Deterministic.
TokenizerSpec demo_spm_vocabulary();

}  // namespace crossgpu::model
