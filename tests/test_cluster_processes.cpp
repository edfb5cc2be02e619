// Nodes as separate `crossgpu node` processes on loopback: remote work across processes, SIGTERM
// shutdown, kill -9 of a node mid-transfer (the client gets Errc::device_lost within the
// heartbeat timeout, the other node keeps serving), kill -9 of the destination of a node-to-node
// copy, and kill -9 of a client (the node frees its session).
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "cluster/protocol.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.pb.h"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"
#include "support/child_process.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using Clock = std::chrono::steady_clock;


// `crossgpu node` on a free loopback port; returns the port it printed.
std::unique_ptr<ChildProcess> start_node(const std::filesystem::path& config, int& port,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {CROSSGPU_CLI_PATH, "node", "--listen", "127.0.0.1:0",
                                   "--config", config.string(), "--cpu-only", "--no-discovery"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto process = std::make_unique<ChildProcess>(args);
  port = number_after(process->wait_for("listening on"), "(port ");
  return process;
}

void expect_roundtrip(Device& device, std::size_t size, std::uint32_t seed) {
  const auto data = random_bytes(size, seed);
  Buffer buffer = device.allocate(size);
  device.stream().upload(buffer, 0, std::span<const std::byte>(data)).wait();
  std::vector<std::byte> back(size);
  device.stream().download(buffer, 0, std::span(back)).wait();
  EXPECT_TRUE(back == data);
}

// Repeats `transfer` (up to 100 times) on another thread, kills `node` with SIGKILL 300 ms in,
// and expects the transfer to fail with Errc::device_lost within the heartbeat timeout.
template <typename Transfer>
void expect_device_lost_when_killed(ChildProcess& node, Transfer&& transfer) {
  auto repeated = std::async(std::launch::async, [&] {
    try {
      for (int i = 0; i < 100; ++i) transfer();
    } catch (const Error& e) {
      // A killed node's sockets close at once: the message says so, not "no heartbeat answer"
      // (a timeout that did not happen).
      EXPECT_EQ(std::string(e.what()).find("no heartbeat answer"), std::string::npos) << e.what();
      return e.code();
    }
    return Errc::ok;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto killed_at = Clock::now();
  node.signal(SIGKILL);
  ASSERT_EQ(repeated.wait_for(cluster::kHeartbeatTimeout + std::chrono::seconds(2)),
            std::future_status::ready);
  EXPECT_EQ(repeated.get(), Errc::device_lost);
  EXPECT_LE(Clock::now() - killed_at, cluster::kHeartbeatTimeout + std::chrono::milliseconds(500));
}

TEST(ClusterProcesses, KillNodeMidTransferGivesDeviceLostAndOthersKeepWorking) {
  TestCluster cluster;
  int port_a = 0, port_b = 0;
  auto node_a = start_node(cluster.ca_dir(), port_a);
  const net::NodeIdentity b = cluster.join(net::Role::compute, loopback(port_a));
  auto node_b = start_node(b.config_dir(), port_b);
  const net::NodeIdentity client = cluster.join(net::Role::compute, loopback(port_a));

  auto a = cluster::RemoteNode::connect(loopback(port_a), client);
  auto remote_b = cluster::RemoteNode::connect(loopback(port_b), client);
  expect_roundtrip(*a->devices().front(), 3 << 20, 1);
  expect_roundtrip(*remote_b->devices().front(), 3 << 20, 2);

  Device& doomed = *remote_b->devices().front();
  Buffer big = doomed.allocate(512ull << 20);
  std::vector<std::byte> data(512ull << 20, std::byte{7});
  ASSERT_NO_FATAL_FAILURE(expect_device_lost_when_killed(*node_b, [&] {
    doomed.stream().upload(big, 0, std::span<const std::byte>(data)).wait();
  }));
  // Later calls fail the same way, and freeing the dead buffer does not throw.
  EXPECT_TRUE(throws_errc([&] { doomed.allocate(64); }, Errc::device_lost));
  big.reset();
  expect_roundtrip(*a->devices().front(), 5 << 20, 3);  // the survivor is untouched
}

// The destination of a node-to-node copy dies mid-copy: the client's copy (a request to the
// source, which sends to the destination over its own link) fails with Errc::device_lost within
// the heartbeat timeout, and the source serves on, the same client's data channel included. The
// source watches the destination (--peer): it copies only to members it watches.
TEST(ClusterProcesses, KillDestinationMidPeerCopyGivesDeviceLostAndTheSourceKeepsWorking) {
  TestCluster cluster;
  int port_a = 0, port_b = 0;
  auto node_a = start_node(cluster.ca_dir(), port_a);  // the destination
  const net::NodeIdentity b = cluster.join(net::Role::compute, loopback(port_a));
  auto node_b = start_node(b.config_dir(), port_b, {"--peer", loopback(port_a)});
  const net::NodeIdentity client = cluster.join(net::Role::compute, loopback(port_a));
  auto source = cluster::RemoteNode::connect(loopback(port_b), client);
  auto destination = cluster::RemoteNode::connect(loopback(port_a), client);
  // Until B's monitor has verified A, B refuses to copy there (the client would relay instead).
  const auto until = Clock::now() + std::chrono::seconds(5);
  auto a_is_healthy = [&] {
    const v1::StatusResponse status = source->connection().status();
    for (const auto& peer : status.peers()) {
      if (peer.node_id() == destination->connection().node_id() && peer.state() == "healthy") {
        return true;
      }
    }
    return false;
  };
  while (!a_is_healthy() && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(a_is_healthy());
  const std::uint64_t size = 256ull << 20;
  Buffer src = source->devices().front()->allocate(size);
  Buffer dst = destination->devices().front()->allocate(size);
  cluster::copy_between_nodes(src, 0, dst, 0, 4096);  // B's link to A is up
  ASSERT_NO_FATAL_FAILURE(expect_device_lost_when_killed(
      *node_a, [&] { cluster::copy_between_nodes(src, 0, dst, 0, size); }));
  dst.reset();
  EXPECT_TRUE(source->connection().uses_data_channel());
  expect_roundtrip(*source->devices().front(), 5 << 20, 4);
}

TEST(ClusterProcesses, KilledClientsSessionIsFreedByTheNode) {
  TestCluster cluster;
  int port = 0;
  // One session at a time: a new client gets in only once the killed client's session (and
  // with it its memory) is gone.
  auto node = start_node(cluster.ca_dir(), port, {"--max-sessions", "1"});
  const net::NodeIdentity client = cluster.join(net::Role::compute, loopback(port));
  {
    ::setenv("CROSSGPU_TEST_NODE", loopback(port).c_str(), 1);
    ::setenv("CROSSGPU_TEST_CONFIG", client.config_dir().c_str(), 1);
    ChildProcess holder({CROSSGPU_TEST_SELF, "--gtest_also_run_disabled_tests",
                    "--gtest_filter=ClusterProcesses.DISABLED_HoldSessionUntilKilled"});
    ASSERT_NE(holder.wait_for("holding"), "");
    EXPECT_TRUE(throws_errc([&] { cluster::RemoteNode::connect(loopback(port), client); },
                            Errc::out_of_memory, "sessions"));
    holder.signal(SIGKILL);
  }
  const auto deadline = Clock::now() + cluster::kHeartbeatTimeout * 3;
  std::unique_ptr<cluster::RemoteNode> next;
  while (!next && Clock::now() < deadline) {
    try {
      next = cluster::RemoteNode::connect(loopback(port), client);
    } catch (const Error&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_TRUE(next) << "the killed client's session was not freed";
  expect_roundtrip(*next->devices().front(), 1 << 20, 4);
}

// Run as a child process by the test above: a session with memory and a recorded program.
TEST(ClusterProcesses, DISABLED_HoldSessionUntilKilled) {
  const net::NodeIdentity identity = net::NodeIdentity::load(std::getenv("CROSSGPU_TEST_CONFIG"));
  auto node = cluster::RemoteNode::connect(std::getenv("CROSSGPU_TEST_NODE"), identity);
  Device& device = *node->devices().front();
  Buffer held = device.allocate(64 << 20);
  // A recorded program too, as a remote stage keeps (its buffers held by the node's program).
  const std::uint32_t n = 1 << 20;
  const kernels::FillPush push{n, 0, 3.0f};
  const BufferRange binding[] = {{held}};
  device.stream().begin_recording();
  device.stream().dispatch(kernels::fill_f32, binding, std::as_bytes(std::span(&push, 1)), Groups{n / 256});
  Recording program = device.stream().end_recording();
  device.stream().replay(program);
  float first = 0;
  device.stream().download(held, std::span(&first, 1)).wait();
  if (first != 3.0f) return;  // the parent waits for "holding" in vain and fails
  std::printf("holding\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::minutes(5));
}

TEST(ClusterProcesses, SigtermStopsTheNodeCleanlyWithClientsConnected) {
  TestCluster cluster;
  int port = 0;
  auto node = start_node(cluster.ca_dir(), port);
  const net::NodeIdentity client = cluster.join(net::Role::compute, loopback(port));
  auto remote = cluster::RemoteNode::connect(loopback(port), client);
  Buffer buffer = remote->devices().front()->allocate(1 << 20);
  node->signal(SIGTERM);
  EXPECT_NE(node->wait_for("stopping"), "");
  EXPECT_EQ(node->wait_exit(), 0);
}

// A free loopback TCP port (bound, read back, released).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// --data-listen fixes the data channel's port (for firewalls); --no-data-channel leaves gRPC.
TEST(ClusterProcesses, DataChannelFlagsChooseThePortOrTurnItOff) {
  TestCluster cluster;
  const int data_port = free_port();
  int port = 0;
  auto node = start_node(cluster.ca_dir(), port, {"--data-listen", "127.0.0.1:" + std::to_string(data_port)});
  const net::NodeIdentity client = cluster.join(net::Role::compute, loopback(port));
  auto remote = cluster::RemoteNode::connect(loopback(port), client);
  EXPECT_TRUE(remote->connection().uses_data_channel());
  expect_roundtrip(*remote->devices().front(), (1 << 20) + 3, 5);
  const int probe = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(data_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << "nothing listens on --data-listen";
  close(probe);

  int plain_port = 0;
  auto plain = start_node(cluster.ca_dir(), plain_port, {"--no-data-channel"});
  auto over_grpc = cluster::RemoteNode::connect(loopback(plain_port), client);
  EXPECT_FALSE(over_grpc->connection().uses_data_channel());
  expect_roundtrip(*over_grpc->devices().front(), (1 << 20) + 3, 6);
}

}  // namespace
}  // namespace crossgpu::testing
