// libavahi-client, loaded at run time. It cannot be linked into a process that also links
// libavahi-core: both export `avahi_entry_group_free` (with different signatures), and
// avahi-core's own calls then land in avahi-client's function and crash. Loading it with
// RTLD_LOCAL | RTLD_DEEPBIND keeps each library bound to its own symbol.
#pragma once

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>

#include <memory>

namespace crossgpu::discovery::avahi {

struct ClientLibrary {
  decltype(&avahi_client_new) client_new;
  decltype(&avahi_client_free) client_free;
  decltype(&avahi_client_errno) client_errno;
  decltype(&avahi_entry_group_new) entry_group_new;
  decltype(&avahi_entry_group_free) entry_group_free;
  decltype(&avahi_entry_group_commit) entry_group_commit;
  decltype(&avahi_entry_group_reset) entry_group_reset;
  decltype(&avahi_entry_group_is_empty) entry_group_is_empty;
  decltype(&avahi_entry_group_get_client) entry_group_get_client;
  decltype(&avahi_entry_group_add_service_strlst) entry_group_add_service_strlst;
  decltype(&avahi_service_browser_new) service_browser_new;
  decltype(&avahi_service_browser_free) service_browser_free;
  decltype(&avahi_service_browser_get_client) service_browser_get_client;
  decltype(&avahi_service_resolver_new) service_resolver_new;
  decltype(&avahi_service_resolver_free) service_resolver_free;
};

// Loads the library once. Throws Errc::unsupported when it is missing or incomplete, or in
// sanitizer builds (AddressSanitizer refuses RTLD_DEEPBIND).
const ClientLibrary& client_library();

struct ClientDeleter {
  void operator()(AvahiClient* p) const noexcept { client_library().client_free(p); }
  void operator()(AvahiEntryGroup* p) const noexcept { client_library().entry_group_free(p); }
  void operator()(AvahiServiceBrowser* p) const noexcept {
    client_library().service_browser_free(p);
  }
  void operator()(AvahiServiceResolver* p) const noexcept {
    client_library().service_resolver_free(p);
  }
};

using Client = std::unique_ptr<AvahiClient, ClientDeleter>;
using ClientEntryGroup = std::unique_ptr<AvahiEntryGroup, ClientDeleter>;
using ClientBrowser = std::unique_ptr<AvahiServiceBrowser, ClientDeleter>;
using ClientResolver = std::unique_ptr<AvahiServiceResolver, ClientDeleter>;

}  // namespace crossgpu::discovery::avahi
