// A Unicode regular expression for the pre-tokenizers of byte-level BPE vocabularies, on
// Debian's PCRE2 (UTF + UCP, so \p{L}, \p{N}, \s and the lookaheads of the Hugging Face and
// llama.cpp patterns mean what they mean there). Invalid UTF-8 in a subject is allowed: it never
// matches, so it lands in the gaps between matches.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::model {

class UnicodeRegex {
 public:
  // Throws Error{invalid_argument} naming the pattern and PCRE2's message when it does not compile.
  explicit UnicodeRegex(std::string pattern);

  // Hugging Face's Split with behavior "Isolated": every match is a piece, and so is every gap
  // between matches; the pieces, in order, are exactly `text`. No empty pieces.
  void split_isolated(std::string_view text, std::vector<std::string_view>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  std::string pattern_;
  std::shared_ptr<const Compiled> compiled_;  // immutable after construction: safe to share
};

}  // namespace crossgpu::model
