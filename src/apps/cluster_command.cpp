// `crossgpu cluster init | invite | join | show | remove`. Everything here works on the local
// config folder; the node daemon picks the changes up (invites and removals are read per call).
#include "apps/cluster_command.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/crypto.hpp"
#include "net/files.hpp"
#include "net/security.hpp"

namespace crossgpu::apps {
namespace {

namespace fs = std::filesystem;

// The node daemon's default port (cluster/protocol.hpp, kDefaultPort).
constexpr int default_node_port = 7450;
constexpr std::size_t max_default_addresses = 4;

// "24h", "30m", "7d", "90s" or plain seconds.
std::chrono::seconds parse_duration(const std::string& text) {
  std::size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  const std::string unit = text.substr(used);
  const long long scale = unit.empty() || unit == "s" ? 1
                          : unit == "m"               ? 60
                          : unit == "h"               ? 3600
                          : unit == "d"               ? 86400
                                                      : 0;
  if (value <= 0 || scale == 0 || value > 365LL * 86400) {
    fail(Errc::invalid_argument, "'{}' is not a duration: use e.g. 30m, 24h or 7d", text);
  }
  return std::chrono::seconds(value * scale);
}

// Interfaces an invite should not advertise: container and VM bridges are not reachable by the
// user's other devices.
bool virtual_interface(std::string_view name) {
  for (std::string_view prefix : {"docker", "br-", "veth", "virbr", "lxc", "cni", "flannel"}) {
    if (name.starts_with(prefix)) return true;
  }
  return false;
}

// This machine's LAN IPv4 addresses with the default port; the hostname when there are none.
std::vector<std::string> default_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i && out.size() < max_default_addresses; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
          !(i->ifa_flags & IFF_UP) || virtual_interface(i->ifa_name)) {
        continue;
      }
      char text[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text,
                  sizeof(text));
      out.push_back(fmt::format("{}:{}", text, default_node_port));
    }
    ::freeifaddrs(list);
  }
  if (out.empty()) out.push_back(fmt::format("{}:{}", net::local_hostname(), default_node_port));
  return out;
}

struct Options {
  std::string config;
  std::string name = "crossgpu";
  bool force = false;
  std::string role = "compute";
  std::string valid_for = "24h";
  std::string out;
  std::vector<std::string> addresses;
  std::string token;
  std::string token_file;
  std::string node_name;
  std::string node_id;
};

void run_init(const Options& o) {
  const fs::path dir = net::resolve_config_dir(o.config);
  const net::ClusterCa ca = net::ClusterCa::create(dir, o.name, o.force);
  const net::NodeIdentity me = net::NodeIdentity::load(dir);
  fmt::print("created cluster '{}' in {}\n", ca.name(), dir.string());
  fmt::print("this node: {} (role admin)\n", me.node_id());
  fmt::print("CA fingerprint (SHA-256): {}\n", net::crypto::hex(ca.fingerprint()));
  fmt::print(
      "next: `crossgpu node` to serve, `crossgpu cluster invite --role compute` to add a device\n");
}

void run_invite(const Options& o) {
  const fs::path dir = net::resolve_config_dir(o.config);
  const net::ClusterCa ca = net::ClusterCa::load(dir);
  const std::vector<std::string> addresses =
      o.addresses.empty() ? default_addresses() : o.addresses;
  const std::string token =
      ca.create_invite(net::parse_role(o.role), parse_duration(o.valid_for), addresses).encode();
  if (o.out.empty()) {
    fmt::print("{}\n", token);
  } else {
    // The token admits a device: the file is as private as a key.
    net::write_file_atomic(o.out, token + "\n", net::private_mode);
    fmt::print(stderr, "wrote a {} invite to {}\n", o.role, o.out);
  }
  fmt::print(stderr, "valid for {}, one use, enrolls through {}\n", o.valid_for,
             fmt::join(addresses, ", "));
}

void run_join(const Options& o) {
  const fs::path dir = net::resolve_config_dir(o.config);
  std::string token = o.token;
  if (!o.token_file.empty()) token = net::read_file(o.token_file, 64 * 1024);
  if (token.empty()) fail(Errc::invalid_argument, "give the invite token or --token-file FILE");
  const net::NodeIdentity me = net::join_cluster(
      token, dir, o.node_name.empty() ? net::local_hostname().substr(0, 64) : o.node_name, o.force);
  fmt::print("joined cluster '{}' as node {} with role {}\n", me.cluster_name(), me.node_id(),
             net::to_string(me.role()));
}

void run_show(const Options& o) {
  const fs::path dir = net::resolve_config_dir(o.config);
  const net::NodeIdentity me = net::NodeIdentity::load(dir);
  fmt::print("cluster:        {}\n", me.cluster_name());
  fmt::print("node id:        {}\n", me.node_id());
  fmt::print("role:           {}\n", net::to_string(me.role()));
  fmt::print("certificate:    serial {}\n", me.certificate_serial());
  fmt::print("CA fingerprint: {}\n",
             net::crypto::hex(net::crypto::certificate_fingerprint(me.ca_pem())));
  fmt::print("holds CA key:   {}\n", net::ClusterCa::exists(dir) ? "yes" : "no");
  fmt::print("config folder:  {}\n", dir.string());
}

void run_remove(const Options& o) {
  const fs::path dir = net::resolve_config_dir(o.config);
  const net::NodeIdentity me = net::NodeIdentity::load(dir);
  if (me.role() != net::Role::admin) {
    fail(Errc::invalid_argument, "removing nodes needs role admin; this node has role {}",
         net::to_string(me.role()));
  }
  if (o.node_id == me.node_id()) fail(Errc::invalid_argument, "a node cannot remove itself");
  const bool added = net::RevocationList::revoke(dir, o.node_id);
  fmt::print("{} node {}; every node that watches a peer refuses it within ~10 s per hop\n",
             added ? "removed" : "already removed", o.node_id);
}

void add_config(CLI::App* command, Options& o) {
  command->add_option("--config", o.config,
                      "config folder (default $XDG_CONFIG_HOME/crossgpu or ~/.config/crossgpu)");
}

}  // namespace

void add_cluster_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  Options& o = *options;
  CLI::App* cluster = app.add_subcommand("cluster", "create a cluster, invite and remove devices");
  cluster->require_subcommand(1);

  CLI::App* init =
      cluster->add_subcommand("init", "create a new cluster with this node as its admin");
  init->add_option("--name", o.name, "cluster name (default crossgpu)");
  init->add_flag("--force", o.force,
                 "replace an existing cluster or identity in the config folder");
  add_config(init, o);
  init->callback([options, &exit_code] {
    run_init(*options);
    exit_code = 0;
  });

  CLI::App* invite = cluster->add_subcommand("invite", "print a one-line, one-use join token");
  invite->add_option("--role", o.role, "monitor | compute | admin (default compute)");
  invite->add_option("--valid-for", o.valid_for,
                     "how long the invite works: 30m, 24h, 7d (default 24h)");
  invite->add_option("--out", o.out,
                     "write the token to this file (mode 0600) instead of printing it");
  invite->add_option("--address", o.addresses,
                     "host:port where this node serves enrollment (repeatable; default: this "
                     "machine's LAN addresses, port 7450)");
  add_config(invite, o);
  invite->callback([options, &exit_code] {
    run_invite(*options);
    exit_code = 0;
  });

  CLI::App* join = cluster->add_subcommand("join", "join a cluster with an invite token");
  join->add_option("token", o.token, "the crossgpu-invite-v1:... token");
  join->add_option("--token-file", o.token_file, "read the token from this file");
  join->add_option("--name", o.node_name, "this node's name (default: the hostname)");
  join->add_flag("--force", o.force, "replace this folder's existing identity");
  add_config(join, o);
  join->callback([options, &exit_code] {
    run_join(*options);
    exit_code = 0;
  });

  CLI::App* show = cluster->add_subcommand("show", "this node's identity in the cluster");
  add_config(show, o);
  show->callback([options, &exit_code] {
    run_show(*options);
    exit_code = 0;
  });

  CLI::App* remove = cluster->add_subcommand(
      "remove", "revoke a node (run on the CA node: the signed list spreads to every node)");
  remove->add_option("node_id", o.node_id, "the node id to remove")->required();
  add_config(remove, o);
  remove->callback([options, &exit_code] {
    run_remove(*options);
    exit_code = 0;
  });
}

}  // namespace crossgpu::apps
