#include "test_cluster_fixture.hpp"

#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>

#include "support/test_devices.hpp"

namespace crossgpu::testing {

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("crossgpu-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

namespace {

// Every node this process started through the fixture, by node id, with its cluster's CA: the
// member directory of each (what a node's peer monitor is in a real cluster), so in-process peer
// copies go direct.
struct StartedNodes {
  std::mutex mutex;
  std::map<std::string, std::pair<std::string, std::string>> addresses;  // id -> address, CA
};
StartedNodes& started_nodes() {
  static StartedNodes nodes;
  return nodes;
}

}  // namespace

std::string fixture_member_address(const std::string& ca_pem, const std::string& node_id) {
  StartedNodes& nodes = started_nodes();
  std::lock_guard lock(nodes.mutex);
  const auto it = nodes.addresses.find(node_id);
  if (it == nodes.addresses.end() || it->second.second != ca_pem) return {};
  return it->second.first;
}

TestCluster::TestCluster(const std::string& name) : ca_dir_("ca") {
  net::ClusterCa::create(ca_dir_.path(), name);
}

std::unique_ptr<cluster::NodeServer> TestCluster::start_node(const std::filesystem::path& dir,
                                                             cluster::SessionLimits limits,
                                                             bool data_channel) {
  cluster::NodeServerOptions options;
  options.config_dir = dir;
  options.listen_address = "127.0.0.1:0";
  options.limits = limits;
  options.data_channel = data_channel;
  const std::string ca = net::NodeIdentity::load(dir).ca_pem();
  options.members = [ca](const std::string& node_id) { return fixture_member_address(ca, node_id); };
  auto server = std::make_unique<cluster::NodeServer>(devices(), options);
  server->start();
  StartedNodes& nodes = started_nodes();
  std::lock_guard lock(nodes.mutex);
  nodes.addresses[server->node_id()] = {loopback(server->port()), ca};
  return server;
}

std::unique_ptr<cluster::NodeServer> TestCluster::start_ca_node(cluster::SessionLimits limits) {
  return start_node(ca_dir_.path(), limits);
}

net::NodeIdentity TestCluster::join(net::Role role, const std::string& enroll_address) {
  const net::ClusterCa ca = net::ClusterCa::load(ca_dir_.path());
  const net::InviteToken invite =
      ca.create_invite(role, std::chrono::minutes(10), {enroll_address});
  joined_.push_back(std::make_unique<TempDir>("node"));
  return net::join_cluster(invite.encode(), joined_.back()->path(), "test-node");
}

}  // namespace crossgpu::testing
