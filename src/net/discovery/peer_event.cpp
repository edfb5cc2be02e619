#include "net/discovery/peer_event.hpp"

namespace crossgpu::discovery {

const char* event_kind_name(PeerEventKind kind) noexcept {
  switch (kind) {
    case PeerEventKind::found:
      return "found";
    case PeerEventKind::updated:
      return "updated";
    case PeerEventKind::lost:
      return "lost";
  }
  return "unknown";
}

}  // namespace crossgpu::discovery
