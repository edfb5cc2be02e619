// The invite token's text form: "crossgpu-invite-v1:" + base64url(payload), where payload is
//   u8 format (1) | u8 role | i64 expiry (big-endian unix seconds) | 32 B CA fingerprint |
//   32 B secret | u8 n + n B cluster name | u8 count + count × (u8 n + n B "host:port")
// with no trailing bytes. Every length is one byte, so no field can claim an absurd size, and
// the whole text is capped before decoding.
#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "net/base64url.hpp"
#include "net/security.hpp"

namespace crossgpu::net {
namespace {

constexpr std::uint8_t format_version = 1;

// Bounds-checked cursor over the decoded payload; every read names the field it was reading.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}

  std::span<const std::uint8_t> take(std::size_t n, std::string_view field) {
    if (bytes_.size() - pos_ < n) {
      fail(Errc::invalid_argument, "invite token is truncated (in the {}): copy the whole line",
           field);
    }
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  std::uint8_t byte(std::string_view field) { return take(1, field)[0]; }
  std::string short_string(std::string_view field) {
    const std::size_t n = byte(field);
    auto raw = take(n, field);
    return std::string(raw.begin(), raw.end());
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

// Host names, IPv4, bracketed IPv6 (with a zone after %), and a port.
bool valid_address(std::string_view address) {
  if (address.empty() || address.size() > InviteToken::max_address_bytes) return false;
  const bool charset = std::all_of(address.begin(), address.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']' || c == '%' || c == '_';
  });
  const std::size_t colon = address.rfind(':');
  if (!charset || colon == std::string_view::npos || colon == 0) return false;
  const std::string_view port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int value = std::stoi(std::string(port));
  return value > 0 && value <= 65535;
}

bool valid_cluster_name(std::string_view name) {
  return name.size() <= InviteToken::max_cluster_name_bytes &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
         });
}

std::string_view trim(std::string_view text) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::uint8_t> decode_payload(std::string_view text) {
  if (text.size() > InviteToken::max_text_bytes) {
    fail(Errc::invalid_argument, "invite token is {} bytes, more than the {} any invite has",
         text.size(), InviteToken::max_text_bytes);
  }
  text = trim(text);
  if (!text.starts_with(InviteToken::prefix)) {
    fail(Errc::invalid_argument,
         "not a crossgpu invite: it must start with '{}' (create one with `crossgpu cluster "
         "invite`)",
         InviteToken::prefix);
  }
  auto payload = base64url_decode(text.substr(InviteToken::prefix.size()));
  if (!payload) {
    fail(Errc::invalid_argument,
         "invite token is damaged (not valid base64url after the prefix): copy the whole line");
  }
  return std::move(*payload);
}

void read_header(Reader& in, InviteToken& token) {
  const std::uint8_t version = in.byte("format version");
  if (version != format_version) {
    fail(Errc::invalid_argument, "invite token format {} is not supported (this build reads {})",
         version, format_version);
  }
  const std::uint8_t role = in.byte("role");
  if (role > static_cast<std::uint8_t>(Role::admin)) {
    fail(Errc::invalid_argument, "invite token names an unknown role ({})", role);
  }
  token.role = static_cast<Role>(role);
  std::uint64_t expiry = 0;
  for (std::uint8_t b : in.take(8, "expiry")) expiry = (expiry << 8) | b;
  token.expires_unix_seconds = static_cast<std::int64_t>(expiry);
  if (token.expires_unix_seconds <= 0) {
    fail(Errc::invalid_argument, "invite token has an invalid expiry time");
  }
  const auto fingerprint = in.take(32, "CA fingerprint");
  std::copy(fingerprint.begin(), fingerprint.end(), token.ca_fingerprint.begin());
  const auto secret = in.take(32, "secret");
  std::copy(secret.begin(), secret.end(), token.secret.begin());
}

void read_names(Reader& in, InviteToken& token) {
  token.cluster_name = in.short_string("cluster name");
  if (!valid_cluster_name(token.cluster_name)) {
    fail(Errc::invalid_argument, "invite token has an invalid cluster name");
  }
  const std::size_t count = in.byte("address count");
  if (count == 0 || count > InviteToken::max_addresses) {
    fail(Errc::invalid_argument, "invite token lists {} addresses; 1 to {} are allowed", count,
         InviteToken::max_addresses);
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::string address = in.short_string("addresses");
    if (!valid_address(address)) {
      fail(Errc::invalid_argument, "invite token address {} is not a valid host:port", i + 1);
    }
    token.addresses.push_back(std::move(address));
  }
}

void put_string(std::vector<std::uint8_t>& out, std::string_view text, std::size_t max,
                std::string_view field) {
  if (text.size() > max) fail(Errc::invalid_argument, "{} is longer than {} bytes", field, max);
  out.push_back(static_cast<std::uint8_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
}

}  // namespace

InviteToken InviteToken::parse(std::string_view text) {
  const std::vector<std::uint8_t> payload = decode_payload(text);
  Reader in(payload);
  InviteToken token;
  read_header(in, token);
  read_names(in, token);
  if (!in.done()) {
    fail(Errc::invalid_argument, "invite token has trailing bytes: it was altered or corrupted");
  }
  return token;
}

std::string InviteToken::encode() const {
  if (addresses.empty() || addresses.size() > max_addresses) {
    fail(Errc::invalid_argument, "an invite needs 1 to {} enrollment addresses, not {}",
         max_addresses, addresses.size());
  }
  if (!valid_cluster_name(cluster_name)) {
    fail(Errc::invalid_argument, "cluster name must be printable ASCII of at most {} bytes",
         max_cluster_name_bytes);
  }
  std::vector<std::uint8_t> out{format_version, static_cast<std::uint8_t>(role)};
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(
        static_cast<std::uint8_t>(static_cast<std::uint64_t>(expires_unix_seconds) >> shift));
  }
  out.insert(out.end(), ca_fingerprint.begin(), ca_fingerprint.end());
  out.insert(out.end(), secret.begin(), secret.end());
  put_string(out, cluster_name, max_cluster_name_bytes, "cluster name");
  out.push_back(static_cast<std::uint8_t>(addresses.size()));
  for (const std::string& address : addresses) {
    if (!valid_address(address)) {
      fail(Errc::invalid_argument, "'{}' is not a valid host:port enrollment address", address);
    }
    put_string(out, address, max_address_bytes, "address");
  }
  return std::string(prefix) + base64url_encode(out);
}

}  // namespace crossgpu::net
