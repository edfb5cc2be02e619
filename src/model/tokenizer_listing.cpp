#include "model/tokenizer_listing.hpp"

#include "model/gguf.hpp"

namespace crossgpu::model {

std::vector<TokenListing> list_tokens(const Tokenizer& tokenizer, std::string_view text, bool parse_special) {
  std::vector<TokenListing> out;
  for (std::uint32_t id : tokenizer.encode(text, /*add_special=*/true, parse_special)) {
    const TokenType type = tokenizer.token_type(id);
    const std::string& vocab_text = tokenizer.token_text(id);
    out.push_back({id, vocab_text, type == TokenType::control ? vocab_text : tokenizer.token_to_piece(id), type});
  }
  return out;
}

Tokenizer tokenizer_from_file(const std::filesystem::path& path) {
  return Tokenizer::from_gguf(GgufFile::open(path));
}

std::string_view token_type_name(TokenType type) {
  switch (type) {
    case TokenType::undefined: return "undefined";
    case TokenType::normal: return "normal";
    case TokenType::unknown: return "unknown";
    case TokenType::control: return "control";
    case TokenType::user_defined: return "user_defined";
    case TokenType::unused: return "unused";
    case TokenType::byte: return "byte";
  }
  return "undefined";
}

}  // namespace crossgpu::model
