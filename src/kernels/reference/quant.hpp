// The weight formats of kernels/weight_type.hpp as bytes: the ground truth that the weight
// kernels (shaders and CPU) are compared with, and the encoder that tests and tools use to make
// such weights. Blocks are laid out exactly as ggml stores them, little endian, fields in order:
//
//   f32   4 bytes per element.                      f16   2 bytes per element (IEEE binary16).
//   bf16  2 bytes per element: the top half of an f32 (value = bits << 16).
//   q4_0  32 elements in 18 bytes: {f16 d; u8 qs[16]}. Element j < 16 is the low nibble of
//         qs[j], element j + 16 its high nibble; value = d * (nibble - 8).
//   q4_1  32 elements in 20 bytes: {f16 d; f16 m; u8 qs[16]}, nibbles as q4_0;
//         value = d * nibble + m.
//   q5_0  32 elements in 22 bytes: {f16 d; u8 qh[4]; u8 qs[16]}: nibbles as q4_0, and the fifth
//         (high) bit of element j is bit j of qh read as a little-endian u32; value = d * (q - 16).
//   q5_1  32 elements in 24 bytes: {f16 d; f16 m; u8 qh[4]; u8 qs[16]}, q as q5_0;
//         value = d * q + m.
//   iq4_nl 32 elements in 18 bytes: {f16 d; u8 qs[16]}, nibbles as q4_0; value = d * K[nibble]
//         with K = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}.
//   q8_0  32 elements in 34 bytes: {f16 d; i8 qs[32]}; value = d * qs[j].
//   q4_k  256 elements in 144 bytes: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}, 8 sub-blocks
//         of 32. Sub-block s has a 6-bit scale sc and a 6-bit min m packed in `scales`: for
//         s < 4, sc = scales[s] & 63 and m = scales[s + 4] & 63; for s >= 4, the low 4 bits come
//         from scales[s + 4] (sc: low nibble, m: high nibble) and the high 2 bits from the top
//         bits of scales[s - 4] (sc) and scales[s] (m). Element l of sub-block s is a nibble of
//         qs[32 * (s / 2) + l], low for even s, high for odd s; value = d * sc * q - dmin * m.
//   q5_k  256 elements in 176 bytes: {f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}:
//         q4_k's scales and nibbles (qs now at byte 48), and the fifth bit of element l of
//         sub-block s is bit s of qh[l]; value = d * sc * q - dmin * m, q in [0, 31].
//   q6_k  256 elements in 210 bytes: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}. Element
//         e = 128 * n + 32 * g + l (n < 2, g < 4, l < 32) has the 6-bit q whose low 4 bits are
//         the nibble of ql[64 * n + 32 * (g % 2) + l] (low for g < 2, high for g >= 2) and whose
//         high 2 bits are bits 2g, 2g + 1 of qh[32 * n + l]; value = d * scales[e / 16] * (q - 32).
#pragma once

#include <cstddef>
#include <span>

#include "kernels/weight_type.hpp"

namespace crossgpu::kernels::reference {

// dst.size() elements from the row at `src`, which must hold exactly
// row_bytes(type, dst.size()) bytes (Errc::invalid_argument otherwise, also when dst.size() is
// not a multiple of block_elements(type)).
void dequantize_row(WeightType type, std::span<const std::byte> src, std::span<float> dst);

// Encodes src.size() elements into `dst`, which must hold exactly row_bytes(type, src.size())
// bytes. Not ggml's optimal search: each block takes the scale of its largest magnitude (q4_0,
// q5_0, q8_0, q6_k, iq4_nl) or of its range (q4_1, q5_1, q4_k, q5_k), so the error per element
// is at most about half a step of its block (iq4_nl: half the gap between its nearest levels).
// f16 and bf16 round to nearest even. Non-finite inputs are Errc::invalid_argument for the
// quantized types.
void quantize_row(WeightType type, std::span<const float> src, std::span<std::byte> dst);

// sum_c row[c] * x[c], of the dequantized row, accumulated in double and rounded once;
// x.size() is the row's element count.
float dot_row(WeightType type, std::span<const std::byte> row, std::span<const float> x);

}  // namespace crossgpu::kernels::reference
