// The telemetry protocol: its compatibility rules (unknown fields ignored, a newer minor
// accepted, another major refused), absent values read as unavailable, hostile messages refused;
// the Telemetry service over mutual TLS (roles, Snapshot, Subscribe, Probe) and the peer poller
// that builds the cluster view and measures links, between in-process nodes.
#include <grpcpp/grpcpp.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "cluster/node_server.hpp"
#include "crossgpu/v1/telemetry.grpc.pb.h"
#include "net/status.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "telemetry/sampler.hpp"
#include "telemetry/service/peer_poller.hpp"
#include "telemetry/service/telemetry_service.hpp"
#include "telemetry/service/wire.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::telemetry {
namespace {

using crossgpu::testing::loopback;
using crossgpu::testing::throws_errc;
using crossgpu::testing::TestCluster;

NodeTelemetry sample_telemetry() {
  NodeTelemetry t;
  t.node_id = "0123456789abcdef0123456789abcdef";
  t.name = "büro-laptop";
  t.state = "healthy";
  t.sequence = 42;
  t.sampled_unix_nanos = 1'700'000'000'000'000'000;
  t.interval_ms = 1000;
  DeviceRegistration r;
  r.device_id = "gpu0";
  r.name = "Radeon";
  r.vendor = "amd";
  r.type = "discrete";
  r.backend = "vulkan";
  DeviceProfile p;
  p.device_id = "gpu0";
  p.driver_version = "2.0.279";
  p.measured_at = "2026-11-27T10:00:00Z";
  p.matmul_f32_flops = 1.5e13;
  p.matvec_f32_bytes_per_s = 6e11;
  p.copy_bytes_per_s = 8e11;
  p.upload_bytes_per_s = 2.5e10;
  p.download_bytes_per_s = 2.4e10;
  p.round_trip_seconds = 3e-5;
  p.self_test_passed = false;
  p.self_test_notes = {"softmax: 3 outputs differ"};
  apply_profile(r, p, "measured");
  t.devices.push_back(r);
  DeviceMetrics m;
  m.device_id = "gpu0";
  m.memory_total_bytes = Measured<std::uint64_t>::of(16ull << 30, "device heaps");
  m.memory_used_bytes = Measured<std::uint64_t>::of(1ull << 30, "vulkan memory budget");
  m.memory_free_bytes = Measured<std::uint64_t>::of(15ull << 30, "vulkan memory budget");
  m.memory_budget_bytes = Measured<std::uint64_t>::unavailable("no VK_EXT_memory_budget");
  m.busy_fraction = Measured<double>::of(0.37, "hwmon amdgpu");
  m.temperature_c = Measured<double>::of(-4.5, "hwmon amdgpu");  // a cold phone: negative is real
  m.power_w = Measured<double>::unavailable("hwmon amdgpu: no power");
  m.clock_mhz = Measured<double>::of(1800, "hwmon amdgpu");
  t.metrics.push_back(m);
  t.host.battery_level = Measured<double>::of(0.42, "power_supply battery");
  t.host.charging = Measured<bool>::of(false, "power_supply battery");
  t.host.on_mains = Measured<bool>::unavailable("no mains supply reported");
  t.host.max_temperature_c = Measured<double>::of(61, "thermal zone gpuss-0");
  t.host.hottest_zone = "gpuss-0";
  t.host.thermal_state = Measured<ThermalState>::of(ThermalState::fair, "trip points of thermal zone gpuss-0");
  LinkMetrics l;
  l.peer_node_id = "fedcba9876543210fedcba9876543210";
  l.peer_address = "10.0.0.2:7450";
  l.rtt_ms = Measured<double>::of(0.8, "heartbeats");
  l.probe_bytes = 8 << 20;
  t.links.push_back(l);
  return t;
}

NodeTelemetry through_bytes(const v1::NodeTelemetry& wire) {
  v1::NodeTelemetry parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire.SerializeAsString()));
  return from_wire(parsed);
}

template <typename T>
void expect_same(const Measured<T>& a, const Measured<T>& b) {
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.source, b.source);
}

TEST(TelemetryWire, RoundTripKeepsValuesSourcesAndReasons) {
  const NodeTelemetry t = sample_telemetry();
  const NodeTelemetry back = through_bytes(to_wire(t));
  EXPECT_EQ(back.node_id, t.node_id);
  EXPECT_EQ(back.name, "büro-laptop");
  EXPECT_EQ(back.sequence, 42u);
  ASSERT_EQ(back.devices.size(), 1u);
  EXPECT_EQ(back.devices[0].self_test, SelfTestStatus::failed);
  EXPECT_EQ(back.devices[0].self_test_reason, "softmax: 3 outputs differ");
  ASSERT_TRUE(back.devices[0].profile);
  EXPECT_EQ(back.devices[0].profile->matmul_f32_flops, 1.5e13);
  EXPECT_EQ(back.devices[0].profile->matmul_f16_flops, 0);  // unavailable stays "not measured"
  const DeviceMetrics& a = t.metrics[0];
  const DeviceMetrics& b = back.metrics.at(0);
  expect_same(a.memory_total_bytes, b.memory_total_bytes);
  expect_same(a.memory_budget_bytes, b.memory_budget_bytes);
  expect_same(a.temperature_c, b.temperature_c);
  expect_same(a.power_w, b.power_w);
  expect_same(a.busy_fraction, b.busy_fraction);
  expect_same(t.host.battery_level, back.host.battery_level);
  expect_same(t.host.charging, back.host.charging);
  expect_same(t.host.on_mains, back.host.on_mains);
  expect_same(t.host.thermal_state, back.host.thermal_state);
  expect_same(t.links[0].rtt_ms, back.links.at(0).rtt_ms);
  expect_same(t.links[0].bytes_per_s, back.links.at(0).bytes_per_s);
  const v1::NodeTelemetry wire = to_wire(t);
  EXPECT_FALSE(wire.metrics(0).power_w().available());
  EXPECT_TRUE(wire.devices(0).profile().has_matmul_f16_flops());
  EXPECT_FALSE(wire.devices(0).profile().matmul_f16_flops().available());
}

TEST(TelemetryWire, AbsentValuesAreUnavailableNeverZero) {
  v1::NodeTelemetry wire;
  wire.mutable_version()->set_major(1);
  wire.set_node_id("n");
  wire.add_metrics()->set_device_id("d");  // an older sender: no wrappers at all
  const NodeTelemetry t = through_bytes(wire);
  const DeviceMetrics& m = t.metrics.at(0);
  for (const Measured<double>* v : {&m.busy_fraction, &m.temperature_c, &m.power_w, &m.clock_mhz}) {
    EXPECT_FALSE(v->available());
    EXPECT_EQ(v->source, "not reported by the sender");
  }
  EXPECT_FALSE(m.memory_free_bytes.available());
  EXPECT_FALSE(t.host.battery_level.available());
  EXPECT_FALSE(t.host.thermal_state.available());
}

TEST(TelemetryWire, UnknownFieldsAreIgnoredAtEveryLevel) {
  v1::NodeTelemetry wire = to_wire(sample_telemetry());
  // Fields a newer sender added, at the top, in a sample and inside a measured value.
  wire.GetReflection()->MutableUnknownFields(&wire)->AddVarint(1000, 7);
  auto* sample = wire.mutable_metrics(0);
  sample->GetReflection()->MutableUnknownFields(sample)->AddLengthDelimited(77, "future");
  auto* value = sample->mutable_temperature_c();
  value->GetReflection()->MutableUnknownFields(value)->AddFixed64(9, 123);
  const NodeTelemetry back = through_bytes(wire);
  EXPECT_EQ(*back.metrics.at(0).temperature_c.value, -4.5);
  EXPECT_EQ(back.devices.size(), 1u);
}

TEST(TelemetryWire, NewerMinorIsAcceptedOtherMajorRefused) {
  v1::NodeTelemetry wire = to_wire(sample_telemetry());
  wire.mutable_version()->set_minor(kTelemetryMinor + 5);
  EXPECT_EQ(through_bytes(wire).node_id, sample_telemetry().node_id);
  wire.mutable_version()->set_major(kTelemetryMajor + 1);
  const std::string refused = fmt::format("version {}.{} is not supported", kTelemetryMajor + 1, kTelemetryMinor + 5);
  EXPECT_TRUE(throws_errc([&] { through_bytes(wire); }, Errc::unsupported, refused));
  wire.clear_version();
  EXPECT_TRUE(throws_errc([&] { through_bytes(wire); }, Errc::unsupported));
}

TEST(TelemetryWire, HostileMessagesAreRefusedWithTheField) {
  v1::NodeTelemetry wire = to_wire(sample_telemetry());
  wire.mutable_metrics(0)->mutable_power_w()->set_available(true);
  wire.mutable_metrics(0)->mutable_power_w()->set_value(std::nan(""));
  EXPECT_TRUE(throws_errc([&] { from_wire(wire); }, Errc::invalid_argument, "power_w"));

  wire = to_wire(sample_telemetry());
  wire.mutable_host()->mutable_thermal_state()->set_value(static_cast<v1::ThermalState>(99));
  EXPECT_TRUE(throws_errc([&] { from_wire(wire); }, Errc::invalid_argument, "thermal state 99"));

  wire = to_wire(sample_telemetry());
  for (std::size_t i = 0; i <= kMaxWireDevices; ++i) wire.add_devices()->set_device_id("x");
  EXPECT_TRUE(throws_errc([&] { from_wire(wire); }, Errc::invalid_argument, "devices"));

  wire = to_wire(sample_telemetry());
  wire.mutable_devices(0)->set_name(std::string(kMaxWireText + 1, 'a'));
  EXPECT_TRUE(throws_errc([&] { from_wire(wire); }, Errc::invalid_argument, "'name'"));

  wire = to_wire(sample_telemetry());
  wire.clear_node_id();
  EXPECT_TRUE(throws_errc([&] { from_wire(wire); }, Errc::invalid_argument, "node id"));

  // A node's self-declared name: too long, control characters (a name that would rewrite a
  // terminal line or forge a log record), broken UTF-8 (set_name does not check; parsing would).
  for (const auto& [name, reason] :
       {std::pair{std::string(kMaxNodeNameBytes + 1, 'n'), "at most 64 bytes"},
        std::pair{std::string("laptop\r\x1b[2Kroot"), "control characters"},
        std::pair{std::string("line\nforged log"), "control characters"},
        std::pair{std::string("bad \xc3\x28 utf8"), "UTF-8"},
        std::pair{std::string("overlong \xc0\xaf"), "UTF-8"},
        std::pair{std::string("cut \xe2\x82"), "UTF-8"}}) {
    wire = to_wire(sample_telemetry());
    wire.set_name(name);
    EXPECT_TRUE(throws_errc([&] { from_wire(wire); }, Errc::invalid_argument, reason)) << name;
  }
  wire = to_wire(sample_telemetry());  // markup is text: refused nowhere, escaped where shown
  wire.set_name("<img src=x onerror=alert(1)> & 東京");
  EXPECT_EQ(from_wire(wire).name, "<img src=x onerror=alert(1)> & 東京");
  ClusterAggregator aggregator("self");  // and a node refuses such a name for itself
  EXPECT_TRUE(throws_errc(
      [&] {
        LocalSampler sampler(crossgpu::testing::devices(), aggregator,
                             SamplerOptions{.node_name = "tab\there"});
      },
      Errc::invalid_argument, "control characters"));

  // A self-test result from a newer sender is not taken as a pass.
  wire = to_wire(sample_telemetry());
  wire.mutable_devices(0)->set_self_test(static_cast<v1::SelfTestResult>(7));
  EXPECT_EQ(from_wire(wire).devices.at(0).self_test, SelfTestStatus::not_run);
}

// A node server with the Telemetry service registered through the extra-service hook, sampling
// this machine's devices.
struct TelemetryNode {
  TelemetryNode(const std::filesystem::path& config, const std::string& node_id,
                PeerSource peers = {})
      : aggregator(node_id),
        sampler(crossgpu::testing::devices(), aggregator,
                SamplerOptions{.interval = std::chrono::milliseconds(50), .profile = false}),
        poller(net::NodeIdentity::load(config), aggregator, std::move(peers),
               PollerOptions{.interval = std::chrono::milliseconds(100), .probe_bytes = 8 << 20}) {
    cluster::NodeServerOptions options;
    options.config_dir = config;
    options.listen_address = "127.0.0.1:0";
    options.services.push_back([this](const net::NodeIdentity&, const net::Authenticator& auth) {
      return std::make_unique<TelemetryService>(aggregator, auth, std::chrono::milliseconds(100));
    });
    server = std::make_unique<cluster::NodeServer>(crossgpu::testing::devices(), options);
    server->start();
    sampler.start();
  }
  ~TelemetryNode() {
    poller.stop();
    sampler.stop();
    server->shutdown(std::chrono::milliseconds(0));
  }
  ClusterAggregator aggregator;
  LocalSampler sampler;
  PeerPoller poller;
  std::unique_ptr<cluster::NodeServer> server;
};

v1::TelemetrySnapshotResponse snapshot(const net::NodeIdentity& client, int port, bool cluster,
                                       std::uint32_t major = kTelemetryMajor) {
  auto stub = v1::Telemetry::NewStub(client.connect(loopback(port)));
  v1::TelemetrySnapshotRequest request;
  *request.mutable_version() = telemetry_version();
  request.mutable_version()->set_major(major);
  request.set_cluster(cluster);
  v1::TelemetrySnapshotResponse response;
  grpc::ClientContext context;
  net::throw_if_failed(stub->Snapshot(&context, request, &response), "Snapshot");
  return response;
}

TEST(TelemetryService, MonitorReadsSnapshotsAndSubscriptionsOverMutualTls) {
  TestCluster cluster;
  const net::NodeIdentity ca = net::NodeIdentity::load(cluster.ca_dir());
  TelemetryNode node(cluster.ca_dir(), ca.node_id());
  const int port = node.server->port();
  const net::NodeIdentity monitor = cluster.join(net::Role::monitor, loopback(port));

  const auto response = snapshot(monitor, port, false);
  ASSERT_EQ(response.nodes_size(), 1);
  const NodeTelemetry self = from_wire(response.nodes(0));
  EXPECT_EQ(self.node_id, ca.node_id());
  EXPECT_EQ(self.metrics.size(), crossgpu::testing::devices().size());
  EXPECT_TRUE(self.metrics.at(0).memory_total_bytes.available());
  EXPECT_TRUE(throws_errc([&] { snapshot(monitor, port, false, 2); }, Errc::unsupported, "telemetry protocol version 2"));

  // Subscribe streams new samples at the asked interval until the client cancels.
  auto stub = v1::Telemetry::NewStub(monitor.connect(loopback(port)));
  v1::TelemetrySubscribeRequest request;
  *request.mutable_version() = telemetry_version();
  request.set_interval_ms(100);
  grpc::ClientContext context;
  auto reader = stub->Subscribe(&context, request);
  std::vector<std::uint64_t> sequences;
  v1::TelemetrySnapshotResponse update;
  while (sequences.size() < 3 && reader->Read(&update)) {
    sequences.push_back(from_wire(update.nodes(0)).sequence);
  }
  ASSERT_EQ(sequences.size(), 3u);
  EXPECT_LT(sequences.front(), sequences.back());
  context.TryCancel();
  while (reader->Read(&update)) {}
  reader->Finish();
}

TEST(TelemetryService, ProbeCountsBytesAndRefusesOversizedProbes) {
  TestCluster cluster;
  const net::NodeIdentity ca = net::NodeIdentity::load(cluster.ca_dir());
  TelemetryNode node(cluster.ca_dir(), ca.node_id());
  const net::NodeIdentity monitor = cluster.join(net::Role::monitor, loopback(node.server->port()));
  const auto channel = monitor.connect(loopback(node.server->port()));
  EXPECT_GT(PeerPoller::measure_bandwidth(channel, 8 << 20, std::chrono::seconds(30)), 1e6);
  EXPECT_TRUE(throws_errc([&] { PeerPoller::measure_bandwidth(channel, kMaxProbeBytes + (1 << 20), std::chrono::seconds(30)); },
                          Errc::out_of_range, "probe of more than"));
}

TEST(PeerPoller, BuildsTheClusterViewAndMeasuresLinks) {
  TestCluster cluster;
  const net::NodeIdentity ca = net::NodeIdentity::load(cluster.ca_dir());
  auto b_node = std::make_unique<TelemetryNode>(cluster.ca_dir(), ca.node_id());
  const int b_port = b_node->server->port();
  const net::NodeIdentity a = cluster.join(net::Role::compute, loopback(b_port));
  std::string state = "healthy";
  PeerSource peers = [&] {
    v1::PeerStatus peer;
    peer.set_node_id(ca.node_id());
    peer.set_address(loopback(b_port));
    peer.set_state(state);
    peer.set_rtt_ms(0.25);
    return std::vector<v1::PeerStatus>{peer};
  };
  TelemetryNode a_node(a.config_dir(), a.node_id(), peers);
  a_node.poller.poll_once();
  ClusterView view = a_node.aggregator.view();
  ASSERT_EQ(view.nodes.size(), 2u);
  EXPECT_EQ(view.nodes[0].latest.node_id, a.node_id());
  const NodeView* b = view.find(ca.node_id());
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->latest.address, loopback(b_port));
  EXPECT_EQ(b->latest.metrics.size(), crossgpu::testing::devices().size());
  const auto links = a_node.poller.links();
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(*links[0].rtt_ms.value, 0.25);
  ASSERT_TRUE(links[0].bytes_per_s.available()) << links[0].bytes_per_s.source;
  EXPECT_GT(*links[0].bytes_per_s.value, 1e6);
  EXPECT_EQ(links[0].probe_bytes, 8u << 20);

  // A lost peer stays in the view with its last telemetry, marked lost.
  state = "lost";
  a_node.poller.poll_once();
  EXPECT_EQ(a_node.aggregator.view().find(ca.node_id())->latest.state, "lost");
}

}  // namespace
}  // namespace crossgpu::telemetry
