// The Unicode the tokenizers need beyond the regexes (unicode_regex.hpp): lenient UTF-8 decoding
// (invalid bytes come out one at a time, so no input is ever lost or fatal), UTF-8 encoding, and
// GPT-2's byte-to-unicode mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::model::unicode {

// The code point of a byte that does not start a valid UTF-8 sequence (it is not a character).
inline constexpr char32_t invalid = 0xFFFFFFFF;

// One character of a string: its code point and where its bytes lie.
struct Char {
  char32_t cp;
  std::size_t offset;
  std::size_t length;
};

// The character starting at `pos`; an invalid, truncated, overlong or surrogate sequence gives
// {invalid, pos, 1}, so that the next call resynchronises on the following byte.
Char decode_at(std::string_view s, std::size_t pos);
std::vector<Char> split_chars(std::string_view s);
void append_utf8(std::string& out, char32_t cp);

// GPT-2's reversible byte-level alphabet: printable Latin-1 bytes stand for themselves, the other
// 68 bytes for U+0100 onwards, so that every byte sequence becomes printable text.
char32_t byte_to_unicode(std::uint8_t byte);
std::optional<std::uint8_t> unicode_to_byte(char32_t cp);
std::string to_byte_level(std::string_view bytes);  // each byte as its mapped character (UTF-8)

}  // namespace crossgpu::model::unicode
