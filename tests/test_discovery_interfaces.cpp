// The interface policy: defaults skip loopback and virtual bridges; allow and deny lists.
#include <gtest/gtest.h>

#include "net/discovery/interface_policy.hpp"
#include "support/test_support.hpp"

namespace crossgpu::discovery {
namespace {

using crossgpu::testing::throws_errc;
using Names = std::vector<std::string>;

const std::vector<NetInterface> kMachine = {
    {"lo", 1, true, false},       {"eth0", 2, false, true},    {"wlan0", 3, false, true},
    {"docker0", 4, false, true},  {"br-1a2b", 5, false, true}, {"virbr0", 6, false, true},
    {"veth12ab", 7, false, true}, {"tun0", 8, false, false},   {"enp3s0", 9, false, true},
};

TEST(DiscoveryInterfaces, DefaultsSkipLoopbackBridgesAndNonMulticast) {
  EXPECT_EQ(choose_interfaces(kMachine, {}), (Names{"eth0", "wlan0", "enp3s0"}));
}

TEST(DiscoveryInterfaces, LoopbackAndBridgesOnRequest) {
  InterfacePolicy policy;
  policy.include_loopback = true;
  policy.include_virtual_bridges = true;
  EXPECT_EQ(choose_interfaces(kMachine, policy),
            (Names{"lo", "eth0", "wlan0", "docker0", "br-1a2b", "virbr0", "veth12ab", "enp3s0"}));
}

TEST(DiscoveryInterfaces, LoopbackOnlyMachinesChooseNothingByDefault) {
  const std::vector<NetInterface> lonely = {{"lo", 1, true, false}};
  EXPECT_TRUE(choose_interfaces(lonely, {}).empty());
  EXPECT_EQ(choose_interfaces(lonely, {.allow = {"lo"}}), Names{"lo"});
}

TEST(DiscoveryInterfaces, AllowListIsExactAndDenyAlwaysWins) {
  EXPECT_EQ(choose_interfaces(kMachine, {.allow = {"docker0", "wlan0", "absent"}}),
            (Names{"wlan0", "docker0"}));
  EXPECT_EQ(choose_interfaces(kMachine, {.allow = {"eth0", "wlan0"}, .deny = {"wlan0"}}),
            Names{"eth0"});
  EXPECT_EQ(choose_interfaces(kMachine, {.deny = {"eth0"}}), (Names{"wlan0", "enp3s0"}));
}

TEST(DiscoveryInterfaces, VirtualBridgeNames) {
  for (const char* name : {"docker0", "br-abc", "virbr1", "veth0"})
    EXPECT_TRUE(is_virtual_bridge(name)) << name;
  for (const char* name : {"eth0", "wlp2s0", "docker1", "bridge0", "enp0s31f6"}) {
    EXPECT_FALSE(is_virtual_bridge(name)) << name;
  }
}

TEST(DiscoveryInterfaces, ParsesCommandLineLists) {
  EXPECT_EQ(parse_interface_list("eth0,wlan0,eth0"), (Names{"eth0", "wlan0"}));
  EXPECT_TRUE(parse_interface_list("").empty());
  for (const char* bad : {"eth0,", ",eth0", "eth 0", "a/b", "eth0:1", "sixteen_chars_xx"}) {
    EXPECT_TRUE(
        throws_errc([&] { parse_interface_list(bad); }, Errc::invalid_argument, "interface name"))
        << bad;
  }
}

TEST(DiscoveryInterfaces, ListsThisMachinesInterfaces) {
  const auto nics = list_interfaces();
  const bool has_loopback = std::any_of(
      nics.begin(), nics.end(), [](const NetInterface& n) { return n.loopback && n.index > 0; });
  EXPECT_TRUE(has_loopback);
}

}  // namespace
}  // namespace crossgpu::discovery
