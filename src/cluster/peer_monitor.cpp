#include "cluster/peer_monitor.hpp"

#include <grpcpp/grpcpp.h>

#include "cluster/device_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "crossgpu/v1/node.grpc.pb.h"

namespace crossgpu::cluster {
namespace {

std::int64_t unix_seconds_of(liveness::TimePoint seen) {
  const auto age = std::chrono::steady_clock::now() - seen;
  return std::chrono::duration_cast<std::chrono::seconds>(
             (std::chrono::system_clock::now() - age).time_since_epoch())
      .count();
}

// Checked before the thread starts: a throw after it would terminate.
std::chrono::milliseconds positive(std::chrono::milliseconds interval) {
  if (interval <= std::chrono::milliseconds(0)) {
    fail(Errc::invalid_argument, "the revocation poll interval must be positive");
  }
  return interval;
}

}  // namespace

PeerMonitor::PeerMonitor(net::NodeIdentity identity, liveness::LivenessConfig config,
                         std::chrono::milliseconds revocation_interval)
    : identity_(std::move(identity)),
      tracker_(config),
      revocation_interval_(positive(revocation_interval)),
      thread_([this] { run(); }) {}

PeerMonitor::~PeerMonitor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  // Workers end within their connect or call timeout; none starts after stopping_.
  for (auto& [address, peer] : peers_) {
    if (peer.worker.joinable()) peer.worker.join();
  }
}

void PeerMonitor::add(const std::string& address) {
  {
    std::lock_guard lock(mutex_);
    auto it = peers_.find(address);
    if (it != peers_.end() && !it->second.moved) return;
    peers_[address].address = address;
    peers_[address].moved = false;  // seen here again: watch it here again
  }
  // Keyed by address: a seed's node id is unknown until it answers Hello.
  tracker_.add_peer(address, address);
  wake_.notify_all();
}

std::string PeerMonitor::address_of(const std::string& node_id) const {
  std::lock_guard lock(mutex_);
  for (const auto& [address, peer] : peers_) {
    if (!peer.removed && peer.node_id == node_id && peer.connection && !peer.connection->lost()) {
      return address;
    }
  }
  return {};
}

void PeerMonitor::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    for (const liveness::DueAction& action : tracker_.poll()) dispatch(action);
    const auto next = tracker_.next_due();
    lock.lock();
    const auto until = next.value_or(std::chrono::steady_clock::now() + std::chrono::seconds(1));
    wake_.wait_until(lock, until, [this] { return stopping_; });
  }
}

void PeerMonitor::dispatch(const liveness::DueAction& action) {
  std::thread finished;
  {
    std::lock_guard lock(mutex_);
    Peer& peer = peers_[action.node_id];
    if (stopping_ || peer.busy) return;
    peer.busy = true;
    finished = std::move(peer.worker);  // its last action is over: joined below, at once
    peer.worker = std::thread([this, action] {
      act(action);
      std::lock_guard lock(mutex_);
      peers_[action.node_id].busy = false;
    });
  }
  if (finished.joinable()) finished.join();
}

void PeerMonitor::act(const liveness::DueAction& action) {
  if (action.kind == liveness::ActionKind::reconnect) {
    reconnect(action.node_id);
    return;
  }
  std::shared_ptr<NodeConnection> connection;
  {
    std::lock_guard lock(mutex_);
    // An action polled before drop_removed_peers() ran in the same batch: the tracker no
    // longer knows the peer.
    if (peers_[action.node_id].removed) return;
    connection = peers_[action.node_id].connection;
  }
  if (!connection || connection->lost()) {
    tracker_.disconnected(action.node_id);
    return;
  }
  if (connection->rtt_ms() > 0) {
    tracker_.heartbeat_succeeded(
        action.node_id, std::chrono::microseconds(static_cast<long>(connection->rtt_ms() * 1000)));
  }
  fetch_revocations(action.node_id);
}

void PeerMonitor::fetch_revocations(const std::string& key) {
  const auto now = std::chrono::steady_clock::now();
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard lock(mutex_);
    Peer& peer = peers_[key];
    if (now < peer.next_revocation_fetch) return;
    peer.next_revocation_fetch = now + revocation_interval_;
    channel = peer.channel;
  }
  try {
    if (!channel) {
      channel = identity_.connect(key);
      std::lock_guard lock(mutex_);
      peers_[key].channel = channel;
    }
    v1::RevocationsRequest request;
    request.set_have_version(net::load_signed_revocations(identity_.config_dir()).version);
    v1::RevocationsResponse response;
    grpc::ClientContext context;
    // Short: this peer's next heartbeats wait for it (no other peer's do).
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    const grpc::Status status =
        v1::Revocation::NewStub(channel)->GetRevocations(&context, request, &response);
    if (!status.ok()) {
      log::debug("peer {}: GetRevocations: {}", key, status.error_message());
      return;
    }
    if (response.signed_list().empty()) return;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(response.signed_list().data());
    std::unique_lock store(revocation_store_);
    const bool stored = net::accept_signed_revocations(identity_.config_dir(),
                                                       {bytes, response.signed_list().size()}) ==
                        net::RevocationUpdate::stored;
    store.unlock();
    if (stored) {
      log::info("peer {} sent revocation list version {}", key, response.version());
      drop_removed_peers();
    }
  } catch (const std::exception& e) {
    // A forged or damaged list is refused and nothing is stored; the peer is still polled.
    log::warn("peer {} sent a revocation list that was refused: {}", key, e.what());
  }
}

void PeerMonitor::reconnect(const std::string& key) {
  try {
    auto connection = NodeConnection::open(key, identity_);
    const bool removed = is_removed(connection->node_id());
    if (removed) {
      log::warn("not watching node {} at {}: it was removed from the cluster",
                connection->node_id(), key);
      std::lock_guard lock(mutex_);
      peers_[key].removed = true;
    }
    if (removed || connection->node_id() == identity_.node_id() ||
        watched_elsewhere(key, *connection)) {
      tracker_.remove_peer(key);  // this very node, or a node already watched at another address
      return;
    }
    auto devices = connection->list_devices();
    const double rtt = connection->rtt_ms();
    forget_old_addresses(key, connection->node_id());
    {
      std::lock_guard lock(mutex_);
      Peer& peer = peers_[key];
      peer.node_id = connection->node_id();
      peer.devices = std::move(devices);
      peer.connection = std::move(connection);
    }
    tracker_.heartbeat_succeeded(key, std::chrono::microseconds(static_cast<long>(rtt * 1000)));
    {
      // A peer that was away may hold removals made meanwhile: ask at once.
      std::lock_guard lock(mutex_);
      peers_[key].next_revocation_fetch = {};
    }
    fetch_revocations(key);
  } catch (const Error& e) {
    log::debug("peer {}: {}", key, e.what());
    tracker_.heartbeat_failed(key);
  }
}

bool PeerMonitor::is_removed(const std::string& node_id) const {
  try {
    const std::filesystem::path& dir = identity_.config_dir();
    return net::RevocationList::load(dir).is_revoked(node_id, {}) ||
           net::load_signed_revocations(dir).contains(node_id);
  } catch (const Error& e) {
    log::warn("cannot read the revocation lists: {}", e.what());
    return false;
  }
}

void PeerMonitor::drop_removed_peers() {
  std::vector<std::pair<std::string, std::shared_ptr<NodeConnection>>> removed;
  {
    std::lock_guard lock(mutex_);
    for (auto& [address, peer] : peers_) {
      if (peer.connection && is_removed(peer.node_id)) {
        removed.emplace_back(address, std::move(peer.connection));
        peer.devices.clear();
        peer.removed = true;
      }
    }
  }
  // The entry stays in peers_, so add() (discovery, seeds) does not bring the node back.
  for (auto& [address, connection] : removed) {
    log::warn("stopped watching node {} at {}: it was removed from the cluster",
              connection->node_id(), address);
    connection->close();
    tracker_.remove_peer(address);
  }
}

// Only a live connection counts: a node that was lost at its old address and answers at a new
// one (restarted on another port) is watched at the new one.
bool PeerMonitor::watched_elsewhere(const std::string& key, const NodeConnection& connection) {
  std::lock_guard lock(mutex_);
  for (const auto& [address, peer] : peers_) {
    if (address != key && peer.node_id == connection.node_id() && peer.connection && !peer.connection->lost()) {
      return true;
    }
  }
  return false;
}

void PeerMonitor::forget_old_addresses(const std::string& key, const std::string& node_id) {
  std::vector<std::string> old;
  {
    std::lock_guard lock(mutex_);
    for (auto& [address, peer] : peers_) {
      if (address == key || peer.node_id != node_id || peer.moved) continue;
      peer.moved = true;
      peer.devices.clear();
      old.push_back(address);
    }
  }
  for (const std::string& address : old) {
    log::info("node {} answers at {} now; no longer watched at {}", node_id, key, address);
    tracker_.remove_peer(address);
  }
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
