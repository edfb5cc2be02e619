// What a node knows about the other nodes: for each peer address (a --peer seed or a discovered
// node) a connection with heartbeats, fed into liveness' PeerTracker (joining, healthy, suspect,
// lost, reconnection with backoff). Its snapshot is the `peers` part of the Status answer.
// Peers are trusted only after the TLS handshake and Hello succeed.
//
// Each peer's actions (reconnects, revocation polls) run on a worker of that peer, one at a time:
// a hung peer (SIGSTOP, a blackholed link) holds only its own worker while its connect or call
// waits out its timeout, and never delays another peer's bookkeeping (before, one thread served
// every peer and healthy peers turned suspect behind a stopped one).
//
// It also spreads removals: every `revocation_interval` (10 s by default) and right after a
// (re)connect it asks each healthy peer for a signed revocation list newer than its own
// (Revocation.GetRevocations), verifies it against the cluster CA and stores it in this node's
// config folder, where the Authenticator picks it up on the next call. Polling rather than a
// version in the heartbeat keeps the Node service untouched; one small call per peer per
// interval answers "nothing newer" in a few bytes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/liveness/peer_tracker.hpp"
#include "cluster/node_connection.hpp"
#include "net/security.hpp"

namespace crossgpu::v1 {
class PeerStatus;
}
namespace grpc {
class Channel;
}

namespace crossgpu::cluster {

class PeerMonitor {
 public:
  PeerMonitor(net::NodeIdentity identity, liveness::LivenessConfig config = {},
              std::chrono::milliseconds revocation_interval = std::chrono::seconds(10));
  ~PeerMonitor();
  PeerMonitor(const PeerMonitor&) = delete;
  PeerMonitor& operator=(const PeerMonitor&) = delete;

  // Starts watching the node at `address` (no-op when it is watched already).
  void add(const std::string& address);
  std::vector<v1::PeerStatus> status() const;
  // The address of member `node_id` as this node verified it (its TLS certificate and Hello
  // answered there, the connection not lost); empty when this node watches no such member.
  std::string address_of(const std::string& node_id) const;

 private:
  struct Peer {
    std::string address;
    std::string node_id;  // known after the first Hello
    std::shared_ptr<NodeConnection> connection;
    std::vector<DeviceProperties> devices;
    std::shared_ptr<grpc::Channel> channel;  // for GetRevocations; made on first use
    std::chrono::steady_clock::time_point next_revocation_fetch{};  // zero: at once
    bool removed = false;  // removed from the cluster: no longer watched
    bool moved = false;    // the node answered at another address since: not watched here
    std::thread worker;    // runs this peer's current action
    bool busy = false;     // an action of this peer still runs: new ones are skipped
  };
  void run();
  // Runs `action` on its peer's worker unless one still runs there (the tracker schedules it
  // again: a peer that hangs misses its heartbeats and no one else's).
  void dispatch(const liveness::DueAction& action);
  void act(const liveness::DueAction& action);
  void reconnect(const std::string& key);
  bool watched_elsewhere(const std::string& key, const NodeConnection& connection);
  // Stops watching the other addresses where `node_id` was lost: it answers at `key` now (a
  // device that restarted on a new port, or got a new address).
  void forget_old_addresses(const std::string& key, const std::string& node_id);
  // Asks the peer for a newer revocation list when due; stores a verified one.
  void fetch_revocations(const std::string& key);
  // True when this node's revocation lists name `node_id` (false when they cannot be read: the
  // Authenticator already refuses everyone then).
  bool is_removed(const std::string& node_id) const;
  // Stops watching (and using) peers that were removed from the cluster.
  void drop_removed_peers();

  const net::NodeIdentity identity_;
  liveness::PeerTracker tracker_;
  const std::chrono::milliseconds revocation_interval_;
  mutable std::mutex mutex_;
  std::map<std::string, Peer> peers_;  // by address: the tracker's key
  std::condition_variable wake_;
  std::mutex revocation_store_;  // workers of several peers may store a newer list at once
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace crossgpu::cluster
