// RAII owners for the avahi-core and avahi-common objects crossgpu creates (avahi-client's are in
// avahi_client_library.hpp). Avahi objects must be freed while their
// poll thread is stopped or locked; the owners here free, the backends order the stops.
#pragma once

#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>
#include <avahi-core/core.h>
#include <avahi-core/lookup.h>
#include <avahi-core/publish.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/discovery/resolved_service.hpp"

namespace crossgpu::discovery::avahi {

template <typename T, auto Free>
struct Deleter {
  void operator()(T* p) const noexcept {
    if (p) Free(p);
  }
};

template <typename T, auto Free>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

// Stops the thread (joining it) before freeing; stopping a never-started poll is harmless.
inline void stop_and_free(AvahiThreadedPoll* poll) {
  avahi_threaded_poll_stop(poll);
  avahi_threaded_poll_free(poll);
}

using ThreadedPoll = Handle<AvahiThreadedPoll, stop_and_free>;
using StringList = Handle<AvahiStringList, avahi_string_list_free>;
using Chars = Handle<char, avahi_free>;

// avahi-core (embedded responder)
using Server = Handle<AvahiServer, avahi_server_free>;
// avahi_server_config_free frees the members only; the struct is ours to free.
inline void free_config(AvahiServerConfig* c) {
  avahi_server_config_free(c);
  avahi_free(c);
}
using ServerConfig = Handle<AvahiServerConfig, free_config>;
using CoreEntryGroup = Handle<AvahiSEntryGroup, avahi_s_entry_group_free>;
using CoreBrowser = Handle<AvahiSServiceBrowser, avahi_s_service_browser_free>;
using CoreResolver = Handle<AvahiSServiceResolver, avahi_s_service_resolver_free>;

// A timer on an Avahi poll; freed through the poll that made it.
class Timeout {
 public:
  Timeout() = default;
  Timeout(const AvahiPoll* api, AvahiTimeout* timeout) : api_(api), timeout_(timeout) {}
  Timeout(Timeout&& other) noexcept
      : api_(other.api_), timeout_(std::exchange(other.timeout_, nullptr)) {}
  Timeout& operator=(Timeout&& other) noexcept {
    std::swap(api_, other.api_);
    std::swap(timeout_, other.timeout_);
    return *this;
  }
  ~Timeout() {
    if (timeout_) api_->timeout_free(timeout_);
  }
  explicit operator bool() const noexcept { return timeout_ != nullptr; }
  void update(const struct timeval* when) { api_->timeout_update(timeout_, when); }

 private:
  const AvahiPoll* api_ = nullptr;
  AvahiTimeout* timeout_ = nullptr;
};

// Holds the threaded poll's lock for a scope (needed for any call from outside its thread).
class PollLock {
 public:
  explicit PollLock(AvahiThreadedPoll* poll) : poll_(poll) { avahi_threaded_poll_lock(poll_); }
  ~PollLock() { avahi_threaded_poll_unlock(poll_); }
  PollLock(const PollLock&) = delete;
  PollLock& operator=(const PollLock&) = delete;

 private:
  AvahiThreadedPoll* poll_;
};

// The Avahi string list for a list of TXT strings (built in order: avahi prepends).
StringList make_string_list(const std::vector<std::string>& strings);
std::vector<std::string> to_strings(AvahiStringList* list);
std::string address_text(const AvahiAddress& address, int if_index);

// What both resolvers (daemon client and embedded responder) report for a resolved service.
ResolvedService resolved_service(const char* name, const char* host, const AvahiAddress& address,
                                 int if_index, std::uint16_t port, AvahiStringList* txt);

}  // namespace crossgpu::discovery::avahi
