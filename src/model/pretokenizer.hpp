// The pre-tokenizer of byte-level BPE vocabularies: cuts text into words before merges run, with
// the regexes llama.cpp uses for each name a GGUF gives in tokenizer.ggml.pre (the same patterns
// as the models' tokenizer.json), run by PCRE2 (unicode_regex.hpp). Several regexes apply in
// turn, each splitting the pieces of the one before ("Isolated": matches and the gaps between
// them are both words), as Hugging Face's Sequence of Split pre-tokenizers does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/unicode_regex.hpp"

namespace crossgpu::model {

class PreTokenizer {
 public:
  // From tokenizer.ggml.pre, with llama.cpp's names (and "gpt2" for "gpt-2"). An empty name or
  // "default" is llama.cpp's default set; a name crossgpu does not know throws Error{unsupported}
  // naming it (llama.cpp refuses unknown names too). Not yet: chameleon, kimi-k2, superbpe,
  // tiny_aya, youtu, afmoe, gemma4, sarvam-moe, granite-embed-multi, minimax-m2, jais-2, minicpm5.
  static PreTokenizer named(std::string_view pre);

  // The words of `text`, in order; together they are exactly `text` (invalid UTF-8 bytes are
  // kept, each in a word of its own or with neighbouring unmatched bytes).
  std::vector<std::string_view> split(std::string_view text) const;

  const std::string& name() const { return name_; }
  // Llama 3 style: a word that is itself a token is taken whole, before any merge.
  bool ignore_merges() const { return ignore_merges_; }
  // Whether llama.cpp adds BOS for this pre-tokenizer when the file does not say (Llama 3, Tekken).
  bool adds_bos_by_default() const { return adds_bos_; }

 private:
  std::string name_;
  std::vector<UnicodeRegex> regexes_;
  bool ignore_merges_ = false;
  bool adds_bos_ = false;
};

// The names tokenizer.ggml.pre may take, as llama.cpp spells them (for error messages and tests).
const std::vector<std::string>& pretokenizer_names();

}  // namespace crossgpu::model
