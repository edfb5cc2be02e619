// libFuzzer target: InviteToken::parse on arbitrary text. Any outcome but a value or
// Errc::invalid_argument is a bug; a value must survive encode -> parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.hpp"
#include "net/security.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  crossgpu::net::InviteToken token;
  try {
    token = crossgpu::net::InviteToken::parse(text);
  } catch (const crossgpu::Error& e) {
    if (e.code() != crossgpu::Errc::invalid_argument) std::abort();
    return 0;
  }
  const crossgpu::net::InviteToken again = crossgpu::net::InviteToken::parse(token.encode());
  if (again.addresses != token.addresses || again.secret != token.secret ||
      again.ca_fingerprint != token.ca_fingerprint || again.role != token.role ||
      again.expires_unix_seconds != token.expires_unix_seconds ||
      again.cluster_name != token.cluster_name) {
    std::abort();
  }
  return 0;
}
