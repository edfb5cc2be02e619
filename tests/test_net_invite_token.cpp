// The invite token decoder: round trips, and refusal of malformed, truncated, oversized and
// hostile input with Errc::invalid_argument.
#include <gtest/gtest.h>

#include <string>

#include "net/base64url.hpp"
#include "net/security.hpp"
#include "support/test_support.hpp"

namespace crossgpu::net {
namespace {

using crossgpu::testing::throws_errc;

InviteToken sample() {
  InviteToken token;
  token.addresses = {"192.168.1.20:7420", "[fe80::1%eth0]:7420", "desk.local:7420"};
  for (std::size_t i = 0; i < 32; ++i) {
    token.ca_fingerprint[i] = static_cast<std::uint8_t>(i);
    token.secret[i] = static_cast<std::uint8_t>(255 - i);
  }
  token.role = Role::compute;
  token.expires_unix_seconds = 1'900'000'000;
  token.cluster_name = "home lab";
  return token;
}

std::vector<std::uint8_t> payload_of(const std::string& text) {
  return *base64url_decode(std::string_view(text).substr(InviteToken::prefix.size()));
}

std::string token_of(const std::vector<std::uint8_t>& payload) {
  return std::string(InviteToken::prefix) + base64url_encode(payload);
}

TEST(InviteToken, RoundTrip) {
  const InviteToken token = sample();
  const std::string text = token.encode();
  EXPECT_TRUE(text.starts_with("crossgpu-invite-v1:"));
  EXPECT_EQ(text.find_first_of("+/=\n "), std::string::npos);
  const InviteToken back = InviteToken::parse(text);
  EXPECT_EQ(back.addresses, token.addresses);
  EXPECT_EQ(back.ca_fingerprint, token.ca_fingerprint);
  EXPECT_EQ(back.secret, token.secret);
  EXPECT_EQ(back.role, token.role);
  EXPECT_EQ(back.expires_unix_seconds, token.expires_unix_seconds);
  EXPECT_EQ(back.cluster_name, token.cluster_name);
}

TEST(InviteToken, ToleratesSurroundingWhitespace) {
  const std::string text = "  " + sample().encode() + "\r\n";
  EXPECT_EQ(InviteToken::parse(text).cluster_name, "home lab");
}

TEST(InviteToken, RefusesWrongPrefix) {
  const std::string text = sample().encode();
  EXPECT_TRUE(throws_errc([&] { InviteToken::parse("crossgpu-invite-v2:" + text.substr(19)); },
                          Errc::invalid_argument, "must start with"));
  EXPECT_TRUE(
      throws_errc([] { InviteToken::parse(""); }, Errc::invalid_argument, "not a crossgpu invite"));
  EXPECT_TRUE(throws_errc([] { InviteToken::parse("hello"); }, Errc::invalid_argument));
}

TEST(InviteToken, RefusesBadBase64) {
  const std::string text = sample().encode();
  for (const char bad : {'+', '/', '=', '!', ' ', '\0', '\xff'}) {
    std::string damaged = text;
    damaged[30] = bad;
    EXPECT_TRUE(throws_errc([&] { InviteToken::parse(damaged); }, Errc::invalid_argument))
        << static_cast<int>(bad);
  }
  // Non-canonical trailing bits and impossible lengths.
  EXPECT_FALSE(base64url_decode("AB").has_value());
  EXPECT_FALSE(base64url_decode("A").has_value());
  EXPECT_TRUE(base64url_decode("AA").has_value());
}

TEST(InviteToken, RefusesEveryTruncation) {
  const std::string text = sample().encode();
  for (std::size_t n = 0; n < text.size(); ++n) {
    EXPECT_TRUE(throws_errc([&] { InviteToken::parse(text.substr(0, n)); }, Errc::invalid_argument))
        << "length " << n;
  }
  const std::vector<std::uint8_t> payload = payload_of(text);
  for (std::size_t n = 0; n < payload.size(); ++n) {
    const std::vector<std::uint8_t> cut(payload.begin(), payload.begin() + static_cast<long>(n));
    EXPECT_TRUE(throws_errc([&] { InviteToken::parse(token_of(cut)); }, Errc::invalid_argument,
                            n == 0 ? "" : "truncated"))
        << "payload bytes " << n;
  }
}

TEST(InviteToken, RefusesOversizedInput) {
  const std::string huge = std::string(InviteToken::prefix) + std::string(1 << 20, 'A');
  EXPECT_TRUE(throws_errc([&] { InviteToken::parse(huge); }, Errc::invalid_argument, "more than"));
}

TEST(InviteToken, RefusesTrailingBytes) {
  std::vector<std::uint8_t> payload = payload_of(sample().encode());
  payload.push_back(0);
  EXPECT_TRUE(throws_errc([&] { InviteToken::parse(token_of(payload)); }, Errc::invalid_argument,
                          "trailing"));
}

TEST(InviteToken, RefusesHostileFields) {
  const std::vector<std::uint8_t> good = payload_of(sample().encode());
  auto with = [&](std::size_t index, std::uint8_t value) {
    std::vector<std::uint8_t> p = good;
    p[index] = value;
    return token_of(p);
  };
  EXPECT_TRUE(
      throws_errc([&] { InviteToken::parse(with(0, 2)); }, Errc::invalid_argument, "format"));
  EXPECT_TRUE(throws_errc([&] { InviteToken::parse(with(1, 7)); }, Errc::invalid_argument, "role"));
  // Expiry with the sign bit set.
  EXPECT_TRUE(
      throws_errc([&] { InviteToken::parse(with(2, 0x80)); }, Errc::invalid_argument, "expiry"));
  // Cluster name length claiming more bytes than exist (offset 74 = 1+1+8+32+32).
  EXPECT_TRUE(throws_errc([&] { InviteToken::parse(with(74, 255)); }, Errc::invalid_argument));
  // A control character in the cluster name.
  EXPECT_TRUE(throws_errc([&] { InviteToken::parse(with(75, '\n')); }, Errc::invalid_argument,
                          "cluster name"));
  // Address count of zero and of more than allowed (offset 75 + 8 = 83).
  EXPECT_TRUE(
      throws_errc([&] { InviteToken::parse(with(83, 0)); }, Errc::invalid_argument, "addresses"));
  EXPECT_TRUE(
      throws_errc([&] { InviteToken::parse(with(83, 200)); }, Errc::invalid_argument, "addresses"));
}

TEST(InviteToken, RefusesBadAddresses) {
  for (const char* address : {"no-port", ":7420", "host:", "host:99999", "host:0", "host:12ab",
                              "bad host:1", "a/b:1", "x:123456"}) {
    InviteToken token = sample();
    token.addresses = {address};
    EXPECT_TRUE(throws_errc([&] { token.encode(); }, Errc::invalid_argument)) << address;
  }
  InviteToken none = sample();
  none.addresses.clear();
  EXPECT_TRUE(throws_errc([&] { none.encode(); }, Errc::invalid_argument, "addresses"));
}

TEST(InviteToken, RandomBytesNeverCrash) {
  std::mt19937 random(7);
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> payload(random() % 200);
    for (auto& b : payload) b = static_cast<std::uint8_t>(random());
    if (!payload.empty()) payload[0] = 1;
    try {
      InviteToken::parse(token_of(payload));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
    }
  }
}

TEST(Role, ParseAndInclusion) {
  for (Role role : {Role::monitor, Role::compute, Role::admin}) {
    EXPECT_EQ(parse_role(to_string(role)), role);
  }
  EXPECT_TRUE(throws_errc([] { parse_role("root"); }, Errc::invalid_argument, "unknown role"));
  EXPECT_TRUE(throws_errc([] { parse_role("Admin"); }, Errc::invalid_argument));
  EXPECT_TRUE(role_allows(Role::admin, Role::compute));
  EXPECT_TRUE(role_allows(Role::compute, Role::monitor));
  EXPECT_TRUE(role_allows(Role::monitor, Role::monitor));
  EXPECT_FALSE(role_allows(Role::monitor, Role::compute));
  EXPECT_FALSE(role_allows(Role::compute, Role::admin));
}

}  // namespace
}  // namespace crossgpu::net
