#include "serve/dashboard_cluster.hpp"

#include <algorithm>
#include <optional>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/security.hpp"
#include "telemetry/cluster_json.hpp"
#include "telemetry/service/snapshot_client.hpp"

namespace crossgpu::serve {
namespace {

// A poll that takes longer than this is a node too slow to show live; the next one tries again.
constexpr auto kPollTimeout = std::chrono::seconds(3);

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct ClusterWatch::Impl {
  const std::string address;
  const std::chrono::milliseconds interval;
  std::shared_ptr<grpc::Channel> channel;
  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  // Created at the first answer: the aggregator is keyed by the polled node's own id.
  std::unique_ptr<telemetry::ClusterAggregator> aggregator;
  std::int64_t fetched_unix_ms = 0;
  std::optional<std::string> error = "not polled yet";
  std::thread thread;

  Impl(std::string a, const std::string& config_dir, std::chrono::milliseconds i)
      : address(std::move(a)),
        interval(i),
        channel(net::NodeIdentity::load(net::resolve_config_dir(config_dir)).connect(address)) {}

  // A node the polled node no longer reports (removed from the cluster) leaves the view too.
  void forget_missing(const std::vector<telemetry::NodeTelemetry>& nodes) {
    for (const telemetry::NodeView& known : aggregator->view().nodes) {
      const std::string& id = known.latest.node_id;
      if (std::none_of(nodes.begin(), nodes.end(), [&](const auto& n) { return n.node_id == id; })) {
        aggregator->forget(id);
      }
    }
  }

  void poll() {
    try {
      std::vector<telemetry::NodeTelemetry> nodes = telemetry::fetch_snapshot(channel, true, kPollTimeout);
      std::lock_guard lock(mutex);
      if (!nodes.empty() && (!aggregator || aggregator->self_node_id() != nodes.front().node_id)) {
        aggregator = std::make_unique<telemetry::ClusterAggregator>(nodes.front().node_id);
      }
      forget_missing(nodes);
      for (telemetry::NodeTelemetry& node : nodes) aggregator->update(std::move(node));
      fetched_unix_ms = unix_ms_now();
      error.reset();
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      if (!error || *error != e.what()) log::warn("dashboard: the cluster view from {}: {}", address, e.what());
      error = e.what();
    }
  }

  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      poll();
      lock.lock();
      wake.wait_for(lock, interval, [&] { return stopping; });
    }
  }
};

ClusterWatch::ClusterWatch(std::string node_address, const std::string& config_dir, std::chrono::milliseconds interval)
    : impl_(std::make_unique<Impl>(std::move(node_address), config_dir, interval)) {
  impl_->thread = std::thread([this] { impl_->run(); });
}

ClusterWatch::~ClusterWatch() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

nlohmann::json ClusterWatch::json() const {
  std::lock_guard lock(impl_->mutex);
  nlohmann::json out = impl_->aggregator ? telemetry::cluster_json(impl_->aggregator->view())
                                         : telemetry::cluster_json(telemetry::ClusterView{});
  out["node"] = impl_->address;
  out["fetched_unix_ms"] = impl_->fetched_unix_ms;
  out["error"] = impl_->error ? nlohmann::json(*impl_->error) : nlohmann::json(nullptr);
  return out;
}

}  // namespace crossgpu::serve
