// Base64url without padding (RFC 4648 §5), strict: the decoder refuses any character outside
// the alphabet, padding, and non-canonical trailing bits, so one payload has one spelling.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace crossgpu::net {

std::string base64url_encode(std::span<const std::uint8_t> bytes);
// nullopt on any malformed input.
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

}  // namespace crossgpu::net
