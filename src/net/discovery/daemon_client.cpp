#include "net/discovery/daemon_client.hpp"

#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <net/if.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/discovery/peer_table.hpp"

namespace crossgpu::discovery {

DaemonClient::DaemonClient(const BackendSettings& settings, PeerTable& table)
    : settings_(settings), table_(table), name_(settings.instance_name) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  set_advertised_name(name_);
  for (const std::string& name : settings_.interfaces) {
    if (const unsigned index = if_nametoindex(name.c_str()); index > 0)
      if_indexes_.insert(static_cast<int>(index));
  }
  poll_.reset(avahi_threaded_poll_new());
  if (!poll_) fail(Errc::io, "discovery: cannot create the mDNS poll thread");
  int error = 0;
  // No AVAHI_CLIENT_NO_FAIL: a missing daemon must fail here so that Discovery can embed one.
  client_.reset(lib.client_new(avahi_threaded_poll_get(poll_.get()), AvahiClientFlags(0),
                               &on_client, this, &error));
  if (!client_) {
    fail(Errc::unsupported, "discovery: no avahi-daemon answers on D-Bus ({})",
         avahi_strerror(error));
  }
  if (settings_.browse) {
    browser_.reset(lib.service_browser_new(client_.get(), AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                           kServiceType, nullptr, AvahiLookupFlags(0), &on_browse,
                                           this));
    if (!browser_) {
      fail(Errc::io, "discovery: cannot browse for {}: {}", kServiceType,
           avahi_strerror(lib.client_errno(client_.get())));
    }
  }
  if (avahi_threaded_poll_start(poll_.get()) < 0)
    fail(Errc::io, "discovery: cannot start the mDNS thread");
}

DaemonClient::~DaemonClient() {
  avahi_threaded_poll_stop(poll_.get());  // objects below are freed only with the thread joined
  resolvers_.clear();
  browser_.reset();
  group_.reset();  // the daemon withdraws the service and sends goodbyes
  client_.reset();
}

void DaemonClient::on_client(AvahiClient* client, AvahiClientState state, void* self) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  auto* me = static_cast<DaemonClient*>(self);
  switch (state) {
    case AVAHI_CLIENT_S_RUNNING:
      me->publish(client);
      break;
    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
      // The daemon is renaming the host; our records come back once it runs again.
      if (me->group_) lib.entry_group_reset(me->group_.get());
      break;
    case AVAHI_CLIENT_FAILURE:
      log::error("discovery: lost the avahi-daemon: {}; restart crossgpu node to re-advertise",
                 avahi_strerror(lib.client_errno(client)));
      break;
    case AVAHI_CLIENT_CONNECTING:
      break;
  }
}

bool DaemonClient::add_services(AvahiClient* client) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  const avahi::StringList txt = avahi::make_string_list(settings_.txt);
  for (const int index : if_indexes_) {
    const int rc = lib.entry_group_add_service_strlst(
        group_.get(), index, AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0), name_.c_str(), kServiceType,
        nullptr, nullptr, settings_.port, txt.get());
    if (rc == AVAHI_ERR_COLLISION) {
      rename_after_collision(client);
      return false;
    }
    if (rc < 0) {
      log::error("discovery: cannot publish '{}' on interface {}: {}", name_, index,
                 avahi_strerror(rc));
      return false;
    }
  }
  return true;
}

void DaemonClient::publish(AvahiClient* client) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  if (settings_.port == 0) return;
  if (if_indexes_.empty()) {
    log::warn(
        "discovery: no interface chosen for advertising; pass an allow list (e.g. 'lo') to "
        "advertise");
    return;
  }
  if (!group_) group_.reset(lib.entry_group_new(client, &on_group, this));
  if (!group_) {
    log::error("discovery: cannot create an entry group: {}",
               avahi_strerror(lib.client_errno(client)));
    return;
  }
  if (!lib.entry_group_is_empty(group_.get()) || !add_services(client)) return;
  if (const int rc = lib.entry_group_commit(group_.get()); rc < 0) {
    log::error("discovery: cannot publish '{}': {}", name_, avahi_strerror(rc));
    return;
  }
  set_advertised_name(name_);
  log::info("discovery: advertising '{}' ({}) on port {} through avahi-daemon", name_, kServiceType,
            settings_.port);
}

void DaemonClient::rename_after_collision(AvahiClient* client) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  avahi::Chars alternative(avahi_alternative_service_name(name_.c_str()));
  log::warn("discovery: service name '{}' is taken on the link, using '{}'", name_,
            alternative.get());
  name_ = alternative.get();
  lib.entry_group_reset(group_.get());
  publish(client);
}

void DaemonClient::on_group(AvahiEntryGroup* group, AvahiEntryGroupState state, void* self) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  auto* me = static_cast<DaemonClient*>(self);
  AvahiClient* client = lib.entry_group_get_client(group);
  if (state == AVAHI_ENTRY_GROUP_COLLISION) me->rename_after_collision(client);
  if (state == AVAHI_ENTRY_GROUP_FAILURE) {
    log::error("discovery: publishing failed: {}", avahi_strerror(lib.client_errno(client)));
  }
}

void DaemonClient::on_browse(AvahiServiceBrowser* browser, AvahiIfIndex if_index,
                             AvahiProtocol protocol, AvahiBrowserEvent event, const char* name,
                             const char*, const char*, AvahiLookupResultFlags, void* self) {
  const avahi::ClientLibrary& lib = avahi::client_library();
  auto* me = static_cast<DaemonClient*>(self);
  if (!me->interface_chosen(if_index)) return;
  const ResolverKey key{if_index, protocol, name ? name : ""};
  if (event == AVAHI_BROWSER_NEW && !me->resolvers_.count(key)) {
    AvahiClient* client = lib.service_browser_get_client(browser);
    avahi::ClientResolver resolver(lib.service_resolver_new(client, if_index, protocol, name,
                                                            kServiceType, nullptr, protocol,
                                                            AvahiLookupFlags(0), &on_resolve, me));
    if (resolver) me->resolvers_.emplace(key, std::move(resolver));
  } else if (event == AVAHI_BROWSER_REMOVE) {
    me->resolvers_.erase(key);
    me->table_.removed(if_index, protocol, std::get<2>(key));
  } else if (event == AVAHI_BROWSER_FAILURE) {
    log::error("discovery: browsing failed: {}",
               avahi_strerror(lib.client_errno(lib.service_browser_get_client(browser))));
  }
}

void DaemonClient::on_resolve(AvahiServiceResolver*, AvahiIfIndex if_index, AvahiProtocol protocol,
                              AvahiResolverEvent event, const char* name, const char*, const char*,
                              const char* host, const AvahiAddress* address, uint16_t port,
                              AvahiStringList* txt, AvahiLookupResultFlags, void* self) {
  auto* me = static_cast<DaemonClient*>(self);
  if (event != AVAHI_RESOLVER_FOUND || !address) return;
  me->table_.resolved(if_index, protocol, avahi::resolved_service(name, host, *address, if_index, port, txt));
}

}  // namespace crossgpu::discovery
