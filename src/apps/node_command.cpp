// `crossgpu node`: serve this machine's devices to the cluster until SIGINT/SIGTERM. With
// --join TOKEN it first enrolls with an invite, then serves. The listener is mutual TLS with the
// node's identity; there is no plaintext mode. The node also samples telemetry, polls its peers'
// telemetry into a cluster view (served by the Telemetry service) and, with --http, serves
// /metrics and /api/cluster on loopback.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "apps/commands.hpp"
#include "apps/stop_signals.hpp"
#include "apps/device_options.hpp"
#include "cluster/node_server.hpp"
#include "cluster/peer_monitor.hpp"
#include "crossgpu/v1/node.pb.h"
#include "core/error.hpp"
#include "core/log.hpp"
#include "device/registry.hpp"
#include "net/descriptor_limit.hpp"
#include "net/discovery/discovery.hpp"
#include "net/security.hpp"
#include "serve/dashboard_read_only.hpp"
#include "telemetry/sampler.hpp"
#include "telemetry/service/http_exporter.hpp"
#include "telemetry/service/peer_poller.hpp"
#include "telemetry/service/telemetry_service.hpp"

namespace crossgpu::apps {
namespace {

struct NodeOptions {
  std::string listen = "0.0.0.0:7450";
  std::string advertise;
  std::string data_listen;  // empty: next to --listen, a free port
  bool no_data_channel = false;
  std::string config;
  std::string quota;
  std::string join;
  std::string name;
  std::size_t max_sessions = 256;
  std::vector<std::string> peers;
  std::vector<std::string> interfaces;
  bool no_discovery = false;
  std::string discovery_mode = "auto";  // auto | daemon | embedded
  std::string http;  // empty: no HTTP endpoint
  bool http_allow_remote = false;
  unsigned telemetry_interval_ms = telemetry::kDefaultInterval.count();
  bool no_profile = false;
  std::string weight_cache;              // empty: the default folder
  std::string weight_cache_limit = "8GiB";
  DeviceOptions devices;
};

// Where device profiles are cached: $CROSSGPU_CACHE_DIR, $XDG_CACHE_HOME/crossgpu or
// ~/.cache/crossgpu, then profiles/. Empty (profile at every start) when none is set.
std::filesystem::path profile_cache_dir() {
  for (const auto& [variable, suffix] : {std::pair{"CROSSGPU_CACHE_DIR", ""},
                                         std::pair{"XDG_CACHE_HOME", "/crossgpu"},
                                         std::pair{"HOME", "/.cache/crossgpu"}}) {
    if (const char* value = std::getenv(variable); value && *value) {
      return std::filesystem::path(std::string(value) + suffix) / "profiles";
    }
  }
  return {};
}

// Telemetry of this node and its view of the cluster: sampled locally, peers polled, served by
// the Telemetry service and, when asked, over HTTP. Members stop in reverse order.
struct TelemetryStack {
  TelemetryStack(const NodeOptions& options, const net::NodeIdentity& identity,
                 const std::vector<std::shared_ptr<Device>>& devices,
                 std::shared_ptr<cluster::PeerMonitor> monitor)
      : interval(options.telemetry_interval_ms),
        aggregator(identity.node_id()),
        poller(identity, aggregator, [monitor] { return monitor->status(); },
               telemetry::PollerOptions{.interval = interval}),
        sampler(devices, aggregator, sampler_options(options), [this] { return poller.links(); }) {}

  static telemetry::SamplerOptions sampler_options(const NodeOptions& options) {
    telemetry::SamplerOptions o;
    o.interval = std::chrono::milliseconds(options.telemetry_interval_ms);
    o.profile = !options.no_profile;
    o.profile_cache = profile_cache_dir();
    o.node_name = options.name.empty() ? net::local_hostname() : options.name;
    return o;
  }

  // The Telemetry service, registered on the node server's mutual-TLS port.
  cluster::NodeServerOptions::ServiceFactory service() {
    return [this](const net::NodeIdentity&, const net::Authenticator& authenticator) {
      return std::make_unique<telemetry::TelemetryService>(aggregator, authenticator, interval);
    };
  }

  void start(const std::string& http_address, telemetry::HttpExporter::ExtraMetrics extra) {
    sampler.start();
    poller.start();
    if (!http_address.empty()) {
      const auto address = telemetry::parse_http_address(http_address);
      http = std::make_unique<telemetry::HttpExporter>(aggregator, address, std::move(extra),
                                                       serve::read_only_dashboard_files());
      std::printf("telemetry: http://%s:%d/metrics and /api/cluster, dashboard at /\n",
                  address.host.c_str(), http->port());
    }
  }

  void stop() {
    http.reset();
    poller.stop();
    sampler.stop();
  }

  std::chrono::milliseconds interval;
  telemetry::ClusterAggregator aggregator;
  telemetry::PeerPoller poller;
  telemetry::LocalSampler sampler;
  std::unique_ptr<telemetry::HttpExporter> http;
};

// "4GiB", "512MiB", "100M", "123" -> bytes. Errc::invalid_argument for anything else.
std::uint64_t parse_bytes(const std::string& text, const char* flag) {
  std::size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    fail(Errc::invalid_argument, "{} '{}' is not a size (try 4GiB or 512MiB)", flag, text);
  }
  const std::string unit = text.substr(end);
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "K" || unit == "KiB") scale = 1024.0;
  if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (scale == 0 || value < 0) {
    fail(Errc::invalid_argument, "{} '{}': unknown unit '{}' (B, KiB, MiB, GiB, TiB)", flag,
         text, unit);
  }
  return static_cast<std::uint64_t>(value * scale);
}

// "host:port", bracketing IPv6 literals.
std::string join_host_port(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// One address per candidate, so each node is watched once: IPv4 first (no scope to carry), then
// a global IPv6 address, then whatever there is (link-local), then the host name.
std::string preferred_address(const discovery::PeerCandidate& peer) {
  for (const std::string& address : peer.addresses) {
    if (address.find(':') == std::string::npos) return address;
  }
  for (const std::string& address : peer.addresses) {
    if (address.find('%') == std::string::npos) return address;
  }
  return peer.addresses.empty() ? peer.host : peer.addresses.front();
}

// What other devices' browsers show: "name free-memory" per device.
std::string device_summary(const std::vector<std::shared_ptr<Device>>& devices) {
  std::string summary;
  for (const auto& device : devices) {
    if (!summary.empty()) summary += ";";
    const DeviceProperties& props = device->properties();
    summary += props.name + " " + format_bytes(props.device_local_bytes());
  }
  return summary;
}

// Advertises this node as _crossgpu._tcp and hands every candidate (and --peer seed) to the
// monitor, which trusts it only once the mutual TLS handshake and Hello succeed. Without
// discovery (refused, or --no-discovery) the seeds are watched directly.
std::unique_ptr<discovery::Discovery> start_discovery(
    const NodeOptions& options, const std::string& node_id, int port,
    const std::vector<std::shared_ptr<Device>>& devices, cluster::PeerMonitor& monitor) {
  if (!options.no_discovery) {
    discovery::DiscoveryOptions discovery_options;
    discovery_options.port = static_cast<std::uint16_t>(port);
    discovery_options.advertisement.node_id = node_id;
    discovery_options.advertisement.devices = device_summary(devices);
    discovery_options.interfaces.allow = options.interfaces;
    discovery_options.mode = options.discovery_mode == "embedded" ? discovery::DiscoveryMode::embedded
                             : options.discovery_mode == "daemon" ? discovery::DiscoveryMode::daemon
                                                                  : discovery::DiscoveryMode::automatic;
    discovery_options.seeds = discovery::parse_peer_seeds(options.peers);
    try {
      return std::make_unique<discovery::Discovery>(
          discovery_options, [&monitor, node_id](const discovery::PeerEvent& event) {
            const bool self = event.peer.node_id == node_id;
            if (event.kind == discovery::PeerEventKind::lost || self) return;
            const std::string address = preferred_address(event.peer);
            if (!address.empty()) monitor.add(join_host_port(address, event.peer.port));
          });
    } catch (const Error& e) {
      log::warn("discovery is off: {}; watching --peer seeds only", e.what());
    }
  }
  for (const std::string& peer : options.peers) monitor.add(peer);
  return nullptr;
}

int run_node(const NodeOptions& options) {
  log::init_from_env();
  // Refused before anything starts: an unauthenticated endpoint beyond loopback needs a yes.
  if (!options.http.empty()) {
    telemetry::check_http_exposure(telemetry::parse_http_address(options.http),
                                   options.http_allow_remote);
  }
  // Every connection costs descriptors; the node sizes its caps to what it gets here.
  const std::size_t descriptors = net::raise_descriptor_limit();
  log::info("descriptor limit {} ({} for connections)", descriptors, net::descriptor_budget());
  const sigset_t stop = block_stop_signals();
  const std::filesystem::path config = net::resolve_config_dir(options.config);
  if (!options.join.empty()) {
    const net::NodeIdentity joined = net::join_cluster(
        options.join, config, options.name.empty() ? net::local_hostname() : options.name);
    std::printf("joined cluster '%s' as node %s (role %s)\n", joined.cluster_name().c_str(),
                joined.node_id().c_str(), std::string(net::to_string(joined.role())).c_str());
  }
  Registry registry(options.devices.registry_options());
  cluster::NodeServerOptions server_options;
  server_options.config_dir = config;
  server_options.listen_address = options.listen;
  server_options.advertised_address = options.advertise;
  server_options.data_listen_address = options.data_listen;
  server_options.data_channel = !options.no_data_channel;
  server_options.limits.quota_bytes =
      options.quota.empty() ? 0 : parse_bytes(options.quota, "--quota");
  server_options.limits.max_sessions = options.max_sessions;
  server_options.weight_cache.dir = options.weight_cache;
  server_options.weight_cache.limit_bytes =
      parse_bytes(options.weight_cache_limit, "--weight-cache-limit");
  // Other nodes this node watches (heartbeats, state, RTT) for `crossgpu status`.
  const net::NodeIdentity identity = net::NodeIdentity::load(config);
  auto monitor = std::make_shared<cluster::PeerMonitor>(identity);
  server_options.peers = [monitor] { return monitor->status(); };
  // Peer copies go only to members this node watches and verified.
  server_options.members = [monitor](const std::string& node_id) {
    return monitor->address_of(node_id);
  };
  const auto devices = options.devices.select(registry);
  TelemetryStack telemetry(options, identity, devices, monitor);
  server_options.services.push_back(telemetry.service());
  cluster::NodeServer server(devices, server_options);
  server.start();
  const auto discovery =
      start_discovery(options, server.node_id(), server.port(), devices, *monitor);
  std::printf("node %s listening on %s (port %d), %zu device(s), quota %s per session\n",
              server.node_id().c_str(), options.listen.c_str(), server.port(),
              registry.devices().size(),
              server_options.limits.quota_bytes == 0
                  ? "unlimited"
                  : format_bytes(server_options.limits.quota_bytes).c_str());
  telemetry.start(options.http, [&server] { return cluster::prometheus_text(server.call_counts()); });
  std::fflush(stdout);
  std::printf("%s: stopping (draining calls, freeing sessions)\n", wait_for_stop_signal(stop));
  std::fflush(stdout);
  telemetry.stop();
  server.shutdown(std::chrono::seconds(2));
  return 0;
}

}  // namespace

void add_node_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<NodeOptions>();
  CLI::App* command = app.add_subcommand("node", "serve this machine's devices to the cluster");
  command->add_option("--listen", options->listen, "address to listen on (host:port; port 0 "
                                                   "picks a free one)")
      ->capture_default_str();
  command->add_option("--advertise", options->advertise,
                      "host:port other devices use to reach this node (put into invites)");
  command->add_option("--config", options->config,
                      "config folder with the node identity (default ~/.config/crossgpu)");
  command->add_option("--quota", options->quota,
                      "device memory each client session may hold, e.g. 4GiB (default "
                      "unlimited)");
  command->add_option("--max-sessions", options->max_sessions, "client sessions served at once")
      ->capture_default_str();
  command->add_option("--peer", options->peers,
                      "another node to watch, host:port (repeatable)");
  command->add_option("--interface", options->interfaces,
                      "network interface for discovery (repeatable; default: sensible ones, "
                      "not docker0 or loopback)");
  command->add_option("--discovery", options->discovery_mode,
                      "DNS-SD through the avahi-daemon, the embedded responder, or auto (the daemon "
                      "when one runs)")
      ->check(CLI::IsMember({"auto", "daemon", "embedded"}))
      ->capture_default_str();
  command->add_option("--data-listen", options->data_listen,
                      "address of the TLS data channel for bulk writes and reads (host:port; "
                      "default: the --listen host, a free port) — fix it to open it in a firewall");
  command->add_flag("--no-data-channel", options->no_data_channel,
                    "carry writes and reads over gRPC only (slower; one port)");
  command->add_flag("--no-discovery", options->no_discovery,
                    "do not advertise or browse DNS-SD; watch --peer seeds only");
  command->add_option("--http", options->http,
                      "serve /metrics (Prometheus) and /api/cluster (JSON) at host:port; a bare "
                      "port binds 127.0.0.1 (default: off; no authentication: other than loopback "
                      "addresses are refused without --http-allow-remote)");
  command->add_flag("--http-allow-remote", options->http_allow_remote,
                    "let --http bind an address beyond loopback (the endpoint has no "
                    "authentication)");
  command->add_option("--telemetry-interval", options->telemetry_interval_ms,
                      "milliseconds between telemetry samples and peer polls")
      ->capture_default_str()
      ->check(CLI::Range(10u, 3'600'000u));
  command->add_flag("--no-profile", options->no_profile,
                    "do not profile or self-test devices at start (they are then left out of "
                    "placement)");
  command->add_option("--weight-cache", options->weight_cache,
                      "folder of the weight cache, model weights clients sent before, by hash "
                      "(default $CROSSGPU_CACHE_DIR/blobs or ~/.cache/crossgpu/blobs)");
  command->add_option("--weight-cache-limit", options->weight_cache_limit,
                      "bytes the weight cache may take; least recently used blobs go first; 0 "
                      "turns it off")
      ->capture_default_str();
  command->add_option("--join", options->join, "enroll with this invite token first");
  command->add_option("--name", options->name, "this node's name, shown to people (dashboard, status) and sent when joining; "
                      "at most 64 bytes, no control characters (default: hostname)");
  options->devices.add_to(*command, true);
  command->callback([options, &exit_code] { exit_code = run_node(*options); });
}

}  // namespace crossgpu::apps
