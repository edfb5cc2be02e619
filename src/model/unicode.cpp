#include "model/unicode.hpp"

#include <algorithm>
#include <array>

namespace crossgpu::model::unicode {
namespace {

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

struct Range {
  char32_t first, last;
};

// Letters beyond ASCII, by block. Blocks that mix letters with signs or marks are narrowed to
// their letters where it matters for splitting words (Latin-1's letters around × and ÷, Arabic
// and Hebrew letters without their vowel marks).
constexpr Range letter_ranges[] = {
    {0x00AA, 0x00AA}, {0x00B5, 0x00B5}, {0x00BA, 0x00BA}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x02C1}, {0x02C6, 0x02D1}, {0x0370, 0x0374}, {0x0376, 0x037D}, {0x0386, 0x0386},
    {0x0388, 0x03FF}, {0x0400, 0x0481}, {0x048A, 0x052F}, {0x0531, 0x0556}, {0x0561, 0x0587},
    {0x05D0, 0x05EA}, {0x0620, 0x064A}, {0x0671, 0x06D3}, {0x0904, 0x0939}, {0x0958, 0x0961},
    {0x0985, 0x09B9}, {0x0E01, 0x0E30}, {0x10A0, 0x10FF}, {0x1E00, 0x1FFF}, {0x3041, 0x3096},
    {0x30A1, 0x30FA}, {0x3105, 0x312F}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
    {0xF900, 0xFAFF}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0xFF66, 0xFFDC},
};

constexpr Range number_ranges[] = {
    {0x00B2, 0x00B3}, {0x00B9, 0x00B9}, {0x00BC, 0x00BE}, {0x0660, 0x0669}, {0x06F0, 0x06F9},
    {0x0966, 0x096F}, {0x09E6, 0x09EF}, {0x0E50, 0x0E59}, {0x2070, 0x2070}, {0x2074, 0x2079},
    {0x2080, 0x2089}, {0x2150, 0x2189}, {0x2460, 0x249B}, {0x3007, 0x3007}, {0xFF10, 0xFF19},
};

// Unicode's White_Space property, complete.
constexpr Range space_ranges[] = {
    {0x0009, 0x000D}, {0x0020, 0x0020}, {0x0085, 0x0085}, {0x00A0, 0x00A0}, {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

template <std::size_t N>
bool in(const Range (&ranges)[N], char32_t cp) {
  return std::any_of(std::begin(ranges), std::end(ranges),
                     [cp](const Range& r) { return cp >= r.first && cp <= r.last; });
}

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

CharClass classify(char32_t cp) {
  if (cp < 0x80) {
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::letter;
    if (cp >= '0' && cp <= '9') return CharClass::number;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::whitespace;
    return CharClass::other;
  }
  if (cp == invalid) return CharClass::other;
  if (in(space_ranges, cp)) return CharClass::whitespace;
  if (in(number_ranges, cp)) return CharClass::number;
  if (in(letter_ranges, cp)) return CharClass::letter;
  return CharClass::other;
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
