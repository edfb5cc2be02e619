// The push-constant blocks of the weight kernels (kernels/ops_weights.hpp), mirrored member for
// member by the shaders named beside each struct; 4-byte scalars only, like push_constants.hpp.
//
// The weight matrix is bound as 32-bit words (the shaders extract bytes and halves with shifts,
// so they need no 8- or 16-bit storage feature): `w_offset` counts BYTES from the start of the
// bound range to the first row, and the bound range is a whole number of words. Every other
// offset counts f32 (or u32) elements, as in push_constants.hpp. `type` is a WeightType value.
#pragma once

#include <cstdint>

namespace crossgpu::kernels {

// Workgroup shapes, as declared in the shaders (local_size_x).
inline constexpr std::uint32_t kWeightRowThreads = 128;     // matvec_weights: one row per group
inline constexpr std::uint32_t kWeightMatmulThreads = 64;   // matmul_weights: one token each
inline constexpr std::uint32_t kWeightMatmulRows = 16;      // rows of W per matmul group
inline constexpr std::uint32_t kWeightGetRowsThreads = 64;  // get_rows_weights: one id per group

// matvec_weights.comp: y[r] = W[r, :] . x for r < rows. Groups: x = rows.
struct WeightsMatvecPush {
  std::uint32_t rows;
  std::uint32_t cols;
  std::uint32_t type;
  std::uint32_t w_offset;  // bytes
  std::uint32_t x_offset;
  std::uint32_t y_offset;
};
static_assert(sizeof(WeightsMatvecPush) == 24);

// matmul_weights.comp: Y[t, r] = X[t, :] . W[r, :] for t < tokens, r < rows; X is dense
// (row stride cols), Y has row stride ldy. Groups: x = ceil(rows / kWeightMatmulRows),
// y = ceil(tokens / kWeightMatmulThreads).
struct WeightsMatmulPush {
  std::uint32_t rows;
  std::uint32_t cols;
  std::uint32_t tokens;
  std::uint32_t type;
  std::uint32_t w_offset;  // bytes
  std::uint32_t x_offset;
  std::uint32_t y_offset;
  std::uint32_t ldy;
};
static_assert(sizeof(WeightsMatmulPush) == 32);

// get_rows_weights.comp: out[i, :] = row min(ids[i], table_rows - 1) of the table, for i <
// count, written only by the dispatch whose bound slice of the table, rows [row_first,
// row_first + row_count), holds that row (the op binds a large table in several slices).
// Groups: x = count.
struct WeightsGetRowsPush {
  std::uint32_t count;
  std::uint32_t cols;
  std::uint32_t type;
  std::uint32_t table_rows;
  std::uint32_t row_first;
  std::uint32_t row_count;
  std::uint32_t w_offset;  // bytes, to row row_first
  std::uint32_t ids_offset;
  std::uint32_t out_offset;
};
static_assert(sizeof(WeightsGetRowsPush) == 36);

}  // namespace crossgpu::kernels
