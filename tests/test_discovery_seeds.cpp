// Static --peer seeds: accepted forms, strict rejection of malformed and hostile strings.
#include <gtest/gtest.h>

#include "net/discovery/peer_seed.hpp"
#include "support/test_support.hpp"

namespace crossgpu::discovery {
namespace {

using crossgpu::testing::throws_errc;

TEST(DiscoverySeeds, AcceptsIpv4Ipv6AndNames) {
  EXPECT_EQ(parse_peer_seed("192.0.2.7:7300"), (PeerSeed{"192.0.2.7", 7300, SeedHostKind::ipv4}));
  EXPECT_EQ(parse_peer_seed("[fd00::2]:1"), (PeerSeed{"fd00::2", 1, SeedHostKind::ipv6}));
  EXPECT_EQ(parse_peer_seed("[fe80::1%eth0]:65535"),
            (PeerSeed{"fe80::1%eth0", 65535, SeedHostKind::ipv6}));
  EXPECT_EQ(parse_peer_seed("gpu-box.local:7300"),
            (PeerSeed{"gpu-box.local", 7300, SeedHostKind::name}));
  EXPECT_EQ(parse_peer_seed("localhost:80"), (PeerSeed{"localhost", 80, SeedHostKind::name}));
  EXPECT_EQ(parse_peer_seed("example.com.:443").host, "example.com.");
  EXPECT_EQ(parse_peer_seed("[::ffff:192.0.2.1]:9").kind, SeedHostKind::ipv6);
}

TEST(DiscoverySeeds, TextRoundTrips) {
  for (const char* text : {"192.0.2.7:7300", "[fd00::2]:1", "gpu-box.local:7300"}) {
    EXPECT_EQ(parse_peer_seed(text).text(), text);
  }
}

TEST(DiscoverySeeds, ListsSplitOnCommasAndDropDuplicates) {
  const auto seeds = parse_peer_seeds({"a.lan:1,[::1]:2", "a.lan:1", "10.0.0.1:3"});
  ASSERT_EQ(seeds.size(), 3u);
  EXPECT_EQ(seeds[1].host, "::1");
  EXPECT_EQ(seeds[2].port, 3);
  EXPECT_TRUE(parse_peer_seeds({}).empty());
  EXPECT_TRUE(throws_errc([] { parse_peer_seeds({"a:1,"}); }, Errc::invalid_argument, "empty"));
  EXPECT_TRUE(throws_errc([] { parse_peer_seeds({"a:1,,b:2"}); }, Errc::invalid_argument, "empty"));
}

struct BadSeed {
  std::string text;
  std::string reason;
  friend std::ostream& operator<<(std::ostream& out, const BadSeed& seed) {
    return out << '"' << seed.text.substr(0, 40) << '"';
  }
};

class DiscoveryBadSeeds : public ::testing::TestWithParam<BadSeed> {};

TEST_P(DiscoveryBadSeeds, AreRefusedWithTheReason) {
  EXPECT_TRUE(throws_errc([] { parse_peer_seed(GetParam().text); }, Errc::invalid_argument,
                          GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, DiscoveryBadSeeds,
    ::testing::Values(BadSeed{"", "empty"}, BadSeed{"host", "port is missing"},
                      BadSeed{"host:", "port is missing"}, BadSeed{":7300", "host is missing"},
                      BadSeed{"host:0", "1 to 65535"}, BadSeed{"host:65536", "1 to 65535"},
                      BadSeed{"host:99999", "1 to 65535"}, BadSeed{"host:123456", "decimal"},
                      BadSeed{"host:-1", "decimal"}, BadSeed{"host:+80", "decimal"},
                      BadSeed{"host:0x50", "decimal"}, BadSeed{"host:80 ", "spaces"},
                      BadSeed{" host:80", "spaces"}, BadSeed{"ho st:80", "spaces"},
                      BadSeed{"host\n:80", "spaces"},
                      BadSeed{std::string("ho\0st:80", 8), "spaces"},
                      BadSeed{"h\xc3\xa9st:80", "non-ASCII"}, BadSeed{"::1:80", "brackets"},
                      BadSeed{"fd00::2", "brackets"}, BadSeed{"[fd00::2]", "':port'"},
                      BadSeed{"[fd00::2]80", "':port'"}, BadSeed{"[fd00::2:80", "matching"},
                      BadSeed{"[192.0.2.1]:80", "IPv6"}, BadSeed{"[gpu.lan]:80", "IPv6"},
                      BadSeed{"[fe80::1%eth/0]:80", "IPv6"}, BadSeed{"[]:80", "IPv6"},
                      BadSeed{"999.1.1.1:80", "neither"}, BadSeed{"1.2.3:80", "neither"},
                      BadSeed{"-host:80", "neither"}, BadSeed{"host-:80", "neither"},
                      BadSeed{"a..b:80", "neither"}, BadSeed{"under_score:80", "neither"},
                      BadSeed{"a/b:80", "neither"}, BadSeed{"host:80:80", "brackets"},
                      BadSeed{"user@host:80", "neither"},
                      BadSeed{std::string(64, 'a') + ".lan:80", "neither"},
                      BadSeed{std::string(301, 'a'), "300 bytes"}, BadSeed{"%n%n%s:80", "neither"},
                      BadSeed{"$(reboot):80", "neither"}));

TEST(DiscoverySeeds, NumericSeedsBecomeCandidatesWithoutLookups) {
  const PeerCandidate v4 = seed_candidate(parse_peer_seed("192.0.2.7:7300"));
  EXPECT_EQ(v4.source, PeerSource::seed);
  EXPECT_EQ(v4.addresses, std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(v4.port, 7300);
  EXPECT_TRUE(v4.node_id.empty());  // learned only in the authenticated Hello
  EXPECT_EQ(seed_candidate(parse_peer_seed("[fd00::2]:1")).addresses,
            std::vector<std::string>{"fd00::2"});
}

TEST(DiscoverySeeds, NamesResolveThroughTheSystemResolver) {
  const PeerCandidate local = seed_candidate(parse_peer_seed("localhost:7300"));
  ASSERT_FALSE(local.addresses.empty());
  for (const auto& a : local.addresses) EXPECT_TRUE(a == "127.0.0.1" || a == "::1") << a;
  // .invalid never resolves (RFC 2606): no addresses, no error; the daemon retries later.
  EXPECT_TRUE(seed_candidate(parse_peer_seed("nothing.invalid:7300")).addresses.empty());
}

}  // namespace
}  // namespace crossgpu::discovery
