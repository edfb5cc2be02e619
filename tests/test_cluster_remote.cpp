// Remote devices against an in-process node over mutual TLS on loopback: every operation is
// bit-exact against the same operation on the local device, several clients work at once,
// quotas hold, and a client's memory is freed when its session ends.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>

#include "cluster/call_counts.hpp"
#include "cluster/grant_cache.hpp"
#include "cluster/node_connection.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.pb.h"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

class RemoteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    server_ = cluster_->start_ca_node().release();
    address_ = loopback(server_->port());
    client_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
  }
  static void TearDownTestSuite() {
    delete client_;
    delete server_;
    delete cluster_;
  }
  static std::unique_ptr<cluster::RemoteNode> connect() {
    return cluster::RemoteNode::connect(address_, *client_);
  }

  static TestCluster* cluster_;
  static cluster::NodeServer* server_;
  static net::NodeIdentity* client_;
  static std::string address_;
};
TestCluster* RemoteTest::cluster_ = nullptr;
cluster::NodeServer* RemoteTest::server_ = nullptr;
net::NodeIdentity* RemoteTest::client_ = nullptr;
std::string RemoteTest::address_;

std::vector<std::byte> download(Device& device, BufferRef buffer) {
  std::vector<std::byte> out(buffer.size);
  device.stream().download(buffer, 0, std::span(out)).wait();
  device.synchronize();
  return out;
}

TEST_F(RemoteTest, ListsTheNodesDevicesWithTheirProperties) {
  auto node = connect();
  ASSERT_EQ(node->devices().size(), devices().size());
  for (std::size_t i = 0; i < devices().size(); ++i) {
    const DeviceProperties& local = devices()[i]->properties();
    const DeviceProperties& remote = node->devices()[i]->properties();
    EXPECT_EQ(remote.id, node->node_id() + "/" + local.id) << "remote ids are unique in the cluster";
    EXPECT_EQ(static_cast<const cluster::RemoteDevice&>(*node->devices()[i]).remote_id(), local.id);
    EXPECT_EQ(node->device(local.id), node->devices()[i]) << "the node's own id finds it too";
    EXPECT_EQ(remote.name, local.name);
    EXPECT_EQ(remote.limits.max_allocation_bytes, local.limits.max_allocation_bytes);
    EXPECT_EQ(remote.caps.fp16_arithmetic, local.caps.fp16_arithmetic);
  }
  EXPECT_EQ(node->connection().role(), "compute");
  // A peer's devices join the local registry and are used like local ones.
  Registry registry(RegistryOptions{.vulkan = false, .cpu = false});
  for (const auto& device : node->devices()) registry.add(device);
  EXPECT_EQ(registry.find(node->devices().front()->id()), node->devices().front());
  EXPECT_TRUE(throws_errc([&] { registry.add(node->devices().front()); }, Errc::invalid_argument, "already"));
}

TEST_F(RemoteTest, WriteReadIsBitExactAcrossChunkBoundaries) {
  auto node = connect();
  for (const auto& device : node->devices()) {
    for (std::size_t size : {std::size_t{1}, std::size_t{4095}, (std::size_t{4} << 20) + 3,
                             std::size_t{9} << 20}) {
      SCOPED_TRACE(device->properties().name + " " + std::to_string(size));
      const auto data = random_bytes(size, static_cast<std::uint32_t>(size));
      Buffer buffer = device->allocate(size + 16);
      device->stream().upload(buffer, 16, std::span<const std::byte>(data)).wait();
      std::vector<std::byte> back(size);
      device->stream().download(buffer, 16, std::span(back)).wait();
      EXPECT_TRUE(back == data);
    }
  }
}

TEST_F(RemoteTest, CopyAndDispatchMatchTheLocalDevice) {
  auto node = connect();
  for (std::size_t i = 0; i < devices().size(); ++i) {
    Device& local = *devices()[i];
    Device& remote = *node->devices()[i];
    SCOPED_TRACE(local.properties().name);
    const std::uint32_t n = 10000;
    const auto a = random_bytes(n * 4, 1), b = random_bytes(n * 4, 2);
    std::vector<std::vector<std::byte>> results;
    for (Device* device : {&local, &remote}) {
      Buffer x = device->allocate(n * 4), y = device->allocate(n * 4), z = device->allocate(n * 4);
      Buffer y2 = device->allocate(n * 4);
      device->stream().upload(x, 0, std::span<const std::byte>(a));
      device->stream().upload(y, 0, std::span<const std::byte>(b));
      device->stream().copy(y, 0, y2, 0, n * 4);
      const kernels::BinaryPush push{n, 0, 0, 0};
      const BufferRange bindings[] = {{x}, {y2}, {z}};
      device->stream().dispatch(kernels::add_f32, bindings, std::as_bytes(std::span(&push, 1)),
                                Groups{(n + 255) / 256});
      device->synchronize();
      results.push_back(download(*device, z));
    }
    EXPECT_TRUE(results[0] == results[1]);
  }
}

TEST_F(RemoteTest, SeveralClientsAtOnce) {
  std::vector<std::thread> clients;
  std::atomic<int> good{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto node = connect();
      Device& device = *node->devices().front();
      for (int round = 0; round < 5; ++round) {
        const auto data = random_bytes(100000, static_cast<std::uint32_t>(c * 100 + round));
        Buffer buffer = device.allocate(data.size());
        device.stream().upload(buffer, 0, std::span<const std::byte>(data)).wait();
        if (download(device, buffer) == data) ++good;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(good.load(), 20);
}

TEST_F(RemoteTest, SessionEndFreesTheClientsMemory) {
  const std::uint64_t before = server_->sessions().held_bytes();
  {
    auto node = connect();
    Buffer kept = node->devices().front()->allocate(1 << 20);
    EXPECT_EQ(server_->sessions().held_bytes(), before + (1 << 20));
    // The client "forgets" the buffer: the session's end alone must free it.
    node->connection().close();
  }
  for (int i = 0; i < 100 && server_->sessions().held_bytes() != before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server_->sessions().held_bytes(), before);
}

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  std::vector<float> out(n);
  for (float& v : out) v = value(rng);
  return out;
}

// Stream work on a remote device is batched: uploads, dispatches and replays reach the node as
// one Run with the download that waits for them; a recording is sent once and replayed by id.
TEST_F(RemoteTest, QueuedWorkReachesTheNodeAsOneRunPerWait) {
  auto node = connect();
  for (std::size_t i = 0; i < devices().size(); ++i) {
    Device& local = *devices()[i];
    Device& remote = *node->devices()[i];
    SCOPED_TRACE(local.properties().name);
    const std::uint32_t n = 4000;
    const auto a = random_bytes(n * 4, 5), b = random_bytes(n * 4, 6);
    std::vector<std::vector<std::byte>> results;
    for (Device* device : {&local, &remote}) {
      Buffer x = device->allocate(n * 4), y = device->allocate(n * 4), z = device->allocate(n * 4);
      const cluster::NodeCallCounts before = server_->call_counts();
      device->stream().upload(x, 0, std::span<const std::byte>(a));
      device->stream().upload(y, 0, std::span<const std::byte>(b));
      const kernels::BinaryPush push{n, 0, 0, 0};
      const BufferRange bindings[] = {{x}, {y}, {z}};
      device->stream().dispatch(kernels::add_f32, bindings, std::as_bytes(std::span(&push, 1)),
                                Groups{(n + 255) / 256});
      std::vector<std::byte> out(n * 4);
      device->stream().download(z, 0, std::span(out)).wait();
      results.push_back(out);
      if (device == &remote) {
        const cluster::NodeCallCounts after = server_->call_counts();
        EXPECT_EQ(after.run - before.run, 1u) << "two uploads, a dispatch and a download: one request";
        EXPECT_EQ(after.dispatch, before.dispatch) << "no per-op call";
      }
    }
    EXPECT_TRUE(results[0] == results[1]);
  }
}

TEST_F(RemoteTest, WithoutBatchingEveryOpIsItsOwnRequest) {
  cluster::ConnectionOptions options;
  options.batch_work = false;
  auto node = cluster::RemoteNode::connect(address_, *client_, options);
  Device& device = *node->devices().front();
  const std::uint32_t n = 512;
  const std::vector<float> in = random_floats(n, 7);
  Buffer x = device.allocate(n * 4), z = device.allocate(n * 4);
  const cluster::NodeCallCounts before = server_->call_counts();
  device.stream().upload(x, std::span<const float>(in));
  const kernels::BinaryPush push{n, 0, 0, 0};
  const BufferRange bindings[] = {{x}, {x}, {z}};
  device.stream().dispatch(kernels::add_f32, bindings, std::as_bytes(std::span(&push, 1)), Groups{2});
  std::vector<float> out(n);
  device.stream().download(z, std::span(out)).wait();
  EXPECT_EQ(server_->call_counts().run - before.run, 3u) << "upload, dispatch, download";
  for (std::uint32_t i = 0; i < n; ++i) ASSERT_EQ(out[i], in[i] + in[i]);
}

TEST(NodeCallCounts, PrometheusTextHasOneCounterPerKind) {
  const std::string text = cluster::prometheus_text({.run = 7, .record = 2, .dispatch = 0});
  EXPECT_NE(text.find("# TYPE crossgpu_node_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("crossgpu_node_requests_total{kind=\"run\"} 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("crossgpu_node_requests_total{kind=\"record\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("crossgpu_node_requests_total{kind=\"dispatch\"} 0\n"), std::string::npos) << text;
}

TEST_F(RemoteTest, ARecordingIsSentOnceAndReplayedWithFreshInputs) {
  auto node = connect();
  Device& device = *node->devices().front();
  const std::uint32_t n = 1000;
  Buffer x = device.allocate(n * 4), y = device.allocate(n * 4), z = device.allocate(n * 4);
  Buffer w = device.allocate(n * 4);
  const kernels::BinaryPush push{n, 0, 0, 0};
  const BufferRange sum[] = {{x}, {y}, {z}};
  const BufferRange product[] = {{z}, {x}, {w}};
  const cluster::NodeCallCounts before = server_->call_counts();
  Stream& stream = device.stream();
  stream.begin_recording();
  stream.dispatch(kernels::add_f32, sum, std::as_bytes(std::span(&push, 1)), Groups{(n + 255) / 256});
  stream.dispatch(kernels::mul_f32, product, std::as_bytes(std::span(&push, 1)), Groups{(n + 255) / 256});
  Recording program = stream.end_recording();
  EXPECT_EQ(program.dispatches(), 2u);
  EXPECT_EQ(server_->call_counts().record - before.record, 1u);
  const auto sessions = server_->sessions().sessions();
  std::size_t programs = 0;
  for (const auto& session : sessions) programs += session->program_count();
  EXPECT_GE(programs, 1u);
  for (std::uint32_t round = 0; round < 3; ++round) {
    const auto xs = random_floats(n, 10 + round), ys = random_floats(n, 20 + round);
    stream.upload(x, std::span<const float>(xs));
    stream.upload(y, std::span<const float>(ys));
    stream.replay(program);
    std::vector<float> out(n);
    stream.download(w, std::span(out)).wait();
    for (std::uint32_t i = 0; i < n; ++i) {
      ASSERT_FLOAT_EQ(out[i], (xs[i] + ys[i]) * xs[i]) << "round " << round << " element " << i;
    }
  }
  const cluster::NodeCallCounts after = server_->call_counts();
  EXPECT_EQ(after.run - before.run, 3u) << "one request per replay with its inputs and output";
  EXPECT_EQ(after.dispatch, before.dispatch);
  // Dropping the recording releases the node's program.
  program = Recording();
  std::size_t left = 0;
  for (const auto& session : server_->sessions().sessions()) left += session->program_count();
  EXPECT_EQ(left, programs - 1);
}

TEST(RemoteQuota, RefusesBeyondTheQuotaNamingQuotaAndUse) {
  TestCluster cluster;
  auto server = cluster.start_ca_node({.quota_bytes = 1 << 20});
  const std::string address = loopback(server->port());
  const net::NodeIdentity client = cluster.join(net::Role::compute, address);
  auto node = cluster::RemoteNode::connect(address, client);
  EXPECT_EQ(node->connection().quota_bytes(), 1u << 20);
  Device& device = *node->devices().front();
  Buffer first = device.allocate(768 << 10);
  EXPECT_TRUE(throws_errc([&] { device.allocate(512 << 10); }, Errc::out_of_memory, "quota"));
  first.reset();
  Buffer second = device.allocate(1 << 20);  // freed memory counts no more
  EXPECT_TRUE(second.valid());
}

// A node that shuts down says goodbye on every session stream at the next heartbeat: its clients
// know it left (their calls fail with device_lost) without waiting out the drain.
TEST(RemoteNodes, AStoppingNodeSaysGoodbyeWithinAHeartbeat) {
  TestCluster cluster;
  auto server = cluster.start_ca_node();
  const std::string address = loopback(server->port());
  const net::NodeIdentity client = cluster.join(net::Role::compute, address);
  auto node = cluster::RemoteNode::connect(address, client);
  const auto start = std::chrono::steady_clock::now();
  server->shutdown(std::chrono::seconds(5));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(2500)) << "the session did not end before the drain's deadline";
  for (int i = 0; i < 100 && !node->connection().lost(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(node->connection().lost());
  EXPECT_TRUE(throws_errc([&] { node->devices().front()->allocate(64); }, Errc::device_lost));
}

// A copies to B directly (over B's data channel, or a GrantedWrite stream without one): bit-exact
// at an offset, twice with one grant, and never past the grant's range.
void expect_direct_copies(bool b_data_channel) {
  TestCluster cluster;
  auto node_a = cluster.start_ca_node();
  const std::string address_a = loopback(node_a->port());
  const net::NodeIdentity b_identity = cluster.join(net::Role::compute, address_a);
  auto node_b = TestCluster::start_node(b_identity.config_dir(), {}, b_data_channel);
  const net::NodeIdentity client = cluster.join(net::Role::compute, address_a);
  auto a = cluster::RemoteNode::connect(address_a, client);
  auto b = cluster::RemoteNode::connect(loopback(node_b->port()), client);
  EXPECT_EQ(b->connection().uses_data_channel(), b_data_channel);
  const std::size_t size = (std::size_t{9} << 20) + 5;
  Device& from = *a->devices().front();
  Device& to = *b->devices().back();
  Buffer src = from.allocate(size), dst = to.allocate(size + 8);
  for (std::uint32_t round = 0; round < 2; ++round) {  // the second reuses the grant
    const auto data = random_bytes(size, 7 + round);
    from.stream().upload(src, 0, std::span<const std::byte>(data)).wait();
    cluster::copy_between_nodes(src, 0, dst, 8, size);
    std::vector<std::byte> back(size);
    to.stream().download(dst, 8, std::span(back)).wait();
    EXPECT_TRUE(back == data) << "round " << round;
  }
  // The grant covers exactly the range: a larger copy is refused locally before any call.
  EXPECT_TRUE(throws_errc([&] { cluster::copy_between_nodes(src, 0, dst, 9, size); },
                          Errc::out_of_range));
}

TEST(RemoteNodes, CopyBetweenNodesGoesDirectlyAndIsBitExact) { expect_direct_copies(true); }

TEST(RemoteNodes, CopyBetweenNodesWithoutADataChannelGoesOverAGrpcStream) {
  expect_direct_copies(false);
}

TEST(RemoteNodes, APeerCopyGoesOnlyToTheNodeThatIssuedTheGrant) {
  TestCluster cluster;
  auto node_a = cluster.start_ca_node();
  const std::string address_a = loopback(node_a->port());
  auto node_b = TestCluster::start_node(cluster.join(net::Role::compute, address_a).config_dir());
  auto node_c = TestCluster::start_node(cluster.join(net::Role::compute, address_a).config_dir());
  const net::NodeIdentity client = cluster.join(net::Role::compute, address_a);
  auto b = cluster::NodeConnection::open(loopback(node_b->port()), client);
  // The client asks A over its data channel (a peer-copy request), then over gRPC (PeerCopy).
  for (const bool data_channel : {true, false}) {
    SCOPED_TRACE(data_channel ? "peer-copy request" : "PeerCopy call");
    cluster::ConnectionOptions options;
    options.data_channel = data_channel;
    auto a = cluster::NodeConnection::open(address_a, client, options);
    const std::uint64_t src = a->allocate(a->list_devices().front().id, 4096, false);
    const std::uint64_t dst = b->allocate(b->list_devices().front().id, 4096, false);
    const v1::WriteGrant grant = b->grant_write(dst, 0, 4096, a->node_id());
    // The address in the request does not count: A resolves the grant's issuer B through its
    // own member directory, also when a client names C or a port where nobody listens.
    EXPECT_EQ(a->peer_copy(src, 0, loopback(node_c->port()), grant), 4096u);
    EXPECT_EQ(a->peer_copy(src, 0, "127.0.0.1:1", grant), 4096u);
    EXPECT_EQ(a->peer_copy(src, 0, loopback(node_b->port()), grant), 4096u);
    EXPECT_EQ(node_c->sessions().sessions().size(), 0u) << "A opened a session on C";
    // A source range past the buffer.
    EXPECT_TRUE(throws_errc([&] { a->peer_copy(src, 1, loopback(node_b->port()), grant); },
                            Errc::out_of_range));
    // Freed, the destination takes nothing.
    b->free(dst);
    EXPECT_TRUE(throws_errc([&] { a->peer_copy(src, 0, loopback(node_b->port()), grant); },
                            Errc::not_found));
  }
}

TEST(GrantCache, ReusesAGrantForItsRangeAndGranteeWithinTheWindow) {
  cluster::GrantCache cache;
  v1::WriteGrant grant;
  grant.set_handle(7);
  grant.set_offset(16);
  grant.set_bytes(4096);
  grant.set_grantee_node_id("node-a");
  const auto t0 = cluster::GrantCache::Clock::now();
  cache.store(grant, t0);
  EXPECT_TRUE(cache.find(7, 16, 4096, "node-a", t0 + std::chrono::seconds(59)).has_value());
  EXPECT_FALSE(cache.find(7, 16, 4096, "node-a", t0 + cluster::GrantCache::kReuseFor));
  EXPECT_FALSE(cache.find(7, 16, 4095, "node-a", t0));  // another range
  EXPECT_FALSE(cache.find(7, 0, 4096, "node-a", t0));
  EXPECT_FALSE(cache.find(7, 16, 4096, "node-b", t0));  // another grantee
  cache.forget(7);
  EXPECT_FALSE(cache.find(7, 16, 4096, "node-a", t0));
  for (std::uint64_t handle = 1; handle <= cluster::GrantCache::kMaxEntries + 10; ++handle) {
    grant.set_handle(handle);
    cache.store(grant, t0);
    EXPECT_LE(cache.size(), cluster::GrantCache::kMaxEntries);
  }
}

}  // namespace
}  // namespace crossgpu::testing
