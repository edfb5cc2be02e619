#include "net/discovery/discovery.hpp"

#include <avahi-core/log.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/discovery/daemon_client.hpp"
#include "net/discovery/embedded_responder.hpp"
#include "net/discovery/peer_table.hpp"

namespace crossgpu::discovery {

namespace {

constexpr std::size_t kMaxInstanceNameBytes = 63;  // one DNS label

// avahi-core logs to stderr by default; route it through crossgpu's logger instead.
void route_avahi_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    avahi_set_log_function([](AvahiLogLevel level, const char* text) {
      // Avahi warns about every other responder on the host, which several nodes on one machine
      // are by design; only its errors deserve a crossgpu warning.
      if (level <= AVAHI_LOG_ERROR)
        log::warn("avahi: {}", text);
      else if (level <= AVAHI_LOG_NOTICE)
        log::info("avahi: {}", text);
      else
        log::debug("avahi: {}", text);
    });
  });
}

// The host name and the start of the node id ("vm [1a2b3c4d]"): nodes on one machine, and
// machines of one name ("raspberrypi"), never compete for one name. (With the bare host name,
// two nodes that lost a name to a third renamed in lockstep, "vm #2", "vm #3"..., each taking the
// other's new name, and never settled: seen under load in the three-node demo.)
std::string default_instance_name(const std::string& node_id) {
  char host[256] = {};
  std::string name =
      gethostname(host, sizeof host - 1) != 0 || host[0] == '\0' ? "crossgpu" : host;
  if (node_id.empty()) return name;
  const std::string suffix = " [" + node_id.substr(0, 8) + "]";
  return truncate_utf8(sanitize_display(name), kMaxInstanceNameBytes - suffix.size()) + suffix;
}

std::string checked_instance_name(std::string name, const std::string& node_id) {
  if (name.empty()) name = default_instance_name(node_id);
  name = truncate_utf8(sanitize_display(name), kMaxInstanceNameBytes);
  if (name.empty()) fail(Errc::invalid_argument, "discovery: the node name is empty");
  return name;
}

BackendSettings make_settings(const DiscoveryOptions& options,
                              const std::vector<NetInterface>& available,
                              const std::vector<std::string>& chosen) {
  BackendSettings settings;
  settings.instance_name =
      checked_instance_name(options.instance_name, options.advertisement.node_id);
  settings.port = options.port;
  if (options.port != 0) settings.txt = encode_txt(options.advertisement);
  settings.interfaces = chosen;
  settings.policy = options.interfaces;
  // avahi-core reads an empty allow list as "all": the deny list, computed from what exists now,
  // is what keeps bridges and loopback out. Interfaces that appear later are used (hotplug Wi-Fi).
  for (const NetInterface& nic : available) {
    if (std::find(chosen.begin(), chosen.end(), nic.name) == chosen.end())
      settings.deny.push_back(nic.name);
  }
  settings.allow = options.interfaces.allow;
  settings.host_name = options.host_name;
  settings.use_ipv6 = options.use_ipv6;
  settings.browse = options.browse;
  return settings;
}

}  // namespace

const char* mode_name(DiscoveryMode mode) noexcept {
  switch (mode) {
    case DiscoveryMode::automatic:
      return "automatic";
    case DiscoveryMode::daemon:
      return "avahi-daemon";
    case DiscoveryMode::embedded:
      return "embedded";
  }
  return "unknown";
}

Discovery::Discovery(DiscoveryOptions options, Callback callback) : mode_(options.mode) {
  route_avahi_logs();
  if (options.port != 0 && !is_valid_node_id(options.advertisement.node_id)) {
    fail(Errc::invalid_argument, "discovery: node id '{}' is not 16 to 64 hex digits",
         sanitize_display(options.advertisement.node_id));
  }
  std::string own_id = options.advertisement.node_id;
  std::transform(own_id.begin(), own_id.end(), own_id.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  table_ = std::make_unique<PeerTable>(std::move(own_id), std::move(callback));
  for (const PeerSeed& seed : options.seeds) table_->announce(seed_candidate(seed));
  backend_ = start_backend(options);
}

Discovery::~Discovery() = default;

std::unique_ptr<Backend> Discovery::start_backend(const DiscoveryOptions& options) {
  const std::vector<NetInterface> available = list_interfaces();
  interfaces_ = choose_interfaces(available, options.interfaces);
  if (interfaces_.empty()) {
    log::warn(
        "discovery: no network interface qualifies (loopback and container bridges are skipped by "
        "default); name interfaces explicitly to use them");
  }
  const BackendSettings settings = make_settings(options, available, interfaces_);
  if (options.mode != DiscoveryMode::embedded) {
    try {
      auto backend = std::make_unique<DaemonClient>(settings, *table_);
      mode_ = DiscoveryMode::daemon;
      return backend;
    } catch (const Error& e) {
      if (options.mode == DiscoveryMode::daemon || e.code() != Errc::unsupported) throw;
      log::info("{}; using the embedded mDNS responder", e.what());
    }
  }
  mode_ = DiscoveryMode::embedded;
  return std::make_unique<EmbeddedResponder>(settings, *table_);
}

std::string Discovery::advertised_name() const { return backend_->advertised_name(); }

std::vector<PeerCandidate> Discovery::peers() const { return table_->peers(); }

}  // namespace crossgpu::discovery
