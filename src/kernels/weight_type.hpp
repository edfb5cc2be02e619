// The storage formats of weight matrices that the weight kernels (ops_weights.hpp) read as they
// are, without a conversion pass: the ggml / GGUF tensor types a llama.cpp model file uses.
// The enum values are ggml's type numbers, so a GGUF tensor's type converts by value.
//
// A row of `cols` elements is cols / block_elements(type) blocks of block_bytes(type) bytes,
// stored back to back; rows are stored back to back too (row r starts at r * row_bytes).
// Block layouts: kernels/reference/quant.hpp.
#pragma once

#include <cstdint>
#include <optional>

namespace crossgpu::kernels {

enum class WeightType : std::uint32_t { f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_k = 12, q6_k = 14 };

// The WeightType of a ggml type number, or nullopt for a type the kernels cannot read.
std::optional<WeightType> weight_type_from(std::uint32_t ggml_type);

const char* to_string(WeightType type);

// Elements per block: 1 for f32 and f16, 32 for q4_0 and q8_0, 256 for the k-quants.
std::uint64_t block_elements(WeightType type);
// Bytes per block: 4, 2, 18, 34, 144, 210.
std::uint64_t block_bytes(WeightType type);
// Bytes of a row of `cols` elements; Errc::invalid_argument unless cols is a multiple of
// block_elements(type) (a block is never split across rows).
std::uint64_t row_bytes(WeightType type, std::uint64_t cols);

}  // namespace crossgpu::kernels
