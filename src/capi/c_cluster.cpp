// The cluster part of the C ABI: cluster init/invite/join/remove on a config folder, status,
// in-process nodes and remote devices added to a registry. Thin: each function is one call into
// the net and cluster layers, which check and explain everything (docs/SECURITY.md).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "capi/capi_support.hpp"
#include "cluster/node_connection.hpp"
#include "cluster/node_server.hpp"
#include "cluster/remote_device.hpp"
#include "cluster/remote_node.hpp"
#include "crossgpu/v1/node.pb.h"
#include "net/security.hpp"

namespace crossgpu::capi {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t max_invite_seconds = 365ull * 86400;

// Nodes live until cg_node_stop. The table is never destroyed: a server still running at exit
// must not be torn down by static destructors while gRPC's threads run.
HandleTable<std::shared_ptr<cluster::NodeServer>>& nodes() {
  static auto* table = new HandleTable<std::shared_ptr<cluster::NodeServer>>("node");
  return *table;
}

fs::path config_dir(const char* dir) { return net::resolve_config_dir(dir == nullptr ? "" : dir); }

net::Role role_of(int role) {
  switch (role) {
    case CG_ROLE_MONITOR: return net::Role::monitor;
    case CG_ROLE_COMPUTE: return net::Role::compute;
    case CG_ROLE_ADMIN: return net::Role::admin;
    default: fail(Errc::invalid_argument, "unknown role {} (CG_ROLE_MONITOR, _COMPUTE or _ADMIN)", role);
  }
}

// "a:1, b:2" -> {"a:1", "b:2"}; an empty entry is a mistake worth reporting.
std::vector<std::string> split_addresses(const char* text) {
  const std::string all = required_text(text, "addresses (host:port of a node serving the CA)");
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= all.size()) {
    const std::size_t comma = std::min(all.find(',', start), all.size());
    std::string item = all.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) fail(Errc::invalid_argument, "addresses '{}' has an empty entry", all);
    out.push_back(item);
    start = comma + 1;
  }
  return out;
}

nlohmann::json identity_json(const fs::path& dir) {
  const net::NodeIdentity me = net::NodeIdentity::load(dir);
  return {{"cluster", me.cluster_name()},
          {"node_id", me.node_id()},
          {"role", std::string(net::to_string(me.role()))},
          {"holds_ca", net::ClusterCa::exists(dir)},
          {"config_dir", dir.string()}};
}

std::uint64_t free_bytes(const v1::DeviceInfo& device) {
  std::uint64_t total = 0;
  for (const auto& heap : device.heaps()) {
    if (heap.device_local()) total += heap.free_bytes();
  }
  return total;
}

nlohmann::json devices_json(const google::protobuf::RepeatedPtrField<v1::DeviceInfo>& list) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : list) {
    out.push_back({{"id", d.id()}, {"name", d.name()}, {"type", d.type()}, {"backend", d.backend()},
                   {"free_bytes", free_bytes(d)}});
  }
  return out;
}

// The node at `address` and the peers it watches, as `crossgpu status --json` shows them.
nlohmann::json nodes_json(const net::NodeIdentity& identity, const std::string& address) {
  cluster::ConnectionOptions options;
  options.heartbeat_interval = std::chrono::milliseconds(50);
  auto node = cluster::NodeConnection::open(address, identity, options);
  const v1::StatusResponse status = node->status();
  // One heartbeat round trip gives this connection's RTT.
  for (int i = 0; i < 20 && node->rtt_ms() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  nlohmann::json nodes = nlohmann::json::array();
  nodes.push_back({{"node_id", status.node_id()}, {"address", address}, {"state", "healthy"},
                   {"rtt_ms", node->rtt_ms()}, {"devices", devices_json(status.devices())}, {"self", true}});
  for (const auto& peer : status.peers()) {
    nodes.push_back({{"node_id", peer.node_id()}, {"address", peer.address()}, {"state", peer.state()},
                     {"rtt_ms", peer.rtt_ms()}, {"last_seen_unix_seconds", peer.last_seen_unix_seconds()},
                     {"devices", devices_json(peer.devices())}, {"self", false}});
  }
  node->close();
  return nodes;
}

// The registry's own hardware: a node never re-serves another node's devices.
std::vector<std::shared_ptr<Device>> local_devices(RegistryEntry& entry) {
  std::lock_guard lock(entry.mutex);
  std::vector<std::shared_ptr<Device>> out;
  for (const auto& d : entry.registry.devices()) {
    if (!remote_location(*d)) out.push_back(d);
  }
  if (out.empty()) fail(Errc::invalid_argument, "the registry has no local device to serve");
  return out;
}

}  // namespace

std::optional<RemoteLocation> remote_location(const Device& device) {
  const auto* remote = dynamic_cast<const cluster::RemoteDevice*>(&device);
  if (remote == nullptr) return std::nullopt;
  return RemoteLocation{remote->node().node_id(), remote->node().address(), remote->remote_id()};
}

}  // namespace crossgpu::capi

using namespace crossgpu;
using namespace crossgpu::capi;

extern "C" {

cg_status cg_cluster_init(const char* dir, const char* name, int force) {
  return guarded([&] { net::ClusterCa::create(config_dir(dir), name == nullptr ? "crossgpu" : name, force != 0); });
}

cg_status cg_cluster_invite(const char* dir, int role, uint64_t valid_for_seconds, const char* addresses, char* out,
                            size_t capacity, size_t* needed) {
  return guarded([&] {
    const net::Role granted = role_of(role);
    if (valid_for_seconds == 0 || valid_for_seconds > max_invite_seconds) {
      fail(Errc::invalid_argument, "valid_for_seconds {} is not in 1..{} (one year)", valid_for_seconds,
           max_invite_seconds);
    }
    const std::vector<std::string> endpoints = split_addresses(addresses);
    // Checked before the invite is recorded, so a too-small buffer leaves no unusable invite behind.
    static_assert(CG_INVITE_TOKEN_CAPACITY == net::InviteToken::max_text_bytes + 1);
    if (out == nullptr || capacity < CG_INVITE_TOKEN_CAPACITY) {
      if (needed != nullptr) *needed = CG_INVITE_TOKEN_CAPACITY;
      fail(Errc::out_of_range, "the invite token needs a buffer of CG_INVITE_TOKEN_CAPACITY ({}) bytes, got {}",
           CG_INVITE_TOKEN_CAPACITY, out ? capacity : 0);
    }
    const net::ClusterCa ca = net::ClusterCa::load(config_dir(dir));
    const std::string token =
        ca.create_invite(granted, std::chrono::seconds(valid_for_seconds), endpoints).encode();
    write_text(token, out, capacity, needed, "the invite token");
  });
}

cg_status cg_cluster_join(const char* dir, const char* token, const char* node_name, int force) {
  return guarded([&] {
    const std::string text = required_text(token, "the invite token");
    const std::string name = node_name == nullptr ? net::local_hostname().substr(0, 64) : std::string(node_name);
    net::join_cluster(text, config_dir(dir), name, force != 0);
  });
}

cg_status cg_cluster_remove(const char* dir, const char* node_id) {
  return guarded([&] {
    const std::string id = required_text(node_id, "the node id");
    const fs::path folder = config_dir(dir);
    const net::NodeIdentity me = net::NodeIdentity::load(folder);
    if (me.role() != net::Role::admin) {
      fail(Errc::permission_denied, "removing nodes needs role admin; this node has role {}", net::to_string(me.role()));
    }
    if (id == me.node_id()) fail(Errc::invalid_argument, "a node cannot remove itself");
    net::RevocationList::revoke(folder, id);
  });
}

cg_status cg_cluster_status_json(const char* dir, const char* address, char* out, size_t capacity, size_t* needed) {
  return guarded([&] {
    const fs::path folder = config_dir(dir);
    nlohmann::json report = {{"identity", identity_json(folder)}};
    if (address != nullptr) {
      report["nodes"] = nodes_json(net::NodeIdentity::load(folder), required_text(address, "the node address"));
    }
    write_text(report.dump(), out, capacity, needed, "the status JSON");
  });
}

cg_status cg_node_start(const char* dir, const char* listen_address, cg_registry registry, uint64_t quota_bytes,
                        cg_node* out) {
  return guarded([&] {
    auto& slot = require(out, "cg_node_start");
    cluster::NodeServerOptions options;
    options.config_dir = config_dir(dir);
    options.listen_address = required_text(listen_address, "the listen address");
    options.limits.quota_bytes = quota_bytes;
    auto server = std::make_shared<cluster::NodeServer>(local_devices(*registries().get(registry)), options);
    server->start();
    slot = nodes().add(std::move(server));
  });
}

cg_status cg_node_port(cg_node node, int* out) {
  return guarded([&] { require(out, "cg_node_port") = nodes().get(node)->port(); });
}

cg_status cg_node_id(cg_node node, char* out, size_t capacity, size_t* needed) {
  return guarded([&] { write_text(nodes().get(node)->node_id(), out, capacity, needed, "the node id"); });
}

cg_status cg_node_stop(cg_node node) {
  return guarded([&] { nodes().take(node)->shutdown(std::chrono::seconds(2)); });
}

cg_status cg_registry_connect(cg_registry registry, const char* dir, const char* address, size_t* added) {
  return guarded([&] {
    const auto entry = registries().get(registry);
    const std::string target = required_text(address, "the node address (host:port)");
    const net::NodeIdentity identity = net::NodeIdentity::load(config_dir(dir));
    const auto node = cluster::RemoteNode::connect(target, identity);
    std::lock_guard lock(entry->mutex);
    // All or nothing: a node already connected adds no second copy of any device.
    for (const auto& device : node->devices()) {
      for (const auto& present : entry->registry.devices()) {
        if (present->id() == device->id()) {
          fail(Errc::invalid_argument, "device {} of node {} is already in the registry", device->id(), target);
        }
      }
    }
    for (const auto& device : node->devices()) entry->registry.add(device);
    if (added != nullptr) *added = node->devices().size();
  });
}

}  // extern "C"
