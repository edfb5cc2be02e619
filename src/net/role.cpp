#include "core/error.hpp"
#include "net/security.hpp"

namespace crossgpu::net {

std::string_view to_string(Role role) noexcept {
  switch (role) {
    case Role::monitor:
      return "monitor";
    case Role::compute:
      return "compute";
    case Role::admin:
      return "admin";
  }
  return "unknown";
}

Role parse_role(std::string_view text) {
  if (text == "monitor") return Role::monitor;
  if (text == "compute") return Role::compute;
  if (text == "admin") return Role::admin;
  // Echo at most a short prefix: the text may come from the wire.
  fail(Errc::invalid_argument, "unknown role '{}': use monitor, compute or admin",
       text.substr(0, 32));
}

// The enum is ordered by rights, so inclusion is a comparison.
bool role_allows(Role have, Role need) noexcept {
  return static_cast<int>(have) >= static_cast<int>(need);
}

}  // namespace crossgpu::net
