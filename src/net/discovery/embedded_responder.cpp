#include "net/discovery/embedded_responder.hpp"

#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/timeval.h>
#include <net/if.h>
#include <sys/socket.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "net/discovery/peer_table.hpp"

namespace crossgpu::discovery {

namespace {

constexpr unsigned kInterfaceCheckMs = 5'000;  // how soon a new address or interface is published

}  // namespace

EmbeddedResponder::EmbeddedResponder(const BackendSettings& settings, PeerTable& table)
    : settings_(settings), table_(table), name_(settings.instance_name) {
  set_advertised_name(name_);
  refresh_interfaces();
  poll_.reset(avahi_threaded_poll_new());
  if (!poll_) fail(Errc::io, "discovery: cannot create the mDNS poll thread");
  const avahi::ServerConfig config = make_config();
  int error = 0;
  // Callbacks may run inside avahi_server_new (before server_ is set): they use their argument.
  server_.reset(avahi_server_new(avahi_threaded_poll_get(poll_.get()), config.get(), &on_server,
                                 this, &error));
  if (!server_) {
    fail(Errc::io,
         "discovery: the embedded mDNS responder failed to start ({}); is UDP port 5353 "
         "held exclusively by another responder?",
         avahi_strerror(error));
  }
  if (settings_.browse) {
    browser_.reset(avahi_s_service_browser_new(server_.get(), AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                               kServiceType, nullptr, AvahiLookupFlags(0),
                                               &on_browse, this));
    if (!browser_) {
      fail(Errc::io, "discovery: cannot browse for {}: {}", kServiceType,
           avahi_strerror(avahi_server_errno(server_.get())));
    }
  }
  schedule_timer();
  if (avahi_threaded_poll_start(poll_.get()) < 0)
    fail(Errc::io, "discovery: cannot start the mDNS thread");
}

EmbeddedResponder::~EmbeddedResponder() {
  // Join the poll thread first: the objects below are only safe to free while it is stopped.
  avahi_threaded_poll_stop(poll_.get());
  resolvers_.clear();
  browser_.reset();
  service_group_.reset();  // sends goodbye packets for the service
  host_group_.reset();
  timer_ = avahi::Timeout();
  server_.reset();
}

avahi::ServerConfig EmbeddedResponder::make_config() const {
  avahi::ServerConfig config(
      static_cast<AvahiServerConfig*>(avahi_malloc0(sizeof(AvahiServerConfig))));
  avahi_server_config_init(config.get());
  if (!settings_.host_name.empty()) config->host_name = avahi_strdup(settings_.host_name.c_str());
  config->use_ipv4 = 1;
  config->use_ipv6 = settings_.use_ipv6 ? 1 : 0;
  config->publish_hinfo = 0;        // OS and CPU names help attackers more than users
  config->publish_workstation = 0;  // crossgpu advertises a node, not the machine
  config->publish_addresses = 0;    // published by add_records(), see the header
  config->publish_domain = 0;
  config->enable_wide_area = 0;
  config->disallow_other_stacks = 0;  // share 5353 with other responders (SO_REUSEPORT)
  config->allow_interfaces = avahi::make_string_list(settings_.allow).release();
  config->deny_interfaces = avahi::make_string_list(settings_.deny).release();
  return config;
}

void EmbeddedResponder::refresh_interfaces() {
  std::vector<std::string> chosen = choose_interfaces(list_interfaces(), settings_.policy);
  if_indexes_.clear();
  for (const std::string& name : chosen) {
    if (const unsigned index = if_nametoindex(name.c_str()); index > 0)
      if_indexes_.insert(static_cast<int>(index));
  }
  addresses_ = local_addresses(chosen, settings_.use_ipv6);
}

void EmbeddedResponder::schedule_timer() {
  const AvahiPoll* api = avahi_threaded_poll_get(poll_.get());
  struct timeval when;
  avahi_elapse_time(&when, kInterfaceCheckMs, 0);
  if (timer_)
    timer_.update(&when);
  else
    timer_ = avahi::Timeout(api, api->timeout_new(api, &when, &on_timer, this));
}

void EmbeddedResponder::on_timer(AvahiTimeout*, void* self) {
  auto* me = static_cast<EmbeddedResponder*>(self);
  const std::set<int> old_indexes = me->if_indexes_;
  const std::vector<LocalAddress> old_addresses = me->addresses_;
  try {
    me->refresh_interfaces();
  } catch (const Error& e) {
    log::warn("discovery: {}", e.what());
  }
  const bool changed = old_indexes != me->if_indexes_ || old_addresses != me->addresses_;
  if (changed && me->running_) {
    log::info("discovery: interfaces or addresses changed; publishing again");
    me->reset_groups();
    me->publish(me->server_.get());
  }
  me->schedule_timer();
}

void EmbeddedResponder::on_server(AvahiServer* server, AvahiServerState state, void* self) {
  auto* me = static_cast<EmbeddedResponder*>(self);
  me->running_ = state == AVAHI_SERVER_RUNNING;
  switch (state) {
    case AVAHI_SERVER_RUNNING:
      me->publish(server);
      break;
    case AVAHI_SERVER_COLLISION: {
      avahi::Chars alternative(avahi_alternative_host_name(avahi_server_get_host_name(server)));
      log::warn("discovery: host name collision, renaming to {}", alternative.get());
      avahi_server_set_host_name(server, alternative.get());
      break;
    }
    case AVAHI_SERVER_REGISTERING:
      me->reset_groups();
      break;
    case AVAHI_SERVER_FAILURE:
      log::error("discovery: the embedded mDNS responder failed: {}",
                 avahi_strerror(avahi_server_errno(server)));
      break;
    case AVAHI_SERVER_INVALID:
      break;
  }
}

bool EmbeddedResponder::add_host_records(AvahiServer* server) {
  const char* host = avahi_server_get_host_name_fqdn(server);
  for (const LocalAddress& local : addresses_) {
    AvahiAddress address;
    const AvahiProtocol family = local.family == AF_INET ? AVAHI_PROTO_INET : AVAHI_PROTO_INET6;
    if (!avahi_address_parse(local.address.c_str(), family, &address)) continue;
    const int rc =
        avahi_server_add_address(server, host_group_.get(), static_cast<int>(local.if_index),
                                 AVAHI_PROTO_UNSPEC, AVAHI_PUBLISH_NO_REVERSE, host, &address);
    if (rc == AVAHI_ERR_COLLISION) {
      rename_host(server);
      return false;
    }
    if (rc < 0)
      log::warn("discovery: cannot publish address {}: {}", local.address, avahi_strerror(rc));
  }
  // No address yet (an interface still configuring): the timer publishes them once they exist.
  if (avahi_s_entry_group_is_empty(host_group_.get())) return true;
  return avahi_s_entry_group_commit(host_group_.get()) >= 0;
}

bool EmbeddedResponder::add_service_records(AvahiServer* server) {
  const avahi::StringList txt = avahi::make_string_list(settings_.txt);
  for (const int index : if_indexes_) {
    const int rc = avahi_server_add_service_strlst(
        server, service_group_.get(), index, AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0),
        name_.c_str(), kServiceType, nullptr, nullptr, settings_.port, txt.get());
    if (rc == AVAHI_ERR_COLLISION) {
      rename_service(server);
      return false;
    }
    if (rc < 0) {
      log::error("discovery: cannot publish '{}' on interface {}: {}", name_, index,
                 avahi_strerror(rc));
      return false;
    }
  }
  return avahi_s_entry_group_commit(service_group_.get()) >= 0;
}

bool EmbeddedResponder::ensure_groups(AvahiServer* server) {
  if (!host_group_) host_group_.reset(avahi_s_entry_group_new(server, &on_host_group, this));
  if (!service_group_)
    service_group_.reset(avahi_s_entry_group_new(server, &on_service_group, this));
  if (!host_group_ || !service_group_) {
    log::error("discovery: cannot create an mDNS entry group: {}",
               avahi_strerror(avahi_server_errno(server)));
    return false;
  }
  return true;
}

void EmbeddedResponder::reset_groups() {
  if (host_group_) avahi_s_entry_group_reset(host_group_.get());
  if (service_group_) avahi_s_entry_group_reset(service_group_.get());
}

void EmbeddedResponder::publish(AvahiServer* server) {
  if (settings_.port == 0) return;
  if (if_indexes_.empty()) {
    log::warn("discovery: no interface chosen for advertising; name one (e.g. 'lo') to advertise");
    return;
  }
  if (!ensure_groups(server)) return;
  if (avahi_s_entry_group_is_empty(host_group_.get()) && !add_host_records(server)) return;
  if (!avahi_s_entry_group_is_empty(service_group_.get()) || !add_service_records(server)) return;
  set_advertised_name(name_);
  log::info("discovery: advertising '{}' ({}) as {} port {}", name_, kServiceType,
            avahi_server_get_host_name_fqdn(server), settings_.port);
}

void EmbeddedResponder::rename_service(AvahiServer* server) {
  avahi::Chars alternative(avahi_alternative_service_name(name_.c_str()));
  log::warn("discovery: service name '{}' is taken on the link, using '{}'", name_,
            alternative.get());
  name_ = alternative.get();
  avahi_s_entry_group_reset(service_group_.get());
  publish(server);
}

void EmbeddedResponder::rename_host(AvahiServer* server) {
  avahi::Chars alternative(avahi_alternative_host_name(avahi_server_get_host_name(server)));
  log::warn("discovery: host name '{}' is taken on the link, using '{}'",
            avahi_server_get_host_name(server), alternative.get());
  reset_groups();
  // The SRV record names the host, so the service is published again too: setting the name runs
  // the server through REGISTERING -> RUNNING, whose callback publishes.
  if (avahi_server_set_host_name(server, alternative.get()) < 0) publish(server);
}

void EmbeddedResponder::on_service_group(AvahiServer* server, AvahiSEntryGroup*,
                                         AvahiEntryGroupState state, void* self) {
  auto* me = static_cast<EmbeddedResponder*>(self);
  if (state == AVAHI_ENTRY_GROUP_COLLISION) me->rename_service(server);
  if (state == AVAHI_ENTRY_GROUP_FAILURE) {
    log::error("discovery: publishing the service failed: {}",
               avahi_strerror(avahi_server_errno(server)));
  }
}

void EmbeddedResponder::on_host_group(AvahiServer* server, AvahiSEntryGroup*,
                                      AvahiEntryGroupState state, void* self) {
  auto* me = static_cast<EmbeddedResponder*>(self);
  if (state == AVAHI_ENTRY_GROUP_COLLISION) me->rename_host(server);
  if (state == AVAHI_ENTRY_GROUP_FAILURE) {
    log::error("discovery: publishing the host's addresses failed: {}",
               avahi_strerror(avahi_server_errno(server)));
  }
}

void EmbeddedResponder::on_browse(AvahiSServiceBrowser*, AvahiIfIndex if_index,
                                  AvahiProtocol protocol, AvahiBrowserEvent event, const char* name,
                                  const char*, const char*, AvahiLookupResultFlags, void* self) {
  auto* me = static_cast<EmbeddedResponder*>(self);
  const std::string instance = name ? name : "";
  if (event == AVAHI_BROWSER_NEW && me->if_indexes_.count(if_index)) {
    me->start_resolving(me->server_.get(), if_index, protocol, instance);
  } else if (event == AVAHI_BROWSER_REMOVE) {
    me->resolvers_.erase({if_index, protocol, instance});
    me->table_.removed(if_index, protocol, instance);
  } else if (event == AVAHI_BROWSER_FAILURE) {
    log::error("discovery: browsing failed");
  }
}

void EmbeddedResponder::start_resolving(AvahiServer* server, int if_index, int protocol,
                                        const std::string& name) {
  if (!server || resolvers_.count({if_index, protocol, name})) return;
  // Resolve the address family the service was seen over, so that a peer reachable over IPv4
  // and IPv6 reports both addresses (one resolver per sighting).
  avahi::CoreResolver resolver(
      avahi_s_service_resolver_new(server, if_index, protocol, name.c_str(), kServiceType, nullptr,
                                   protocol, AvahiLookupFlags(0), &on_resolve, this));
  if (!resolver) {
    log::warn("discovery: cannot resolve '{}': {}", name,
              avahi_strerror(avahi_server_errno(server)));
    return;
  }
  resolvers_.emplace(ResolverKey{if_index, protocol, name}, std::move(resolver));
}

void EmbeddedResponder::on_resolve(AvahiSServiceResolver*, AvahiIfIndex if_index,
                                   AvahiProtocol protocol, AvahiResolverEvent event,
                                   const char* name, const char*, const char*, const char* host,
                                   const AvahiAddress* address, uint16_t port, AvahiStringList* txt,
                                   AvahiLookupResultFlags, void* self) {
  auto* me = static_cast<EmbeddedResponder*>(self);
  if (event != AVAHI_RESOLVER_FOUND || !address) return;  // failures retry on the next sighting
  me->table_.resolved(if_index, protocol, avahi::resolved_service(name, host, *address, if_index, port, txt));
}

}  // namespace crossgpu::discovery
