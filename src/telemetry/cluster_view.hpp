// The cluster as one node sees it: its own telemetry and the latest of every peer it polls, each
// device with a short history of samples. ClusterAggregator is the thread-safe owner the node's
// sampler and peer poller write into; ClusterView is the copy readers (the Telemetry service,
// /metrics, /api/cluster, placement) work on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "telemetry/history.hpp"
#include "telemetry/node_telemetry.hpp"

namespace crossgpu::telemetry {

struct TimedMetrics {
  std::int64_t unix_nanos = 0;
  DeviceMetrics metrics;
};

struct DeviceHistory {
  std::string device_id;
  std::vector<TimedMetrics> samples;  // oldest first
};

struct NodeView {
  NodeTelemetry latest;
  bool self = false;
  std::vector<DeviceHistory> history;
};

struct ClusterView {
  std::vector<NodeView> nodes;  // this node first, then peers by node id
  const NodeView* self() const noexcept;
  const NodeView* find(const std::string& node_id) const noexcept;
};

inline constexpr std::size_t kDefaultHistory = 60;

class ClusterAggregator {
 public:
  explicit ClusterAggregator(std::string self_node_id, std::size_t history = kDefaultHistory);

  const std::string& self_node_id() const noexcept { return self_node_id_; }
  // The latest telemetry of a node (this one when node_id is self_node_id). A sample is added to
  // the history only when its sequence is new, so polling faster than a node samples does not
  // duplicate points; a lower sequence means the node restarted and its history starts over.
  void update(NodeTelemetry telemetry);
  // Liveness changed (suspect, lost): the node stays in the view with its last telemetry.
  void set_state(const std::string& node_id, const std::string& state);
  void forget(const std::string& node_id);

  ClusterView view() const;
  // Only this node's latest telemetry (what Snapshot answers without `cluster`).
  NodeTelemetry self() const;

 private:
  struct Entry {
    NodeTelemetry latest;
    std::map<std::string, History<TimedMetrics>> history;  // by device id
    bool seen = false;
  };
  NodeView view_of(const Entry& entry) const;

  const std::string self_node_id_;
  const std::size_t history_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> nodes_;
};

}  // namespace crossgpu::telemetry
