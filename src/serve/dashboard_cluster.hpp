// The cluster as the dashboard shows it (/api/cluster): `crossgpu serve` polls the node it planned
// through (Telemetry.Snapshot with the whole cluster, over the same mTLS identity) once a second
// on a thread of its own, and keeps a short history per device in a ClusterAggregator, so charts
// have points from the start of serving and not only from when a page opened.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "telemetry/cluster_view.hpp"

namespace crossgpu::serve {

class ClusterWatch {
 public:
  // Throws what loading the identity in `config_dir` throws; a node that does not answer is not an
  // error here (json() says so until it does).
  ClusterWatch(std::string node_address, const std::string& config_dir,
               std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~ClusterWatch();
  ClusterWatch(const ClusterWatch&) = delete;
  ClusterWatch& operator=(const ClusterWatch&) = delete;

  // telemetry::cluster_json of the latest view, with "node" (the address polled),
  // "fetched_unix_ms" (0: never) and "error" (null, or why the last poll failed).
  nlohmann::json json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossgpu::serve
