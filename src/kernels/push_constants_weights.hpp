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
inline constexpr std::uint32_t kWeightMatmulTiledThreads = 256;  // matmul_weights_tiled
inline constexpr std::uint32_t kWeightMatmulTile = 64;  // its rows of W and tokens per group
inline constexpr std::uint32_t kWeightGetRowsThreads = 64;  // get_rows_weights: one id per group
inline constexpr std::uint32_t kFusedMatvecThreads = 128;   // matvec_fused: one row per subgroup
inline constexpr std::uint32_t kFusedMatvecSegments = 3;    // weight matrices per dispatch

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
// y = ceil(tokens / kWeightMatmulThreads). matmul_weights_tiled.comp takes the same block with
// groups x = ceil(rows / kWeightMatmulTile), y = ceil(tokens / kWeightMatmulTile).
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

// matvec_fused.comp: up to three weight matrices ("segments", all of `cols` columns) packed in
// the one bound W range, segment s starting at byte w_offset_s, with rows_s rows of type_s.
// The outputs are concatenated: y[y_offset + rows_0 + ... + rows_{s-1} + r] = W_s[r, :] . x'
// where x' = x, or rms_norm(x) * g with flag kFusedNorm (eps as given). Flag kFusedAccumulate
// adds to y instead of writing it. Flag kFusedSwiglu takes exactly two segments of equal rows
// and writes y[r] = silu(W_0[r] . x') * (W_1[r] . x'). Groups: x = sum over the segments of
// ceil(rows_s / rows_per_group) (segment 0 only with kFusedSwiglu), laid out segment after
// segment; rows_per_group is any value >= 1 for matvec_fused.comp (the op picks local size /
// subgroup size) and must be 2 x local size (local size with kFusedSwiglu) for the
// invocation-per-row kernels, which take two rows per invocation (other values compute rows in
// bounds but not the right ones).
inline constexpr std::uint32_t kFusedNorm = 1;
inline constexpr std::uint32_t kFusedAccumulate = 2;
inline constexpr std::uint32_t kFusedSwiglu = 4;
struct FusedMatvecPush {
  std::uint32_t cols;
  std::uint32_t rows_per_group;
  std::uint32_t flags;
  float eps;
  std::uint32_t x_offset;
  std::uint32_t y_offset;
  std::uint32_t g_offset;
  std::uint32_t segments;
  std::uint32_t rows[kFusedMatvecSegments];
  std::uint32_t type[kFusedMatvecSegments];
  std::uint32_t w_offset[kFusedMatvecSegments];  // bytes
};
static_assert(sizeof(FusedMatvecPush) == 68);

}  // namespace crossgpu::kernels
