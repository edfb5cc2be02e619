// gRPC channels from this node to other nodes, kept per address: a node-to-node copy (PeerCopy)
// runs once per pipeline stage per token, and a fresh channel would pay a TCP connect and a TLS
// handshake every time. Bounded: past kMaxChannels addresses the oldest set is dropped.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/security.hpp"

namespace crossgpu::cluster {

class PeerChannels {
 public:
  static constexpr std::size_t kMaxChannels = 64;

  explicit PeerChannels(const net::NodeIdentity& identity) : identity_(identity) {}

  std::shared_ptr<grpc::Channel> get(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(address);
    if (it != channels_.end()) return it->second;
    if (channels_.size() >= kMaxChannels) channels_.clear();  // a flood of addresses stays bounded
    auto channel = identity_.connect(address);
    channels_.emplace(address, channel);
    return channel;
  }

 private:
  const net::NodeIdentity& identity_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace crossgpu::cluster
