#include "net/discovery/resolved_service.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "net/discovery/txt_record.hpp"

namespace crossgpu::discovery {

namespace {

constexpr std::size_t kMaxInstanceNameBytes = 63;  // one DNS label

const std::string& required(const std::map<std::string, std::string>& txt, const char* key,
                            const std::string& instance) {
  const auto it = txt.find(key);
  if (it == txt.end()) {
    fail(Errc::invalid_argument, "service '{}' lacks the TXT key '{}': not a crossgpu node",
         instance, key);
  }
  return it->second;
}

bool is_zone_name(std::string_view zone) {
  return !zone.empty() && zone.size() < 16 && std::all_of(zone.begin(), zone.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

bool is_numeric_address(const std::string& text) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, text.c_str(), buffer) == 1) return true;
  const std::size_t percent = text.find('%');
  const std::string ip = text.substr(0, percent);
  if (percent != std::string::npos && !is_zone_name(std::string_view(text).substr(percent + 1)))
    return false;
  return inet_pton(AF_INET6, ip.c_str(), buffer) == 1;
}

PeerCandidate to_candidate(const ResolvedService& service) {
  const std::string instance = sanitize_display(service.instance_name);
  if (service.instance_name.empty() || service.instance_name.size() > kMaxInstanceNameBytes ||
      instance != service.instance_name) {
    fail(Errc::invalid_argument,
         "service instance name '{}' is empty, too long or not printable UTF-8", instance);
  }
  if (service.port == 0) fail(Errc::invalid_argument, "service '{}' advertises port 0", instance);
  const auto txt = decode_txt(service.txt);
  const std::string& id = required(txt, "id", instance);
  if (!is_valid_node_id(id)) {
    fail(Errc::invalid_argument,
         "service '{}' has a malformed node id '{}' (want 16 to 64 hex digits)", instance,
         sanitize_display(id));
  }
  PeerCandidate peer;
  peer.source = PeerSource::mdns;
  peer.protocol = parse_protocol_version(required(txt, "proto", instance));
  peer.node_id = id;
  std::transform(peer.node_id.begin(), peer.node_id.end(), peer.node_id.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  for (const std::string& address : service.addresses) {
    if (!is_numeric_address(address)) {
      fail(Errc::invalid_argument, "service '{}' resolved to a non-numeric address '{}'", instance,
           sanitize_display(address));
    }
  }
  peer.instance_name = service.instance_name;
  peer.host = sanitize_display(service.host_name);
  peer.addresses = service.addresses;
  peer.port = service.port;
  if (const auto it = txt.find("devices"); it != txt.end())
    peer.devices = sanitize_display(it->second);
  for (const auto& [key, value] : txt)
    peer.txt.emplace(sanitize_display(key), sanitize_display(value));
  return peer;
}

}  // namespace crossgpu::discovery
