// Ops on weight matrices stored in llama.cpp's formats (kernels/weight_type.hpp: f32, f16, bf16,
// q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, iq4_nl), read as they are and dequantized inside
// the kernel, so a GGUF tensor can be uploaded byte for byte and used without a conversion pass.
//
//   ops::matvec_weights(stream, w, x, y, rows, cols, kernels::WeightType::q4_k).wait();
//
// Conventions of ops.hpp hold (validation before anything is enqueued, work split to the
// device's limits, the Event of the last dispatch returned, zero rows a no-op), plus:
// - W is rows x cols, row r starting at byte r * kernels::row_bytes(type, cols) from its
//   operand's offset; cols must be a multiple of kernels::block_elements(type)
//   (Errc::invalid_argument).
// - W's byte offset must be a multiple of 4 (Errc::misaligned): the kernels read weights as
//   32-bit words, needing no 8- or 16-bit storage feature on any device. GGUF aligns tensor
//   data to 32 bytes, so a tensor's offset inside an uploaded data section qualifies.
// - For the same reason W's buffer must extend to the next multiple of 4 bytes after the last
//   row (Errc::out_of_range otherwise); that only matters when rows * row_bytes is not a
//   multiple of 4, and GGUF's padding after each tensor provides it.
// - Everything else (x, y, ids, out) is f32 or u32, dense, row-major, and must not overlap an
//   output (Errc::invalid_argument).
// - Accumulation is f32 in the shaders; the dequantized weights are those of
//   kernels/reference/quant.hpp up to the rounding of one multiply-add.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/ops.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::ops {

// y[rows] = W[rows x cols] * x[cols].
Event matvec_weights(Stream& stream, TensorRef w, TensorRef x, TensorRef y, std::uint64_t rows,
                     std::uint64_t cols, kernels::WeightType type);

// One weight matrix of a packed buffer (FusedMatvec::w): `rows` rows of `type`, starting
// `byte_offset` bytes (a multiple of 4) after the operand's offset.
struct WeightSegment {
  std::uint64_t byte_offset = 0;
  std::uint64_t rows = 0;
  kernels::WeightType type = kernels::WeightType::f32;
};

// The decode matvec of a transformer block in one dispatch: 1 to 3 matrices of `cols` columns
// packed in one buffer (Q, K and V; gate and up) against one vector, their outputs
// concatenated in y (y[rows_0 + ... + rows_{s-1} + r] = W_s[r] . x'). Optional, all folded in:
// - norm: x' = rms_norm(x, eps) * norm[cols] instead of x;
// - swiglu: two segments of equal rows, y[r] = silu(W_0[r] . x') * (W_1[r] . x');
// - accumulate: y += ... instead of y = ... (a residual add).
// Runs on every device: a subgroup per row on GPUs with subgroup arithmetic, an invocation per
// row elsewhere (CPU-like devices such as lavapipe, where that is the faster mapping), with x
// shared by subgroup shuffles where subgroups have 8 lanes or more and shuffles.
// How matvec_fused maps rows onto invocations (automatic: from the device's properties).
enum class RowMapping { automatic, subgroup_per_row, invocation_per_row, invocation_per_row_shuffled };

struct FusedMatvec {
  TensorRef w;
  std::vector<WeightSegment> segments;
  std::uint64_t cols = 0;
  TensorRef x;
  TensorRef y;
  std::optional<TensorRef> norm;
  float eps = 1e-5f;
  bool swiglu = false;
  bool accumulate = false;
  // Tests and benches pin a mapping; subgroup_per_row on a device without subgroup arithmetic,
  // invocation_per_row_shuffled without shuffles or with subgroups under 8 lanes, is
  // Errc::unsupported.
  RowMapping mapping = RowMapping::automatic;
};

// Segments of mixed types run in one dispatch when every type is one of f32, f16, q4_0, q8_0,
// q4_k, q6_k (Q4_K_M's mix), else one dispatch per segment (Q5_K_M's q5_k beside q6_k, ...).
// Errc::unsupported when the packed matrices exceed one binding of the device
// (maxStorageBufferRange) or for swiglu of two types that are not both of that list (it cannot
// be cut into segments), Errc::invalid_argument for a bad segment list (none, more than
// three, swiglu without two equal ones) and as matvec_weights for the operands.
Event matvec_fused(Stream& stream, const FusedMatvec& job);

// Y[tokens x rows] = X[tokens x cols] * W^T: matvec_weights for several tokens at once (prompt
// prefill), decoding each block of W once per 64 tokens instead of once per token. Two kernels
// of the same contract: 64 x 64 tiles of Y, 4 x 4 per invocation (matmul_weights_tiled: every
// device with workgroups of 256 invocations; measured 1.4x the other on lavapipe too), and one
// token per invocation against 16 rows (matmul_weights: the fallback for devices limited to
// Vulkan's guaranteed 128). Tests and benches may pin one (`tiling`).
enum class MatmulTiling { automatic, token_per_invocation, tiled };
Event matmul_weights(Stream& stream, TensorRef w, TensorRef x, TensorRef y, std::uint64_t rows,
                     std::uint64_t cols, std::uint64_t tokens, kernels::WeightType type,
                     MatmulTiling tiling = MatmulTiling::automatic);

// out[i, :] = row ids[i] of table[table_rows x cols], dequantized to f32, for i < count (the
// embedding lookup); ids are u32 in a device buffer (4-byte aligned offset), out is
// count x cols f32. An id >= table_rows reads row table_rows - 1 instead: the ids are only known
// on the device, so they are clamped there and no error is reported (check ids on the host
// first when a bad id must be caught). table_rows == 0 with count > 0 is
// Errc::invalid_argument, as is table_rows beyond 2^32 (ids are 32-bit: Errc::out_of_range).
Event get_rows(Stream& stream, TensorRef table, std::uint64_t table_rows, std::uint64_t cols,
               kernels::WeightType type, TensorRef ids, TensorRef out, std::uint64_t count);

}  // namespace crossgpu::ops
