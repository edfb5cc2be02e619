// Discovery: advertise this node as a DNS-SD service `_crossgpu._tcp` and report the other
// nodes on the link (plus static --peer seeds) as PeerEvents. Works with a running avahi-daemon
// (through D-Bus) or without one (an embedded avahi-core responder). See docs/DISCOVERY.md.
//
// Events are CANDIDATES, not trusted peers: connect, and trust only after the mutual TLS
// handshake proves cluster membership (docs/SECURITY.md).
//
//   Discovery discovery(options, [&](const PeerEvent& e) { queue.push(e); });
//
// The callback runs on discovery's own thread (seeds: on the constructing thread). It must return
// quickly and must not destroy the Discovery; handing events to a PeerEventQueue is the simple way.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/discovery/interface_policy.hpp"
#include "net/discovery/peer_event.hpp"
#include "net/discovery/peer_seed.hpp"
#include "net/discovery/txt_record.hpp"

namespace crossgpu::discovery {

enum class DiscoveryMode {
  automatic,  // the avahi-daemon when one answers on D-Bus, else the embedded responder
  daemon,     // only through avahi-daemon (fails with Errc::unsupported when none runs)
  embedded,   // only the embedded responder (binds UDP 5353 itself)
};

struct DiscoveryOptions {
  // The node name shown to browsers; empty: the host name and the first 8 digits of the node id
  // ("vm [1a2b3c4d]"), so that nodes of one machine never compete for a name.
  std::string instance_name;
  std::uint16_t port = 0;       // the node's listen port; 0: browse only, advertise nothing
  Advertisement advertisement;  // node id, protocol version, device summary (TXT)
  InterfacePolicy interfaces;
  DiscoveryMode mode = DiscoveryMode::automatic;
  std::vector<PeerSeed> seeds;  // reported as found events at start (see peer_seed.hpp)
  bool browse = true;
  bool use_ipv6 = true;
  std::string host_name;  // embedded mode: the mDNS host name (empty: the system host name)
};

class PeerTable;
class Backend;

class Discovery {
 public:
  using Callback = std::function<void(const PeerEvent&)>;

  // Starts advertising and browsing. Throws Errc::invalid_argument for bad options (node id,
  // instance name), Errc::unsupported when mode is daemon and no daemon runs, Errc::io when the
  // embedded responder cannot start.
  Discovery(DiscoveryOptions options, Callback callback);
  ~Discovery();  // withdraws the advertisement (goodbye packets) and joins the mDNS thread
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  DiscoveryMode mode() const noexcept { return mode_; }  // the mode actually in use
  const std::vector<std::string>& interfaces() const noexcept { return interfaces_; }
  std::string advertised_name() const;       // may differ from the wanted one after a collision
  std::vector<PeerCandidate> peers() const;  // current candidates, seeds first

 private:
  std::unique_ptr<Backend> start_backend(const DiscoveryOptions& options);

  DiscoveryMode mode_;
  std::vector<std::string> interfaces_;
  std::unique_ptr<PeerTable> table_;
  std::unique_ptr<Backend> backend_;
};

const char* mode_name(DiscoveryMode mode) noexcept;

}  // namespace crossgpu::discovery
