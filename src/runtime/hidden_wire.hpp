// How a hidden state crosses a stage boundary (issue 14, docs/PROTOCOL.md "Decode chains"): as
// f16 by default (half the bytes on a chain's hops), or as f32 (exact: the tokens of one device).
// Whatever carries it (relayed through this process inside the stages' requests, chained node to
// node, a prefill batch or a decode step, to a local or a remote stage), an f16 boundary rounds
// every value the same way, to the nearest f16 (ties to even), so a chained run, a relayed run
// and a run that recovers mid-way on the same split compute the same numbers. Devices keep
// computing in f32: only the value handed to the next stage is rounded.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

#include "core/error.hpp"
#include "kernels/reference/half.hpp"

namespace crossgpu::runtime {

enum class HiddenWire { f16, f32 };

// CROSSGPU_CHAIN_HIDDEN=f16 or =f32 when set, else `wanted` (exactness tests ask for f32).
inline HiddenWire hidden_wire(HiddenWire wanted = HiddenWire::f16) {
  const char* value = std::getenv("CROSSGPU_CHAIN_HIDDEN");
  if (value != nullptr && std::string_view(value) == "f16") return HiddenWire::f16;
  if (value != nullptr && std::string_view(value) == "f32") return HiddenWire::f32;
  return wanted;
}

inline std::string_view to_string(HiddenWire wire) noexcept { return wire == HiddenWire::f16 ? "f16" : "f32"; }

// Rounds each f32 of `f32` (a whole number of floats, else Errc::invalid_argument) in place to
// the nearest f16, as widening an f16 hop's value gives it back: what an f16 boundary does.
inline void round_to_f16(std::span<std::byte> f32) {
  if (f32.size() % sizeof(float) != 0) {
    fail(Errc::invalid_argument, "a hidden state of {} bytes is no whole number of f32 values", f32.size());
  }
  for (std::size_t at = 0; at < f32.size(); at += sizeof(float)) {
    float value = 0;
    std::memcpy(&value, f32.data() + at, sizeof(float));
    value = reference::to_float(reference::to_half(value));
    std::memcpy(f32.data() + at, &value, sizeof(float));
  }
}

}  // namespace crossgpu::runtime
