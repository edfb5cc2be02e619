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
  // From tokenizer.ggml.pre. An empty name or "default" is llama.cpp's default set; a name
  // llama.cpp does not know either throws Error{unsupported} naming it (as llama.cpp refuses it).
  static PreTokenizer named(std::string_view pre);

  // The words of `text`, in order; together they are exactly `text` (invalid UTF-8 bytes are
  // kept, each in a word of its own or with neighbouring unmatched bytes).
  std::vector<std::string_view> split(std::string_view text) const;

  const std::string& name() const { return name_; }
  // Llama 3 style: a word that is itself a token is taken whole, before any merge.
  bool ignore_merges() const { return ignore_merges_; }

 private:
  std::string name_;
  std::vector<UnicodeRegex> regexes_;
  bool ignore_merges_ = false;
};

// The names tokenizer.ggml.pre may take, as llama.cpp spells them (for error messages and tests).
const std::vector<std::string>& pretokenizer_names();

}  // namespace crossgpu::model
