// Builds the cluster part of the view: every healthy peer's telemetry is polled over its
// Telemetry service (Snapshot), and each link is measured — RTT from liveness' heartbeats,
// bandwidth by a timed Probe write of probe_bytes, repeated every probe_every and cached in
// between. The links feed this node's own telemetry (its topology).
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
  // One round: fetch every healthy peer's telemetry, probe links that are due. Never throws for
  // a peer's failure (it is logged and the link says why it has no measurement).
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
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // by address
  std::map<std::string, Bandwidth> bandwidth_;                       // by node id
  std::vector<LinkMetrics> links_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace crossgpu::telemetry
