#include "cluster/liveness/peer_state.hpp"

namespace crossgpu::liveness {

std::string_view state_name(PeerState state) noexcept {
  switch (state) {
    case PeerState::joining:
      return "joining";
    case PeerState::healthy:
      return "healthy";
    case PeerState::suspect:
      return "suspect";
    case PeerState::lost:
      return "lost";
  }
  return "unknown";
}

std::optional<PeerState> parse_state(std::string_view name) noexcept {
  for (PeerState state :
       {PeerState::joining, PeerState::healthy, PeerState::suspect, PeerState::lost}) {
    if (state_name(state) == name) return state;
  }
  return std::nullopt;
}

}  // namespace crossgpu::liveness
