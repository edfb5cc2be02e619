#include "net/discovery/peer_seed.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "core/error.hpp"
#include "net/discovery/resolved_service.hpp"
#include "net/discovery/txt_record.hpp"

namespace crossgpu::discovery {

namespace {

constexpr std::size_t kMaxSeedBytes = 300;  // a 253-byte name plus brackets, zone and port

[[noreturn]] void bad_seed(std::string_view text, std::string_view why) {
  fail(Errc::invalid_argument,
       "--peer '{}' is invalid: {} (expected host:port, [ipv6]:port or name:port)",
       sanitize_display(text.substr(0, 80)), why);
}

std::uint16_t parse_port(std::string_view port, std::string_view text) {
  if (port.empty()) bad_seed(text, "the port is missing");
  const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
  unsigned value = 0;
  if (!digits || std::from_chars(port.data(), port.data() + port.size(), value).ec != std::errc{}) {
    bad_seed(text, "the port is not a decimal number");
  }
  if (value == 0 || value > 65535) bad_seed(text, "the port must be 1 to 65535");
  return static_cast<std::uint16_t>(value);
}

bool is_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
    return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

// RFC 1123 host name: dot-separated labels of letters, digits and '-', 253 bytes at most, an
// optional final dot, and not all-numeric (that would be a malformed IPv4 address).
bool is_host_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  bool has_letter = false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!is_label(label)) return false;
    has_letter |= std::any_of(label.begin(), label.end(), [](char c) {
      return std::isalpha(static_cast<unsigned char>(c)) || c == '-';
    });
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return has_letter;
}

PeerSeed parse_bracketed(std::string_view text) {
  const std::size_t close = text.find(']');
  if (close == std::string_view::npos) bad_seed(text, "'[' without a matching ']'");
  const std::string host(text.substr(1, close - 1));
  if (host.find(':') == std::string::npos || !is_numeric_address(host)) {
    bad_seed(text, "the part in brackets is not an IPv6 address");
  }
  if (close + 1 >= text.size() || text[close + 1] != ':') bad_seed(text, "':port' must follow ']'");
  return {host, parse_port(text.substr(close + 2), text), SeedHostKind::ipv6};
}

PeerSeed parse_unbracketed(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) bad_seed(text, "the port is missing");
  const std::string host(text.substr(0, colon));
  if (host.find(':') != std::string::npos)
    bad_seed(text, "an IPv6 address needs brackets, as in [::1]:7300");
  if (host.empty()) bad_seed(text, "the host is missing");
  const std::uint16_t port = parse_port(text.substr(colon + 1), text);
  unsigned char buffer[4];
  if (inet_pton(AF_INET, host.c_str(), buffer) == 1) return {host, port, SeedHostKind::ipv4};
  if (!is_host_name(host))
    bad_seed(text, "the host is neither an IPv4 address nor a valid host name");
  return {host, port, SeedHostKind::name};
}

std::vector<std::string> resolve_name(const PeerSeed& seed) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  if (getaddrinfo(seed.host.c_str(), nullptr, &hints, &raw) != 0) return {};
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(raw, &freeaddrinfo);
  std::vector<std::string> out;
  for (const addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* where =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
        inet_ntop(ai->ai_family, where, text, sizeof text) &&
        std::find(out.begin(), out.end(), text) == out.end()) {
      out.emplace_back(text);
    }
  }
  return out;
}

}  // namespace

std::string PeerSeed::text() const {
  return kind == SeedHostKind::ipv6 ? fmt::format("[{}]:{}", host, port)
                                    : fmt::format("{}:{}", host, port);
}

PeerSeed parse_peer_seed(std::string_view text) {
  if (text.empty()) bad_seed(text, "it is empty");
  if (text.size() > kMaxSeedBytes) bad_seed(text, "it is longer than 300 bytes");
  const bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7F;
  });
  if (!printable) bad_seed(text, "it contains spaces, control or non-ASCII characters");
  return text.front() == '[' ? parse_bracketed(text) : parse_unbracketed(text);
}

std::vector<PeerSeed> parse_peer_seeds(const std::vector<std::string>& arguments) {
  std::vector<PeerSeed> out;
  for (const std::string& argument : arguments) {
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = argument.find(',', start);
      const auto piece = std::string_view(argument).substr(
          start, comma == std::string::npos ? comma : comma - start);
      PeerSeed seed = parse_peer_seed(piece);
      if (std::find(out.begin(), out.end(), seed) == out.end()) out.push_back(std::move(seed));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

PeerCandidate seed_candidate(const PeerSeed& seed) {
  PeerCandidate peer;
  peer.source = PeerSource::seed;
  peer.instance_name = seed.text();
  peer.host = seed.host;
  peer.port = seed.port;
  peer.addresses =
      seed.kind == SeedHostKind::name ? resolve_name(seed) : std::vector<std::string>{seed.host};
  return peer;
}

}  // namespace crossgpu::discovery
