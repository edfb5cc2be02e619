#include "net/discovery/avahi_client_library.hpp"

#include <dlfcn.h>

#include <mutex>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace crossgpu::discovery::avahi {

namespace {

constexpr const char* kLibrary = "libavahi-client.so.3";

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

template <typename F>
void bind(void* library, F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(library, name));
  if (!slot) fail(Errc::unsupported, "discovery: {} lacks {}", kLibrary, name);
}

ClientLibrary load() {
  if (kSanitized)
    fail(Errc::unsupported, "discovery: avahi-daemon mode is off in sanitizer builds");
  // Never closed: the library's D-Bus threads may outlive any owner we could give it.
  void* library = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!library) fail(Errc::unsupported, "discovery: cannot load {}: {}", kLibrary, dlerror());
  ClientLibrary lib{};
  bind(library, lib.client_new, "avahi_client_new");
  bind(library, lib.client_free, "avahi_client_free");
  bind(library, lib.client_errno, "avahi_client_errno");
  bind(library, lib.entry_group_new, "avahi_entry_group_new");
  bind(library, lib.entry_group_free, "avahi_entry_group_free");
  bind(library, lib.entry_group_commit, "avahi_entry_group_commit");
  bind(library, lib.entry_group_reset, "avahi_entry_group_reset");
  bind(library, lib.entry_group_is_empty, "avahi_entry_group_is_empty");
  bind(library, lib.entry_group_get_client, "avahi_entry_group_get_client");
  bind(library, lib.entry_group_add_service_strlst, "avahi_entry_group_add_service_strlst");
  bind(library, lib.service_browser_new, "avahi_service_browser_new");
  bind(library, lib.service_browser_free, "avahi_service_browser_free");
  bind(library, lib.service_browser_get_client, "avahi_service_browser_get_client");
  bind(library, lib.service_resolver_new, "avahi_service_resolver_new");
  bind(library, lib.service_resolver_free, "avahi_service_resolver_free");
  return lib;
}

}  // namespace

const ClientLibrary& client_library() {
  static std::mutex mutex;
  static std::optional<ClientLibrary> library;
  static std::optional<Error> failure;  // a failed load is not retried: the answer will not change
  std::lock_guard lock(mutex);
  if (!library && !failure) {
    try {
      library = load();
    } catch (const Error& e) {
      failure = e;
    }
  }
  if (failure) throw *failure;
  return *library;
}

}  // namespace crossgpu::discovery::avahi
