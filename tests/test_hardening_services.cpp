// One call quota for every service of a node's gRPC port (net/call_quota.hpp, carried by the
// Authenticator): Telemetry, Revocation and Admin calls take their place in it as Node calls do.
// A monitor that holds its share in Telemetry.Subscribe streams (each holds a serving thread as
// long as it is open) gets RESOURCE_EXHAUSTED naming the quota for every further call of any
// service, while a compute client keeps transferring bit-exact and reading telemetry and
// revocations; an admin identity past its share is refused Admin calls the same way.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cluster/protocol.hpp"
#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.grpc.pb.h"
#include "crossgpu/v1/telemetry.grpc.pb.h"
#include "hardening_sockets.hpp"
#include "hardening_work.hpp"
#include "net/call_quota.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "telemetry/cluster_view.hpp"
#include "telemetry/service/telemetry_service.hpp"
#include "telemetry/service/wire.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using namespace std::chrono_literals;

bool is_quota_refusal(const grpc::Status& status, const std::string& needle) {
  return status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
         status.error_message().find("quota exceeded") != std::string::npos &&
         status.error_message().find(needle) != std::string::npos;
}

// A Telemetry.Subscribe stream kept open (its serving thread stays held) until destroyed.
struct Subscription {
  explicit Subscription(v1::Telemetry::Stub& stub) {
    v1::TelemetrySubscribeRequest request;
    *request.mutable_version() = telemetry::telemetry_version();
    request.set_interval_ms(1000);
    reader = stub.Subscribe(&context, request);
    v1::TelemetrySnapshotResponse first;
    alive = reader->Read(&first);
  }
  ~Subscription() {
    context.TryCancel();
    reader->Finish();
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::TelemetrySnapshotResponse>> reader;
  bool alive = false;
};

// A Subscribe that the node refuses at once: its final status.
grpc::Status refused_subscription(v1::Telemetry::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::TelemetrySubscribeRequest request;
  *request.mutable_version() = telemetry::telemetry_version();
  auto reader = stub.Subscribe(&context, request);
  v1::TelemetrySnapshotResponse first;
  if (reader->Read(&first)) context.TryCancel();  // admitted after all: no refusal
  return reader->Finish();
}

grpc::Status snapshot(v1::Telemetry::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::TelemetrySnapshotRequest request;
  *request.mutable_version() = telemetry::telemetry_version();
  v1::TelemetrySnapshotResponse response;
  return stub.Snapshot(&context, request, &response);
}

grpc::Status revocations(v1::Revocation::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::RevocationsRequest request;
  v1::RevocationsResponse response;
  return stub.GetRevocations(&context, request, &response);
}

grpc::Status invite(v1::Admin::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::InviteRequest request;
  request.set_role("monitor");
  v1::InviteResponse response;
  return stub.CreateInvite(&context, request, &response);
}

// The CA node with the Telemetry service registered, as `crossgpu node` registers it.
class ServiceQuotas : public ::testing::Test {
 protected:
  void start(std::size_t max_threads) {
    telemetry::NodeTelemetry self;  // what a node's sampler would have put there
    self.node_id = aggregator_.self_node_id();
    self.state = "healthy";
    self.sequence = 1;
    aggregator_.update(self);
    cluster::NodeServerOptions options;
    options.config_dir = cluster_.ca_dir();
    // A known port: invites made by Admin.CreateInvite carry it.
    options.listen_address = loopback(free_port());
    options.max_threads = max_threads;
    options.services.push_back([this](const net::NodeIdentity&, const net::Authenticator& auth) {
      return std::make_unique<telemetry::TelemetryService>(aggregator_, auth, 1000ms);
    });
    server_ = std::make_unique<cluster::NodeServer>(devices(), options);
    server_->start();
    address_ = loopback(server_->port());
    compute_ = std::make_unique<net::NodeIdentity>(cluster_.join(net::Role::compute, address_));
  }
  void TearDown() override {
    if (server_) server_->shutdown(0ms);
  }
  // A compute client's round trips, bit-exact, and its own telemetry and revocation reads,
  // until `stop` (and at least 5 rounds).
  void compute_work(std::atomic<bool>& stop, std::atomic<int>& done) {
    auto node = cluster::RemoteNode::connect(address_, *compute_);
    auto channel = compute_->connect(address_);
    auto telemetry = v1::Telemetry::NewStub(channel);
    auto revocation = v1::Revocation::NewStub(channel);
    Device& device = *node->devices().front();
    Buffer buffer = device.allocate(64 << 10);
    for (std::uint32_t i = 0; !stop || done < 5; ++i) {
      ASSERT_TRUE(round_trip_bit_exact(device, buffer, i));
      const grpc::Status read = snapshot(*telemetry);
      ASSERT_TRUE(read.ok()) << read.error_message();
      const grpc::Status listed = revocations(*revocation);
      ASSERT_TRUE(listed.ok()) << listed.error_message();
      ++done;
    }
  }

  TestCluster cluster_;
  telemetry::ClusterAggregator aggregator_{"ca-node"};
  std::unique_ptr<cluster::NodeServer> server_;
  std::unique_ptr<net::NodeIdentity> compute_;
  std::string address_;
};

TEST_F(ServiceQuotas, AMonitorFloodingTelemetryAndRevocationIsRefusedWhileComputeWorks) {
  start(256);
  const net::CallQuotaLimits limits = net::CallQuotaLimits::for_threads(256);
  const net::NodeIdentity monitor = cluster_.join(net::Role::monitor, address_);
  auto channel = monitor.connect(address_);
  auto telemetry = v1::Telemetry::NewStub(channel);
  auto revocation = v1::Revocation::NewStub(channel);
  auto node = v1::Node::NewStub(channel);

  // Its share of calls, held in Subscribe streams.
  std::vector<std::unique_ptr<Subscription>> held;
  for (std::size_t i = 0; i < limits.monitor_per_identity; ++i) {
    held.push_back(std::make_unique<Subscription>(*telemetry));
    ASSERT_TRUE(held.back()->alive) << "subscription " << i << " was refused";
  }
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::thread work([&] { compute_work(stop, done); });
  // 500 more calls, spread over every service it may call: each refused at once, naming its
  // identity's quota.
  std::atomic<int> refused{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 4; ++t) {
    flood.emplace_back([&, t] {
      for (int i = 0; i < 125; ++i) {
        grpc::Status status;
        switch ((t + i) % 4) {
          case 0: status = refused_subscription(*telemetry); break;
          case 1: status = snapshot(*telemetry); break;
          case 2: status = revocations(*revocation); break;
          default: {
            grpc::ClientContext context;
            v1::StatusRequest request;
            v1::StatusResponse response;
            status = node->Status(&context, request, &response);
          }
        }
        if (is_quota_refusal(status, "identity " + monitor.node_id())) {
          ++refused;
        } else {
          ADD_FAILURE() << "call " << i << ": " << status.error_code() << " "
                        << status.error_message();
        }
      }
    });
  }
  for (auto& thread : flood) thread.join();
  EXPECT_EQ(refused.load(), 500);

  // Its places come back when its streams end.
  held.clear();
  const auto until = std::chrono::steady_clock::now() + 5s;
  grpc::Status again = snapshot(*telemetry);
  while (!again.ok() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);
    again = snapshot(*telemetry);
  }
  EXPECT_TRUE(again.ok()) << again.error_message();

  stop = true;
  work.join();
  EXPECT_GE(done.load(), 5);
}

TEST_F(ServiceQuotas, AllMonitorsTogetherStopAtTheRoleShareOfEveryService) {
  start(256);
  const net::CallQuotaLimits limits = net::CallQuotaLimits::for_threads(256);
  std::vector<net::NodeIdentity> monitors;
  std::vector<std::unique_ptr<v1::Telemetry::Stub>> stubs;
  std::vector<std::unique_ptr<Subscription>> held;
  for (std::size_t m = 0; m < limits.monitor_total / limits.monitor_per_identity; ++m) {
    monitors.push_back(cluster_.join(net::Role::monitor, address_));
    stubs.push_back(v1::Telemetry::NewStub(monitors.back().connect(address_)));
    for (std::size_t i = 0; i < limits.monitor_per_identity; ++i) {
      held.push_back(std::make_unique<Subscription>(*stubs.back()));
      ASSERT_TRUE(held.back()->alive);
    }
  }
  // A fresh monitor identity, within its own share, meets the role's.
  const net::NodeIdentity late = cluster_.join(net::Role::monitor, address_);
  auto channel = late.connect(address_);
  auto telemetry = v1::Telemetry::NewStub(channel);
  auto revocation = v1::Revocation::NewStub(channel);
  EXPECT_TRUE(is_quota_refusal(snapshot(*telemetry), "limit of the monitor role"));
  EXPECT_TRUE(is_quota_refusal(revocations(*revocation), "limit of the monitor role"));
  EXPECT_TRUE(is_quota_refusal(refused_subscription(*telemetry), "limit of the monitor role"));
  // A compute client is not a monitor: it reads and works.
  std::atomic<bool> stop{true};
  std::atomic<int> done{0};
  compute_work(stop, done);
  EXPECT_GE(done.load(), 5);
}

TEST_F(ServiceQuotas, AnAdminPastItsShareIsRefusedAdminCalls) {
  // 32 threads: one identity may hold 16 calls.
  start(32);
  const net::CallQuotaLimits limits = net::CallQuotaLimits::for_threads(32);
  ASSERT_EQ(limits.per_identity, 16u);
  const net::NodeIdentity admin = cluster_.join(net::Role::admin, address_);
  auto channel = admin.connect(address_);
  auto telemetry = v1::Telemetry::NewStub(channel);
  auto admin_stub = v1::Admin::NewStub(channel);
  const grpc::Status first = invite(*admin_stub);
  ASSERT_TRUE(first.ok()) << first.error_code() << " " << first.error_message();
  std::vector<std::unique_ptr<Subscription>> held;
  for (std::size_t i = 0; i < limits.per_identity; ++i) {
    held.push_back(std::make_unique<Subscription>(*telemetry));
    ASSERT_TRUE(held.back()->alive);
  }
  EXPECT_TRUE(is_quota_refusal(invite(*admin_stub), "identity " + admin.node_id()));
  grpc::ClientContext context;
  v1::RemoveNodeRequest remove;
  remove.set_node_id(compute_->node_id());
  v1::RemoveNodeResponse removed;
  EXPECT_TRUE(is_quota_refusal(admin_stub->RemoveNode(&context, remove, &removed),
                               "identity " + admin.node_id()));
  // Nothing was removed: the compute client still works.
  std::atomic<bool> stop{true};
  std::atomic<int> done{0};
  compute_work(stop, done);
  EXPECT_GE(done.load(), 5);
  held.clear();
}

TEST(CallQuota, CallersWithoutACertificateShareOneSmallPool) {
  net::CallQuota quota({.per_identity = 4, .monitor_per_identity = 1, .monitor_total = 1,
                        .unauthenticated = 2});
  const net::PeerIdentity compute{"c", net::Role::compute, "", ""};
  {
    auto a = quota.acquire_unauthenticated("ipv4:127.0.0.2:1", "Enrollment.Join");
    auto b = quota.acquire_unauthenticated("ipv4:127.0.0.3:1", "Enrollment.Join");
    EXPECT_TRUE(throws_errc(
        [&] { quota.acquire_unauthenticated("ipv4:127.0.0.4:1", "Enrollment.Join"); },
        Errc::out_of_memory, "callers without a certificate"));
    // Members are not held back by them.
    EXPECT_NO_THROW(quota.acquire(compute, "Hello"));
  }
  EXPECT_NO_THROW(quota.acquire_unauthenticated("ipv4:127.0.0.4:1", "Enrollment.Join"));
  EXPECT_EQ(net::CallQuotaLimits::for_threads(256).unauthenticated, 8u);
}

}  // namespace
}  // namespace crossgpu::testing
