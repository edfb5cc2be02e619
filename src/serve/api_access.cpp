#include "serve/api_access.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/error.hpp"

namespace crossgpu::serve {

ListenAddress parse_listen_address(const std::string& text) {
  const auto colon = text.rfind(':');
  ListenAddress out{"127.0.0.1", -1};
  std::string_view port = text;
  if (colon != std::string::npos) {
    out.host = text.substr(0, colon);
    if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
    port = std::string_view(text).substr(colon + 1);
  }
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (out.host.empty() || ec != std::errc{} || end != port.data() + port.size() || out.port < 0 || out.port > 65535) {
    fail(Errc::invalid_argument, "--listen '{}' is not HOST:PORT with a port from 0 to 65535", text);
  }
  return out;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.substr(0, 4) == "127." && std::all_of(host.begin(), host.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
         });
}

bool same_secret(std::string_view a, std::string_view b) {
  // Walk the longer length whatever the contents, folding every difference into one value.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned char>(x ^ y);
  }
  // Read through a volatile so that the compiler cannot stop at the first difference.
  volatile unsigned char result = diff;
  return result == 0;
}

bool bearer_matches(std::string_view authorization, std::string_view key) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size()) return false;
  const std::string_view scheme = authorization.substr(0, kScheme.size());
  const bool scheme_ok = std::equal(scheme.begin(), scheme.end(), kScheme.begin(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return scheme_ok && same_secret(authorization.substr(kScheme.size()), key);
}

}  // namespace crossgpu::serve
