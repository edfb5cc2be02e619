// The one error model of crossgpu: a stable code plus a message that says what was wrong and
// what to do about it. Thrown as an exception inside C++; converted to codes at the C ABI.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace crossgpu {

// Stable numeric values: they cross the C ABI and the wire. Append only.
enum class Errc : std::int32_t {
  ok = 0,
  invalid_argument = 1,   // a parameter is malformed (null, zero where not allowed, bad enum)
  out_of_range = 2,       // offset/size outside the object it addresses
  out_of_memory = 3,      // an allocation could not be satisfied
  unsupported = 4,        // the device or build lacks a needed capability
  not_found = 5,          // a named object (device, kernel, file) does not exist
  wrong_device = 6,       // an object of one device was used with another
  freed_handle = 7,       // a handle whose object was already freed (or was never valid)
  misaligned = 8,         // an offset or size breaks an alignment rule
  device_lost = 9,        // the driver reported the device as lost
  timeout = 10,           // a wait ran past its limit
  backend_failure = 11,   // the backend API failed in a way not covered above
  io = 12,                // file or socket I/O failed
  internal = 13,          // a broken invariant inside crossgpu: a bug, please report
  permission_denied = 14, // the caller's identity or role does not allow this
};

// The highest code this build knows (codes are appended, never renumbered).
inline constexpr Errc last_errc = Errc::permission_denied;

std::string_view errc_name(Errc code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Errc code, std::string message)
      : std::runtime_error(std::move(message)), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

// Throws Error{code, formatted message}. Keeps call sites to one line.
template <typename... Args>
[[noreturn]] void fail(Errc code, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

// Human-readable byte counts for messages ("1.50 GiB").
std::string format_bytes(std::uint64_t bytes);

}  // namespace crossgpu
