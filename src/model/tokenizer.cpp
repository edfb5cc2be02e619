#include "model/tokenizer.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "model/vocab.hpp"

namespace crossgpu::model {
namespace {

// A piece of the input: ordinary text, or a special token written in it.
struct Fragment {
  std::string_view text;
  std::optional<std::uint32_t> special;
};

// The longest special token starting at `pos`, if any. Without parse_special only user-defined
// tokens count (llama.cpp and Hugging Face split those out of any text).
std::optional<std::uint32_t> special_at(const Vocab& vocab, std::string_view text, std::size_t pos,
                                        bool parse_special) {
  for (std::uint32_t id : vocab.specials_by_first_byte[static_cast<unsigned char>(text[pos])]) {
    if (!parse_special && vocab.types[id] != TokenType::user_defined) continue;
    if (text.compare(pos, vocab.tokens[id].size(), vocab.tokens[id]) == 0) return id;
  }
  return std::nullopt;
}

std::vector<Fragment> split_specials(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<Fragment> out;
  std::size_t start = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const auto id = special_at(vocab, text, pos, parse_special);
    if (!id) {
      ++pos;
      continue;
    }
    if (pos > start) out.push_back({text.substr(start, pos - start), std::nullopt});
    out.push_back({{}, id});
    pos += vocab.tokens[*id].size();
    start = pos;
  }
  if (start < text.size()) out.push_back({text.substr(start), std::nullopt});
  return out;
}

void check_id(const Vocab& vocab, std::uint32_t id) {
  if (id >= vocab.tokens.size()) {
    fail(Errc::out_of_range, "tokenizer: token id {} is outside the vocabulary of {} tokens", id,
         vocab.tokens.size());
  }
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GgufFile& file) { return Tokenizer(load_vocab(file)); }

// `after_special`: the text starts the input or follows a special token, which is where
// SentencePiece's dummy prefix (a space) goes, as in llama.cpp.
void Tokenizer::encode_text(std::string_view text, bool after_special, std::vector<std::uint32_t>& out) const {
  const Vocab& v = *vocab_;
  const bool prefix = v.add_space_prefix && after_special;
  const std::string prefixed = prefix ? " " + std::string(text) : std::string();
  const std::string_view input = prefix ? std::string_view(prefixed) : text;
  if (v.kind == "llama") {
    spm_encode(v, input, out);
  } else {
    bpe_encode(v, input, out);
  }
}

std::vector<std::uint32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Vocab& v = *vocab_;
  std::vector<std::uint32_t> out;
  if (add_special && v.add_bos) out.push_back(*v.bos);
  bool after_special = true;
  for (const Fragment& f : split_specials(v, text, parse_special)) {
    if (f.special) {
      out.push_back(*f.special);
    } else {
      encode_text(f.text, after_special, out);
    }
    after_special = f.special.has_value();
  }
  if (add_special && v.add_eos) out.push_back(*v.eos);
  return out;
}

std::string Tokenizer::decode(std::span<const std::uint32_t> ids) const {
  const Vocab& v = *vocab_;
  std::string out;
  // The dummy prefix's space before the first word is not part of the text.
  bool strip_space = v.kind == "llama" && v.add_space_prefix;
  for (std::uint32_t id : ids) {
    check_id(v, id);
    if (v.types[id] == TokenType::control) continue;
    std::string_view piece = v.pieces[id];
    if (strip_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    strip_space = false;
    out += piece;
  }
  return out;
}

std::string Tokenizer::token_to_piece(std::uint32_t id) const {
  check_id(*vocab_, id);
  return vocab_->pieces[id];
}

const std::string& Tokenizer::token_text(std::uint32_t id) const {
  check_id(*vocab_, id);
  return vocab_->tokens[id];
}

TokenType Tokenizer::token_type(std::uint32_t id) const {
  check_id(*vocab_, id);
  return vocab_->types[id];
}

std::uint32_t Tokenizer::bos() const {
  if (!vocab_->bos) fail(Errc::not_found, "tokenizer: the vocabulary has no BOS token");
  return *vocab_->bos;
}

std::uint32_t Tokenizer::eos() const {
  if (!vocab_->eos) fail(Errc::not_found, "tokenizer: the vocabulary has no EOS token");
  return *vocab_->eos;
}

bool Tokenizer::is_end_of_generation(std::uint32_t id) const {
  return std::binary_search(vocab_->end_of_generation.begin(), vocab_->end_of_generation.end(), id);
}

std::size_t Tokenizer::vocab_size() const { return vocab_->tokens.size(); }
const std::string& Tokenizer::model_kind() const { return vocab_->kind; }
ChatFormat Tokenizer::chat_format() const { return vocab_->chat_format; }

std::string Tokenizer::apply_chat_template(const std::vector<ChatMessage>& messages,
                                           bool add_assistant_prompt) const {
  // The template may write BOS itself; the tokenizer adds it when the metadata says so, not twice.
  return vocab_->chat_template.render_for_tokenizer(messages, add_assistant_prompt,
                                                    vocab_->add_bos && vocab_->bos.has_value());
}

}  // namespace crossgpu::model
