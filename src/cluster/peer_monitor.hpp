// What a node knows about the other nodes: for each peer address (a --peer seed or a discovered
// node) a connection with heartbeats, fed into liveness' PeerTracker (joining, healthy, suspect,
// lost, reconnection with backoff). Its snapshot is the `peers` part of the Status answer.
// Peers are trusted only after the TLS handshake and Hello succeed.
#pragma once

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

namespace crossgpu::cluster {

class PeerMonitor {
 public:
  PeerMonitor(net::NodeIdentity identity, liveness::LivenessConfig config = {});
  ~PeerMonitor();
  PeerMonitor(const PeerMonitor&) = delete;
  PeerMonitor& operator=(const PeerMonitor&) = delete;

  // Starts watching the node at `address` (no-op when it is watched already).
  void add(const std::string& address);
  std::vector<v1::PeerStatus> status() const;

 private:
  struct Peer {
    std::string address;
    std::string node_id;  // known after the first Hello
    std::shared_ptr<NodeConnection> connection;
    std::vector<DeviceProperties> devices;
  };
  void run();
  void act(const liveness::DueAction& action);
  void reconnect(const std::string& key);
  bool watched_elsewhere(const std::string& key, const NodeConnection& connection);

  const net::NodeIdentity identity_;
  liveness::PeerTracker tracker_;
  mutable std::mutex mutex_;
  std::map<std::string, Peer> peers_;  // by address: the tracker's key
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace crossgpu::cluster
