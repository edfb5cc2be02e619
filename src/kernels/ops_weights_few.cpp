// ops::matmul_weights_few: validation as matmul_weights, then rows of W cut to the binding limit
// and tokens spread evenly over the fewest workgroups of at most kFewTokens each (12 tokens: two
// groups of 6, not 8 + 4), so that each variant's registers hold live sums only.
#include "kernels/ops_weights_few.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants_weights.hpp"
#include "kernels/weight_few_kernels.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;
using kernels::WeightType;

constexpr std::uint64_t kWord = 4;
constexpr std::uint64_t kVec4Bytes = 16;

std::uint64_t round_up(std::uint64_t bytes, std::uint64_t to) { return ceil_div(bytes, to) * to; }

std::uint64_t checked_row_bytes(const char* op, WeightType type, std::uint64_t cols) {
  if (!kernels::weight_type_from(static_cast<std::uint32_t>(type))) {
    fail(Errc::invalid_argument, "{}: weight type {} is not one of {}", op, static_cast<std::uint32_t>(type),
         kernels::weight_type_names());
  }
  const std::uint64_t block = kernels::block_elements(type);
  if (cols % block != 0 || cols % 4 != 0) {
    fail(Errc::invalid_argument, "{}: cols must be a multiple of {} ({} blocks) and of 4 (X is read as vec4s), not {}",
         op, block, kernels::to_string(type), cols);
  }
  return kernels::row_bytes(type, cols);
}

// W's rows as whole words inside its buffer, from a word-aligned offset.
Operand weight_operand(Stream& stream, const char* op, const TensorRef& w, std::uint64_t rows, std::uint64_t row_bytes) {
  stream.device().resolve(w.buffer, 0, 0, "ops::matmul_weights_few: operand 'w'");
  if (w.byte_offset % kWord != 0) {
    fail(Errc::misaligned, "{}: operand 'w' starts at byte offset {}, not a multiple of 4: weights are read as "
         "32-bit words", op, w.byte_offset);
  }
  const std::uint64_t bytes = round_up(matrix_elements(op, rows, row_bytes), kWord);
  if (w.byte_offset > w.buffer.size || bytes > w.buffer.size - w.byte_offset) {
    fail(Errc::out_of_range, "{}: operand 'w' needs {} bytes from byte offset {}, but its buffer holds {}", op, bytes,
         w.byte_offset, w.buffer.size);
  }
  return {"w", w, bytes / kWord, DType::f32};
}

// Bytes [first, first + bytes) of W as a binding of whole words from the alignment.
Window weight_window(const TensorRef& w, std::uint64_t first, std::uint64_t bytes, const BindingLimits& limits) {
  const std::uint64_t alignment = std::max(limits.alignment, kWord);
  const std::uint64_t start = w.byte_offset + first;
  const std::uint64_t base = start - start % alignment;
  const std::uint64_t size = round_up(start + bytes, kWord) - base;
  if (size > limits.max_bytes || size == 0) {
    fail(Errc::internal, "weight window of {} bytes does not fit a binding of at most {} bytes", size, limits.max_bytes);
  }
  return {BufferRange{w.buffer, base, size}, to_u32(start - base)};
}

}  // namespace

bool matmul_weights_few_fits(const Device& device, std::uint64_t tokens, std::uint64_t cols, const TensorRef& x) {
  const DeviceProperties& p = device.properties();
  return p.backend == Backend::vulkan && p.type != DeviceType::cpu && p.caps.subgroup_arithmetic &&
         p.limits.subgroup_size > 0 && tokens >= 2 && tokens <= kMaxFewTokens && cols % 4 == 0 &&
         x.byte_offset % kVec4Bytes == 0;
}

Event matmul_weights_few(Stream& stream, TensorRef w, TensorRef x, TensorRef y, std::uint64_t rows,
                         std::uint64_t cols, std::uint64_t tokens, WeightType type, std::uint64_t ldy) {
  const char* op = "ops::matmul_weights_few";
  const std::uint64_t row_bytes = checked_row_bytes(op, type, cols);
  if (ldy == 0) ldy = rows;
  if (ldy < rows) fail(Errc::invalid_argument, "{}: ldy ({}) is less than rows ({})", op, ldy, rows);
  const std::uint64_t y_extent = tokens == 0 ? 0 : matrix_elements(op, tokens - 1, ldy) + rows;
  validate(stream, op,
           {weight_operand(stream, op, w, rows, row_bytes),
            {"x", x, matrix_elements(op, tokens, cols)},
            {"y", y, y_extent, DType::f32, true}},
           InPlace::forbidden);
  if (x.byte_offset % kVec4Bytes != 0) {
    fail(Errc::misaligned, "{}: operand 'x' starts at byte offset {}, not a multiple of 16: X is read as vec4s", op,
         x.byte_offset);
  }
  const DeviceProperties& props = stream.device().properties();
  if (props.backend == Backend::vulkan && !(props.caps.subgroup_arithmetic && props.limits.subgroup_size > 0)) {
    fail(Errc::unsupported, "{}: device '{}' has no subgroup arithmetic", op, props.name);
  }
  if (rows == 0 || tokens == 0) return {};
  if (cols == 0) fail(Errc::invalid_argument, "{}: cols must be at least 1", op);
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t slack = std::max(limits.alignment, kWord) - 1 + (kWord - 1);
  std::uint64_t rows_step = (limits.max_bytes - slack) / row_bytes;
  if (rows_step == 0) {
    fail(Errc::unsupported, "{}: one {} row of {} bytes exceeds the device's storage-buffer range", op,
         kernels::to_string(type), row_bytes);
  }
  if (rows_step >= kernels::kFewRowsPerGroup) rows_step = rows_step / kernels::kFewRowsPerGroup * kernels::kFewRowsPerGroup;
  const std::uint64_t groups_y = ceil_div(tokens, kernels::kFewTokens);
  const auto per_group = static_cast<std::uint32_t>(ceil_div(tokens, groups_y));
  const KernelSpec& kernel = kernels::matmul_weights_few_variant(type, per_group);
  const Window wx = window(x, DType::f32, 0, tokens * cols, limits);
  return for_each_chunk(rows, rows_step, [&](std::uint64_t r0, std::uint64_t count) {
    const Window ww = weight_window(w, r0 * row_bytes, count * row_bytes, limits);
    const Window wy = rows_window(y, DType::f32, r0, tokens, count, ldy, limits);
    const kernels::WeightsMatmulPush push{to_u32(count), to_u32(cols), to_u32(tokens), static_cast<std::uint32_t>(type),
                                          ww.offset,     wx.offset,    wy.offset,      to_u32(ldy)};
    return dispatch(stream, kernel, {ww.range, wx.range, wy.range}, push,
                    Groups{ceil_div(count, kernels::kFewRowsPerGroup), static_cast<std::uint32_t>(groups_y), 1});
  });
}

}  // namespace crossgpu::ops
