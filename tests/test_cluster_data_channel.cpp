// The data channel (TLS 1.3, binary framing) against an in-process node: remote writes and reads
// use it and are bit-exact across request boundaries and across lanes (several connections of
// one session moving one transfer), a Free during a transfer never frees memory under it, a
// client without the channel falls back to gRPC, and hostile peers are refused with typed errors
// while a good client keeps working: truncated headers, huge lengths, unknown ops, bad handles
// and ranges, wrong or replayed session secrets and lanes, another peer's session, no client
// certificate, another cluster's certificate, the monitor role, and a node that is not the one
// the client expects.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cluster/data_channel_client.hpp"
#include "cluster/data_frame.hpp"
#include "cluster/lane_worker.hpp"
#include "cluster/protocol.hpp"
#include "cluster/remote_node.hpp"
#include "cluster/session.hpp"
#include "device/cpu/cpu_device.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "net/status.hpp"
#include "net/tls_socket.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

#include <grpcpp/grpcpp.h>

namespace crossgpu::testing {
namespace {

using cluster::DataFrame;
using cluster::DataOp;

// A session opened by a raw Hello: its id, its one-time data secret and the data port.
struct RawSession {
  RawSession(const net::NodeIdentity& identity, const std::string& address)
      : stub(v1::Node::NewStub(identity.connect(address))) {
    grpc::ClientContext context;
    v1::HelloRequest hello;
    hello.mutable_version()->set_major(cluster::kProtocolMajor);
    net::throw_if_failed(stub->Hello(&context, hello, &response), "Hello");
  }
  std::uint64_t allocate(const std::string& device, std::uint64_t bytes) {
    grpc::ClientContext context;
    context.AddMetadata(cluster::kSessionMetadata, std::to_string(response.session_id()));
    v1::AllocateRequest request;
    request.set_device_id(device);
    request.set_bytes(bytes);
    v1::AllocateResponse allocated;
    net::throw_if_failed(stub->Allocate(&context, request, &allocated), "Allocate");
    return allocated.handle();
  }
  // Frees over gRPC within `deadline`: a Free must never wait for a transfer of the handle.
  grpc::Status free(std::uint64_t handle, std::chrono::milliseconds deadline) {
    grpc::ClientContext context;
    context.AddMetadata(cluster::kSessionMetadata, std::to_string(response.session_id()));
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    v1::FreeRequest request;
    request.set_handle(handle);
    v1::FreeResponse freed;
    return stub->Free(&context, request, &freed);
  }
  // A grant from the node for `grantee` to write [offset, +bytes) of this session's `handle`.
  v1::WriteGrant grant(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes,
                       const std::string& grantee) {
    grpc::ClientContext context;
    context.AddMetadata(cluster::kSessionMetadata, std::to_string(response.session_id()));
    v1::WriteGrantRequest request;
    request.set_handle(handle);
    request.set_offset(offset);
    request.set_bytes(bytes);
    request.set_grantee_node_id(grantee);
    v1::WriteGrant grant;
    net::throw_if_failed(stub->GrantWrite(&context, request, &grant), "GrantWrite");
    return grant;
  }
  std::string data_address() const { return "127.0.0.1:" + std::to_string(response.data_port()); }
  std::unique_ptr<v1::Node::Stub> stub;
  v1::HelloResponse response;
};

// Frames by hand over a TLS connection, for requests a real client never sends.
class RawData {
 public:
  RawData(const net::NodeIdentity& identity, const std::string& address,
          const std::string& node_id)
      : tls_(identity, net::TlsContext::Side::client),
        socket_(net::TlsSocket::connect(tls_, address, node_id, std::chrono::seconds(5))) {
    socket_->set_timeout(std::chrono::seconds(10));
  }
  void send(const DataFrame& frame, std::span<const std::byte> payload = {}) {
    socket_->write_all(cluster::encode_frame(frame));
    socket_->write_all(payload);
  }
  void send_raw(std::span<const std::byte> bytes) { socket_->write_all(bytes); }
  void bind(const RawSession& session, std::uint64_t id = 1, std::uint64_t lane = 0) {
    send({DataOp::bind, 0, id, session.response.session_id(), lane, cluster::kDataSecretBytes},
         std::as_bytes(std::span(session.response.data_secret())));
  }
  // The reply's status as an Errc and its message (or data); throws Errc::io when the node
  // closed the connection instead.
  std::pair<Errc, std::string> reply(std::uint64_t id, std::uint64_t data_length = 0) {
    cluster::DataHeader header;
    if (!socket_->read_exact(header)) fail(Errc::io, "closed");
    const DataFrame frame = cluster::decode_reply(header, id, data_length);
    std::string payload(frame.length, '\0');
    if (frame.length && !socket_->read_exact(std::as_writable_bytes(std::span(payload)))) {
      fail(Errc::io, "closed inside the payload");
    }
    return {static_cast<Errc>(frame.status), payload};
  }
  // True when the node closed the connection (nothing more arrives).
  bool closed_by_node() {
    cluster::DataHeader header;
    try {
      return !socket_->read_exact(header);
    } catch (const Error&) {
      return true;
    }
  }
  net::TlsSocket& socket() { return *socket_; }

 private:
  net::TlsContext tls_;
  std::unique_ptr<net::TlsSocket> socket_;
};

class DataChannelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    server_ = cluster_->start_ca_node().release();
    address_ = loopback(server_->port());
    compute_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
    second_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
    monitor_ = new net::NodeIdentity(cluster_->join(net::Role::monitor, address_));
  }
  static void TearDownTestSuite() {
    delete monitor_;
    delete second_;
    delete compute_;
    delete server_;
    delete cluster_;
  }
  void SetUp() override {
    good_ = cluster::RemoteNode::connect(address_, *compute_);
    ASSERT_TRUE(good_->connection().uses_data_channel());
    good_buffer_ = good_->devices().front()->allocate(4096);
  }
  void TearDown() override {
    const auto data = random_bytes(4096, 11);
    Device& device = *good_->devices().front();
    device.stream().upload(good_buffer_, 0, std::span<const std::byte>(data)).wait();
    std::vector<std::byte> back(4096);
    device.stream().download(good_buffer_, 0, std::span(back)).wait();
    EXPECT_TRUE(back == data) << "the good client was disturbed";
    EXPECT_TRUE(good_->connection().uses_data_channel());
    good_buffer_.reset();
    good_.reset();
  }
  std::string device_id() const { return devices().front()->id(); }
  const std::string& node_id() const { return server_->node_id(); }

  static TestCluster* cluster_;
  static cluster::NodeServer* server_;
  static net::NodeIdentity* compute_;
  static net::NodeIdentity* second_;
  static net::NodeIdentity* monitor_;
  static std::string address_;
  std::unique_ptr<cluster::RemoteNode> good_;
  Buffer good_buffer_;
};
TestCluster* DataChannelTest::cluster_ = nullptr;
cluster::NodeServer* DataChannelTest::server_ = nullptr;
net::NodeIdentity* DataChannelTest::compute_ = nullptr;
net::NodeIdentity* DataChannelTest::second_ = nullptr;
net::NodeIdentity* DataChannelTest::monitor_ = nullptr;
std::string DataChannelTest::address_;

void expect_round_trip(Device& device, std::size_t size, std::uint64_t offset) {
  SCOPED_TRACE(device.properties().name + " " + std::to_string(size));
  const auto data = random_bytes(size, static_cast<std::uint32_t>(size + offset));
  Buffer buffer = device.allocate(size + offset);
  device.stream().upload(buffer, offset, std::span<const std::byte>(data)).wait();
  std::vector<std::byte> back(size);
  device.stream().download(buffer, offset, std::span(back)).wait();
  EXPECT_TRUE(back == data);
}

TEST_F(DataChannelTest, WritesAndReadsAreBitExactAcrossRequestBoundaries) {
  for (const auto& device : good_->devices()) {
    for (std::size_t size : {std::size_t{1}, std::size_t{4095}, std::size_t{5} << 20}) {
      expect_round_trip(*device, size, 16);
    }
  }
  // More than one request's worth: pipelined requests land at the right offsets.
  expect_round_trip(*good_->devices().front(), cluster::kMaxDataRequestBytes + 4099, 8);
}

TEST_F(DataChannelTest, LargeTransfersSplitAcrossLanesAreBitExact) {
  cluster::ConnectionOptions options;
  options.data_lanes = 3;
  auto node = cluster::RemoteNode::connect(address_, *compute_, options);
  ASSERT_EQ(node->connection().data_lanes(), 3u);
  Device& device = *node->devices().front();
  // One lane below twice kMinLaneBytes; then 2 and 3 lanes, with shares off the 4 KiB grid.
  const std::size_t lane = cluster::kMinLaneBytes;
  for (std::size_t size : {2 * lane - 1, 2 * lane + 5, (std::size_t{7} << 20) + 4099}) {
    expect_round_trip(device, size, 16);
  }
  // Lanes and gRPC keep one order of operations too.
  const auto data = random_bytes(std::size_t{6} << 20, 9);
  Buffer a = device.allocate(data.size());
  Buffer b = device.allocate(data.size());
  device.stream().upload(a, 0, std::span<const std::byte>(data)).wait();
  device.stream().copy(a, 0, b, 0, data.size());
  std::vector<std::byte> back(data.size());
  device.stream().download(b, 0, std::span(back)).wait();
  EXPECT_TRUE(back == data);
}

TEST_F(DataChannelTest, EachLaneOfASessionBindsOnce) {
  RawSession session(*compute_, address_);
  ASSERT_EQ(session.response.data_lanes(), cluster::kMaxDataLanes);
  RawData first(*compute_, session.data_address(), node_id());
  first.bind(session, 1, 0);
  EXPECT_EQ(first.reply(1).first, Errc::ok);
  RawData last(*compute_, session.data_address(), node_id());
  last.bind(session, 1, cluster::kMaxDataLanes - 1);
  EXPECT_EQ(last.reply(1).first, Errc::ok);
  {  // a replayed lane
    RawData again(*compute_, session.data_address(), node_id());
    again.bind(session, 1, cluster::kMaxDataLanes - 1);
    const auto [code, message] = again.reply(1);
    EXPECT_EQ(code, Errc::permission_denied);
    EXPECT_NE(message.find("lane"), std::string::npos) << message;
  }
  {  // a lane past the limit is a malformed bind
    RawData beyond(*compute_, session.data_address(), node_id());
    beyond.bind(session, 1, cluster::kMaxDataLanes);
    EXPECT_EQ(beyond.reply(1).first, Errc::invalid_argument);
    EXPECT_TRUE(beyond.closed_by_node());
  }
}

TEST(DataChannelLanes, TheEnvironmentSetsTheDefaultWithinLimits) {
  const std::uint32_t by_cores = std::clamp<std::uint32_t>(std::thread::hardware_concurrency() / 2, 1, 4);
  ::unsetenv("CROSSGPU_DATA_LANES");
  EXPECT_EQ(cluster::default_data_lanes(), by_cores);
  ::setenv("CROSSGPU_DATA_LANES", "6", 1);
  EXPECT_EQ(cluster::default_data_lanes(), 6u);
  for (const char* bad : {"0", "9", "two", "3x", "-1"}) {
    ::setenv("CROSSGPU_DATA_LANES", bad, 1);
    EXPECT_EQ(cluster::default_data_lanes(), by_cores) << bad;
  }
  ::unsetenv("CROSSGPU_DATA_LANES");
}

TEST(DataChannelLanes, SharesCoverTheTransferContiguouslyOnPageBoundaries) {
  const std::uint64_t min = cluster::kMinLaneBytes;
  for (std::uint64_t bytes : {std::uint64_t{0}, std::uint64_t{1}, min - 1, min, 2 * min - 1, 2 * min,
                              2 * min + 5, 4 * min + 4099, std::uint64_t{1} << 30}) {
    for (std::size_t lanes = 1; lanes <= cluster::kMaxDataLanes; ++lanes) {
      const auto shares = cluster::lane_shares(bytes, lanes);
      ASSERT_FALSE(shares.empty());
      EXPECT_LE(shares.size(), lanes);
      EXPECT_EQ(shares.size(), std::clamp<std::uint64_t>(bytes / min, 1, lanes)) << bytes;
      std::uint64_t next = 0;
      for (const auto& share : shares) {
        EXPECT_EQ(share.begin, next) << bytes << " over " << lanes;
        EXPECT_EQ(share.begin % 4096, 0u);
        if (shares.size() > 1) {
          EXPECT_GE(share.length, min / 2) << bytes << " over " << lanes;
        }
        next = share.begin + share.length;
      }
      EXPECT_EQ(next, bytes) << bytes << " over " << lanes;
    }
  }
}

TEST(LaneWorker, RunsEachJobOnceOnItsOwnThreadAndWaitWaitsForIt) {
  cluster::LaneWorker worker;
  std::atomic<int> runs{0};
  std::thread::id ran_on;
  for (int i = 0; i < 200; ++i) {
    worker.start([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(i % 3 == 0 ? 200 : 0));
      ran_on = std::this_thread::get_id();
      ++runs;
    });
    worker.wait();
    ASSERT_EQ(runs.load(), i + 1);  // done when wait() returns, and run exactly once
    EXPECT_NE(ran_on, std::this_thread::get_id());
  }
  cluster::LaneWorker idle;  // stopped without ever running a job
}

TEST(DataChannelSession, SecretsWorkOncePerOfferedLane) {
  cluster::Session session(1, net::PeerIdentity{}, 0);
  const auto secret = session.issue_data_secret(2);
  auto wrong = secret;
  wrong[31] ^= 0x80;
  EXPECT_FALSE(session.redeem_data_secret(wrong, 0));
  EXPECT_FALSE(session.redeem_data_secret(secret, 2));  // not offered
  EXPECT_TRUE(session.redeem_data_secret(secret, 1));
  EXPECT_FALSE(session.redeem_data_secret(secret, 1));
  EXPECT_TRUE(session.redeem_data_secret(secret, 0));
  EXPECT_FALSE(session.redeem_data_secret(secret, 0));
}

TEST(DataChannelSession, MemoryKeptAliveByATransferCountsAgainstTheQuotaUntilReleased) {
  auto device = make_cpu_device(1);
  cluster::Session session(1, net::PeerIdentity{}, 1500);
  session.allocate(7, device, 1000, MemoryKind::device_local);
  cluster::SessionBuffer in_use = session.resolve(7, 0, 1000, "test");
  session.free(7);
  EXPECT_FALSE(session.holds(7));
  EXPECT_EQ(session.held_bytes(), 1000u);
  EXPECT_EQ(device->usage().live_buffers, 1u);
  EXPECT_TRUE(throws_errc([&] { session.allocate(8, device, 600, MemoryKind::device_local); },
                          Errc::out_of_memory));
  std::memset(device->mapped(in_use.ref).data(), 1, 1000);  // still valid memory
  in_use = {};
  EXPECT_EQ(session.held_bytes(), 0u);
  EXPECT_EQ(device->usage().live_buffers, 0u);
  session.allocate(8, device, 600, MemoryKind::device_local);
  EXPECT_EQ(session.held_bytes(), 600u);
}

TEST_F(DataChannelTest, AFreeDuringATransferWaitsForNothingAndFreesNothingUnderIt) {
  RawSession session(*compute_, address_);
  constexpr std::uint64_t kBytes = 1 << 20;
  const std::uint64_t handle = session.allocate(device_id(), kBytes);
  RawData raw(*compute_, session.data_address(), node_id());
  raw.bind(session);
  ASSERT_EQ(raw.reply(1).first, Errc::ok);
  const auto payload = random_bytes(kBytes, 3);
  raw.send({DataOp::write, 0, 2, handle, 0, kBytes}, std::span(payload).first(kBytes / 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the node is inside the payload
  const grpc::Status freed = session.free(handle, std::chrono::seconds(5));
  EXPECT_TRUE(freed.ok()) << freed.error_message();
  // The rest lands in memory the transfer still holds (ASan builds would catch anything else).
  raw.send_raw(std::span(payload).subspan(kBytes / 2));
  EXPECT_EQ(raw.reply(2).first, Errc::ok);
  raw.send({DataOp::read, 0, 3, handle, 0, 8});
  EXPECT_EQ(raw.reply(3).first, Errc::not_found);
}

TEST_F(DataChannelTest, DataChannelAndGrpcSeeOneOrderOfOperations) {
  Device& device = *good_->devices().front();
  const auto data = random_bytes(1 << 20, 5);
  Buffer a = device.allocate(1 << 20);
  Buffer b = device.allocate(1 << 20);
  device.stream().upload(a, 0, std::span<const std::byte>(data)).wait();
  device.stream().copy(a, 0, b, 0, 1 << 20);  // over gRPC, queued on the node
  std::vector<std::byte> back(1 << 20);
  device.stream().download(b, 0, std::span(back)).wait();  // over the data channel
  EXPECT_TRUE(back == data);
}

TEST_F(DataChannelTest, WithoutTheDataChannelGrpcCarriesTheData) {
  cluster::ConnectionOptions options;
  options.data_channel = false;
  auto node = cluster::RemoteNode::connect(address_, *compute_, options);
  EXPECT_FALSE(node->connection().uses_data_channel());
  expect_round_trip(*node->devices().front(), (std::size_t{4} << 20) + 3, 5);
}

TEST_F(DataChannelTest, ClientsPinTheExpectedNodeId) {
  cluster::ConnectionOptions options;
  options.expected_node_id = std::string(32, '0');
  EXPECT_TRUE(throws_errc([&] { cluster::RemoteNode::connect(address_, *compute_, options); },
                          Errc::permission_denied, "not the expected node"));
  options.expected_node_id = node_id();
  EXPECT_NO_THROW(cluster::RemoteNode::connect(address_, *compute_, options));
  RawSession session(*compute_, address_);
  net::TlsContext tls(*compute_, net::TlsContext::Side::client);
  EXPECT_TRUE(throws_errc(
      [&] {
        net::TlsSocket::connect(tls, session.data_address(), std::string(32, 'f'),
                                std::chrono::seconds(5));
      },
      Errc::permission_denied, "not the expected node"));
}

TEST_F(DataChannelTest, MalformedFramesAreRefusedAndEndTheConnection) {
  RawSession session(*compute_, address_);
  const std::uint64_t handle = session.allocate(device_id(), 4096);
  {  // huge length
    RawData raw(*compute_, session.data_address(), node_id());
    raw.bind(session);
    ASSERT_EQ(raw.reply(1).first, Errc::ok);
    raw.send({DataOp::write, 0, 2, handle, 0, ~std::uint64_t{0} >> 1});
    const auto [code, message] = raw.reply(2);
    EXPECT_EQ(code, Errc::invalid_argument) << message;
    EXPECT_NE(message.find("per-request limit"), std::string::npos) << message;
    EXPECT_TRUE(raw.closed_by_node());
  }
  {  // unknown op
    RawData raw(*compute_, session.data_address(), node_id());
    RawSession fresh(*compute_, address_);
    raw.bind(fresh);
    ASSERT_EQ(raw.reply(1).first, Errc::ok);
    raw.send({static_cast<DataOp>(77), 0, 2, handle, 0, 8});
    const auto [code, message] = raw.reply(2);
    EXPECT_EQ(code, Errc::invalid_argument);
    EXPECT_NE(message.find("unknown op"), std::string::npos) << message;
    EXPECT_TRUE(raw.closed_by_node());
  }
  {  // truncated header, then the client stops sending
    RawData raw(*compute_, session.data_address(), node_id());
    RawSession fresh(*compute_, address_);
    raw.bind(fresh);
    ASSERT_EQ(raw.reply(1).first, Errc::ok);
    const cluster::DataHeader header = cluster::encode_frame({DataOp::read, 0, 2, handle, 0, 8});
    raw.send_raw(std::span(header).first(17));
    // Closing here leaves the node with 17 bytes of a header: it ends the connection quietly.
  }
  for (const DataOp op : {DataOp::granted_write, DataOp::peer_copy, DataOp::peer_copy_f16}) {
    // A payload that stops inside the grant, then the client goes away: the node ends that
    // connection quietly and serves on (TearDown checks the good client).
    RawData raw(*compute_, session.data_address(), node_id());
    RawSession fresh(*compute_, address_);
    raw.bind(fresh);
    ASSERT_EQ(raw.reply(1).first, Errc::ok);
    const std::vector<std::byte> part = {std::byte{200}, std::byte{0}, std::byte{0x0a}};
    raw.send({op, 0, 2, handle, 0, 300}, part);
  }
  {  // garbage instead of a header
    RawData raw(*compute_, session.data_address(), node_id());
    std::vector<std::byte> junk(cluster::kDataHeaderBytes, std::byte{0x41});
    raw.send_raw(junk);
    EXPECT_EQ(raw.reply(0x4141414141414141).first, Errc::invalid_argument);  // its id, echoed
    EXPECT_TRUE(raw.closed_by_node());
  }
}

TEST_F(DataChannelTest, BadHandlesAndRangesAreRefusedAndTheConnectionGoesOn) {
  RawSession session(*compute_, address_);
  const std::uint64_t handle = session.allocate(device_id(), 4096);
  RawData raw(*compute_, session.data_address(), node_id());
  raw.bind(session);
  ASSERT_EQ(raw.reply(1).first, Errc::ok);
  const std::vector<std::byte> payload(100, std::byte{7});
  raw.send({DataOp::write, 0, 2, handle + 1000, 0, payload.size()}, payload);
  EXPECT_EQ(raw.reply(2).first, Errc::not_found);
  raw.send({DataOp::write, 0, 3, handle, 4000, payload.size()}, payload);
  EXPECT_EQ(raw.reply(3).first, Errc::out_of_range);
  raw.send({DataOp::read, 0, 4, handle, 4095, 2});
  EXPECT_EQ(raw.reply(4).first, Errc::out_of_range);
  raw.send({DataOp::read, 0, 5, handle, 0, 0});
  EXPECT_EQ(raw.reply(5).first, Errc::invalid_argument);  // 0 bytes: a malformed frame
  EXPECT_TRUE(raw.closed_by_node());
  // A connection that stayed in step serves after a refusal.
  RawData again(*compute_, session.data_address(), node_id());
  RawSession fresh(*compute_, address_);
  const std::uint64_t mine = fresh.allocate(device_id(), 4096);
  again.bind(fresh);
  ASSERT_EQ(again.reply(1).first, Errc::ok);
  again.send({DataOp::write, 0, 2, handle, 0, payload.size()}, payload);  // another session's
  EXPECT_EQ(again.reply(2).first, Errc::not_found);
  again.send({DataOp::write, 0, 3, mine, 10, payload.size()}, payload);
  EXPECT_EQ(again.reply(3).first, Errc::ok);
  again.send({DataOp::read, 0, 4, mine, 10, payload.size()});
  const auto [code, data] = again.reply(4, payload.size());
  EXPECT_EQ(code, Errc::ok);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), payload.begin(),
                         [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }));
}

// A granted write's payload: the grant's length, the grant's bytes, the data.
std::vector<std::byte> granted_payload(std::span<const std::byte> grant,
                                       std::span<const std::byte> data,
                                       std::uint16_t stated_length) {
  std::vector<std::byte> payload = {static_cast<std::byte>(stated_length & 0xff),
                                    static_cast<std::byte>(stated_length >> 8)};
  payload.insert(payload.end(), grant.begin(), grant.end());
  payload.insert(payload.end(), data.begin(), data.end());
  return payload;
}

std::vector<std::byte> granted_payload(const v1::WriteGrant& grant, std::span<const std::byte> data) {
  const std::string text = grant.SerializeAsString();
  return granted_payload(std::as_bytes(std::span(text)), data, static_cast<std::uint16_t>(text.size()));
}

TEST_F(DataChannelTest, GrantedWritesNeedTheOwnersGrantForExactlyThatRangeAndPresenter) {
  // The owner (compute_) lets second_ write [100, +200) of its buffer; second_ writes over a data
  // connection bound to its own session, as a node does in a node-to-node copy.
  RawSession owner(*compute_, address_);
  const std::uint64_t handle = owner.allocate(device_id(), 4096);
  const v1::WriteGrant grant = owner.grant(handle, 100, 200, second_->node_id());
  RawSession presenter(*second_, address_);
  const std::uint64_t own = presenter.allocate(device_id(), 4096);
  RawData raw(*second_, presenter.data_address(), node_id());
  raw.bind(presenter);
  ASSERT_EQ(raw.reply(1).first, Errc::ok);
  const auto data = random_bytes(200, 5);
  const auto send_granted = [&](std::uint64_t id, std::uint64_t at, std::span<const std::byte> payload) {
    raw.send({DataOp::granted_write, 0, id, handle, at, payload.size()}, payload);
    return raw.reply(id);
  };
  const auto all = granted_payload(grant, data);
  EXPECT_EQ(send_granted(2, 100, all).first, Errc::ok);
  EXPECT_EQ(send_granted(3, 150, granted_payload(grant, std::span(data).first(150))).first, Errc::ok);
  // Past the grant's end, before its start, and a grant for another buffer.
  EXPECT_EQ(send_granted(4, 101, all).first, Errc::out_of_range);
  EXPECT_EQ(send_granted(5, 99, granted_payload(grant, std::span(data).first(1))).first,
            Errc::out_of_range);
  raw.send({DataOp::granted_write, 0, 6, own, 100, all.size()}, all);
  EXPECT_EQ(raw.reply(6).first, Errc::out_of_range);
  // A widened grant no longer matches its MAC; bytes that are no grant; lengths out of bounds.
  v1::WriteGrant widened = grant;
  widened.set_bytes(4096);
  auto [code, message] = send_granted(7, 100, granted_payload(widened, data));
  EXPECT_EQ(code, Errc::invalid_argument);
  const std::string junk(40, '\x7f');
  EXPECT_EQ(send_granted(8, 100, granted_payload(std::as_bytes(std::span(junk)), data, 40)).first,
            Errc::invalid_argument);
  EXPECT_EQ(send_granted(9, 100, granted_payload({}, data, 0)).first, Errc::invalid_argument);
  std::tie(code, message) = send_granted(10, 100, granted_payload({}, data, 600));
  EXPECT_EQ(code, Errc::invalid_argument);
  EXPECT_NE(message.find("grant of 600 bytes"), std::string::npos) << message;
  // All of these kept the connection in step: the data written first is there, and the part.
  raw.send({DataOp::write, 0, 11, own, 0, data.size()}, data);
  EXPECT_EQ(raw.reply(11).first, Errc::ok);
  RawData reader(*compute_, owner.data_address(), node_id());
  reader.bind(owner);
  ASSERT_EQ(reader.reply(1).first, Errc::ok);
  reader.send({DataOp::read, 0, 2, handle, 100, 200});
  const auto [read_code, back] = reader.reply(2, 200);
  ASSERT_EQ(read_code, Errc::ok);
  std::vector<std::byte> expected(data.begin(), data.end());
  std::copy(data.begin(), data.begin() + 150, expected.begin() + 50);
  EXPECT_TRUE(std::equal(back.begin(), back.end(), expected.begin(),
                         [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }));
  // The grant is second_'s: the owner itself presenting it is refused.
  reader.send({DataOp::granted_write, 0, 3, handle, 100, all.size()}, all);
  std::tie(code, message) = reader.reply(3);
  EXPECT_EQ(code, Errc::invalid_argument);
  EXPECT_NE(message.find("made out"), std::string::npos) << message;
  // Once the owner frees the buffer, the grant writes nothing.
  ASSERT_TRUE(owner.free(handle, std::chrono::seconds(5)).ok());
  EXPECT_EQ(send_granted(12, 100, all).first, Errc::not_found);
}

TEST_F(DataChannelTest, PeerCopyRequestsAreCheckedAndTheConnectionGoesOn) {
  RawSession session(*compute_, address_);
  const std::uint64_t src = session.allocate(device_id(), 4096);
  const std::uint64_t dst = session.allocate(device_id(), 4096);
  RawData raw(*compute_, session.data_address(), node_id());
  raw.bind(session);
  ASSERT_EQ(raw.reply(1).first, Errc::ok);
  const auto data = random_bytes(4096, 9);
  raw.send({DataOp::write, 0, 2, src, 0, data.size()}, data);
  ASSERT_EQ(raw.reply(2).first, Errc::ok);
  const auto address = std::as_bytes(std::span(address_));
  const auto copy = [&](std::uint64_t id, std::uint64_t handle, std::span<const std::byte> payload) {
    raw.send({DataOp::peer_copy, 0, id, handle, 0, payload.size()}, payload);
    return raw.reply(id);
  };
  // A grant this node made out to itself: the node copies to itself over its own link.
  const v1::WriteGrant to_self = session.grant(dst, 0, 4096, node_id());
  EXPECT_EQ(copy(3, src, granted_payload(to_self, address)).first, Errc::ok);
  raw.send({DataOp::read, 0, 4, dst, 0, 4096});
  const auto [read_code, back] = raw.reply(4, 4096);
  ASSERT_EQ(read_code, Errc::ok);
  EXPECT_TRUE(std::equal(back.begin(), back.end(), data.begin(),
                         [](char c, std::byte b) { return static_cast<std::byte>(c) == b; }));
  // A grant made out to another node, no grant, a grant that does not parse, another session's
  // source: each refused, the connection kept. The first before any connection, with the one
  // text that names nothing (cluster/peer_links.hpp).
  auto [code, message] = copy(5, src, granted_payload(session.grant(dst, 0, 4096, second_->node_id()), address));
  EXPECT_EQ(code, Errc::permission_denied);
  EXPECT_NE(message.find("not a member"), std::string::npos) << message;
  EXPECT_EQ(copy(6, src, granted_payload({}, address, 0)).first, Errc::invalid_argument);
  const std::string junk(40, '\x7f');
  EXPECT_EQ(copy(7, src, granted_payload(std::as_bytes(std::span(junk)), address, 40)).first,
            Errc::invalid_argument);
  RawSession other(*compute_, address_);
  const std::uint64_t others = other.allocate(device_id(), 4096);
  EXPECT_EQ(copy(8, others, granted_payload(to_self, address)).first, Errc::not_found);
  // The address after the grant does not count: the node resolves the grant's issuer itself.
  const std::string long_address(300, 'x');  // fits the frame, not a host:port
  EXPECT_EQ(copy(9, src, granted_payload(to_self, std::as_bytes(std::span(long_address)))).first,
            Errc::ok);
  EXPECT_EQ(copy(10, src, granted_payload(to_self, address)).first, Errc::ok);
  // A payload longer than grant and address may be makes the header malformed: the connection ends.
  const std::string huge_address(700, 'x');
  std::tie(code, message) =
      copy(11, src, granted_payload(to_self, std::as_bytes(std::span(huge_address))));
  EXPECT_EQ(code, Errc::invalid_argument);
  EXPECT_NE(message.find("destination address"), std::string::npos) << message;
  EXPECT_TRUE(raw.closed_by_node());
}

TEST_F(DataChannelTest, SecretsBindOneConnectionToOneSessionOfItsOwner) {
  RawSession session(*compute_, address_);
  {  // wrong secret
    RawData raw(*compute_, session.data_address(), node_id());
    std::string wrong = session.response.data_secret();
    wrong[0] = static_cast<char>(wrong[0] ^ 1);
    raw.send({DataOp::bind, 0, 1, session.response.session_id(), 0, 32},
             std::as_bytes(std::span(wrong)));
    const auto [code, message] = raw.reply(1);
    EXPECT_EQ(code, Errc::permission_denied) << message;
    EXPECT_TRUE(raw.closed_by_node());
  }
  {  // another member presenting this session's id and secret
    RawData raw(*second_, session.data_address(), node_id());
    raw.bind(session);
    EXPECT_EQ(raw.reply(1).first, Errc::not_found);
  }
  {  // the right one binds once...
    RawData raw(*compute_, session.data_address(), node_id());
    raw.bind(session);
    EXPECT_EQ(raw.reply(1).first, Errc::ok);
    raw.bind(session, 2);  // ...and a bound connection cannot bind again
    EXPECT_EQ(raw.reply(2).first, Errc::invalid_argument);
  }
  {  // ...and a replay of the used secret is refused
    RawData raw(*compute_, session.data_address(), node_id());
    raw.bind(session);
    EXPECT_EQ(raw.reply(1).first, Errc::permission_denied);
  }
  {  // the first request must be a bind
    RawSession fresh(*compute_, address_);
    RawData raw(*compute_, session.data_address(), node_id());
    raw.send({DataOp::read, 0, 1, 1, 0, 8});
    EXPECT_EQ(raw.reply(1).first, Errc::invalid_argument);
  }
}

TEST_F(DataChannelTest, ARemovedNodeLosesItsBoundConnection) {
  const net::NodeIdentity doomed = cluster_->join(net::Role::compute, address_);
  RawSession session(doomed, address_);
  const std::uint64_t handle = session.allocate(device_id(), 4096);
  RawData raw(doomed, session.data_address(), node_id());
  raw.bind(session);
  ASSERT_EQ(raw.reply(1).first, Errc::ok);
  raw.send({DataOp::read, 0, 2, handle, 0, 8});
  EXPECT_EQ(raw.reply(2, 8).first, Errc::ok);
  ASSERT_TRUE(net::RevocationList::revoke(cluster_->ca_dir(), doomed.node_id()));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past the re-check interval
  raw.send({DataOp::read, 0, 3, handle, 0, 8});
  const auto [code, message] = raw.reply(3);
  EXPECT_EQ(code, Errc::permission_denied) << message;
  EXPECT_NE(message.find("removed"), std::string::npos) << message;
  EXPECT_TRUE(raw.closed_by_node());
}

TEST_F(DataChannelTest, MonitorsNoCertificateAndOtherClustersAreRefused) {
  RawSession session(*monitor_, address_);
  ASSERT_NE(session.response.data_port(), 0u);
  {  // role monitor
    RawData raw(*monitor_, session.data_address(), node_id());
    raw.bind(session);
    const auto [code, message] = raw.reply(1);
    EXPECT_EQ(code, Errc::permission_denied);
    EXPECT_NE(message.find("role"), std::string::npos) << message;
  }
  {  // another cluster: its CA does not know the node, and the node does not know it
    TestCluster other("other-cluster");
    const net::NodeIdentity stranger = net::NodeIdentity::load(other.ca_dir());
    net::TlsContext tls(stranger, net::TlsContext::Side::client);
    EXPECT_TRUE(throws_errc(
        [&] { net::TlsSocket::connect(tls, session.data_address(), node_id(), std::chrono::seconds(5)); },
        Errc::permission_denied));
  }
  {  // TLS without a client certificate: the node ends the handshake, nothing is served
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(session.response.data_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    const int connected = SSL_connect(ssl);
    char byte = 0;
    // TLS 1.3 lets the client finish first; the node's refusal arrives on the first read.
    const int got = connected == 1 ? SSL_read(ssl, &byte, 1) : -1;
    EXPECT_LE(got, 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(fd);
  }
}

}  // namespace
}  // namespace crossgpu::testing
