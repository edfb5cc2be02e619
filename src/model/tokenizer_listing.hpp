// What `crossgpu tokenize` shows of a text (as llama.cpp's llama-tokenize does): each token's id,
// its text in the vocabulary and the bytes it stands for. Loading and encoding live here so
// that the command only parses arguments and prints.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer.hpp"

namespace crossgpu::model {

struct TokenListing {
  std::uint32_t id;
  std::string text;   // as stored in the vocabulary ("▁the", "Ġthe", "<0x0A>", "<|im_end|>")
  std::string piece;  // the bytes it decodes to (a control token: its text); may be part of a
                      // UTF-8 character
  TokenType type;
};

// `parse_special`: control tokens written in the text become their ids (llama.cpp's
// parse_special); otherwise they are spelled out. BOS/EOS as the file's metadata asks.
std::vector<TokenListing> list_tokens(const Tokenizer& tokenizer, std::string_view text, bool parse_special);

// Reads only the tokenizer of a GGUF file (no weights are touched). Errors as Tokenizer::from_gguf
// and GgufFile::open.
Tokenizer tokenizer_from_file(const std::filesystem::path& path);

std::string_view token_type_name(TokenType type);

}  // namespace crossgpu::model
