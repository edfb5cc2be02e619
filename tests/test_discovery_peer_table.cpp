// PeerTable: sightings over several interfaces/protocols merge into one peer; found, updated
// and lost events; this node's own advertisement and invalid services are not reported.
#include <gtest/gtest.h>

#include "net/discovery/peer_event_queue.hpp"
#include "net/discovery/peer_table.hpp"
#include "support/test_support.hpp"

namespace crossgpu::discovery {
namespace {

const std::string kOwn = "00000000000000000000000000000000";
const std::string kOther = "1111111111111111aaaaaaaaaaaaaaaa";

ResolvedService sighting(const std::string& address, const std::string& id = kOther) {
  return {"other", "other.local", {address}, 7300, {"id=" + id, "proto=1.0", "devices=cpu 8GiB"}};
}

class PeerTableTest : public ::testing::Test {
 protected:
  std::vector<PeerEvent> events;
  PeerTable table{kOwn, [this](const PeerEvent& e) { events.push_back(e); }};
};

TEST_F(PeerTableTest, MergesSightingsAndReportsLossOnlyWhenAllAreGone) {
  table.resolved(2, 0, sighting("192.0.2.7"));
  table.resolved(2, 1, sighting("fd00::7"));
  table.resolved(2, 1, sighting("fd00::7"));  // a repeat changes nothing: no event
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, PeerEventKind::found);
  EXPECT_EQ(events[1].kind, PeerEventKind::updated);
  EXPECT_EQ(events[1].peer.addresses, (std::vector<std::string>{"192.0.2.7", "fd00::7"}));
  EXPECT_EQ(table.peers().size(), 1u);

  table.removed(2, 0, "other");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].kind, PeerEventKind::updated);
  EXPECT_EQ(events[2].peer.addresses, std::vector<std::string>{"fd00::7"});
  table.removed(2, 1, "other");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].kind, PeerEventKind::lost);
  EXPECT_EQ(events[3].peer.node_id, kOther);
  EXPECT_TRUE(table.peers().empty());
  table.removed(2, 1, "other");  // unknown: ignored
  EXPECT_EQ(events.size(), 4u);
}

TEST_F(PeerTableTest, IgnoresItselfAndInvalidServices) {
  table.resolved(2, 0, sighting("192.0.2.1", kOwn));
  table.resolved(2, 0, sighting("192.0.2.1", "not-hex"));
  auto no_proto = sighting("192.0.2.2");
  no_proto.txt = {"id=" + kOther};
  table.resolved(2, 0, no_proto);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(table.peers().empty());
}

TEST_F(PeerTableTest, ASightingThatTurnsInvalidNoLongerCounts) {
  table.resolved(2, 0, sighting("192.0.2.7"));
  auto corrupted = sighting("192.0.2.7");
  corrupted.txt = {"id=" + kOther, "proto=one"};
  table.resolved(2, 0, corrupted);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, PeerEventKind::lost);
  EXPECT_TRUE(table.peers().empty());
}

TEST_F(PeerTableTest, AFloodOfBogusServicesIsIgnored) {
  for (int i = 0; i < 300; ++i) {  // past the 256 remembered rejections
    auto bogus = sighting("192.0.2.7", "zz");
    bogus.instance_name = "bogus " + std::to_string(i);
    table.resolved(2, 0, bogus);
  }
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(table.peers().empty());
}

TEST_F(PeerTableTest, AnnouncedSeedsAreListedAndReported) {
  PeerCandidate seed;
  seed.source = PeerSource::seed;
  seed.instance_name = "10.0.0.1:7300";
  table.announce(seed);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].peer.source, PeerSource::seed);
  EXPECT_EQ(table.peers().size(), 1u);
}

TEST(DiscoveryPeerEventQueue, DeliversInOrderAndTimesOut) {
  PeerEventQueue queue;
  EXPECT_FALSE(queue.pop(std::chrono::milliseconds(1)));
  PeerTable table(kOwn, [&](const PeerEvent& e) { queue.push(e); });
  table.resolved(3, 0, sighting("192.0.2.7"));
  table.removed(3, 0, "other");
  EXPECT_EQ(queue.pop(std::chrono::milliseconds(0))->kind, PeerEventKind::found);
  EXPECT_EQ(queue.pop(std::chrono::milliseconds(0))->kind, PeerEventKind::lost);
}

}  // namespace
}  // namespace crossgpu::discovery
