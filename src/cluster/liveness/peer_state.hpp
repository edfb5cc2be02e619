// The states a peer goes through as this node sees it. The names are the strings of
// PeerStatus.state in proto/crossgpu/v1/node.proto.
#pragma once

#include <optional>
#include <string_view>

namespace crossgpu::liveness {

enum class PeerState {
  joining,  // known (discovered or seeded) but never answered a heartbeat yet
  healthy,  // answered recently
  suspect,  // missed several heartbeats in a row; operations may still succeed
  lost,     // silent past the loss timeout; operations on it fail, reconnection runs with backoff
};

std::string_view state_name(PeerState state) noexcept;
std::optional<PeerState> parse_state(std::string_view name) noexcept;

}  // namespace crossgpu::liveness
