// `crossgpu node --http` as real processes on loopback: two nodes watch each other, and the
// HTTP endpoint of one serves the cluster view — Prometheus text at /metrics, JSON at
// /api/cluster — with both nodes, per-device metrics and the measured link between them;
// `crossgpu status` prints the same view.
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "support/child_process.hpp"
#include "test_cluster_fixture.hpp"

namespace crossgpu::testing {
namespace {

using Clock = std::chrono::steady_clock;


struct NodeProcess {
  std::unique_ptr<ChildProcess> child;
  int port = 0;
  int http_port = 0;
};

NodeProcess start_node(const std::filesystem::path& config, std::vector<std::string> extra) {
  std::vector<std::string> args = {CROSSGPU_CLI_PATH, "node", "--listen", "127.0.0.1:0",
                                   "--config", config.string(), "--cpu-only", "--no-discovery",
                                   "--telemetry-interval", "200", "--http", "127.0.0.1:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  NodeProcess node{std::make_unique<ChildProcess>(
      args, ChildProcess::Options{.stop_signal = SIGTERM})};
  node.port = number_after(node.child->wait_for("listening on"), "(port ");
  node.http_port = number_after(node.child->wait_for("telemetry: http://"), "127.0.0.1:");
  return node;
}

// Polls /api/cluster until `ready` holds or 60 s pass (profiling and the first probe take time).
nlohmann::json wait_for_view(httplib::Client& http, const std::function<bool(const nlohmann::json&)>& ready) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  nlohmann::json view;
  while (Clock::now() < deadline) {
    if (auto res = http.Get("/api/cluster"); res && res->status == 200) {
      EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
      view = nlohmann::json::parse(res->body);
      if (ready(view)) return view;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ADD_FAILURE() << "the view never became ready: " << view.dump(1);
  return view;
}

const nlohmann::json* link_with_bandwidth(const nlohmann::json& node) {
  for (const auto& link : node["links"]) {
    if (link["bytes_per_s"]["available"].get<bool>() && link["rtt_ms"]["available"].get<bool>()) return &link;
  }
  return nullptr;
}

TEST(TelemetryNode, HttpServesTheClusterViewAsPrometheusAndJson) {
  TestCluster cluster;
  NodeProcess a = start_node(cluster.ca_dir(), {});
  const net::NodeIdentity b_identity = cluster.join(net::Role::compute, loopback(a.port));
  NodeProcess b = start_node(b_identity.config_dir(), {"--peer", loopback(a.port), "--no-profile"});

  httplib::Client http("127.0.0.1", b.http_port);
  const nlohmann::json view = wait_for_view(http, [](const nlohmann::json& v) {
    return v["nodes"].size() == 2 && link_with_bandwidth(v["nodes"][0]) != nullptr &&
           v["nodes"][1]["devices"].size() == 1 && v["nodes"][1]["devices"][0]["self_test"] == "passed";
  });
  ASSERT_EQ(view["nodes"].size(), 2u);
  const auto& self = view["nodes"][0];
  const auto& peer = view["nodes"][1];
  EXPECT_TRUE(self["self"].get<bool>());
  EXPECT_EQ(self["node_id"], b_identity.node_id());
  EXPECT_EQ(peer["state"], "healthy");
  EXPECT_EQ(peer["address"], loopback(a.port));
  EXPECT_EQ(self["devices"][0]["self_test"], "not run");  // --no-profile
  ASSERT_TRUE(peer["devices"][0]["profile"].is_object());  // a profiled and self-tested itself
  EXPECT_GT(peer["devices"][0]["profile"]["matmul_f32_flops"].get<double>(), 0);
  EXPECT_TRUE(peer["devices"][0]["metrics"]["memory_total_bytes"]["available"].get<bool>());
  EXPECT_GE(peer["devices"][0]["history"].size(), 1u);
  const nlohmann::json& link = *link_with_bandwidth(self);
  EXPECT_EQ(link["peer_node_id"], peer["node_id"]);
  EXPECT_GT(link["bytes_per_s"]["value"].get<double>(), 1e6);
  EXPECT_EQ(link["probe_bytes"], 8u << 20);

  auto res = http.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->get_header_value("Content-Type").find("text/plain; version=0.0.4"), std::string::npos);
  const std::string peer_id = peer["node_id"].get<std::string>();
  const std::string self_id = self["node_id"].get<std::string>();
  std::istringstream lines(res->body);
  std::string line, family_typed;
  int samples = 0;
  bool peer_memory = false, link_bandwidth = false, run_requests = false;
  const std::regex sample(R"(^(crossgpu_[a-z0-9_]+)\{([^}]*)\} (\S+)$)");
  while (std::getline(lines, line)) {
    std::smatch m;
    if (line.rfind("# TYPE ", 0) == 0) {
      family_typed = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    EXPECT_EQ(m[1].str(), family_typed) << "sample outside its family: " << line;
    EXPECT_NO_THROW(std::stod(m[3].str())) << line;
    ++samples;
    peer_memory |= m[1] == "crossgpu_device_memory_total_bytes" && m[2].str().find(peer_id) != std::string::npos;
    link_bandwidth |= m[1] == "crossgpu_link_bandwidth_bytes_per_second" &&
                      m[2].str() == "node=\"" + self_id + "\",peer=\"" + peer_id + "\"";
    run_requests |= m[1] == "crossgpu_node_requests_total" && m[2].str() == "kind=\"run\"";
  }
  EXPECT_GT(samples, 5);
  EXPECT_TRUE(peer_memory);
  EXPECT_TRUE(link_bandwidth);
  EXPECT_TRUE(run_requests) << "the node's request counters are on /metrics";
  EXPECT_EQ(http.Get("/nothing-here")->status, 404);

  // `crossgpu status` against node b shows the per-device telemetry table.
  ChildProcess status({CROSSGPU_CLI_PATH, "status", "--node", loopback(b.port), "--config",
                       b_identity.config_dir().string()});
  const std::string text = status.rest();
  EXPECT_NE(text.find("self-test"), std::string::npos) << text;
  EXPECT_NE(text.find("not run"), std::string::npos) << text;
  EXPECT_NE(text.find("passed"), std::string::npos) << text;
  EXPECT_NE(text.find("n/a"), std::string::npos) << text;  // no battery here
}

TEST(TelemetryNode, ABadHttpAddressStopsTheNodeWithAClearError) {
  TestCluster cluster;
  ChildProcess bad({CROSSGPU_CLI_PATH, "node", "--listen", "127.0.0.1:0", "--config",
                    cluster.ca_dir().string(), "--cpu-only", "--no-discovery", "--no-profile",
                    "--http", "127.0.0.1:notaport"});
  EXPECT_EQ(bad.wait_for("telemetry: http"), "");  // output ended without serving HTTP
}

}  // namespace
}  // namespace crossgpu::testing
