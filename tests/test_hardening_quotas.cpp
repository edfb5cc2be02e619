// Per-identity and per-role quotas on a node's gRPC port (net/call_quota.hpp and the shares
// of SessionLimits): a monitor identity that opens hundreds of sessions and Session streams gets
// typed RESOURCE_EXHAUSTED refusals past its share, all monitors together stop at the monitor
// role's share, and a compute client working at the same time completes every transfer
// bit-exact, and can still open sessions.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>

#include "net/call_quota.hpp"
#include "net/tls_socket.hpp"
#include "cluster/protocol.hpp"
#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "hardening_work.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

grpc::Status hello(v1::Node::Stub& stub, std::uint64_t* session) {
  grpc::ClientContext context;
  v1::HelloRequest request;
  request.mutable_version()->set_major(cluster::kProtocolMajor);
  v1::HelloResponse response;
  grpc::Status status = stub.Hello(&context, request, &response);
  *session = response.session_id();
  return status;
}

// A Session stream kept open (its thread on the node stays held) until destroyed.
struct OpenStream {
  OpenStream(v1::Node::Stub& stub, std::uint64_t session) {
    stream = stub.Session(&context);
    v1::SessionEvent first;
    first.set_session_id(session);
    stream->Write(first);
    v1::SessionEvent echo;
    alive = stream->Read(&echo);  // the node echoes the first heartbeat once attached
  }
  ~OpenStream() {
    context.TryCancel();
    stream->Finish();
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SessionEvent, v1::SessionEvent>> stream;
  bool alive = false;
};

// A stream's final status when the node refuses it at once.
grpc::Status refused_stream(v1::Node::Stub& stub, std::uint64_t session) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub.Session(&context);
  v1::SessionEvent first;
  first.set_session_id(session);
  stream->Write(first);
  v1::SessionEvent echo;
  if (stream->Read(&echo)) context.TryCancel();  // admitted after all: no refusal
  return stream->Finish();
}

bool is_quota_refusal(const grpc::Status& status, const std::string& needle) {
  return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         status.error_message().find(needle) != std::string::npos;
}

class Quotas : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    server_ = cluster_->start_ca_node().release();
    address_ = loopback(server_->port());
    compute_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
  }
  static void TearDownTestSuite() {
    delete compute_;
    delete server_;
    delete cluster_;
  }
  // A compute client's work, bit-exact; counts the round trips that succeeded.
  static void compute_work(std::atomic<bool>& stop, std::atomic<int>& done) {
    auto node = cluster::RemoteNode::connect(address_, *compute_);
    Device& device = *node->devices().front();
    Buffer buffer = device.allocate(64 << 10);
    for (std::uint32_t i = 0; !stop || done < 5; ++i) {
      ASSERT_TRUE(round_trip_bit_exact(device, buffer, i));
      ++done;
    }
  }
  static TestCluster* cluster_;
  static cluster::NodeServer* server_;
  static net::NodeIdentity* compute_;
  static std::string address_;
};
TestCluster* Quotas::cluster_ = nullptr;
cluster::NodeServer* Quotas::server_ = nullptr;
net::NodeIdentity* Quotas::compute_ = nullptr;
std::string Quotas::address_;

TEST_F(Quotas, AMonitorFloodIsRefusedPastItsShareWhileComputeWorkCompletes) {
  const cluster::SessionLimits limits;  // the node's defaults
  const net::CallQuotaLimits calls = net::CallQuotaLimits::for_threads(256);
  ASSERT_EQ(limits.monitor_per_identity(), 8u);
  ASSERT_EQ(calls.monitor_per_identity, 8u);
  const net::NodeIdentity monitor = cluster_->join(net::Role::monitor, address_);
  auto stub = v1::Node::NewStub(monitor.connect(address_));

  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::thread work([&] { compute_work(stop, done); });

  // 500 Hellos: its share of sessions, then typed refusals.
  std::vector<std::uint64_t> sessions;
  int refused = 0;
  for (int i = 0; i < 500; ++i) {
    std::uint64_t session = 0;
    const grpc::Status status = hello(*stub, &session);
    if (status.ok()) {
      sessions.push_back(session);
    } else {
      EXPECT_TRUE(is_quota_refusal(status, "session quota exceeded")) << status.error_message();
      ++refused;
    }
  }
  EXPECT_EQ(sessions.size(), limits.monitor_per_identity());
  EXPECT_EQ(refused, 500 - static_cast<int>(limits.monitor_per_identity()));

  // Its sessions' streams hold its whole call share: 500 more streams are refused at once.
  std::vector<std::unique_ptr<OpenStream>> held;
  for (const std::uint64_t session : sessions) {
    held.push_back(std::make_unique<OpenStream>(*stub, session));
    EXPECT_TRUE(held.back()->alive);
  }
  std::vector<std::thread> flood;
  std::atomic<int> stream_refusals{0};
  for (int t = 0; t < 4; ++t) {
    flood.emplace_back([&] {
      for (int i = 0; i < 125; ++i) {
        const grpc::Status status = refused_stream(*stub, sessions.front());
        if (is_quota_refusal(status, "calls in flight")) ++stream_refusals;
      }
    });
  }
  for (auto& thread : flood) thread.join();
  EXPECT_EQ(stream_refusals.load(), 500);

  // The compute client worked throughout and can still open sessions.
  stop = true;
  work.join();
  EXPECT_GE(done.load(), 5);
  auto compute_stub = v1::Node::NewStub(compute_->connect(address_));
  std::uint64_t session = 0;
  EXPECT_TRUE(hello(*compute_stub, &session).ok());
}

TEST_F(Quotas, AllMonitorsTogetherStopAtTheMonitorRoleShare) {
  const cluster::SessionLimits limits;
  // Sessions of monitors from other tests end with their streams; wait until they have.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto monitors_left = [] {
    std::size_t n = 0;
    for (const auto& session : server_->sessions().sessions()) {
      n += session->peer().role == net::Role::monitor;
    }
    return n;
  };
  while (monitors_left() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(monitors_left(), 0u);
  const std::size_t identities = limits.monitor_total() / limits.monitor_per_identity() + 1;
  std::size_t opened = 0;
  int role_refusals = 0;
  for (std::size_t m = 0; m < identities; ++m) {
    const net::NodeIdentity monitor = cluster_->join(net::Role::monitor, address_);
    auto stub = v1::Node::NewStub(monitor.connect(address_));
    for (std::size_t i = 0; i < limits.monitor_per_identity(); ++i) {
      std::uint64_t session = 0;
      const grpc::Status status = hello(*stub, &session);
      if (status.ok()) {
        ++opened;
      } else if (is_quota_refusal(status, "limit of the monitor role")) {
        ++role_refusals;
      }
    }
  }
  EXPECT_EQ(opened, limits.monitor_total());
  EXPECT_EQ(role_refusals, static_cast<int>(limits.monitor_per_identity()));
  // A compute client still gets a session and works.
  auto node = cluster::RemoteNode::connect(address_, *compute_);
  EXPECT_FALSE(node->devices().empty());
}

TEST(CallQuota, PlacesComeBackWhenCallsEnd) {
  net::CallQuota quota({.per_identity = 2, .monitor_per_identity = 1, .monitor_total = 1});
  const net::PeerIdentity compute{"c", net::Role::compute, "", ""};
  const net::PeerIdentity monitor{"m", net::Role::monitor, "", ""};
  const net::PeerIdentity other_monitor{"n", net::Role::monitor, "", ""};
  {
    auto a = quota.acquire(compute, "A");
    auto b = quota.acquire(compute, "B");
    EXPECT_TRUE(throws_errc([&] { quota.acquire(compute, "C"); }, Errc::out_of_memory,
                            "identity c"));
    auto m = quota.acquire(monitor, "M");
    EXPECT_TRUE(throws_errc([&] { quota.acquire(other_monitor, "N"); }, Errc::out_of_memory,
                            "monitor role"));
    EXPECT_EQ(quota.in_flight("c"), 2u);
  }
  EXPECT_EQ(quota.in_flight("c"), 0u);
  EXPECT_NO_THROW(quota.acquire(other_monitor, "N"));
}

// Authenticated data connections: one identity holds at most half of them. A connection that
// passed TLS but has not bound to a session holds its thread until the bind deadline, so a member
// (or a stolen member key) opening many could otherwise take every connection.
TEST(DataChannelQuota, OneIdentityHoldsAtMostHalfTheConnections) {
  TestCluster cluster;
  cluster::SessionLimits limits;
  limits.max_sessions = 2;  // room for 2 x 4 lanes: 4 per identity
  auto server = cluster.start_ca_node(limits);
  const std::string data_address = "127.0.0.1:" + std::to_string(server->data_port());
  const net::NodeIdentity greedy = cluster.join(net::Role::compute, loopback(server->port()));
  const net::NodeIdentity other = cluster.join(net::Role::compute, loopback(server->port()));
  // Admitted: the node waits for a bind request, so a read waits out its 500 ms timeout.
  // Refused: the node closes the connection at once, and the read ends long before.
  auto admitted = [&](net::TlsSocket& socket) {
    socket.set_timeout(std::chrono::milliseconds(500));
    std::array<std::byte, 1> byte{};
    const auto begin = std::chrono::steady_clock::now();
    try {
      socket.read_exact(byte);  // the node sends nothing first
    } catch (const Error&) {
    }
    return std::chrono::steady_clock::now() - begin >= std::chrono::milliseconds(400);
  };
  net::TlsContext greedy_tls(greedy, net::TlsContext::Side::client);
  std::vector<std::unique_ptr<net::TlsSocket>> held;
  int in = 0;
  for (int i = 0; i < 6; ++i) {
    held.push_back(net::TlsSocket::connect(greedy_tls, data_address, server->node_id(),
                                           std::chrono::seconds(5)));
    in += admitted(*held.back());
  }
  EXPECT_EQ(in, 4);
  net::TlsContext other_tls(other, net::TlsContext::Side::client);
  auto socket = net::TlsSocket::connect(other_tls, data_address, server->node_id(),
                                        std::chrono::seconds(5));
  EXPECT_TRUE(admitted(*socket)) << "another identity was refused";
}

}  // namespace
}  // namespace crossgpu::testing
