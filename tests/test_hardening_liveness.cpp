// Liveness per peer (cluster/peer_monitor.hpp): four `crossgpu node` processes on loopback watch
// each other; one is stopped with SIGSTOP for longer than a heartbeat timeout plus the suspect
// window. Its connects and calls then hang until their timeouts, but only on its own worker: in
// every other node's view the other two peers stay healthy for the whole stop, and the stopped
// one is seen to go.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cluster/node_connection.hpp"
#include "crossgpu/v1/node.pb.h"
#include "hardening_sockets.hpp"
#include "support/child_process.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// State of each peer in `node`'s view, by address.
std::map<std::string, std::string> view_of(cluster::NodeConnection& node) {
  std::map<std::string, std::string> states;
  const v1::StatusResponse status = node.status();
  for (const v1::PeerStatus& peer : status.peers()) states[peer.address()] = peer.state();
  return states;
}

TEST(PeerLiveness, OneStoppedNodeNeverChangesAnotherPeersState) {
  TestCluster cluster;
  std::vector<int> ports;
  for (int i = 0; i < 4; ++i) ports.push_back(free_port());
  std::vector<std::filesystem::path> configs = {cluster.ca_dir()};
  std::vector<std::unique_ptr<ChildProcess>> nodes;
  auto start = [&](std::size_t i) {
    std::vector<std::string> args = {CROSSGPU_CLI_PATH, "node", "--listen", loopback(ports[i]),
                                     "--config", configs[i].string(), "--cpu-only",
                                     "--no-discovery", "--no-profile", "--no-data-channel"};
    for (std::size_t j = 0; j < ports.size(); ++j) {
      if (j != i) args.insert(args.end(), {"--peer", loopback(ports[j])});
    }
    nodes.push_back(std::make_unique<ChildProcess>(args));
    ASSERT_NE(nodes.back()->wait_for("listening on"), "");
  };
  start(0);  // the CA node: the others join through it
  for (int i = 1; i < 4; ++i) {
    configs.push_back(cluster.join(net::Role::compute, loopback(ports[0])).config_dir());
  }
  for (std::size_t i = 1; i < 4; ++i) start(i);
  const net::NodeIdentity watcher = cluster.join(net::Role::monitor, loopback(ports[0]));
  std::vector<std::shared_ptr<cluster::NodeConnection>> views;
  for (int i = 0; i < 3; ++i) views.push_back(cluster::NodeConnection::open(loopback(ports[i]), watcher));

  // Everyone sees everyone healthy first.
  auto all_healthy = [&] {
    for (auto& view : views) {
      const auto states = view_of(*view);
      if (states.size() != 3) return false;
      for (const auto& [address, state] : states) {
        if (state != "healthy") return false;
      }
    }
    return true;
  };
  const auto settle = Clock::now() + 10s;
  while (!all_healthy() && Clock::now() < settle) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(all_healthy());

  // Stopped for a heartbeat timeout (3 s), then a reconnect whose Hello hangs until its 9 s
  // deadline, and the suspect window (3 s) after it: with one thread for all peers the others
  // turned suspect behind that reconnect.
  const std::string stopped = loopback(ports[3]);
  nodes[3]->signal(SIGSTOP);
  const auto until = Clock::now() + 15s;
  std::size_t checks = 0;
  bool stop_seen = false;
  while (Clock::now() < until) {
    for (std::size_t i = 0; i < views.size(); ++i) {
      for (const auto& [address, state] : view_of(*views[i])) {
        if (address == stopped) {
          stop_seen = stop_seen || state != "healthy";
        } else {
          EXPECT_EQ(state, "healthy") << "node " << i << "'s view of " << address;
        }
      }
      ++checks;
    }
    std::this_thread::sleep_for(200ms);
  }
  nodes[3]->signal(SIGCONT);
  EXPECT_GE(checks, 60u);
  EXPECT_TRUE(stop_seen) << "no view noticed the stopped node";
}

}  // namespace
}  // namespace crossgpu::testing
