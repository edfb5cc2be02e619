// The crossgpu TXT record (DNS-SD, RFC 6763 section 6):
//   id=<node id, lowercase hex>   proto=<major>.<minor>   devices=<summary for humans>
// Each string is at most 255 bytes on the wire; the device summary is cut to fit at a UTF-8
// character boundary (preferring the last whole ';'-separated entry).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "net/discovery/peer_event.hpp"

namespace crossgpu::discovery {

inline constexpr std::size_t kMaxTxtStringBytes = 255;
inline constexpr ProtocolVersion kProtocolVersion{1, 0};

struct Advertisement {
  std::string node_id;  // validated by encode_txt
  ProtocolVersion protocol = kProtocolVersion;
  std::string devices;  // e.g. "NVIDIA H200 140GiB;cpu 125GiB"
};

// Throws Errc::invalid_argument when the node id is not 16 to 64 hex digits.
std::vector<std::string> encode_txt(const Advertisement& ad);

// Decodes wire TXT strings: keys are case-insensitive (lowercased), the first occurrence of a
// key wins (RFC 6763 6.4), strings without '=' are boolean keys with an empty value, empty keys
// and strings over 255 bytes are ignored.
std::map<std::string, std::string> decode_txt(const std::vector<std::string>& strings);

// Longest prefix of `text` of at most `max_bytes` that ends on a UTF-8 character boundary.
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

// `text` with invalid UTF-8 and control characters replaced by '?', for logs and status output.
std::string sanitize_display(std::string_view text);

bool is_valid_node_id(std::string_view id) noexcept;

// Parses "major.minor" (decimal, no sign, each at most 9 digits). Throws Errc::invalid_argument.
ProtocolVersion parse_protocol_version(std::string_view text);

}  // namespace crossgpu::discovery
