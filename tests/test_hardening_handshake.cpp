// The data channel's pre-authentication budget (net/handshake_gate.hpp) against a real node on
// loopback: a slow-loris client that trickles its handshake is dropped at the deadline for the
// whole handshake (not per read); a flood from one source address holds at most its share, costs
// no thread per connection, and a member's transfers meanwhile stay bit-exact and fast; a flood
// from several addresses stops at the global cap and is gone after the deadline. Attackers use
// 127.0.0.2 and up as their source, so the member (127.0.0.1) is another source.
// The gRPC port's gate (net/grpc_accept_gate.hpp) is tried the same way: gRPC's own handshake
// deadline drops a slow loris that the gate handed over, a flood from one address holds at most
// its share of unauthenticated connections while members' connections leave the count at their
// first call, and one from several stops at the global cap until gRPC has closed them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cluster/remote_node.hpp"
#include "hardening_sockets.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The first bytes of a TLS ClientHello record (handshake, TLS 1.0 record version, 512 bytes):
// the node waits for the rest.
constexpr unsigned char kHelloStart[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

// A client from 127.0.0.2 that sends its ClientHello one byte every 150 ms (far inside any
// per-read timeout, so only a deadline for the whole handshake ends it) until the node closes
// the connection or 6 s pass: whether it was closed, and after how long.
std::pair<bool, Clock::duration> trickle_handshake(int port) {
  const int fd = raw_connect("127.0.0.2", port);
  if (fd < 0) return {false, {}};
  const auto begin = Clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < 40 && !closed; ++i) {
    const unsigned char byte = kHelloStart[std::min(i, sizeof(kHelloStart) - 1)];
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1) break;
    closed = closed_by_peer(fd, 150ms);
  }
  const auto took = Clock::now() - begin;
  ::close(fd);
  return {closed, took};
}

class HandshakeBudget : public ::testing::Test {
 protected:
  void start(net::HandshakeLimits limits) {
    cluster::NodeServerOptions options;
    options.config_dir = cluster_.ca_dir();
    options.listen_address = "127.0.0.1:0";
    options.handshake = limits;
    server_ = std::make_unique<cluster::NodeServer>(devices(), options);
    server_->start();
    ASSERT_NE(server_->data_port(), 0);
    compute_ = std::make_unique<net::NodeIdentity>(
        cluster_.join(net::Role::compute, loopback(server_->port())));
  }
  // A member's round trip over the data channel, bit-exact; returns how long it took.
  Clock::duration member_round_trip() {
    const auto begin = Clock::now();
    auto node = cluster::RemoteNode::connect(loopback(server_->port()), *compute_);
    EXPECT_TRUE(node->connection().uses_data_channel());
    Device& device = *node->devices().front();
    const auto data = random_bytes(1 << 20, 5);
    Buffer buffer = device.allocate(data.size());
    device.stream().upload(buffer, 0, std::span<const std::byte>(data)).wait();
    std::vector<std::byte> back(data.size());
    device.stream().download(buffer, 0, std::span(back)).wait();
    EXPECT_TRUE(back == data);
    return Clock::now() - begin;
  }

  TestCluster cluster_;
  std::unique_ptr<cluster::NodeServer> server_;
  std::unique_ptr<net::NodeIdentity> compute_;
};

TEST_F(HandshakeBudget, ASlowLorisIsDroppedAtTheDeadlineForTheWholeHandshake) {
  start({.deadline = 1000ms, .max_pending = 32, .max_pending_per_source = 8});
  const auto [closed, took] = trickle_handshake(server_->data_port());
  EXPECT_TRUE(closed) << "a trickling handshake was never dropped";
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
  EXPECT_EQ(server_->data_handshake_counts().expired, 1u);
}

TEST_F(HandshakeBudget, AFloodFromOneAddressCostsNoThreadsAndLeavesMembersAlone) {
  // A deadline longer than the flood takes to send (also on a loaded 2-core machine): the 8
  // slots stay held throughout, as by an attacker who renews them.
  start({.deadline = 6000ms, .max_pending = 64, .max_pending_per_source = 8});
  member_round_trip();  // warm: the threads of a member's session exist before counting
  const std::size_t threads_before = thread_count();
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    const int fd = raw_connect("127.0.0.2", server_->data_port());
    if (fd < 0) continue;
    ::send(fd, kHelloStart, 5, MSG_NOSIGNAL);
    flood.push_back(fd);
  }
  ASSERT_GE(flood.size(), 250u);
  // Every connection past the source's share is closed at once, long before the deadline.
  const auto deadline = Clock::now() + 3000ms;
  while (server_->data_handshake_counts().refused_source < flood.size() - 8 &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  const net::HandshakeCounts counts = server_->data_handshake_counts();
  EXPECT_EQ(counts.refused_source, flood.size() - 8);
  EXPECT_EQ(counts.expired, 0u);
  EXPECT_LE(thread_count(), threads_before + 8) << "threads grew with unauthenticated connections";
  // The member's work goes on: it waits for no attacker's deadline.
  EXPECT_LT(member_round_trip(), 4000ms);
  EXPECT_GE(server_->data_handshake_counts().admitted, 2u);
  for (const int fd : flood) ::close(fd);
}

TEST_F(HandshakeBudget, AFloodFromManyAddressesStopsAtTheGlobalCapAndExpires) {
  start({.deadline = 800ms, .max_pending = 16, .max_pending_per_source = 8});
  std::vector<int> flood;
  for (const char* source : {"127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    for (int i = 0; i < 8; ++i) {
      const int fd = raw_connect(source, server_->data_port());
      ASSERT_GE(fd, 0);
      flood.push_back(fd);
    }
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(server_->data_handshake_counts().refused_full, 8u);
  // After the deadline every slot is free again and a member gets in.
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(server_->data_handshake_counts().expired, 16u);
  member_round_trip();
  for (const int fd : flood) ::close(fd);
}

TEST(GrpcGateLedger, CountsConnectionsUntilTheyAuthenticateOrAreGone) {
  using Verdict = net::GrpcAcceptGate::Ledger::Verdict;
  net::GrpcAcceptGate::Ledger ledger({.deadline = 1000ms, .max_pending = 3, .max_pending_per_source = 2});
  const auto t0 = Clock::now();
  EXPECT_EQ(ledger.admit("a:1", "a", 11, t0), Verdict::admit);
  EXPECT_EQ(ledger.admit("a:2", "a", 12, t0), Verdict::admit);
  EXPECT_EQ(ledger.admit("a:3", "a", 13, t0), Verdict::refuse_source);
  EXPECT_EQ(ledger.admit("b:1", "b", 21, t0), Verdict::admit);
  EXPECT_EQ(ledger.admit("c:1", "c", 31, t0), Verdict::refuse_full);
  // An authenticated call frees its connection's place at once.
  EXPECT_TRUE(ledger.release("a:1"));
  EXPECT_FALSE(ledger.release("a:1"));
  EXPECT_EQ(ledger.admit("a:3", "a", 13, t0), Verdict::admit);
  // Time alone frees nothing: a connection that finished TLS without a certificate stays
  // counted for as long as its socket is open.
  EXPECT_EQ(ledger.release_gone({12, 13, 21}), 0u);
  EXPECT_EQ(ledger.admit("c:1", "c", 31, t0 + 5000ms), Verdict::refuse_full);
  // Sockets that are gone are released.
  EXPECT_EQ(ledger.release_gone({13}), 2u);
  EXPECT_EQ(ledger.unauthenticated(), 1u);
  EXPECT_EQ(ledger.admit("c:1", "c", 31, t0 + 5000ms), Verdict::admit);
  EXPECT_EQ(ledger.admit("a:4", "a", 14, t0 + 5000ms), Verdict::admit);
  EXPECT_EQ(ledger.admit("a:5", "a", 15, t0 + 5000ms), Verdict::refuse_source);
}

TEST(GrpcGateLedger, GrpcPeerStringsNameConnectionsAsAcceptDoes) {
  EXPECT_EQ(net::peer_from_grpc("ipv4:127.0.0.1:5678"), "127.0.0.1:5678");
  EXPECT_EQ(net::peer_from_grpc("ipv6:%5B::1%5D:5678"), "[::1]:5678");
  EXPECT_EQ(net::peer_from_grpc("ipv6:[fe80::1]:80"), "[fe80::1]:80");
  EXPECT_EQ(net::peer_from_grpc("unix:/tmp/x"), "unix:/tmp/x");
}

// A member's gRPC call on a fresh connection from 127.0.0.1.
bool member_grpc_call_works(const std::string& address, const net::NodeIdentity& member) {
  auto node = cluster::RemoteNode::connect(address, member);
  return !node->devices().empty();
}

TEST_F(HandshakeBudget, AGrpcSlowLorisIsDroppedByGrpcsHandshakeDeadline) {
  start({.deadline = 1000ms, .max_pending = 32, .max_pending_per_source = 8});
  const auto [closed, took] = trickle_handshake(server_->port());
  EXPECT_TRUE(closed) << "a trickling gRPC handshake was never dropped";
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3000ms);
  EXPECT_GE(server_->grpc_gate_counts().handed_over, 1u);
}

TEST_F(HandshakeBudget, AGrpcFloodFromOneAddressHoldsItsShareAndLeavesMembersAlone) {
  start({.deadline = 6000ms, .max_pending = 64, .max_pending_per_source = 8});
  // A member's connection leaves the unauthenticated count at its first call.
  EXPECT_TRUE(member_grpc_call_works(loopback(server_->port()), *compute_));
  EXPECT_GE(server_->grpc_gate_counts().authenticated, 1u);
  const net::GrpcGateCounts before = server_->grpc_gate_counts();
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    const int fd = raw_connect("127.0.0.2", server_->port());
    if (fd < 0) continue;
    ::send(fd, kHelloStart, 5, MSG_NOSIGNAL);
    flood.push_back(fd);
  }
  ASSERT_GE(flood.size(), 250u);
  const auto deadline = Clock::now() + 3000ms;
  while (server_->grpc_gate_counts().refused_source < flood.size() - 8 && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  const net::GrpcGateCounts counts = server_->grpc_gate_counts();
  EXPECT_EQ(counts.refused_source, flood.size() - 8);
  EXPECT_EQ(counts.handed_over - before.handed_over, 8u);
  EXPECT_TRUE(member_grpc_call_works(loopback(server_->port()), *compute_));
  for (const int fd : flood) ::close(fd);
}

TEST_F(HandshakeBudget, AGrpcFloodFromManyAddressesStopsAtTheGlobalCapUntilTheDeadline) {
  start({.deadline = 800ms, .max_pending = 16, .max_pending_per_source = 8});
  // The fixture's join (enrollment: no certificate) counts until its connection is gone.
  const auto joined_gone = Clock::now() + 5000ms;
  const auto unauthenticated = [&] {
    const net::GrpcGateCounts c = server_->grpc_gate_counts();
    return c.handed_over - c.authenticated - c.gone;
  };
  while (unauthenticated() > 0 && Clock::now() < joined_gone) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(unauthenticated(), 0u);
  std::vector<int> flood;
  for (const char* source : {"127.0.0.3", "127.0.0.4", "127.0.0.5"}) {
    for (int i = 0; i < 8; ++i) {
      const int fd = raw_connect(source, server_->port());
      ASSERT_GE(fd, 0);
      flood.push_back(fd);
    }
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(server_->grpc_gate_counts().refused_full, 8u);
  // gRPC drops the trickled handshakes at its deadline; the gate sees them gone at its next
  // look (once a deadline) and a member gets in.
  std::this_thread::sleep_for(2000ms);
  EXPECT_GE(server_->grpc_gate_counts().gone, 16u);
  EXPECT_TRUE(member_grpc_call_works(loopback(server_->port()), *compute_));
  for (const int fd : flood) ::close(fd);
}

}  // namespace
}  // namespace crossgpu::testing
