// What the two mDNS backends (embedded avahi-core responder, avahi-daemon client) share: the
// settings they publish and browse with, and the interface Discovery holds them by.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "net/discovery/interface_policy.hpp"

namespace crossgpu::discovery {

class PeerTable;

inline constexpr const char* kServiceType = "_crossgpu._tcp";

struct BackendSettings {
  std::string instance_name;            // wanted DNS-SD instance name; renamed on collision
  std::uint16_t port = 0;               // 0: browse only
  std::vector<std::string> txt;         // encoded TXT strings
  std::vector<std::string> interfaces;  // chosen interface names (see interface_policy.hpp)
  InterfacePolicy policy;               // re-applied when interfaces come and go
  std::vector<std::string> deny;        // existing interfaces not chosen (embedded mode)
  std::vector<std::string> allow;       // the user's explicit allow list, if any (embedded mode)
  std::string host_name;                // embedded mode: host name to publish (empty: system's)
  bool use_ipv6 = true;
  bool browse = true;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The instance name in use: the wanted one, or "name #2"... after a collision on the link.
  std::string advertised_name() const {
    std::lock_guard lock(name_mutex_);
    return advertised_name_;
  }

 protected:
  void set_advertised_name(std::string name) {
    std::lock_guard lock(name_mutex_);
    advertised_name_ = std::move(name);
  }

 private:
  mutable std::mutex name_mutex_;
  std::string advertised_name_;
};

}  // namespace crossgpu::discovery
