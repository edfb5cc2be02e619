// The cluster view without a network: the history ring, the aggregator, thermal state from trip
// points, the Prometheus and JSON exporters, the sampler on fixture sysfs trees and this
// machine's devices, and the placement inputs built from a view (self-test failures excluded).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "sched/from_telemetry.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "telemetry/cluster_json.hpp"
#include "telemetry/prometheus.hpp"
#include "telemetry/sampler.hpp"
#include "telemetry/thermal.hpp"

namespace crossgpu::telemetry {
namespace {
namespace fs = std::filesystem;
using crossgpu::testing::throws_errc;

DeviceProfile profile(const std::string& id, double flops, double bytes_per_s, bool passed = true) {
  DeviceProfile p;
  p.device_id = id;
  p.device_name = id;
  p.driver_version = "1.0";
  p.matmul_f32_flops = flops;
  p.matvec_f32_bytes_per_s = bytes_per_s;
  p.self_test_passed = passed;
  if (!passed) p.self_test_notes = {"matmul: 17 of 4096 outputs differ (max rel error 3.2e+01)"};
  return p;
}

DeviceMetrics metrics(const std::string& id, std::uint64_t free_bytes) {
  DeviceMetrics m;
  m.device_id = id;
  m.memory_total_bytes = Measured<std::uint64_t>::of(free_bytes * 2, "device heaps");
  m.memory_free_bytes = Measured<std::uint64_t>::of(free_bytes, "vulkan memory budget");
  m.memory_used_bytes = Measured<std::uint64_t>::of(free_bytes, "vulkan memory budget");
  m.memory_budget_bytes = Measured<std::uint64_t>::unavailable("no VK_EXT_memory_budget");
  m.temperature_c = Measured<double>::of(55.0, "nvml");
  m.power_w = Measured<double>::unavailable("no sensor for this device");
  m.busy_fraction = Measured<double>::of(0.25, "nvml");
  m.clock_mhz = Measured<double>::unavailable("no sensor for this device");
  return m;
}

DeviceRegistration registered(const std::string& id, std::optional<DeviceProfile> p) {
  DeviceRegistration r;
  r.device_id = id;
  r.name = "gpu " + id;
  r.profile_status = p ? "measured" : "waiting to be profiled";
  if (p) apply_profile(r, *p, "measured");
  return r;
}

LinkMetrics link_to(const std::string& peer, double rtt_ms, double bytes_per_s) {
  LinkMetrics l;
  l.peer_node_id = peer;
  l.rtt_ms = Measured<double>::of(rtt_ms, "heartbeats");
  l.bytes_per_s = Measured<double>::of(bytes_per_s, "timed probe write");
  return l;
}

NodeTelemetry node(const std::string& id, std::uint64_t sequence) {
  NodeTelemetry t;
  t.node_id = id;
  t.state = "healthy";
  t.sequence = sequence;
  t.sampled_unix_nanos = static_cast<std::int64_t>(sequence) * 1'000'000'000;
  t.host.battery_level = Measured<double>::unavailable("no battery");
  t.host.charging = Measured<bool>::unavailable("no battery status");
  t.host.on_mains = Measured<bool>::unavailable("no mains supply reported");
  t.host.max_temperature_c = Measured<double>::unavailable("no thermal zones");
  t.host.thermal_state = Measured<ThermalState>::unavailable("no thermal zone has trip points");
  return t;
}

TEST(History, KeepsTheLatestSamplesOldestFirst) {
  History<int> history(3);
  for (int i = 1; i <= 2; ++i) history.push(i);
  EXPECT_EQ(history.items(), (std::vector<int>{1, 2}));
  for (int i = 3; i <= 7; ++i) history.push(i);
  EXPECT_EQ(history.items(), (std::vector<int>{5, 6, 7}));
  EXPECT_EQ(history.size(), 3u);
  EXPECT_TRUE(throws_errc([] { History<int> bad(0); }, Errc::invalid_argument));
}

TEST(ClusterAggregator, KeepsSelfFirstDeduplicatesSamplesAndRestartsHistory) {
  ClusterAggregator aggregator("self", 4);
  EXPECT_TRUE(throws_errc([&] { aggregator.self(); }, Errc::not_found));
  for (std::uint64_t seq : {1, 2, 2, 3, 4, 5, 6}) {
    NodeTelemetry t = node("peer", seq);
    t.metrics.push_back(metrics("d", 100 + seq));
    aggregator.update(t);
  }
  NodeTelemetry self = node("self", 1);
  self.metrics.push_back(metrics("d", 1));
  aggregator.update(self);
  ClusterView view = aggregator.view();
  ASSERT_EQ(view.nodes.size(), 2u);
  EXPECT_TRUE(view.nodes[0].self);
  EXPECT_EQ(view.self()->latest.node_id, "self");
  const auto& samples = view.find("peer")->history.at(0).samples;
  ASSERT_EQ(samples.size(), 4u);  // capacity 4, the repeated sequence 2 counted once
  EXPECT_EQ(*samples.front().metrics.memory_free_bytes.value, 103u);
  EXPECT_EQ(*samples.back().metrics.memory_free_bytes.value, 106u);

  aggregator.update(node("peer", 1));  // restarted: its history starts over
  EXPECT_TRUE(aggregator.view().find("peer")->history.empty());
  aggregator.set_state("peer", "lost");
  EXPECT_EQ(aggregator.view().find("peer")->latest.state, "lost");
  aggregator.forget("peer");
  EXPECT_EQ(aggregator.view().find("peer"), nullptr);
}

class ThermalFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("crossgpu-thermal-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void zone(int index, const std::string& type, int milli,
            std::vector<std::pair<std::string, int>> trips) {
    const fs::path dir = root_ / "class/thermal" / ("thermal_zone" + std::to_string(index));
    fs::create_directories(dir);
    std::ofstream(dir / "type") << type << "\n";
    std::ofstream(dir / "temp") << milli << "\n";
    for (std::size_t i = 0; i < trips.size(); ++i) {
      std::ofstream(dir / ("trip_point_" + std::to_string(i) + "_type")) << trips[i].first << "\n";
      std::ofstream(dir / ("trip_point_" + std::to_string(i) + "_temp")) << trips[i].second << "\n";
    }
  }
  ThermalState state() {
    const auto m = thermal_state_of(read_thermal_zones(root_));
    EXPECT_TRUE(m.available()) << m.source;
    return m.value.value_or(ThermalState::nominal);
  }
  fs::path root_;
};

TEST_F(ThermalFixture, StateFollowsTheZonesOwnTripPoints) {
  zone(0, "cpu", 50000, {{"passive", 95000}, {"critical", 105000}});
  zone(1, "gpuss-0", 40000, {{"active", 60000}, {"passive", 80000}, {"hot", 100000}});
  EXPECT_EQ(state(), ThermalState::nominal);
  zone(1, "gpuss-0", 72000, {{"active", 60000}, {"passive", 80000}, {"hot", 100000}});
  EXPECT_EQ(state(), ThermalState::fair);
  zone(0, "cpu", 96000, {{"passive", 95000}, {"critical", 105000}});
  EXPECT_EQ(state(), ThermalState::serious);
  zone(1, "gpuss-0", 101000, {{"active", 60000}, {"passive", 80000}, {"hot", 100000}});
  EXPECT_EQ(state(), ThermalState::critical);
  EXPECT_NE(thermal_state_of(read_thermal_zones(root_)).source.find("gpuss-0"), std::string::npos);
}

TEST_F(ThermalFixture, ZonesWithoutTripPointsGiveNoStateNotNominal) {
  zone(0, "acpitz", 45000, {});
  zone(1, "x86_pkg_temp", 50000, {{"passive", 0}});  // a disabled trip
  const auto m = thermal_state_of(read_thermal_zones(root_));
  EXPECT_FALSE(m.available());
  EXPECT_FALSE(m.source.empty());
  Collector collector(root_, false);
  EXPECT_FALSE(collector.collect_host().thermal_state.available());
}

ClusterView two_node_view() {
  ClusterAggregator aggregator("self");
  NodeTelemetry self = node("self", 1);
  self.devices = {registered("gpu0", profile("gpu0", 2e12, 4e11)),
                  registered("bad", profile("bad", 9e12, 9e11, /*passed=*/false))};
  self.metrics = {metrics("gpu0", 8ull << 30), metrics("bad", 8ull << 30)};
  self.links = {link_to("peer", 2.0, 1e9)};
  NodeTelemetry peer = node("peer", 7);
  peer.address = "10.0.0.2:7450";
  peer.devices = {registered("phone", profile("phone", 1e11, 3e10)), registered("new", std::nullopt)};
  peer.metrics = {metrics("phone", 2ull << 30), metrics("new", 1ull << 30)};
  peer.host.battery_level = Measured<double>::of(0.6, "power_supply battery");
  peer.host.charging = Measured<bool>::of(false, "power_supply battery");
  peer.host.on_mains = Measured<bool>::of(false, "power_supply usb");
  aggregator.update(self);
  aggregator.update(peer);
  return aggregator.view();
}

// Parses exposition text: every sample's family has HELP and TYPE lines before it.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::set<std::string> typed, helped;
  std::istringstream in(text);
  std::string line;
  const std::regex sample(R"(^([a-z0-9_]+)\{([^}]*)\} ([-+0-9.eE]+|[-+]?inf|nan)$)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) {
      helped.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      EXPECT_NE(line.find(" gauge"), std::string::npos) << line;
    } else if (std::regex_match(line, m, sample)) {
      EXPECT_TRUE(typed.count(m[1]) && helped.count(m[1])) << "no HELP/TYPE before " << line;
      samples[m[1].str() + "{" + m[2].str() + "}"] = std::stod(m[3]);
    } else {
      ADD_FAILURE() << "not exposition format: '" << line << "'";
    }
  }
  return samples;
}

TEST(Prometheus, EmitsOnlyMeasuredValuesWithNodeAndDeviceLabels) {
  const auto samples = parse_prometheus(prometheus_text(two_node_view()));
  EXPECT_EQ(samples.at(R"(crossgpu_device_temperature_celsius{node="self",device="gpu0"})"), 55.0);
  EXPECT_EQ(samples.at(R"(crossgpu_device_busy_ratio{node="peer",device="phone"})"), 0.25);
  EXPECT_EQ(samples.at(R"(crossgpu_device_memory_free_bytes{node="peer",device="phone"})"), double(2ull << 30));
  EXPECT_EQ(samples.at(R"(crossgpu_host_battery_ratio{node="peer"})"), 0.6);
  EXPECT_EQ(samples.at(R"(crossgpu_link_rtt_seconds{node="self",peer="peer"})"), 0.002);
  EXPECT_EQ(samples.at(R"(crossgpu_link_bandwidth_bytes_per_second{node="self",peer="peer"})"), 1e9);
  EXPECT_EQ(samples.at(R"(crossgpu_device_self_test_passed{node="self",device="bad"})"), 0.0);
  EXPECT_EQ(samples.at(R"(crossgpu_node_up{node="peer"})"), 1.0);
  for (const auto& [series, value] : samples) {
    // Power and clock are unavailable everywhere, battery on "self": absent, not 0.
    EXPECT_EQ(series.find("power_watts"), std::string::npos) << series;
    EXPECT_EQ(series.find("clock_hertz"), std::string::npos) << series;
    EXPECT_NE(series, R"(crossgpu_host_battery_ratio{node="self"})");
    EXPECT_NE(series, R"(crossgpu_device_self_test_passed{node="peer",device="new"})");
  }
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(ClusterJson, SaysWhatIsMeasuredAndWhyTheRestIsNot) {
  const nlohmann::json json = nlohmann::json::parse(cluster_json(two_node_view()).dump());
  ASSERT_EQ(json["nodes"].size(), 2u);
  const auto& self = json["nodes"][0];
  EXPECT_TRUE(self["self"].get<bool>());
  const auto& gpu0 = self["devices"][0];
  EXPECT_EQ(gpu0["metrics"]["temperature_c"]["value"], 55.0);
  EXPECT_FALSE(gpu0["metrics"]["power_w"]["available"].get<bool>());
  EXPECT_TRUE(gpu0["metrics"]["power_w"]["value"].is_null());
  EXPECT_EQ(gpu0["metrics"]["power_w"]["source"], "no sensor for this device");
  EXPECT_EQ(gpu0["history"].size(), 1u);
  EXPECT_EQ(self["devices"][1]["self_test"], "failed");
  EXPECT_EQ(self["links"][0]["bytes_per_s"]["value"], 1e9);
  EXPECT_EQ(json["nodes"][1]["host"]["battery_level"]["value"], 0.6);
  EXPECT_TRUE(json["nodes"][1]["devices"][1]["profile"].is_null());
}

TEST(PlacementInputs, ExcludesFailedAndUnprofiledDevicesAndUsesMeasuredLinks) {
  const sched::PlacementInputs in = sched::placement_inputs(two_node_view());
  ASSERT_EQ(in.devices.size(), 2u);
  EXPECT_EQ(in.devices[0].id, "gpu0");
  EXPECT_EQ(in.devices[1].id, "peer/phone");
  EXPECT_DOUBLE_EQ(in.devices[0].flops_per_second, 2e12);
  // The phone is on battery at 60%: scored down, reason recorded.
  EXPECT_LT(in.devices[1].bytes_per_second, 3e10);
  EXPECT_NE(in.scores[1].reason.find("battery"), std::string::npos);
  std::map<std::string, std::string> excluded;
  for (const auto& e : in.excluded) excluded[e.device_id] = e.reason;
  ASSERT_EQ(excluded.size(), 2u);
  EXPECT_NE(excluded.at("bad").find("self-test failed: matmul"), std::string::npos);
  EXPECT_NE(excluded.at("peer/new").find("not profiled"), std::string::npos);
  EXPECT_DOUBLE_EQ(in.links[0][1].latency_seconds, 0.001);
  EXPECT_DOUBLE_EQ(in.links[1][0].bytes_per_second, 1e9);  // measured one way, used both ways
  EXPECT_EQ(in.links[0][0].latency_seconds, 0.0);

  // The inputs are a valid placement problem.
  sched::PlacementProblem problem;
  problem.devices = in.devices;
  problem.links = in.links;
  problem.layers.assign(8, sched::LayerCost{.weight_bytes = 512ull << 20, .kv_bytes_per_token = 4096, .flops_per_token = 1e9, .activation_bytes = 8192});
  const sched::Plan plan = sched::place(problem);
  EXPECT_FALSE(plan.stages.empty());
}

TEST(PlacementInputs, LeavesOutPeersWithoutAMeasuredLinkOrNotHealthy) {
  ClusterAggregator aggregator("self");
  NodeTelemetry self = node("self", 1);
  self.links = {LinkMetrics{"peer", "10.0.0.2:7450"}};  // RTT and bandwidth unavailable
  NodeTelemetry peer = node("peer", 1);
  peer.devices = {registered("gpu", profile("gpu", 1e12, 1e11))};
  peer.metrics = {metrics("gpu", 1ull << 30)};
  NodeTelemetry hot = node("hot", 1);
  hot.state = "suspect";
  hot.devices = {registered("gpu", profile("gpu", 1e12, 1e11))};
  aggregator.update(self);
  aggregator.update(peer);
  aggregator.update(hot);
  const sched::PlacementInputs in = sched::placement_inputs(aggregator.view());
  EXPECT_TRUE(in.devices.empty());
  ASSERT_EQ(in.excluded.size(), 2u);
  for (const auto& e : in.excluded) {
    if (e.device_id == "peer/gpu") {
      EXPECT_NE(e.reason.find("no measured link"), std::string::npos);
    } else {
      EXPECT_EQ(e.device_id, "hot/gpu");
      EXPECT_EQ(e.reason, "node is suspect");
    }
  }
}

TEST(LocalSampler, SamplesEveryDeviceAndRegistersItsProfileAndSelfTest) {
  ClusterAggregator aggregator("self");
  SamplerOptions options;
  options.interval = std::chrono::milliseconds(20);
  options.profile_options.target_seconds_per_measure = 0.002;
  options.profile_options.repetitions = 1;
  std::vector<std::shared_ptr<Device>> devices;
  for (const auto& device : testing::devices()) {
    if (device->properties().backend == Backend::cpu) devices.push_back(device);  // fast to profile
  }
  ASSERT_EQ(devices.size(), 1u);
  LocalSampler sampler(devices, aggregator, options,
                       [] { return std::vector<LinkMetrics>{link_to("peer", 1.0, 2e9)}; });
  sampler.start();
  ASSERT_TRUE(sampler.wait_profiled(std::chrono::seconds(120)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sampler.stop();
  const ClusterView view = aggregator.view();
  const NodeTelemetry& self = view.self()->latest;
  ASSERT_EQ(self.devices.size(), 1u);
  EXPECT_EQ(self.devices[0].self_test, SelfTestStatus::passed) << self.devices[0].self_test_reason;
  ASSERT_TRUE(self.devices[0].profile);
  EXPECT_GT(self.devices[0].profile->matmul_f32_flops, 0);
  EXPECT_EQ(self.devices[0].profile_status, "measured");
  EXPECT_GT(self.sequence, 2u);
  EXPECT_GT(view.self()->history.at(0).samples.size(), 2u);
  EXPECT_TRUE(self.metrics.at(0).memory_free_bytes.available());
  EXPECT_EQ(self.links.at(0).peer_node_id, "peer");

  // Every device of this machine is sampled; without profiling none is trusted for placement.
  LocalSampler off(testing::devices(), aggregator, SamplerOptions{.profile = false});
  const NodeTelemetry t = off.sample_once();
  ASSERT_EQ(t.metrics.size(), testing::devices().size());
  for (const DeviceMetrics& m : t.metrics) EXPECT_TRUE(m.memory_total_bytes.available()) << m.device_id;
  EXPECT_EQ(t.devices.at(0).self_test, SelfTestStatus::not_run);
  EXPECT_NE(t.devices.at(0).profile_status.find("disabled"), std::string::npos);
  EXPECT_TRUE(throws_errc([&] { LocalSampler(devices, aggregator, SamplerOptions{.interval = std::chrono::milliseconds(1)}); },
                          Errc::invalid_argument, "too short"));
}

}  // namespace
}  // namespace crossgpu::telemetry
