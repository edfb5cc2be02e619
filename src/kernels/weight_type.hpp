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
#include <string_view>

namespace crossgpu::kernels {

enum class WeightType : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  iq4_nl = 20,
  bf16 = 30,
};

// Every WeightType, in ggml's order.
inline constexpr WeightType kWeightTypes[] = {
    WeightType::f32,  WeightType::f16,  WeightType::q4_0, WeightType::q4_1,   WeightType::q5_0, WeightType::q5_1,
    WeightType::q8_0, WeightType::q4_k, WeightType::q5_k, WeightType::q6_k, WeightType::iq4_nl, WeightType::bf16};

// The WeightType of a ggml type number, or nullopt for a type the kernels cannot read.
std::optional<WeightType> weight_type_from(std::uint32_t ggml_type);

const char* to_string(WeightType type);

// The WeightType named `name` as to_string spells it ("q5_k"), or nullopt.
std::optional<WeightType> weight_type_named(std::string_view name);

// The names of every WeightType, comma separated ("f32, f16, ..."), for messages and help.
const char* weight_type_names();

// Elements per block: 1 for f32, f16 and bf16, 256 for the k-quants, 32 for the others.
std::uint64_t block_elements(WeightType type);
// Bytes per block: f32 4, f16 2, q4_0 18, q4_1 20, q5_0 22, q5_1 24, q8_0 34, q4_k 144, q5_k 176,
// q6_k 210, iq4_nl 18, bf16 2.
std::uint64_t block_bytes(WeightType type);
// Bytes of a row of `cols` elements; Errc::invalid_argument unless cols is a multiple of
// block_elements(type) (a block is never split across rows).
std::uint64_t row_bytes(WeightType type, std::uint64_t cols);

}  // namespace crossgpu::kernels
