// Telemetry polling per peer (telemetry/service/peer_poller.hpp): a peer that accepts TCP
// connections but never answers (what a SIGSTOPped node looks like: the kernel completes the
// handshake, nobody reads) makes its own poll wait out the call deadline, but another peer's
// telemetry keeps arriving every interval. With one loop polling the peers in turn, the hung
// peer (listed first) held every other peer's telemetry back for its deadline and its probe's.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "support/test_devices.hpp"
#include "telemetry/cluster_view.hpp"
#include "telemetry/service/peer_poller.hpp"
#include "telemetry/service/telemetry_service.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A listener that never accepts: connections complete in the kernel and then hang.
struct HungPeer {
  HungPeer() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(fd, 16);
    socklen_t length = sizeof(address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~HungPeer() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

v1::PeerStatus healthy(const std::string& node_id, const std::string& address) {
  v1::PeerStatus peer;
  peer.set_node_id(node_id);
  peer.set_address(address);
  peer.set_state("healthy");
  return peer;
}

TEST(TelemetryPolling, OneHungPeerNeverHoldsBackAnotherPeersTelemetry) {
  TestCluster cluster;
  const net::NodeIdentity ca = net::NodeIdentity::load(cluster.ca_dir());
  // Peer B: a node serving telemetry whose sequence grows every 50 ms.
  telemetry::ClusterAggregator b_view(ca.node_id());
  cluster::NodeServerOptions options;
  options.config_dir = cluster.ca_dir();
  options.listen_address = "127.0.0.1:0";
  options.services.push_back([&](const net::NodeIdentity&, const net::Authenticator& auth) {
    return std::make_unique<telemetry::TelemetryService>(b_view, auth, 1000ms);
  });
  cluster::NodeServer b(devices(), options);
  b.start();
  std::atomic<bool> stop{false};
  std::thread sampler([&] {
    for (std::uint64_t sequence = 1; !stop; ++sequence) {
      telemetry::NodeTelemetry self;
      self.node_id = ca.node_id();
      self.state = "healthy";
      self.sequence = sequence;
      b_view.update(self);
      std::this_thread::sleep_for(50ms);
    }
  });

  HungPeer hung;
  const net::NodeIdentity a = cluster.join(net::Role::compute, loopback(b.port()));
  telemetry::ClusterAggregator a_view(a.node_id());
  // The hung peer first: a loop over the peers in turn reaches B only after it.
  telemetry::PeerSource peers = [&] {
    return std::vector<v1::PeerStatus>{healthy(std::string(32, 'e'), loopback(hung.port)),
                                       healthy(ca.node_id(), loopback(b.port()))};
  };
  telemetry::PeerPoller poller(a, a_view, peers,
                               {.interval = 100ms, .probe_bytes = 64 << 10,
                                .call_timeout = 2000ms});
  poller.start();

  // For a window shorter than the hung peer's deadline, B's telemetry arrives again and again.
  std::set<std::uint64_t> seen;
  const auto begin = Clock::now();
  Clock::duration first_seen{};
  while (Clock::now() - begin < 1800ms) {
    const telemetry::ClusterView view = a_view.view();
    if (const telemetry::NodeView* node = view.find(ca.node_id())) {
      if (seen.empty()) first_seen = Clock::now() - begin;
      seen.insert(node->latest.sequence);
    }
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_GE(seen.size(), 6u) << "B's telemetry stalled behind the hung peer";
  EXPECT_LT(first_seen, 1000ms);
  poller.stop();
  stop = true;
  sampler.join();
  b.shutdown(0ms);
}

}  // namespace
}  // namespace crossgpu::testing
