#include "model/pretokenizer.hpp"

#include <cstddef>
#include <cstdint>

#include "model/unicode.hpp"

namespace crossgpu::model {
namespace {

using unicode::CharClass;

// The text as characters plus their classes; `match_*` functions return how many characters an
// alternative of the regex matches at `i` (0: no match), mirroring the regex's left-to-right
// choice of the first alternative that matches.
struct Scanner {
  std::vector<unicode::Char> chars;
  std::vector<CharClass> classes;
  PreTokenizer style;

  std::size_t size() const { return chars.size(); }
  bool is(std::size_t i, CharClass c) const { return i < size() && classes[i] == c; }
  char32_t cp(std::size_t i) const { return i < size() ? chars[i].cp : unicode::invalid; }
  bool is_newline(std::size_t i) const { return cp(i) == '\r' || cp(i) == '\n'; }
  // Characters of class `c` from `i`, at most `limit` (a bounded look keeps splitting linear
  // where a match takes only part of a run, as with Llama 3's groups of three digits).
  std::size_t run(std::size_t i, CharClass c, std::size_t limit = SIZE_MAX) const {
    std::size_t j = i;
    while (j - i < limit && is(j, c)) ++j;
    return j - i;
  }
};

char32_t lower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

std::size_t match_contraction(const Scanner& s, std::size_t i) {
  if (s.cp(i) != '\'') return 0;
  const bool fold = s.style != PreTokenizer::gpt2;
  auto at = [&](std::size_t k) { return fold ? lower(s.cp(i + k)) : s.cp(i + k); };
  const char32_t a = at(1);
  const char32_t b = at(2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  return 0;
}

// gpt2: " ?\p{L}+"; llama3: "[^\r\n\p{L}\p{N}]?\p{L}+".
std::size_t match_letters(const Scanner& s, std::size_t i) {
  if (s.is(i, CharClass::letter)) return s.run(i, CharClass::letter);
  const bool prefix = s.style == PreTokenizer::gpt2
                          ? s.cp(i) == ' '
                          : !s.is_newline(i) && !s.is(i, CharClass::number) && i < s.size();
  if (prefix && s.is(i + 1, CharClass::letter)) return 1 + s.run(i + 1, CharClass::letter);
  return 0;
}

// gpt2: " ?\p{N}+"; llama3: "\p{N}{1,3}"; qwen2: "\p{N}".
std::size_t match_numbers(const Scanner& s, std::size_t i) {
  if (s.style == PreTokenizer::gpt2) {
    const std::size_t space = s.cp(i) == ' ' ? 1 : 0;
    const std::size_t n = s.run(i + space, CharClass::number);
    return n == 0 ? 0 : space + n;
  }
  return s.run(i, CharClass::number, s.style == PreTokenizer::llama3 ? 3 : 1);
}

// " ?[^\s\p{L}\p{N}]+", followed by "[\r\n]*" for llama3/qwen2.
std::size_t match_punctuation(const Scanner& s, std::size_t i) {
  const std::size_t space = s.cp(i) == ' ' ? 1 : 0;
  const std::size_t n = s.run(i + space, CharClass::other);
  if (n == 0) return 0;
  std::size_t end = i + space + n;
  if (s.style != PreTokenizer::gpt2) {
    while (s.is_newline(end)) ++end;
  }
  return end - i;
}

// "\s*[\r\n]+": the longest whitespace prefix that ends in a line break (backtracking of \s*).
std::size_t match_line_breaks(const Scanner& s, std::size_t i) {
  const std::size_t n = s.run(i, CharClass::whitespace);
  for (std::size_t k = n; k > 0; --k) {
    if (s.is_newline(i + k - 1)) return k;
  }
  return 0;
}

// "\s+(?!\S)|\s+": a whitespace run, less its last character when a word follows it (so that the
// word keeps its leading space).
std::size_t match_spaces(const Scanner& s, std::size_t i) {
  const std::size_t n = s.run(i, CharClass::whitespace);
  if (n == 0) return 0;
  if (i + n == s.size() || n == 1) return n;
  return n - 1;
}

std::size_t match_at(const Scanner& s, std::size_t i) {
  if (std::size_t n = match_contraction(s, i)) return n;
  if (std::size_t n = match_letters(s, i)) return n;
  if (std::size_t n = match_numbers(s, i)) return n;
  if (std::size_t n = match_punctuation(s, i)) return n;
  if (s.style != PreTokenizer::gpt2) {
    if (std::size_t n = match_line_breaks(s, i)) return n;
  }
  if (std::size_t n = match_spaces(s, i)) return n;
  return 1;  // unreachable with the four classes; keeps the loop total anyway
}

}  // namespace

PreTokenizer pretokenizer_named(std::string_view pre) {
  if (pre == "llama3" || pre == "llama-bpe" || pre == "smaug-bpe" || pre == "dbrx" ||
      pre == "tekken") {
    return PreTokenizer::llama3;
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return PreTokenizer::qwen2;
  return PreTokenizer::gpt2;
}

std::vector<std::string_view> pretokenize(std::string_view text, PreTokenizer style) {
  Scanner s{unicode::split_chars(text), {}, style};
  s.classes.reserve(s.size());
  for (const auto& c : s.chars) s.classes.push_back(unicode::classify(c.cp));
  std::vector<std::string_view> words;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = match_at(s, i);
    const std::size_t begin = s.chars[i].offset;
    const auto& last = s.chars[i + n - 1];
    words.push_back(text.substr(begin, last.offset + last.length - begin));
    i += n;
  }
  return words;
}

}  // namespace crossgpu::model
