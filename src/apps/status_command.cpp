// `crossgpu status`: the cluster as a node sees it (by default the node on this machine): the
// node itself, its devices, and every peer with its address, state, RTT and devices; then the
// node's telemetry view of the cluster: temperature, power, memory, busy and battery per device,
// "n/a" where a value is unavailable.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "apps/commands.hpp"
#include "apps/table.hpp"
#include "cluster/node_connection.hpp"
#include "core/error.hpp"
#include "crossgpu/v1/node.pb.h"
#include "net/security.hpp"
#include "telemetry/cluster_json.hpp"
#include "telemetry/service/snapshot_client.hpp"

namespace crossgpu::apps {
namespace {

struct StatusOptions {
  std::string node = "127.0.0.1:7450";
  std::string config;
  bool json = false;
};

std::uint64_t free_bytes(const v1::DeviceInfo& device) {
  std::uint64_t total = 0;
  for (const auto& heap : device.heaps()) {
    if (heap.device_local()) total += heap.free_bytes();
  }
  return total;
}

nlohmann::json device_json(const v1::DeviceInfo& device) {
  return {{"id", device.id()},         {"name", device.name()},
          {"type", device.type()},     {"backend", device.backend()},
          {"free_bytes", free_bytes(device)}};
}

nlohmann::json status_json(const v1::StatusResponse& status, const std::string& address,
                           double rtt_ms) {
  nlohmann::json nodes = nlohmann::json::array();
  nlohmann::json self = {{"node_id", status.node_id()}, {"address", address},
                         {"state", "healthy"},          {"rtt_ms", rtt_ms},
                         {"devices", nlohmann::json::array()}, {"self", true},
                         {"allocated_bytes", status.allocated_bytes()},
                         {"live_buffers", status.live_buffers()}, {"sessions", status.sessions()}};
  for (const auto& device : status.devices()) self["devices"].push_back(device_json(device));
  nodes.push_back(self);
  for (const auto& peer : status.peers()) {
    nlohmann::json entry = {{"node_id", peer.node_id()}, {"address", peer.address()},
                            {"state", peer.state()},     {"rtt_ms", peer.rtt_ms()},
                            {"last_seen_unix_seconds", peer.last_seen_unix_seconds()},
                            {"devices", nlohmann::json::array()}, {"self", false}};
    for (const auto& device : peer.devices()) entry["devices"].push_back(device_json(device));
    nodes.push_back(entry);
  }
  return {{"nodes", nodes}};
}

std::string device_summary(const nlohmann::json& devices) {
  std::string text;
  for (const auto& device : devices) {
    if (!text.empty()) text += "; ";
    text += device["name"].get<std::string>() + " (" + device["type"].get<std::string>() + ", " +
            format_bytes(device["free_bytes"].get<std::uint64_t>()) + " free)";
  }
  return text.empty() ? "-" : text;
}

void print_table(const nlohmann::json& status) {
  Table table({{"node"}, {"address"}, {"state"}, {"rtt ms", Align::right}, {"devices"}});
  for (const auto& node : status["nodes"]) {
    const std::string id = node["node_id"].get<std::string>().substr(0, 12);
    table.add_row({id + (node["self"].get<bool>() ? " (this)" : ""),
                   node["address"].get<std::string>(), node["state"].get<std::string>(),
                   fmt::format("{:.2f}", node["rtt_ms"].get<double>()),
                   device_summary(node["devices"])});
  }
  std::fputs(table.render().c_str(), stdout);
}

// The node's cluster view over its Telemetry service, or nullopt (with the reason printed to
// stderr) when the node does not serve it.
std::optional<telemetry::ClusterView> fetch_telemetry(const std::string& address,
                                                      const net::NodeIdentity& identity) {
  telemetry::ClusterView view;
  try {
    for (telemetry::NodeTelemetry& node :
         telemetry::fetch_snapshot(identity.connect(address), true, std::chrono::seconds(5))) {
      view.nodes.push_back({std::move(node), view.nodes.empty(), {}});
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "telemetry: %s\n", e.what());
    return std::nullopt;
  }
  return view;
}

template <typename T>
std::string shown(const telemetry::Measured<T>& m, const char* format, double scale = 1) {
  if (!m.value) return "n/a";
  return fmt::format(fmt::runtime(format), static_cast<double>(*m.value) * scale);
}

std::string memory_cell(const telemetry::DeviceMetrics& m) {
  if (!m.memory_used_bytes.value || !m.memory_total_bytes.value) return "n/a";
  return format_bytes(*m.memory_used_bytes.value) + " / " + format_bytes(*m.memory_total_bytes.value);
}

std::string battery_cell(const telemetry::HostMetrics& host) {
  if (!host.battery_level.value) return "n/a";
  const bool charging = host.charging.value.value_or(false);
  return fmt::format("{:.0f}%{}", *host.battery_level.value * 100, charging ? " charging" : "");
}

std::string self_test_cell(const telemetry::DeviceRegistration& r) {
  std::string cell(telemetry::to_string(r.self_test));
  if (r.self_test == telemetry::SelfTestStatus::failed) cell += ": " + r.self_test_reason.substr(0, 40);
  return cell;
}

void print_telemetry(const telemetry::ClusterView& view) {
  Table table({{"node"}, {"device"}, {"temp C", Align::right}, {"power W", Align::right},
               {"memory used", Align::right}, {"busy", Align::right}, {"battery"},
               {"thermal"}, {"self-test"}});
  for (const telemetry::NodeView& node : view.nodes) {
    const telemetry::NodeTelemetry& n = node.latest;
    const std::string thermal = n.host.thermal_state.value
                                    ? std::string(telemetry::to_string(*n.host.thermal_state.value))
                                    : "n/a";
    for (const telemetry::DeviceRegistration& r : n.devices) {
      const telemetry::DeviceMetrics* m = nullptr;
      for (const auto& sample : n.metrics) {
        if (sample.device_id == r.device_id) m = &sample;
      }
      const telemetry::DeviceMetrics none;
      const telemetry::DeviceMetrics& metrics = m ? *m : none;
      // The name is what people know a device by; the id prefix is what tells two apart.
      const std::string node = n.name.empty() ? n.node_id.substr(0, 12) : n.name + " " + n.node_id.substr(0, 8);
      table.add_row({node, r.name, shown(metrics.temperature_c, "{:.0f}"),
                     shown(metrics.power_w, "{:.1f}"), memory_cell(metrics),
                     shown(metrics.busy_fraction, "{:.0f}%", 100), battery_cell(n.host), thermal,
                     self_test_cell(r)});
    }
  }
  std::fputs(table.render().c_str(), stdout);
}

int run_status(const StatusOptions& options) {
  const net::NodeIdentity identity =
      net::NodeIdentity::load(net::resolve_config_dir(options.config));
  cluster::ConnectionOptions connection_options;
  connection_options.heartbeat_interval = std::chrono::milliseconds(50);
  auto node = cluster::NodeConnection::open(options.node, identity, connection_options);
  const v1::StatusResponse status = node->status();
  // One heartbeat round trip gives this connection's RTT.
  for (int i = 0; i < 20 && node->rtt_ms() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  nlohmann::json report = status_json(status, options.node, node->rtt_ms());
  const auto view = fetch_telemetry(options.node, identity);
  if (view) report["telemetry"] = telemetry::cluster_json(*view);
  if (options.json) {
    std::puts(report.dump(2).c_str());
    return 0;
  }
  print_table(report);
  if (view) {
    std::puts("");
    print_telemetry(*view);
  }
  return 0;
}

}  // namespace

void add_status_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* command = app.add_subcommand("status", "the cluster as a node sees it");
  command->add_option("--node", options->node, "the node to ask (host:port)")
      ->capture_default_str();
  command->add_option("--config", options->config,
                      "config folder with this machine's identity (default ~/.config/crossgpu)");
  command->add_flag("--json", options->json, "print JSON instead of a table");
  command->callback([options, &exit_code] { exit_code = run_status(*options); });
}

}  // namespace crossgpu::apps
