// TXT encoding and decoding, and the validation of resolved services against hostile input.
#include <gtest/gtest.h>

#include "net/discovery/resolved_service.hpp"
#include "net/discovery/txt_record.hpp"
#include "support/test_support.hpp"

namespace crossgpu::discovery {
namespace {

using crossgpu::testing::throws_errc;

const std::string kId = "0123456789abcdef0123456789abcdef";

ResolvedService service_with(std::vector<std::string> txt) {
  return {"gpu-box", "gpu-box-1.local", {"192.0.2.7", "fd00::7"}, 7300, std::move(txt)};
}

TEST(DiscoveryTxt, EncodesTheSchema) {
  const auto txt = encode_txt({kId, {1, 0}, "NVIDIA H200 140GiB;cpu 125GiB"});
  EXPECT_EQ(txt, (std::vector<std::string>{"id=" + kId, "proto=1.0",
                                           "devices=NVIDIA H200 140GiB;cpu 125GiB"}));
  EXPECT_EQ(encode_txt({kId, {1, 3}, ""}).size(), 2u);  // no devices key when there is no summary
}

TEST(DiscoveryTxt, RoundTripsThroughTheResolverParser) {
  const Advertisement ad{"0123456789ABCDEF0123456789ABCDEF", {1, 2}, "2x RTX 4090 24GiB;cpu 64GiB"};
  const PeerCandidate peer = to_candidate(service_with(encode_txt(ad)));
  EXPECT_EQ(peer.node_id, kId);  // lowercased
  EXPECT_EQ(peer.protocol, (ProtocolVersion{1, 2}));
  EXPECT_EQ(peer.devices, ad.devices);
  EXPECT_EQ(peer.port, 7300);
  EXPECT_EQ(peer.addresses, (std::vector<std::string>{"192.0.2.7", "fd00::7"}));
  EXPECT_EQ(peer.host, "gpu-box-1.local");
  EXPECT_EQ(peer.source, PeerSource::mdns);
}

TEST(DiscoveryTxt, LongDeviceSummariesAreCutToWholeEntriesWithin255Bytes) {
  std::string devices;
  for (int i = 0; i < 40; ++i) devices += "GPU number " + std::to_string(i) + " 24GiB;";
  const auto txt = encode_txt({kId, {1, 0}, devices});
  ASSERT_EQ(txt.size(), 3u);
  EXPECT_LE(txt[2].size(), kMaxTxtStringBytes);
  EXPECT_EQ(devices.rfind(txt[2].substr(8), 0), 0u);  // a prefix of the summary
  EXPECT_TRUE(devices[txt[2].size() - 8] == ';');     // cut at an entry boundary
}

TEST(DiscoveryTxt, TruncationNeverSplitsAUtf8Character) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  std::string text;
  for (int i = 0; i < 100; ++i) text += euro;
  for (std::size_t max : {0u, 1u, 2u, 3u, 4u, 5u, 246u, 247u}) {
    const std::string cut = truncate_utf8(text, max);
    EXPECT_EQ(cut.size(), max / 3 * 3) << max;
    EXPECT_EQ(sanitize_display(cut), cut);
  }
  const auto txt = encode_txt({kId, {1, 0}, text});
  EXPECT_LE(txt[2].size(), kMaxTxtStringBytes);
  EXPECT_EQ(sanitize_display(txt[2]), txt[2]);
}

TEST(DiscoveryTxt, RejectsBadNodeIdsWhenEncoding) {
  for (const std::string& id : std::vector<std::string>{
           "", "abc", "zz23456789abcdef", std::string(65, 'a'), "0123456789abcde\n"}) {
    EXPECT_TRUE(throws_errc(
        [&] {
          encode_txt({id, {1, 0}, ""});
        },
        Errc::invalid_argument, "node id"))
        << id;
  }
}

TEST(DiscoveryTxt, DecodingFollowsRfc6763) {
  const auto txt = decode_txt({"ID=first", "id=second", "flag", "=novalue", "", "empty=", "a=b=c"});
  EXPECT_EQ(txt.at("id"), "first");  // case-insensitive keys, first occurrence wins
  EXPECT_EQ(txt.at("flag"), "");     // a boolean key
  EXPECT_EQ(txt.at("empty"), "");
  EXPECT_EQ(txt.at("a"), "b=c");
  EXPECT_EQ(txt.size(), 4u);
  EXPECT_TRUE(decode_txt({std::string(256, 'x') + "=1"}).empty());  // over a TXT string's limit
}

TEST(DiscoveryTxt, MissingOrMalformedKeysAreRejectedWithTheInstanceName) {
  EXPECT_TRUE(throws_errc([] { to_candidate(service_with({"proto=1.0"})); }, Errc::invalid_argument,
                          "'id'"));
  EXPECT_TRUE(throws_errc([] { to_candidate(service_with({"id=" + kId})); }, Errc::invalid_argument,
                          "'proto'"));
  for (const std::string& proto : std::vector<std::string>{"1", "1.", ".0", "a.b", "-1.0", "+1.0",
                                                           "1.0.0", "9999999999.0", "1 .0", ""}) {
    EXPECT_TRUE(throws_errc(
        [&] {
          to_candidate(service_with({"id=" + kId, "proto=" + proto}));
        },
        Errc::invalid_argument, "protocol version"))
        << proto;
  }
  EXPECT_TRUE(throws_errc(
      [] {
        to_candidate(service_with({"id=xyz", "proto=1.0"}));
      },
      Errc::invalid_argument, "gpu-box"));
}

TEST(DiscoveryTxt, DuplicateKeysCannotOverrideTheFirst) {
  const auto peer = to_candidate(
      service_with({"id=" + kId, "proto=1.0", "id=ffffffffffffffffffff", "PROTO=9.9"}));
  EXPECT_EQ(peer.node_id, kId);
  EXPECT_EQ(peer.protocol, (ProtocolVersion{1, 0}));
}

TEST(DiscoveryTxt, NonUtf8AndControlBytesAreSanitizedNotTrusted) {
  const std::string hostile = "devices=GPU\xff\xfe\x01\x1b[31mred\xC0\xAF\xED\xA0\x80";
  const auto peer = to_candidate(service_with({"id=" + kId, "proto=1.0", hostile, "k\xff=v\x7f"}));
  EXPECT_EQ(peer.devices, "GPU????[31mred?????");
  EXPECT_EQ(peer.txt.at("k?"), "v?");
  EXPECT_EQ(sanitize_display(peer.devices), peer.devices);
}

TEST(DiscoveryTxt, HostileServiceFieldsAreRejected) {
  auto zero_port = service_with({"id=" + kId, "proto=1.0"});
  zero_port.port = 0;
  EXPECT_TRUE(throws_errc([&] { to_candidate(zero_port); }, Errc::invalid_argument, "port 0"));
  auto bad_name = service_with({"id=" + kId, "proto=1.0"});
  bad_name.instance_name = "evil\nname";
  EXPECT_TRUE(
      throws_errc([&] { to_candidate(bad_name); }, Errc::invalid_argument, "instance name"));
  bad_name.instance_name = std::string(64, 'n');
  EXPECT_TRUE(
      throws_errc([&] { to_candidate(bad_name); }, Errc::invalid_argument, "instance name"));
  auto bad_address = service_with({"id=" + kId, "proto=1.0"});
  bad_address.addresses = {"192.0.2.300"};
  EXPECT_TRUE(throws_errc([&] { to_candidate(bad_address); }, Errc::invalid_argument, "address"));
  bad_address.addresses = {"fe80::1%eth0/../x"};
  EXPECT_TRUE(throws_errc([&] { to_candidate(bad_address); }, Errc::invalid_argument, "address"));
}

TEST(DiscoveryTxt, NumericAddressesIncludeZonedIpv6) {
  EXPECT_TRUE(is_numeric_address("10.0.0.1"));
  EXPECT_TRUE(is_numeric_address("fe80::1%eth0"));
  EXPECT_TRUE(is_numeric_address("::1"));
  EXPECT_FALSE(is_numeric_address("example.com"));
  EXPECT_FALSE(is_numeric_address("fe80::1%"));
  EXPECT_FALSE(is_numeric_address(""));
}

TEST(DiscoveryTxt, ProtocolVersionParsing) {
  EXPECT_EQ(parse_protocol_version("1.0"), (ProtocolVersion{1, 0}));
  EXPECT_EQ(parse_protocol_version("12.345"), (ProtocolVersion{12, 345}));
  EXPECT_TRUE(throws_errc([] { parse_protocol_version("1"); }, Errc::invalid_argument));
}

}  // namespace
}  // namespace crossgpu::discovery
