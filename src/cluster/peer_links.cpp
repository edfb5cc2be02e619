#include "cluster/peer_links.hpp"

namespace crossgpu::cluster {

std::string PeerLinks::resolve(const std::string& node_id) const {
  if (!members_ || node_id.empty()) return {};
  return members_(node_id);
}

std::shared_ptr<NodeConnection> PeerLinks::get(const std::string& address,
                                               const std::string& node_id) {
  const auto key = std::make_pair(address, node_id);
  {
    std::lock_guard lock(mutex_);
    const auto it = links_.find(key);
    if (it != links_.end() && !it->second->lost() && !it->second->closed()) return it->second;
  }
  // Opened outside the lock: a Hello to an unreachable node must not stall copies to others.
  ConnectionOptions options;
  options.expected_node_id = node_id;
  std::shared_ptr<NodeConnection> link = NodeConnection::open(address, identity_, options);
  std::map<std::pair<std::string, std::string>, std::shared_ptr<NodeConnection>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (links_.size() >= kMaxLinks) dropped.swap(links_);  // closed below, outside the lock
    auto& slot = links_[key];
    if (slot && !slot->lost() && !slot->closed()) return slot;  // another copy opened it first
    slot = link;
  }
  return link;
}

void PeerLinks::close_all() noexcept {
  std::map<std::pair<std::string, std::string>, std::shared_ptr<NodeConnection>> links;
  {
    std::lock_guard lock(mutex_);
    links.swap(links_);
  }
  for (auto& [key, link] : links) link->close();
}

}  // namespace crossgpu::cluster
