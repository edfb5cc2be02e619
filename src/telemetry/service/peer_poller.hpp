// Builds the cluster part of the view: every healthy peer's telemetry is polled over its
// Telemetry service (Snapshot), and each link is measured — RTT from liveness' heartbeats,
// bandwidth by a timed Probe write of probe_bytes, repeated every probe_every and cached in
// between. The links feed this node's own telemetry (its topology).
// Each peer is polled on a worker of its own, one poll at a time: a hung peer (SIGSTOP, a
// blackholed link) holds only its own worker until its call deadline, and the other peers'
// telemetry keeps arriving every interval (a round never waits for a slow peer; a peer whose
// last poll still runs is skipped that round).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crossgpu/v1/node.pb.h"
#include "net/security.hpp"
#include "telemetry/cluster_view.hpp"

namespace grpc {
class Channel;
}

namespace crossgpu::telemetry {

// Liveness' view of the peers (cluster::PeerMonitor::status()).
using PeerSource = std::function<std::vector<v1::PeerStatus>()>;

struct PollerOptions {
  std::chrono::milliseconds interval{1000};
  std::uint64_t probe_bytes = 8ull << 20;
  std::chrono::seconds probe_every{300};
  std::chrono::milliseconds call_timeout{5000};
};

class PeerPoller {
 public:
  PeerPoller(net::NodeIdentity identity, ClusterAggregator& aggregator, PeerSource peers,
             PollerOptions options = {});
  ~PeerPoller();
  PeerPoller(const PeerPoller&) = delete;
  PeerPoller& operator=(const PeerPoller&) = delete;

  void start();
  void stop();
  // One round, waited for: fetch every healthy peer's telemetry (each on its own worker, at
  // once), probe links that are due. Never throws for a peer's failure (it is logged and the
  // link says why it has no measurement).
  void poll_once();
  // This node's links as last measured.
  std::vector<LinkMetrics> links() const;

  // A timed Probe of `bytes` over `channel`; bytes per second. Throws the call's Error.
  static double measure_bandwidth(const std::shared_ptr<grpc::Channel>& channel,
                                  std::uint64_t bytes, std::chrono::milliseconds timeout);

 private:
  struct Bandwidth {
    Measured<double> bytes_per_s = Measured<double>::unavailable("not probed yet");
    std::uint64_t bytes = 0;
    std::int64_t unix_seconds = 0;
    std::chrono::steady_clock::time_point next_probe{};
  };
  struct Worker {
    std::thread thread;  // this peer's current or last poll
    bool busy = false;
  };
  std::vector<v1::PeerStatus> current_peers() const;
  // Starts a poll of each peer whose worker is free; returns at once.
  void start_polls(const std::vector<v1::PeerStatus>& peers);
  // Returns when none of `peers` has a poll running (or the poller stops).
  void wait_for(const std::vector<v1::PeerStatus>& peers);
  void publish_links(const std::vector<v1::PeerStatus>& peers);
  void poll_peer(const v1::PeerStatus& peer);
  void probe_if_due(const v1::PeerStatus& peer, const std::shared_ptr<grpc::Channel>& channel);
  std::shared_ptr<grpc::Channel> channel(const std::string& address);
  void run();

  const net::NodeIdentity identity_;
  ClusterAggregator& aggregator_;
  const PeerSource peers_;
  const PollerOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable polled_;                                   // a worker finished
  std::map<std::string, Worker> workers_;                            // by node id
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // by address
  std::map<std::string, Bandwidth> bandwidth_;                       // by node id
  std::vector<LinkMetrics> links_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace crossgpu::telemetry
