// A member's work in the hostile-load tests (test_hardening_*): what must keep succeeding,
// bit-exact, while others flood the node.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "device/buffer.hpp"
#include "device/device.hpp"
#include "support/test_support.hpp"

namespace crossgpu::testing {

// Uploads `buffer.size()` bytes drawn from `seed` into `buffer` and reads them back; true when
// they come back unchanged.
inline bool round_trip_bit_exact(Device& device, Buffer& buffer, std::uint32_t seed) {
  const auto data = random_bytes(static_cast<std::size_t>(buffer.size()), seed);
  device.stream().upload(buffer, 0, std::span<const std::byte>(data)).wait();
  std::vector<std::byte> back(data.size());
  device.stream().download(buffer, 0, std::span(back)).wait();
  return back == data;
}

}  // namespace crossgpu::testing
