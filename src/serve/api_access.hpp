// Who may use the API: loopback is open by default; any other address needs an API key, sent as
// "Authorization: Bearer KEY" and compared in constant time.
#pragma once

#include <string>
#include <string_view>

namespace crossgpu::serve {

struct ListenAddress {
  std::string host;
  int port = 0;
};

// "HOST:PORT", "[V6]:PORT" or "PORT" (on 127.0.0.1). Throws Errc::invalid_argument otherwise.
ListenAddress parse_listen_address(const std::string& text);

// Whether `host` (as given to --listen) only accepts connections from this machine.
bool is_loopback_host(std::string_view host);

// Compares two secrets in time that depends only on their lengths, not on where they differ.
bool same_secret(std::string_view a, std::string_view b);

// Whether an Authorization header carries `key` as a Bearer token.
bool bearer_matches(std::string_view authorization, std::string_view key);

}  // namespace crossgpu::serve
