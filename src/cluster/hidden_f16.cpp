#include "cluster/hidden_f16.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.hpp"
#include "kernels/reference/half.hpp"

namespace crossgpu::cluster {

std::vector<std::byte> narrow_to_f16(std::span<const std::byte> f32) {
  if (f32.size() % sizeof(float) != 0) {
    fail(Errc::invalid_argument, "an f32 hidden state of {} bytes is no whole number of floats", f32.size());
  }
  std::vector<std::byte> f16(f32.size() / 2);
  for (std::size_t i = 0; i < f32.size() / sizeof(float); ++i) {
    float value = 0;
    std::memcpy(&value, f32.data() + i * sizeof(float), sizeof(float));
    const std::uint16_t half = reference::bits(reference::to_half(value));
    std::memcpy(f16.data() + i * sizeof(half), &half, sizeof(half));
  }
  return f16;
}

void widen_from_f16(std::span<const std::byte> f16, std::span<std::byte> f32) {
  if (f16.size() % sizeof(std::uint16_t) != 0) {
    fail(Errc::invalid_argument, "an f16 hidden state of {} bytes is no whole number of halves", f16.size());
  }
  if (f32.size() != f16.size() * 2) {
    fail(Errc::out_of_range, "an f16 hidden state of {} bytes widens to {} bytes, not {}", f16.size(),
         f16.size() * 2, f32.size());
  }
  for (std::size_t i = 0; i < f16.size() / sizeof(std::uint16_t); ++i) {
    std::uint16_t half = 0;
    std::memcpy(&half, f16.data() + i * sizeof(half), sizeof(half));
    const float value = reference::to_float(static_cast<reference::Half>(half));
    std::memcpy(f32.data() + i * sizeof(float), &value, sizeof(float));
  }
}

void round_to_f16_values(std::span<std::byte> f32) {
  widen_from_f16(narrow_to_f16(f32), f32);  // narrow checks the size
}

std::uint32_t largest_value_index(std::span<const std::byte> f32) {
  const std::size_t n = f32.size() / sizeof(float);
  if (n == 0 || f32.size() % sizeof(float) != 0) {
    fail(Errc::invalid_argument, "a row of {} bytes is no row of f32 logits", f32.size());
  }
  std::size_t best = n;
  float best_value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float value = 0;
    std::memcpy(&value, f32.data() + i * sizeof(float), sizeof(float));
    if (std::isnan(value)) continue;
    if (best == n || value > best_value) {
      best = i;
      best_value = value;
    }
  }
  if (best == n) fail(Errc::invalid_argument, "every logit is NaN: the model's output is broken");
  return static_cast<std::uint32_t>(best);
}

}  // namespace crossgpu::cluster
