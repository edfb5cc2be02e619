// What a decode chain moves on the wire besides f32 as it is. Hidden states as f16 (docs/PROTOCOL.md, "Decode chains"): a stage's f32 output is
// narrowed before it leaves a node (or the client) and widened where it arrives, halving the
// bytes of each hop. Devices keep computing in f32; only the copy in flight is f16. IEEE binary16
// with round to nearest, ties to even (kernels/reference/half.hpp): a hidden state's values
// (|x| well under 65504) keep 11 significant bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace crossgpu::cluster {

// `f32` (a whole number of floats, else Errc::invalid_argument) as f16: half the bytes.
std::vector<std::byte> narrow_to_f16(std::span<const std::byte> f32);

// `f16` (a whole number of halves, else Errc::invalid_argument) widened into `f32`, which must
// hold exactly twice its bytes (Errc::out_of_range otherwise). Exact.
void widen_from_f16(std::span<const std::byte> f16, std::span<std::byte> f32);

// Each f32 of `f32` (a whole number of floats, else Errc::invalid_argument) replaced in place by
// the nearest f16 value, as narrowing and widening give it: an f16 boundary crossed as f32 bytes
// (a pipelined prefill's node-to-node copy).
void round_to_f16_values(std::span<std::byte> f32);

// The greedy token of a row of f32 logits, as model::argmax picks it: the index of the largest
// value, the first on ties, NaN never winning. Errc::invalid_argument for an empty row, one that
// is no whole number of floats, or one that is all NaN.
std::uint32_t largest_value_index(std::span<const std::byte> f32);

}  // namespace crossgpu::cluster
