// The small adapters between crossgpu and Avahi: TXT string lists, address text with zones, and
// the addresses of local interfaces that the embedded responder publishes.
#include <avahi-common/address.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/socket.h>

#include "net/discovery/avahi_handles.hpp"
#include "net/discovery/local_addresses.hpp"

namespace crossgpu::discovery {
namespace {

TEST(DiscoveryAvahi, TxtStringListsKeepOrderAndArbitraryBytes) {
  const std::vector<std::string> strings = {"id=00ff", "", std::string("bin\0ary\xff", 8),
                                            std::string(255, 'x')};
  const avahi::StringList list = avahi::make_string_list(strings);
  EXPECT_EQ(avahi::to_strings(list.get()), strings);
  EXPECT_TRUE(avahi::to_strings(nullptr).empty());
}

TEST(DiscoveryAvahi, LinkLocalAddressesCarryTheirInterface) {
  AvahiAddress address;
  ASSERT_TRUE(avahi_address_parse("fe80::1", AVAHI_PROTO_INET6, &address));
  const int lo = static_cast<int>(if_nametoindex("lo"));
  EXPECT_EQ(avahi::address_text(address, lo), "fe80::1%lo");
  ASSERT_TRUE(avahi_address_parse("fd00::1", AVAHI_PROTO_INET6, &address));
  EXPECT_EQ(avahi::address_text(address, lo), "fd00::1");  // global: no zone
  ASSERT_TRUE(avahi_address_parse("192.0.2.1", AVAHI_PROTO_INET, &address));
  EXPECT_EQ(avahi::address_text(address, lo), "192.0.2.1");
}

TEST(DiscoveryAvahi, LocalAddressesOfChosenInterfacesOnly) {
  const auto with_v6 = local_addresses({"lo"}, true);
  const LocalAddress v4{if_nametoindex("lo"), AF_INET, "127.0.0.1"};
  EXPECT_NE(std::find(with_v6.begin(), with_v6.end(), v4), with_v6.end());
  for (const LocalAddress& a : local_addresses({"lo"}, false)) EXPECT_EQ(a.family, AF_INET);
  EXPECT_TRUE(local_addresses({"no-such-if0"}, true).empty());
  EXPECT_TRUE(local_addresses({}, true).empty());
  EXPECT_TRUE(std::is_sorted(with_v6.begin(), with_v6.end()));
}

}  // namespace
}  // namespace crossgpu::discovery
