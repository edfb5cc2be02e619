#include "core/error.hpp"

namespace crossgpu {

std::string_view errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::out_of_range: return "out_of_range";
    case Errc::out_of_memory: return "out_of_memory";
    case Errc::unsupported: return "unsupported";
    case Errc::not_found: return "not_found";
    case Errc::wrong_device: return "wrong_device";
    case Errc::freed_handle: return "freed_handle";
    case Errc::misaligned: return "misaligned";
    case Errc::device_lost: return "device_lost";
    case Errc::timeout: return "timeout";
    case Errc::backend_failure: return "backend_failure";
    case Errc::io: return "io";
    case Errc::internal: return "internal";
    case Errc::permission_denied: return "permission_denied";
  }
  return "unknown";
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.2f} {}", value, units[unit]);
}

}  // namespace crossgpu
