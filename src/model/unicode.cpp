#include "model/unicode.hpp"

#include <algorithm>
#include <array>

namespace crossgpu::model::unicode {
namespace {

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// GPT-2's table: bytes that are printable Latin-1 map to themselves, the rest (controls, space,
// DEL, NBSP, soft hyphen) to U+0100 + their order among those bytes.
struct ByteLevelTable {
  static constexpr char32_t first_moved = 0x100;
  static constexpr std::size_t moved_count = 68;
  std::array<char32_t, 256> to_unicode{};
  std::array<std::uint8_t, moved_count> moved_bytes{};  // U+0100 + i stands for moved_bytes[i]
  ByteLevelTable() {
    std::size_t next = 0;
    for (unsigned b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      if (printable) {
        to_unicode[b] = b;
      } else {
        moved_bytes[next] = static_cast<std::uint8_t>(b);
        to_unicode[b] = first_moved + static_cast<char32_t>(next++);
      }
    }
  }
};

const ByteLevelTable& byte_level() {
  static const ByteLevelTable table;
  return table;
}

}  // namespace

Char decode_at(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  if (b0 < 0x80) return {b0, pos, 1};
  std::size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) { length = 2; cp = b0 & 0x1F; min = 0x80; }
  else if ((b0 & 0xF0) == 0xE0) { length = 3; cp = b0 & 0x0F; min = 0x800; }
  else if ((b0 & 0xF8) == 0xF0) { length = 4; cp = b0 & 0x07; min = 0x10000; }
  else return {invalid, pos, 1};
  if (pos + length > s.size()) return {invalid, pos, 1};
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if (!is_continuation(b)) return {invalid, pos, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {invalid, pos, 1};
  return {cp, pos, length};
}

std::vector<Char> split_chars(std::string_view s) {
  std::vector<Char> out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    out.push_back(decode_at(s, pos));
    pos += out.back().length;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

char32_t byte_to_unicode(std::uint8_t byte) { return byte_level().to_unicode[byte]; }

std::optional<std::uint8_t> unicode_to_byte(char32_t cp) {
  if (cp < 0x100) {
    if (byte_level().to_unicode[cp] == cp) return static_cast<std::uint8_t>(cp);
    return std::nullopt;
  }
  const auto& table = byte_level();
  if (cp - ByteLevelTable::first_moved < ByteLevelTable::moved_count) {
    return table.moved_bytes[cp - ByteLevelTable::first_moved];
  }
  return std::nullopt;
}

std::string to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, byte_to_unicode(static_cast<std::uint8_t>(c)));
  return out;
}

}  // namespace crossgpu::model::unicode
