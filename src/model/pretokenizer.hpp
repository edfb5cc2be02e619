// The pre-tokenizer of byte-level BPE vocabularies: splits text into words before merges run,
// as the regexes of GPT-2 and Llama 3 do, written out by hand (the character classes come from
// unicode.hpp, whose table is approximate beyond the main scripts).
//
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   qwen2:  llama3 with \p{N} (single digits) in place of \p{N}{1,3}
#pragma once

#include <string_view>
#include <vector>

namespace crossgpu::model {

enum class PreTokenizer { gpt2, llama3, qwen2 };

// From tokenizer.ggml.pre: "llama3"/"llama-bpe"/"smaug-bpe" -> llama3, "qwen2"/"deepseek-llm"...
// see the .cpp; anything else (including "default" and "gpt-2") -> gpt2.
PreTokenizer pretokenizer_named(std::string_view pre);

// The words of `text`, in order; together they are exactly `text` (invalid UTF-8 bytes are kept
// and classed as punctuation).
std::vector<std::string_view> pretokenize(std::string_view text, PreTokenizer style);

}  // namespace crossgpu::model
