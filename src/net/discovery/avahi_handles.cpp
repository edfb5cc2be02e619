#include "net/discovery/avahi_handles.hpp"

#include <avahi-common/address.h>
#include <net/if.h>

#include <string>
#include <vector>

namespace crossgpu::discovery::avahi {

StringList make_string_list(const std::vector<std::string>& strings) {
  AvahiStringList* list = nullptr;
  for (auto it = strings.rbegin(); it != strings.rend(); ++it) {
    list = avahi_string_list_add_arbitrary(list, reinterpret_cast<const uint8_t*>(it->data()),
                                           it->size());
  }
  return StringList(list);
}

std::vector<std::string> to_strings(AvahiStringList* list) {
  std::vector<std::string> out;
  for (AvahiStringList* it = list; it; it = avahi_string_list_get_next(it)) {
    out.emplace_back(reinterpret_cast<const char*>(avahi_string_list_get_text(it)),
                     avahi_string_list_get_size(it));
  }
  return out;
}

std::string address_text(const AvahiAddress& address, int if_index) {
  char text[AVAHI_ADDRESS_STR_MAX] = {};
  avahi_address_snprint(text, sizeof text, &address);
  std::string out = text;
  // A link-local IPv6 address means nothing without its interface: append the zone.
  const bool link_local = address.proto == AVAHI_PROTO_INET6 &&
                          address.data.ipv6.address[0] == 0xfe &&
                          (address.data.ipv6.address[1] & 0xc0) == 0x80;
  char name[IF_NAMESIZE] = {};
  if (link_local && if_index > 0 && if_indextoname(static_cast<unsigned>(if_index), name)) {
    out += '%';
    out += name;
  }
  return out;
}

ResolvedService resolved_service(const char* name, const char* host, const AvahiAddress& address,
                                 int if_index, std::uint16_t port, AvahiStringList* txt) {
  return ResolvedService{name ? name : "", host ? host : "", {address_text(address, if_index)}, port,
                         to_strings(txt)};
}

}  // namespace crossgpu::discovery::avahi
