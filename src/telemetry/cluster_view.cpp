#include "telemetry/cluster_view.hpp"

namespace crossgpu::telemetry {

const NodeView* ClusterView::self() const noexcept {
  for (const NodeView& node : nodes) {
    if (node.self) return &node;
  }
  return nullptr;
}

const NodeView* ClusterView::find(const std::string& node_id) const noexcept {
  for (const NodeView& node : nodes) {
    if (node.latest.node_id == node_id) return &node;
  }
  return nullptr;
}

ClusterAggregator::ClusterAggregator(std::string self_node_id, std::size_t history)
    : self_node_id_(std::move(self_node_id)), history_(history) {
  History<TimedMetrics> check(history);  // refuses a zero capacity here, not at the first sample
  (void)check;
}

void ClusterAggregator::update(NodeTelemetry telemetry) {
  if (telemetry.node_id.empty()) fail(Errc::invalid_argument, "telemetry without a node id");
  std::lock_guard lock(mutex_);
  Entry& entry = nodes_[telemetry.node_id];
  const bool restarted = entry.seen && telemetry.sequence < entry.latest.sequence;
  const bool fresh = !entry.seen || telemetry.sequence != entry.latest.sequence;
  if (restarted) entry.history.clear();
  if (fresh) {
    for (const DeviceMetrics& metrics : telemetry.metrics) {
      auto it = entry.history.try_emplace(metrics.device_id, history_).first;
      it->second.push({telemetry.sampled_unix_nanos, metrics});
    }
  }
  entry.latest = std::move(telemetry);
  entry.seen = true;
}

void ClusterAggregator::set_state(const std::string& node_id, const std::string& state) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node_id);
  if (it != nodes_.end()) it->second.latest.state = state;
}

void ClusterAggregator::forget(const std::string& node_id) {
  std::lock_guard lock(mutex_);
  nodes_.erase(node_id);
}

NodeView ClusterAggregator::view_of(const Entry& entry) const {
  NodeView node{entry.latest, entry.latest.node_id == self_node_id_, {}};
  for (const auto& [device_id, history] : entry.history) {
    node.history.push_back({device_id, history.items()});
  }
  return node;
}

ClusterView ClusterAggregator::view() const {
  std::lock_guard lock(mutex_);
  ClusterView view;
  if (auto self = nodes_.find(self_node_id_); self != nodes_.end()) {
    view.nodes.push_back(view_of(self->second));
  }
  for (const auto& [node_id, entry] : nodes_) {
    if (node_id != self_node_id_) view.nodes.push_back(view_of(entry));
  }
  return view;
}

NodeTelemetry ClusterAggregator::self() const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(self_node_id_);
  if (it == nodes_.end()) {
    fail(Errc::not_found, "this node has not sampled its telemetry yet; retry in a moment");
  }
  return it->second.latest;
}

}  // namespace crossgpu::telemetry
