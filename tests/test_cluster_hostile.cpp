// Hostile input against a node: raw protocol calls with bad handles, offsets, sizes, chunks,
// kernels, sessions, versions, roles and credentials. Each is refused with a typed error and a
// clear message, and a good client keeps working throughout.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "cluster/protocol.hpp"
#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "kernels/push_constants.hpp"
#include "net/status.hpp"
#include "support/test_support.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

// One raw client: a stub and a session id, no RemoteDevice validation in front.
struct RawClient {
  RawClient(const net::NodeIdentity& identity, const std::string& address)
      : stub(v1::Node::NewStub(identity.connect(address))) {
    grpc::ClientContext context;
    v1::HelloRequest hello;
    hello.mutable_version()->set_major(cluster::kProtocolMajor);
    v1::HelloResponse response;
    net::throw_if_failed(stub->Hello(&context, hello, &response), "Hello");
    session = response.session_id();
  }
  void prepare(grpc::ClientContext& context) const {
    context.AddMetadata(cluster::kSessionMetadata, std::to_string(session));
  }
  std::uint64_t allocate(const std::string& device, std::uint64_t bytes) {
    grpc::ClientContext context;
    prepare(context);
    v1::AllocateRequest request;
    request.set_device_id(device);
    request.set_bytes(bytes);
    v1::AllocateResponse response;
    net::throw_if_failed(stub->Allocate(&context, request, &response), "Allocate");
    return response.handle();
  }
  void write(const std::vector<v1::WriteChunk>& chunks) {
    grpc::ClientContext context;
    prepare(context);
    v1::WriteResponse response;
    auto writer = stub->Write(&context, &response);
    for (const auto& chunk : chunks) {
      if (!writer->Write(chunk)) break;
    }
    writer->WritesDone();
    net::throw_if_failed(writer->Finish(), "Write");
  }
  void read(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes) {
    grpc::ClientContext context;
    prepare(context);
    v1::ReadRequest request;
    request.set_handle(handle);
    request.set_offset(offset);
    request.set_bytes(bytes);
    auto reader = stub->Read(&context, request);
    v1::ReadChunk chunk;
    while (reader->Read(&chunk)) {
    }
    net::throw_if_failed(reader->Finish(), "Read");
  }
  void dispatch(const v1::DispatchRequest& request) {
    grpc::ClientContext context;
    prepare(context);
    v1::DispatchResponse response;
    net::throw_if_failed(stub->Dispatch(&context, request, &response), "Dispatch");
  }
  v1::RunResponse run(const v1::RunRequest& request) {
    grpc::ClientContext context;
    prepare(context);
    v1::RunResponse response;
    net::throw_if_failed(stub->Run(&context, request, &response), "Run");
    return response;
  }
  std::uint64_t record(const v1::RecordRequest& request) {
    grpc::ClientContext context;
    prepare(context);
    v1::RecordResponse response;
    net::throw_if_failed(stub->Record(&context, request, &response), "Record");
    return response.program();
  }
  std::unique_ptr<v1::Node::Stub> stub;
  std::uint64_t session = 0;
};

v1::WriteChunk chunk(std::uint64_t handle, std::uint64_t offset, std::size_t bytes) {
  v1::WriteChunk out;
  out.set_handle(handle);
  out.set_offset(offset);
  out.set_data(std::string(bytes, 'x'));
  return out;
}

// fill_f32 over the first `count` floats of `handle` with `value`.
v1::DispatchRequest fill(std::uint64_t handle, std::uint32_t count, float value) {
  v1::DispatchRequest request;
  request.set_kernel("fill_f32");
  request.add_bindings()->set_handle(handle);
  const kernels::FillPush push{count, 0, value};
  request.set_push_constants(std::string(reinterpret_cast<const char*>(&push), sizeof(push)));
  request.set_groups_x((count + 255) / 256);
  request.set_groups_y(1);
  request.set_groups_z(1);
  return request;
}

v1::RunCommand write_command(std::uint64_t handle, std::uint64_t offset, std::string data) {
  v1::RunCommand command;
  command.mutable_write()->set_handle(handle);
  command.mutable_write()->set_offset(offset);
  command.mutable_write()->set_data(std::move(data));
  return command;
}

v1::RunCommand read_command(std::uint64_t handle, std::uint64_t offset, std::uint64_t bytes) {
  v1::RunCommand command;
  command.mutable_read()->set_handle(handle);
  command.mutable_read()->set_offset(offset);
  command.mutable_read()->set_bytes(bytes);
  return command;
}

class HostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    server_ = cluster_->start_ca_node().release();
    address_ = loopback(server_->port());
    compute_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
    monitor_ = new net::NodeIdentity(cluster_->join(net::Role::monitor, address_));
    second_compute_ = new net::NodeIdentity(cluster_->join(net::Role::compute, address_));
  }
  static void TearDownTestSuite() {
    delete second_compute_;
    delete monitor_;
    delete compute_;
    delete server_;
    delete cluster_;
  }
  void SetUp() override {
    good_ = cluster::RemoteNode::connect(address_, *compute_);
    good_buffer_ = good_->devices().front()->allocate(4096);
  }
  // The good client still writes and reads correctly.
  void TearDown() override {
    const auto data = random_bytes(4096, 3);
    Device& device = *good_->devices().front();
    device.stream().upload(good_buffer_, 0, std::span<const std::byte>(data)).wait();
    std::vector<std::byte> back(4096);
    device.stream().download(good_buffer_, 0, std::span(back)).wait();
    EXPECT_TRUE(back == data) << "the good client was disturbed";
    good_buffer_.reset();
    good_.reset();
  }
  std::string device_id() const { return devices().front()->id(); }

  static TestCluster* cluster_;
  static cluster::NodeServer* server_;
  static net::NodeIdentity* compute_;
  static net::NodeIdentity* monitor_;
  static net::NodeIdentity* second_compute_;
  static std::string address_;
  std::unique_ptr<cluster::RemoteNode> good_;
  Buffer good_buffer_;
};
TestCluster* HostileTest::cluster_ = nullptr;
cluster::NodeServer* HostileTest::server_ = nullptr;
net::NodeIdentity* HostileTest::compute_ = nullptr;
net::NodeIdentity* HostileTest::monitor_ = nullptr;
net::NodeIdentity* HostileTest::second_compute_ = nullptr;
std::string HostileTest::address_;

TEST_F(HostileTest, HandlesOfNoneOrAnotherSessionAreNotFound) {
  RawClient raw(*compute_, address_);
  EXPECT_TRUE(throws_errc([&] { raw.read(0, 0, 1); }, Errc::not_found, "no buffer"));
  EXPECT_TRUE(throws_errc([&] { raw.read(~0ull, 0, 1); }, Errc::not_found));
  RawClient other(*compute_, address_);
  const std::uint64_t theirs = other.allocate(device_id(), 64);
  EXPECT_TRUE(throws_errc([&] { raw.read(theirs, 0, 1); }, Errc::not_found));
  EXPECT_TRUE(throws_errc([&] { raw.write({chunk(theirs, 0, 8)}); }, Errc::not_found));
}

TEST_F(HostileTest, OffsetsSizesAndOverflowAreRefused) {
  RawClient raw(*compute_, address_);
  const std::uint64_t handle = raw.allocate(device_id(), 1024);
  EXPECT_TRUE(throws_errc([&] { raw.read(handle, 1000, 100); }, Errc::out_of_range, "outside"));
  EXPECT_TRUE(throws_errc([&] { raw.read(handle, ~0ull - 2, 8); }, Errc::out_of_range,
                          "overflows"));
  EXPECT_TRUE(throws_errc([&] { raw.read(handle, 0, 0); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { raw.write({chunk(handle, 1020, 8)}); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { raw.write({chunk(handle, ~0ull - 3, 8)}); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { raw.write({chunk(handle, 0, 8), chunk(handle + 1, 8, 8)}); },
                          Errc::invalid_argument, "one buffer"));
  EXPECT_TRUE(throws_errc([&] { raw.allocate(device_id(), 0); }, Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { raw.allocate(device_id(), ~0ull); }, Errc::out_of_memory));
  EXPECT_TRUE(throws_errc([&] { raw.allocate("no-such-device", 8); }, Errc::not_found));
}

TEST_F(HostileTest, OversizedChunksAreRefused) {
  RawClient raw(*compute_, address_);
  const std::uint64_t handle = raw.allocate(device_id(), 16 << 20);
  // Just over the protocol's chunk size: refused by the node's check.
  EXPECT_TRUE(throws_errc([&] { raw.write({chunk(handle, 0, cluster::kMaxChunkBytes + 1)}); },
                          Errc::invalid_argument, "chunk"));
  // Far over: refused by gRPC's message limit before the node reads it.
  EXPECT_TRUE(throws_errc([&] { raw.write({chunk(handle, 0, 12 << 20)}); }, Errc::out_of_memory));
}

TEST_F(HostileTest, WrongKernelsBindingsPushAndGroupsAreRefused) {
  RawClient raw(*compute_, address_);
  const std::uint64_t handle = raw.allocate(device_id(), 4096);
  v1::DispatchRequest request;
  request.set_kernel("fill_f32");
  request.add_bindings()->set_handle(handle);
  const kernels::FillPush push{1024, 0, 1.0f};
  request.set_push_constants(std::string(reinterpret_cast<const char*>(&push), sizeof(push)));
  request.set_groups_x(4);
  request.set_groups_y(1);
  request.set_groups_z(1);
  raw.dispatch(request);  // the good request works

  v1::DispatchRequest bad = request;
  bad.set_kernel("rm -rf /");
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::not_found, "no built-in kernel"));
  bad = request;
  bad.add_bindings()->set_handle(handle);
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::invalid_argument, "takes 1 buffers"));
  bad = request;
  bad.set_push_constants(std::string(200, 'p'));
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::invalid_argument, "parameters"));
  bad = request;
  bad.set_groups_x(~0ull);
  bad.set_groups_y(~0u);
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::out_of_range, "workgroups"));
  bad = request;
  bad.set_groups_y(0);
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::invalid_argument));
  bad = request;
  bad.mutable_bindings(0)->set_offset(8192);
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::out_of_range));
  // Push constants that would make the shader write past the buffer (GPUs do not check).
  for (const kernels::FillPush hostile : {kernels::FillPush{1025, 0, 1.0f},
                                          kernels::FillPush{1, 1024, 1.0f},
                                          kernels::FillPush{0xFFFFFFFFu, 0xFFFFFFFFu, 1.0f}}) {
    bad = request;
    bad.set_push_constants(
        std::string(reinterpret_cast<const char*>(&hostile), sizeof(hostile)));
    EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::out_of_range, "parameters reach"));
  }
  // A binding narrowed by its range counts, not the whole buffer.
  bad = request;
  bad.mutable_bindings(0)->set_bytes(1024);
  EXPECT_TRUE(throws_errc([&] { raw.dispatch(bad); }, Errc::out_of_range, "binding 0"));
}

TEST_F(HostileTest, SessionsVersionsAndRolesAreEnforced) {
  RawClient raw(*compute_, address_);
  {  // no session metadata
    grpc::ClientContext context;
    v1::AllocateRequest request;
    v1::AllocateResponse response;
    EXPECT_TRUE(throws_errc([&] {
      net::throw_if_failed(raw.stub->Allocate(&context, request, &response), "Allocate");
    }, Errc::invalid_argument, "Hello"));
  }
  {  // a session id of another peer is not found, even with the right number
    RawClient stranger(*second_compute_, address_);
    grpc::ClientContext context;
    context.AddMetadata(cluster::kSessionMetadata, std::to_string(raw.session));
    v1::AllocateRequest request;
    request.set_device_id(device_id());
    request.set_bytes(8);
    v1::AllocateResponse response;
    EXPECT_TRUE(throws_errc([&] {
      net::throw_if_failed(stranger.stub->Allocate(&context, request, &response), "Allocate");
    }, Errc::not_found, "no session"));
  }
  {  // another major version
    grpc::ClientContext context;
    v1::HelloRequest hello;
    hello.mutable_version()->set_major(2);
    v1::HelloResponse response;
    EXPECT_TRUE(throws_errc([&] {
      net::throw_if_failed(raw.stub->Hello(&context, hello, &response), "Hello");
    }, Errc::unsupported, "protocol version 2.0 is not supported"));
  }
  {  // a newer minor version is accepted
    grpc::ClientContext context;
    v1::HelloRequest hello;
    hello.mutable_version()->set_major(1);
    hello.mutable_version()->set_minor(99);
    v1::HelloResponse response;
    EXPECT_TRUE(raw.stub->Hello(&context, hello, &response).ok());
  }
  {  // a monitor may list devices but not allocate
    RawClient monitor(*monitor_, address_);
    grpc::ClientContext list_context;
    v1::ListDevicesResponse devices;
    EXPECT_TRUE(monitor.stub->ListDevices(&list_context, {}, &devices).ok());
    EXPECT_TRUE(throws_errc([&] { monitor.allocate(device_id(), 8); }, Errc::permission_denied));
  }
}

TEST_F(HostileTest, ClientsWithoutOrWithForeignCredentialsLearnNothing) {
  {  // TLS without a client certificate
    auto stub = v1::Node::NewStub(grpc::CreateCustomChannel(
        address_,
        grpc::SslCredentials(grpc::SslCredentialsOptions{std::string(compute_->ca_pem()), "", ""}),
        [] {
          grpc::ChannelArguments a;
          a.SetSslTargetNameOverride(std::string(net::node_dns_name));
          return a;
        }()));
    grpc::ClientContext context;
    v1::ListDevicesResponse devices;
    const grpc::Status status = stub->ListDevices(&context, {}, &devices);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
    EXPECT_EQ(devices.devices_size(), 0);
  }
  {  // plaintext
    auto stub =
        v1::Node::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListDevicesResponse devices;
    EXPECT_FALSE(stub->ListDevices(&context, {}, &devices).ok());
    EXPECT_EQ(devices.devices_size(), 0);
  }
  {  // another cluster's identity
    TestCluster other("other-cluster");
    const net::NodeIdentity stranger = net::NodeIdentity::load(other.ca_dir());
    auto stub = v1::Node::NewStub(stranger.connect(address_));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListDevicesResponse devices;
    EXPECT_FALSE(stub->ListDevices(&context, {}, &devices).ok());
    EXPECT_EQ(devices.devices_size(), 0);
  }
}

TEST_F(HostileTest, AFloodOfConnectionsAndSessionsIsBounded) {
  std::vector<std::thread> flood;
  std::atomic<int> refused{0}, sessions{0}, gated{0};
  for (int t = 0; t < 16; ++t) {
    flood.emplace_back([&] {
      for (int i = 0; i < 4; ++i) {
        // Plaintext clients: each fails its TLS handshake; the deadline bounds gRPC's retries.
        auto stub =
        v1::Node::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
        v1::HelloResponse response;
        if (!stub->Hello(&context, {}, &response).ok()) ++refused;
        // Sessions without a Session stream. They come from the flood's source address, so the
        // gRPC accept gate may close their connection while that source has its share of
        // unauthenticated connections (16); a refusal is a clean io error, never a hang.
        try {
          RawClient hello(*compute_, address_);
          ++sessions;
        } catch (const Error& error) {
          EXPECT_EQ(error.code(), Errc::io) << error.what();
          ++gated;
        }
      }
    });
  }
  for (auto& thread : flood) thread.join();
  EXPECT_EQ(refused.load(), 16 * 4);
  EXPECT_EQ(sessions.load() + gated.load(), 16 * 4);
  // After the flood a good client is served at once.
  RawClient good(*compute_, address_);
  grpc::ClientContext context;
  v1::ListDevicesResponse devices;
  ASSERT_TRUE(good.stub->ListDevices(&context, {}, &devices).ok());
  EXPECT_GT(devices.devices_size(), 0);
}

TEST_F(HostileTest, ForgedOrMisdirectedGrantsAreRefused) {
  RawClient raw(*compute_, address_);
  const std::uint64_t handle = raw.allocate(device_id(), 1024);
  grpc::ClientContext grant_context;
  raw.prepare(grant_context);
  v1::WriteGrantRequest request;
  request.set_handle(handle);
  request.set_bytes(1024);
  request.set_grantee_node_id(compute_->node_id());
  v1::WriteGrant grant;
  ASSERT_TRUE(raw.stub->GrantWrite(&grant_context, request, &grant).ok());

  auto granted_write = [&](const v1::WriteGrant& g, std::uint64_t offset, std::size_t bytes) {
    grpc::ClientContext context;
    v1::WriteResponse response;
    auto writer = raw.stub->GrantedWrite(&context, &response);
    v1::GrantedWriteChunk c;
    *c.mutable_grant() = g;
    c.set_offset(offset);
    c.set_data(std::string(bytes, 'g'));
    writer->Write(c);
    writer->WritesDone();
    net::throw_if_failed(writer->Finish(), "GrantedWrite");
  };
  granted_write(grant, 0, 1024);  // the genuine grant works
  v1::WriteGrant widened = grant;
  widened.set_bytes(4096);
  EXPECT_TRUE(throws_errc([&] { granted_write(widened, 0, 8); }, Errc::invalid_argument,
                          "altered"));
  EXPECT_TRUE(throws_errc([&] { granted_write(grant, 1020, 8); }, Errc::out_of_range));
  // Presented by a node it was not made out to.
  RawClient monitor(*monitor_, address_);
  grpc::ClientContext context;
  v1::WriteResponse response;
  auto writer = monitor.stub->GrantedWrite(&context, &response);
  v1::GrantedWriteChunk c;
  *c.mutable_grant() = grant;
  c.set_data("x");
  writer->Write(c);
  writer->WritesDone();
  EXPECT_TRUE(throws_errc([&] { net::throw_if_failed(writer->Finish(), "GrantedWrite"); },
                          Errc::invalid_argument, "made out to"));
}

}  // namespace
}  // namespace crossgpu::testing

namespace crossgpu::testing {
namespace {

TEST_F(HostileTest, MalformedOrOversizedRunsAreRefusedBeforeAnythingRuns) {
  RawClient raw(*compute_, address_);
  const std::uint64_t handle = raw.allocate(device_id(), 4096);
  v1::RunRequest good;
  *good.add_commands() = write_command(handle, 0, std::string(16, 'a'));
  *good.add_commands() = read_command(handle, 0, 16);
  ASSERT_EQ(raw.run(good).reads(0), std::string(16, 'a'));  // the good request works

  EXPECT_TRUE(throws_errc([&] { raw.run({}); }, Errc::invalid_argument, "no commands"));
  v1::RunRequest bad;
  bad.add_commands();  // a command of no kind (a newer client's)
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::invalid_argument, "no command"));
  bad.Clear();
  for (int i = 0; i <= cluster::kMaxRunCommands; ++i) *bad.add_commands() = write_command(handle, 0, "b");
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::out_of_range, "commands"));
  bad.Clear();
  *bad.add_commands() = read_command(handle, 0, 0);
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::invalid_argument, "0 bytes"));
  bad.Clear();
  *bad.add_commands() = read_command(handle, 0, cluster::kMaxRunInlineBytes + 1);
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::out_of_range, "at most"));
  bad.Clear();
  *bad.add_commands() = read_command(handle, ~0ull - 2, 8);
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::out_of_range));
  bad.Clear();
  *bad.add_commands() = write_command(handle, 0, "");
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::invalid_argument, "empty write"));
  // Writes over the inline limit in total (each one small) are refused as a whole.
  bad.Clear();
  for (int i = 0; i < 3; ++i) *bad.add_commands() = write_command(handle, 0, std::string(1 << 20, 'c'));
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::out_of_range, "bytes written or read"));
  // A good write followed by a write out of bounds: refused before anything runs, so the buffer
  // keeps its bytes.
  bad.Clear();
  *bad.add_commands() = write_command(handle, 0, std::string(16, 'z'));
  *bad.add_commands() = write_command(handle, 4090, std::string(16, 'z'));
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::out_of_range, "outside"));
  v1::RunRequest check;
  *check.add_commands() = read_command(handle, 0, 16);
  EXPECT_EQ(raw.run(check).reads(0), std::string(16, 'a')) << "a refused Run changed the buffer";
  // Handles and programs of no session or of another session.
  RawClient other(*compute_, address_);
  const std::uint64_t theirs = other.allocate(device_id(), 64);
  bad.Clear();
  *bad.add_commands() = read_command(theirs, 0, 8);
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::not_found));
  v1::RecordRequest record;
  *record.add_dispatches() = fill(theirs, 16, 1.0f);
  const std::uint64_t their_program = other.record(record);
  bad.Clear();
  bad.add_commands()->set_replay(their_program);
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::not_found, "not one of this session's"));
  bad.Clear();
  bad.add_commands()->set_replay(0);
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::invalid_argument, "program 0"));
  // A dispatch inside a Run is held to the same rules as a Dispatch.
  bad.Clear();
  v1::DispatchRequest hostile = fill(handle, 1025, 1.0f);
  *bad.add_commands()->mutable_dispatch() = hostile;
  EXPECT_TRUE(throws_errc([&] { raw.run(bad); }, Errc::out_of_range, "parameters reach"));
}

TEST_F(HostileTest, RecordingsAreCheckedBoundedAndPrivate) {
  RawClient raw(*compute_, address_);
  const std::uint64_t handle = raw.allocate(device_id(), 4096);
  EXPECT_TRUE(throws_errc([&] { raw.record({}); }, Errc::invalid_argument, "no dispatches"));
  v1::RecordRequest bad;
  *bad.add_dispatches() = fill(handle, 1024, 2.0f);
  *bad.add_dispatches() = fill(handle, 1025, 2.0f);
  EXPECT_TRUE(throws_errc([&] { raw.record(bad); }, Errc::out_of_range, "parameters reach"));
  bad.Clear();
  v1::DispatchRequest unknown = fill(handle, 16, 1.0f);
  unknown.set_kernel("no_such_kernel");
  *bad.add_dispatches() = unknown;
  EXPECT_TRUE(throws_errc([&] { raw.record(bad); }, Errc::not_found));
  // A program replays and reads back what it wrote.
  v1::RecordRequest good;
  *good.add_dispatches() = fill(handle, 1024, 2.0f);
  const std::uint64_t program = raw.record(good);
  v1::RunRequest run;
  run.add_commands()->set_replay(program);
  *run.add_commands() = read_command(handle, 4092, 4);
  const std::string back = raw.run(run).reads(0);
  float value = 0;
  std::memcpy(&value, back.data(), 4);
  EXPECT_EQ(value, 2.0f);
  // Released once; then it is gone.
  grpc::ClientContext context;
  raw.prepare(context);
  v1::ReleaseProgramRequest release;
  release.set_program(program);
  v1::ReleaseProgramResponse released;
  net::throw_if_failed(raw.stub->ReleaseProgram(&context, release, &released), "ReleaseProgram");
  EXPECT_TRUE(throws_errc([&] { raw.run(run); }, Errc::not_found));
  // A session keeps at most kMaxPrograms.
  for (std::size_t i = 0; i < cluster::kMaxPrograms; ++i) raw.record(good);
  EXPECT_TRUE(throws_errc([&] { raw.record(good); }, Errc::out_of_range, "programs"));
}

}  // namespace
}  // namespace crossgpu::testing
