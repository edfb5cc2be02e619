// `crossgpu node`: serve this machine's devices to the cluster until SIGINT/SIGTERM. With
// --join TOKEN it first enrolls with an invite, then serves. The listener is mutual TLS with the
// node's identity; there is no plaintext mode.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "apps/commands.hpp"
#include "apps/device_options.hpp"
#include "cluster/node_server.hpp"
#include "cluster/peer_monitor.hpp"
#include "crossgpu/v1/node.pb.h"
#include "core/error.hpp"
#include "core/log.hpp"
#include "device/registry.hpp"
#include "net/security.hpp"

namespace crossgpu::apps {
namespace {

struct NodeOptions {
  std::string listen = "0.0.0.0:7450";
  std::string advertise;
  std::string config;
  std::string quota;
  std::string join;
  std::string name;
  std::size_t max_sessions = 256;
  std::vector<std::string> peers;
  DeviceOptions devices;
};

// "4GiB", "512MiB", "100M", "123" -> bytes. Errc::invalid_argument for anything else.
std::uint64_t parse_bytes(const std::string& text) {
  std::size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    fail(Errc::invalid_argument, "--quota '{}' is not a size (try 4GiB or 512MiB)", text);
  }
  const std::string unit = text.substr(end);
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "K" || unit == "KiB") scale = 1024.0;
  if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (scale == 0 || value < 0) {
    fail(Errc::invalid_argument, "--quota '{}': unknown unit '{}' (B, KiB, MiB, GiB, TiB)", text,
         unit);
  }
  return static_cast<std::uint64_t>(value * scale);
}

// Blocks SIGINT/SIGTERM in every thread (gRPC's threads inherit the mask), so the main thread
// alone receives them through sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int run_node(const NodeOptions& options) {
  log::init_from_env();
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
  server_options.limits.quota_bytes = options.quota.empty() ? 0 : parse_bytes(options.quota);
  server_options.limits.max_sessions = options.max_sessions;
  // Other nodes this node watches (heartbeats, state, RTT) for `crossgpu status`.
  auto monitor = std::make_shared<cluster::PeerMonitor>(net::NodeIdentity::load(config));
  for (const std::string& peer : options.peers) monitor->add(peer);
  server_options.peers = [monitor] { return monitor->status(); };
  cluster::NodeServer server(options.devices.select(registry), server_options);
  server.start();
  std::printf("node %s listening on %s (port %d), %zu device(s), quota %s per session\n",
              server.node_id().c_str(), options.listen.c_str(), server.port(),
              registry.devices().size(),
              server_options.limits.quota_bytes == 0
                  ? "unlimited"
                  : format_bytes(server_options.limits.quota_bytes).c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  std::printf("%s: stopping (draining calls, freeing sessions)\n",
              signal == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stdout);
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
  command->add_option("--join", options->join, "enroll with this invite token first");
  command->add_option("--name", options->name, "node name when joining (default: hostname)");
  options->devices.add_to(*command, true);
  command->callback([options, &exit_code] { exit_code = run_node(*options); });
}

}  // namespace crossgpu::apps
