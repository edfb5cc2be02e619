#include "net/discovery/peer_table.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/log.hpp"

namespace crossgpu::discovery {

namespace {

bool same(const PeerCandidate& a, const PeerCandidate& b) {
  return a.node_id == b.node_id && a.host == b.host && a.addresses == b.addresses &&
         a.port == b.port && a.txt == b.txt;
}

}  // namespace

PeerTable::PeerTable(std::string own_node_id, Sink sink)
    : own_node_id_(std::move(own_node_id)), sink_(std::move(sink)) {}

PeerCandidate PeerTable::merge(const Entry& entry) {
  // The newest resolution carries TXT and port; addresses are the union, sorted for stable output.
  PeerCandidate merged;
  for (const auto& [sighting, candidate] : entry.sightings) {
    std::vector<std::string> addresses = merged.addresses;
    merged = candidate;
    for (const std::string& a : addresses) {
      if (std::find(merged.addresses.begin(), merged.addresses.end(), a) ==
          merged.addresses.end()) {
        merged.addresses.push_back(a);
      }
    }
  }
  std::sort(merged.addresses.begin(), merged.addresses.end());
  return merged;
}

void PeerTable::update(const std::string& instance, Entry& entry, std::vector<PeerEvent>& events) {
  if (entry.sightings.empty()) {
    events.push_back({PeerEventKind::lost, entry.merged});
    entries_.erase(instance);
    return;
  }
  PeerCandidate merged = merge(entry);
  const bool is_new = entry.merged.node_id.empty();
  if (is_new || !same(merged, entry.merged)) {
    entry.merged = merged;
    events.push_back({is_new ? PeerEventKind::found : PeerEventKind::updated, std::move(merged)});
  }
}

std::optional<PeerCandidate> PeerTable::validated(const ResolvedService& service) {
  try {
    return to_candidate(service);
  } catch (const Error& e) {
    std::lock_guard lock(mutex_);
    // Logged once per instance and reason; bounded so that a flood of bogus names cannot grow it.
    if (rejected_.size() >= kMaxRememberedRejections) rejected_.clear();
    auto [it, first] = rejected_.emplace(service.instance_name, e.what());
    if (first || it->second != e.what()) log::warn("discovery: ignoring {}", e.what());
    it->second = e.what();
    return std::nullopt;
  }
}

void PeerTable::resolved(int if_index, int protocol, const ResolvedService& service) {
  std::optional<PeerCandidate> candidate = validated(service);
  if (!candidate || candidate->node_id == own_node_id_) {
    // A sighting that turned invalid (its TXT changed) no longer counts for the peer.
    removed(if_index, protocol, service.instance_name);
    return;
  }
  std::vector<PeerEvent> events;
  {
    std::lock_guard lock(mutex_);
    Entry& entry = entries_[service.instance_name];
    entry.sightings[{if_index, protocol}] = std::move(*candidate);
    update(service.instance_name, entry, events);
  }
  emit(events);
}

void PeerTable::removed(int if_index, int protocol, const std::string& instance_name) {
  std::vector<PeerEvent> events;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(instance_name);
    if (it == entries_.end() || it->second.sightings.erase({if_index, protocol}) == 0) return;
    update(instance_name, it->second, events);
  }
  emit(events);
}

void PeerTable::announce(const PeerCandidate& candidate) {
  {
    std::lock_guard lock(mutex_);
    announced_.push_back(candidate);
  }
  emit({{PeerEventKind::found, candidate}});
}

std::vector<PeerCandidate> PeerTable::peers() const {
  std::lock_guard lock(mutex_);
  std::vector<PeerCandidate> out = announced_;
  for (const auto& [instance, entry] : entries_) out.push_back(entry.merged);
  return out;
}

void PeerTable::emit(const std::vector<PeerEvent>& events) {
  // Outside the table lock: the sink may call peers().
  for (const PeerEvent& event : events) {
    log::debug("discovery: {} {} ({}) port {}", event_kind_name(event.kind),
               event.peer.instance_name, event.peer.node_id, event.peer.port);
    if (sink_) sink_(event);
  }
}

}  // namespace crossgpu::discovery
