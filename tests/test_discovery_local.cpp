// Real mDNS on this machine, kept on the loopback interface so that no test traffic leaves it:
// two Discovery instances in one process, and a Discovery and a separate probe process. Without an
// avahi-daemon these run the embedded avahi-core responders, several sharing UDP 5353.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "net/discovery/discovery.hpp"
#include "net/discovery/peer_event_queue.hpp"
#include "support/test_support.hpp"

namespace crossgpu::discovery {
namespace {

using crossgpu::testing::throws_errc;
using std::chrono::milliseconds;

std::string node_id(char digit) { return std::string(32, digit); }

DiscoveryOptions loopback_node(const std::string& name, char id_digit, std::uint16_t port) {
  DiscoveryOptions options;
  options.instance_name = name;
  options.port = port;
  options.advertisement = {node_id(id_digit), kProtocolVersion, "test cpu 1GiB"};
  options.interfaces.allow = {"lo"};
  options.mode = DiscoveryMode::embedded;
  // Distinct mDNS host names per responder: they share one machine, and equal names would make
  // them probe against each other and rename, which only slows the test down.
  options.host_name = fmt::format("cg-test-{}-{}", getpid(), name);
  return options;
}

// Waits for a non-lost event about `id`.
std::optional<PeerCandidate> wait_for(PeerEventQueue& queue, const std::string& id,
                                      milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto event = queue.pop(milliseconds(50));
    if (event && event->kind != PeerEventKind::lost && event->peer.node_id == id)
      return event->peer;
  }
  return std::nullopt;
}

bool avahi_daemon_running() { return std::system("pgrep -x avahi-daemon > /dev/null 2>&1") == 0; }

TEST(DiscoveryLocal, TwoInstancesInOneProcessFindEachOther) {
  PeerEventQueue events_a, events_b;
  Discovery a(loopback_node("alpha", 'a', 7301), [&](const PeerEvent& e) { events_a.push(e); });
  Discovery b(loopback_node("beta", 'b', 7302), [&](const PeerEvent& e) { events_b.push(e); });
  EXPECT_EQ(a.mode(), DiscoveryMode::embedded);
  EXPECT_EQ(a.interfaces(), std::vector<std::string>{"lo"});

  const auto b_seen_by_a = wait_for(events_a, node_id('b'), milliseconds(8'000));
  const auto a_seen_by_b = wait_for(events_b, node_id('a'), milliseconds(8'000));
  ASSERT_TRUE(b_seen_by_a) << "alpha did not find beta over mDNS on lo";
  ASSERT_TRUE(a_seen_by_b) << "beta did not find alpha over mDNS on lo";
  EXPECT_EQ(b_seen_by_a->instance_name, "beta");
  EXPECT_EQ(b_seen_by_a->port, 7302);
  EXPECT_EQ(b_seen_by_a->protocol, kProtocolVersion);
  EXPECT_EQ(b_seen_by_a->devices, "test cpu 1GiB");
  EXPECT_NE(std::find(b_seen_by_a->addresses.begin(), b_seen_by_a->addresses.end(), "127.0.0.1"),
            b_seen_by_a->addresses.end());
  for (const auto& peer : a.peers())
    EXPECT_NE(peer.node_id, node_id('a')) << "a node reported itself";
}

TEST(DiscoveryLocal, AWithdrawnNodeIsReportedLost) {
  PeerEventQueue events_a;
  Discovery a(loopback_node("gamma", 'c', 7303), [&](const PeerEvent& e) { events_a.push(e); });
  {
    Discovery b(loopback_node("delta", 'd', 7304), [](const PeerEvent&) {});
    ASSERT_TRUE(wait_for(events_a, node_id('d'), milliseconds(8'000)));
  }  // b's destructor sends goodbye packets
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5'000);
  bool lost = false;
  while (!lost && std::chrono::steady_clock::now() < deadline) {
    auto event = events_a.pop(milliseconds(50));
    lost = event && event->kind == PeerEventKind::lost && event->peer.node_id == node_id('d');
  }
  EXPECT_TRUE(lost) << "the goodbye of a withdrawn node was not reported";
}

TEST(DiscoveryLocal, ASeparateProcessFindsThisOneAndViceVersa) {
  PeerEventQueue events;
  Discovery self(loopback_node("epsilon", 'e', 7305), [&](const PeerEvent& e) { events.push(e); });
  const std::string command = fmt::format(
      "timeout 20 {} --id {} --name zeta --port 7306 --expect {} --interfaces lo --mode embedded "
      "--host-name cg-test-{}-zeta --timeout-ms 10000 --linger-ms 1500 2>&1",
      CROSSGPU_DISCOVERY_PROBE, node_id('f'), node_id('e'), getpid());
  FILE* probe = popen(command.c_str(), "r");
  ASSERT_NE(probe, nullptr);
  const auto found = wait_for(events, node_id('f'), milliseconds(10'000));
  std::string output;
  char line[512];
  while (std::fgets(line, sizeof line, probe)) output += line;
  const int status = pclose(probe);
  ASSERT_TRUE(found) << "this process did not find the probe; probe said:\n" << output;
  EXPECT_EQ(found->instance_name, "zeta");
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the probe did not find this process:\n" << output;
  EXPECT_NE(output.find("found " + node_id('e') + " epsilon 7305"), std::string::npos) << output;
}

TEST(DiscoveryLocal, AutomaticModeEmbedsAResponderWhenNoDaemonRuns) {
  if (avahi_daemon_running()) GTEST_SKIP() << "an avahi-daemon runs here: automatic mode uses it";
  DiscoveryOptions options = loopback_node("eta", '7', 7307);
  options.mode = DiscoveryMode::automatic;
  Discovery discovery(options, [](const PeerEvent&) {});
  EXPECT_EQ(discovery.mode(), DiscoveryMode::embedded);
  options.mode = DiscoveryMode::daemon;
  EXPECT_TRUE(throws_errc([&] { Discovery d(options, [](const PeerEvent&) {}); }, Errc::unsupported,
                          "avahi-daemon"));
}

TEST(DiscoveryLocal, SeedsArriveAsFoundEventsAtStart) {
  DiscoveryOptions options = loopback_node("theta", '8', 7308);
  options.seeds = parse_peer_seeds({"192.0.2.7:7300,[fd00::9]:7301"});
  options.browse = false;
  PeerEventQueue events;
  Discovery discovery(options, [&](const PeerEvent& e) { events.push(e); });
  const auto first = events.pop(milliseconds(0));
  const auto second = events.pop(milliseconds(0));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->peer.source, PeerSource::seed);
  EXPECT_EQ(first->peer.addresses, std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(second->peer.instance_name, "[fd00::9]:7301");
  EXPECT_EQ(discovery.peers().size(), 2u);
}

TEST(DiscoveryLocal, RejectsAnInvalidOwnNodeId) {
  DiscoveryOptions options = loopback_node("iota", '9', 7309);
  options.advertisement.node_id = "not hex";
  EXPECT_TRUE(throws_errc([&] { Discovery d(options, [](const PeerEvent&) {}); },
                          Errc::invalid_argument, "node id"));
}

}  // namespace
}  // namespace crossgpu::discovery
