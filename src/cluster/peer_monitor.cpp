#include "cluster/peer_monitor.hpp"

#include "cluster/device_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {
namespace {

std::int64_t unix_seconds_of(liveness::TimePoint seen) {
  const auto age = std::chrono::steady_clock::now() - seen;
  return std::chrono::duration_cast<std::chrono::seconds>(
             (std::chrono::system_clock::now() - age).time_since_epoch())
      .count();
}

}  // namespace

PeerMonitor::PeerMonitor(net::NodeIdentity identity, liveness::LivenessConfig config)
    : identity_(std::move(identity)), tracker_(config), thread_([this] { run(); }) {}

PeerMonitor::~PeerMonitor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PeerMonitor::add(const std::string& address) {
  {
    std::lock_guard lock(mutex_);
    if (peers_.contains(address)) return;
    peers_[address].address = address;
  }
  // Keyed by address: a seed's node id is unknown until it answers Hello.
  tracker_.add_peer(address, address);
  wake_.notify_all();
}

void PeerMonitor::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    for (const liveness::DueAction& action : tracker_.poll()) act(action);
    const auto next = tracker_.next_due();
    lock.lock();
    const auto until = next.value_or(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    wake_.wait_until(lock, until, [this] { return stopping_; });
  }
}

void PeerMonitor::act(const liveness::DueAction& action) {
  if (action.kind == liveness::ActionKind::reconnect) {
    reconnect(action.node_id);
    return;
  }
  std::shared_ptr<NodeConnection> connection;
  {
    std::lock_guard lock(mutex_);
    connection = peers_[action.node_id].connection;
  }
  if (!connection || connection->lost()) {
    tracker_.disconnected(action.node_id);
  } else if (connection->rtt_ms() > 0) {
    tracker_.heartbeat_succeeded(
        action.node_id, std::chrono::microseconds(static_cast<long>(connection->rtt_ms() * 1000)));
  }
}

void PeerMonitor::reconnect(const std::string& key) {
  try {
    auto connection = NodeConnection::open(key, identity_);
    if (connection->node_id() == identity_.node_id() || watched_elsewhere(key, *connection)) {
      tracker_.remove_peer(key);  // this very node, or a node already watched at another address
      return;
    }
    auto devices = connection->list_devices();
    const double rtt = connection->rtt_ms();
    {
      std::lock_guard lock(mutex_);
      Peer& peer = peers_[key];
      peer.node_id = connection->node_id();
      peer.devices = std::move(devices);
      peer.connection = std::move(connection);
    }
    tracker_.heartbeat_succeeded(key, std::chrono::microseconds(static_cast<long>(rtt * 1000)));
  } catch (const Error& e) {
    log::debug("peer {}: {}", key, e.what());
    tracker_.heartbeat_failed(key);
  }
}

bool PeerMonitor::watched_elsewhere(const std::string& key, const NodeConnection& connection) {
  std::lock_guard lock(mutex_);
  for (const auto& [address, peer] : peers_) {
    if (address != key && peer.node_id == connection.node_id()) return true;
  }
  return false;
}

std::vector<v1::PeerStatus> PeerMonitor::status() const {
  std::vector<v1::PeerStatus> out;
  for (const liveness::PeerSnapshot& snapshot : tracker_.snapshot()) {
    v1::PeerStatus status;
    status.set_address(snapshot.address);
    status.set_state(std::string(liveness::state_name(snapshot.state)));
    status.set_rtt_ms(snapshot.rtt_ms.value_or(0));
    if (snapshot.last_seen) status.set_last_seen_unix_seconds(unix_seconds_of(*snapshot.last_seen));
    std::lock_guard lock(mutex_);
    auto it = peers_.find(snapshot.node_id);
    if (it != peers_.end()) {
      status.set_node_id(it->second.node_id);
      for (const DeviceProperties& device : it->second.devices) {
        *status.add_devices() = to_wire(device);
      }
    }
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace crossgpu::cluster
