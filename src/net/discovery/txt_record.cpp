#include "net/discovery/txt_record.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/error.hpp"

namespace crossgpu::discovery {

namespace {

// Length of the UTF-8 sequence starting at text[i], or 0 when it is malformed (overlong forms,
// surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char min_second = 0x80, max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF)
    length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;
    if (lead == 0xED) max_second = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;
    if (lead == 0xF4) max_second = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::uint32_t parse_version_part(std::string_view part, std::string_view whole) {
  std::uint32_t value = 0;
  const bool digits_only =
      !part.empty() && part.size() <= 9 &&
      std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only ||
      std::from_chars(part.data(), part.data() + part.size(), value).ec != std::errc{}) {
    fail(Errc::invalid_argument, "protocol version '{}' is not <major>.<minor> in decimal",
         sanitize_display(whole));
  }
  return value;
}

}  // namespace

bool is_valid_node_id(std::string_view id) noexcept {
  return id.size() >= 16 && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

std::string truncate_utf8(std::string_view text, std::size_t max_bytes) {
  std::size_t end = 0;
  while (end < text.size()) {
    const std::size_t length = std::max<std::size_t>(1, utf8_sequence_length(text, end));
    if (end + length > max_bytes) break;
    end += length;
  }
  return std::string(text.substr(0, end));
}

std::string sanitize_display(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    const bool control =
        length == 1 && (static_cast<unsigned char>(text[i]) < 0x20 || text[i] == 0x7F);
    if (length == 0 || control) {
      out.push_back('?');
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

ProtocolVersion parse_protocol_version(std::string_view text) {
  const std::size_t dot = text.find('.');
  if (dot == std::string_view::npos) {
    fail(Errc::invalid_argument, "protocol version '{}' is not <major>.<minor>",
         sanitize_display(text));
  }
  return {parse_version_part(text.substr(0, dot), text),
          parse_version_part(text.substr(dot + 1), text)};
}

std::vector<std::string> encode_txt(const Advertisement& ad) {
  if (!is_valid_node_id(ad.node_id)) {
    fail(Errc::invalid_argument, "node id '{}' is not 16 to 64 hex digits",
         sanitize_display(ad.node_id));
  }
  std::vector<std::string> out;
  out.push_back("id=" + lowercase(ad.node_id));
  out.push_back(fmt::format("proto={}.{}", ad.protocol.major, ad.protocol.minor));
  if (!ad.devices.empty()) {
    const std::string key = "devices=";
    std::string summary =
        truncate_utf8(sanitize_display(ad.devices), kMaxTxtStringBytes - key.size());
    // A cut summary keeps whole "device" entries when it can: half a name misleads more than none.
    if (summary.size() < ad.devices.size()) {
      if (const auto semicolon = summary.rfind(';'); semicolon != std::string::npos)
        summary.resize(semicolon);
    }
    out.push_back(key + summary);
  }
  return out;
}

std::map<std::string, std::string> decode_txt(const std::vector<std::string>& strings) {
  std::map<std::string, std::string> out;
  for (const std::string& entry : strings) {
    if (entry.empty() || entry.size() > kMaxTxtStringBytes) continue;
    const std::size_t equals = entry.find('=');
    const std::string key = lowercase(std::string_view(entry).substr(0, equals));
    if (key.empty()) continue;  // "=value" has no key (RFC 6763 6.4): ignored
    const std::string value =
        equals == std::string::npos ? std::string() : entry.substr(equals + 1);
    out.emplace(key, value);  // emplace keeps the first occurrence
  }
  return out;
}

}  // namespace crossgpu::discovery
