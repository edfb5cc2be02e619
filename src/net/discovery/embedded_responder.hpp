// Embedded mDNS responder (libavahi-core) for machines without an avahi-daemon: it binds UDP 5353
// itself (shared with other responders through SO_REUSEADDR/SO_REUSEPORT) and publishes the
// service's PTR/SRV/TXT records and its host's A/AAAA records, on its own poll thread.
//
// Address records are published by this class, per chosen interface, without reverse-lookup
// PTRs: avahi-core's automatic address publishing claims "1.0.0.127.in-addr.arpa" and the like as
// unique, so two nodes on one machine (same addresses, different host names) would fight over
// them and rename forever. A timer re-reads the interfaces and republishes when they change.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "net/discovery/avahi_handles.hpp"
#include "net/discovery/backend.hpp"
#include "net/discovery/local_addresses.hpp"

namespace crossgpu::discovery {

class EmbeddedResponder final : public Backend {
 public:
  // Throws Errc::io when the responder cannot start (e.g. port 5353 taken exclusively).
  EmbeddedResponder(const BackendSettings& settings, PeerTable& table);
  ~EmbeddedResponder() override;

 private:
  using ResolverKey = std::tuple<int, int, std::string>;  // interface, protocol, instance

  static void on_server(AvahiServer* server, AvahiServerState state, void* self);
  static void on_service_group(AvahiServer* server, AvahiSEntryGroup*, AvahiEntryGroupState state,
                               void* self);
  static void on_host_group(AvahiServer* server, AvahiSEntryGroup*, AvahiEntryGroupState state,
                            void* self);
  static void on_browse(AvahiSServiceBrowser*, AvahiIfIndex, AvahiProtocol, AvahiBrowserEvent,
                        const char* name, const char* type, const char* domain,
                        AvahiLookupResultFlags, void* self);
  static void on_resolve(AvahiSServiceResolver*, AvahiIfIndex, AvahiProtocol, AvahiResolverEvent,
                         const char* name, const char* type, const char* domain, const char* host,
                         const AvahiAddress* address, uint16_t port, AvahiStringList* txt,
                         AvahiLookupResultFlags, void* self);
  static void on_timer(AvahiTimeout* timeout, void* self);

  avahi::ServerConfig make_config() const;
  void refresh_interfaces();
  void publish(AvahiServer* server);
  void reset_groups();
  bool ensure_groups(AvahiServer* server);
  bool add_host_records(AvahiServer* server);
  bool add_service_records(AvahiServer* server);
  void rename_service(AvahiServer* server);
  void rename_host(AvahiServer* server);
  void start_resolving(AvahiServer* server, int if_index, int protocol, const std::string& name);
  void schedule_timer();

  BackendSettings settings_;
  PeerTable& table_;
  std::string name_;                     // the instance name being published
  std::set<int> if_indexes_;             // chosen interfaces now
  std::vector<LocalAddress> addresses_;  // what the published address records say
  bool running_ = false;                 // the server reached AVAHI_SERVER_RUNNING
  // Destroyed in reverse order; the destructor joins the poll thread before any of them goes.
  avahi::ThreadedPoll poll_;
  avahi::Server server_;
  avahi::Timeout timer_;
  // Two groups, so that a collision says which name to change: the host's address records
  // (host_group_) or the service's PTR/SRV/TXT (service_group_).
  avahi::CoreEntryGroup host_group_;
  avahi::CoreEntryGroup service_group_;
  avahi::CoreBrowser browser_;
  std::map<ResolverKey, avahi::CoreResolver> resolvers_;
};

}  // namespace crossgpu::discovery
