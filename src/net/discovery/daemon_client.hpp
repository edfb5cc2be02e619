// Discovery through a running avahi-daemon (libavahi-client over D-Bus): the daemon owns port
// 5353 and the host records; crossgpu only registers its service and browses. The interface
// policy is applied by publishing on each chosen interface and ignoring sightings elsewhere.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "net/discovery/avahi_client_library.hpp"
#include "net/discovery/avahi_handles.hpp"
#include "net/discovery/backend.hpp"

namespace crossgpu::discovery {

class DaemonClient final : public Backend {
 public:
  // Throws Errc::unsupported when no avahi-daemon answers on D-Bus (the caller falls back to the
  // embedded responder) and Errc::io for other failures.
  DaemonClient(const BackendSettings& settings, PeerTable& table);
  ~DaemonClient() override;

 private:
  using ResolverKey = std::tuple<int, int, std::string>;  // interface, protocol, instance

  static void on_client(AvahiClient* client, AvahiClientState state, void* self);
  static void on_group(AvahiEntryGroup* group, AvahiEntryGroupState state, void* self);
  static void on_browse(AvahiServiceBrowser*, AvahiIfIndex, AvahiProtocol, AvahiBrowserEvent,
                        const char* name, const char* type, const char* domain,
                        AvahiLookupResultFlags, void* self);
  static void on_resolve(AvahiServiceResolver*, AvahiIfIndex, AvahiProtocol, AvahiResolverEvent,
                         const char* name, const char* type, const char* domain, const char* host,
                         const AvahiAddress* address, uint16_t port, AvahiStringList* txt,
                         AvahiLookupResultFlags, void* self);

  void publish(AvahiClient* client);
  bool add_services(AvahiClient* client);
  void rename_after_collision(AvahiClient* client);
  bool interface_chosen(int if_index) const { return if_indexes_.count(if_index) > 0; }

  BackendSettings settings_;
  PeerTable& table_;
  std::string name_;
  std::set<int> if_indexes_;
  avahi::ThreadedPoll poll_;
  avahi::Client client_;
  avahi::ClientEntryGroup group_;
  avahi::ClientBrowser browser_;
  std::map<ResolverKey, avahi::ClientResolver> resolvers_;
};

}  // namespace crossgpu::discovery
