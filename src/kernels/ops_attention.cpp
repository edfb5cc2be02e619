// RoPE and attention: validation, the cut of the work into dispatches that fit the device's
// binding range, and, for attention, the choice of how many workgroups share one row's context.
#include "kernels/ops_attention.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants_attention.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;

// f32 represents every integer up to 2^24; the shader converts positions to float.
constexpr std::uint64_t kMaxRopePositions = std::uint64_t{1} << 24;

// A row's context is split so that decode (a few rows, long context) still gives a large GPU
// about this many workgroups: one workgroup per query head alone leaves most of an H100 idle.
constexpr std::uint64_t kTargetGroups = 1024;
// Fewer positions than this per workgroup cost more in the combine pass than they gain.
constexpr std::uint64_t kMinChunk = 256;

// Tokens per dispatch such that a [tokens][row_elements] operand fits one binding.
std::uint64_t tokens_per_chunk(const char* op, std::uint64_t row_elements,
                               const BindingLimits& limits) {
  const std::uint64_t tokens = limits.max_elements(DType::f32) / row_elements;
  if (tokens == 0) {
    fail(Errc::unsupported,
         "{}: one token of {} f32 elements exceeds the device's storage-buffer range of {}", op,
         row_elements, format_bytes(limits.max_bytes));
  }
  return tokens;
}

void check_rope_arguments(const char* op, std::uint64_t tokens, std::uint64_t head_dim,
                          std::uint64_t start_pos, float freq_base, RopeMode mode) {
  if (head_dim % 2 != 0) {
    fail(Errc::invalid_argument, "{}: head_dim {} is odd; RoPE rotates pairs of elements", op,
         head_dim);
  }
  if (!(freq_base > 0.0f) || std::isinf(freq_base)) {
    fail(Errc::invalid_argument, "{}: freq_base must be finite and > 0, got {}", op, freq_base);
  }
  if (mode != RopeMode::normal && mode != RopeMode::neox) {
    fail(Errc::invalid_argument, "{}: unknown RopeMode {}", op, static_cast<std::uint32_t>(mode));
  }
  if (start_pos > kMaxRopePositions || tokens > kMaxRopePositions - start_pos) {
    fail(Errc::out_of_range,
         "{}: positions {} .. {} + {} reach beyond 2^24, where f32 positions are no longer exact",
         op, start_pos, start_pos, tokens);
  }
}

}  // namespace

Event rope(Stream& stream, TensorRef x, std::uint64_t tokens, std::uint64_t heads,
           std::uint64_t head_dim, std::uint64_t start_pos, float freq_base, RopeMode mode) {
  const char* op = "ops::rope";
  check_rope_arguments(op, tokens, head_dim, start_pos, freq_base, mode);
  const std::uint64_t row = matrix_elements(op, heads, head_dim);
  const std::uint64_t n = matrix_elements(op, tokens, row);
  validate(stream, op, {{"x", x, n, DType::f32, true}}, InPlace::allowed);
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t step = tokens_per_chunk(op, row, limits);
  return for_each_chunk(tokens, step, [&](std::uint64_t t0, std::uint64_t count) {
    const Window wx = window(x, DType::f32, t0 * row, count * row, limits);
    const kernels::RopePush push{to_u32(count),     to_u32(heads), to_u32(head_dim),
                                 wx.offset,         to_u32(start_pos + t0),
                                 freq_base,         static_cast<std::uint32_t>(mode)};
    return dispatch(stream, kernels::rope_f32, {wx.range}, push,
                    Groups{ceil_div(count * row / 2, kernels::kRopeThreads), 1, 1});
  });
}

namespace {

void check_attention_shape(const char* op, const AttentionShape& s, float scale) {
  if (s.kv_heads == 0 || s.heads % s.kv_heads != 0) {
    fail(Errc::invalid_argument,
         "{}: {} query heads cannot be shared by {} KV heads; heads must be a multiple of "
         "kv_heads",
         op, s.heads, s.kv_heads);
  }
  if (s.head_dim > kernels::kMaxHeadDim) {
    fail(Errc::unsupported, "{}: head_dim {} exceeds the kernel's maximum of {}", op, s.head_dim,
         kernels::kMaxHeadDim);
  }
  if (!std::isfinite(scale)) {
    fail(Errc::invalid_argument, "{}: scale must be finite, got {}", op, scale);
  }
}

// How many workgroups share one row's context, and the positions each covers (a multiple of
// the shader's 128-position tile, so that no workgroup ends on a short tile but the last).
struct Split {
  std::uint64_t splits = 1;
  std::uint64_t chunk = 0;
};
Split choose_split(std::uint64_t rows, std::uint64_t context) {
  const std::uint64_t wanted =
      std::min(ceil_div(context, kMinChunk), std::max<std::uint64_t>(1, kTargetGroups / rows));
  const std::uint64_t tile = kernels::kAttentionThreads;
  const std::uint64_t chunk = ceil_div(ceil_div(context, wanted), tile) * tile;
  return {ceil_div(context, chunk), chunk};
}

// One dispatch of query tokens [t0, t0 + count): windows, push constants, and the combine pass
// when the context is split.
Event attention_chunk(Stream& stream, TensorRef q, TensorRef k, TensorRef v, TensorRef out,
                      const AttentionShape& s, float scale, std::uint64_t t0, std::uint64_t count,
                      const BindingLimits& limits) {
  const std::uint64_t row = s.heads * s.head_dim;
  const std::uint64_t context = s.start_pos + t0 + count;
  const std::uint64_t rows = count * s.heads;
  const Window wq = window(q, DType::f32, t0 * row, count * row, limits);
  const Window wk = window(k, DType::f32, 0, context * s.kv_heads * s.head_dim, limits);
  const Window wv = window(v, DType::f32, 0, context * s.kv_heads * s.head_dim, limits);
  const Window wo = window(out, DType::f32, t0 * row, count * row, limits);
  const Split split = choose_split(rows, context);
  kernels::AttentionPush push{to_u32(count),        to_u32(s.heads),   to_u32(s.kv_heads),
                              to_u32(s.head_dim),   to_u32(s.start_pos + t0),
                              to_u32(split.chunk),  to_u32(split.splits),
                              wq.offset,            wk.offset,         wv.offset,
                              wo.offset,            scale};
  const Groups groups{rows, static_cast<std::uint32_t>(split.splits), 1};
  if (split.splits == 1) {
    return dispatch(stream, kernels::attention_f32, {wq.range, wk.range, wv.range, wo.range},
                    push, groups);
  }
  // Freed when this function returns; the device keeps the memory until the work that uses it
  // has completed (Buffer::reset's contract).
  const std::uint64_t part_elements = rows * split.splits * (s.head_dim + 2);
  Buffer scratch = stream.device().allocate(part_elements * sizeof(float));
  const Window wp = window(scratch, DType::f32, 0, part_elements, limits);
  push.out_offset = wp.offset;
  dispatch(stream, kernels::attention_f32, {wq.range, wk.range, wv.range, wp.range}, push,
           groups);
  const kernels::AttentionCombinePush combine{to_u32(rows), to_u32(split.splits),
                                              to_u32(s.head_dim), wp.offset, wo.offset};
  return dispatch(stream, kernels::attention_combine_f32, {wp.range, wo.range}, combine,
                  Groups{rows, 1, 1});
}

}  // namespace

Event attention(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                const AttentionShape& shape, float scale) {
  const char* op = "ops::attention";
  check_attention_shape(op, shape, scale);
  const AttentionShape& s = shape;
  if (s.start_pos > std::numeric_limits<std::uint64_t>::max() - s.tokens) {
    fail(Errc::out_of_range, "{}: start_pos {} + tokens {} overflows", op, s.start_pos, s.tokens);
  }
  const std::uint64_t row = matrix_elements(op, s.heads, s.head_dim);
  const std::uint64_t kv_row = matrix_elements(op, s.kv_heads, s.head_dim);
  const std::uint64_t n = matrix_elements(op, s.tokens, row);
  const std::uint64_t kv_n = matrix_elements(op, s.start_pos + s.tokens, kv_row);
  validate(stream, op,
           {{"q", q, n}, {"k_cache", k_cache, kv_n}, {"v_cache", v_cache, kv_n},
            {"out", out, n, DType::f32, true}},
           InPlace::forbidden);
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  if (kv_n > limits.max_elements(DType::f32)) {
    fail(Errc::unsupported,
         "{}: the KV cache's {} positions of {} f32 elements exceed the device's storage-buffer "
         "range of {}; split the context across devices or use a shorter one",
         op, s.start_pos + s.tokens, kv_row, format_bytes(limits.max_bytes));
  }
  const std::uint64_t step = tokens_per_chunk(op, row, limits);
  return for_each_chunk(s.tokens, step, [&](std::uint64_t t0, std::uint64_t count) {
    return attention_chunk(stream, q, k_cache, v_cache, out, s, scale, t0, count, limits);
  });
}

Event rope_kv(Stream& stream, TensorRef qkv, TensorRef k_cache, TensorRef v_cache,
              const RopeKvShape& shape, const DevicePosition& position) {
  const char* op = "ops::rope_kv";
  const RopeKvShape& s = shape;
  check_rope_arguments(op, s.tokens, s.head_dim, position.max, s.freq_base, s.mode);
  const std::uint64_t stride = matrix_elements(op, s.heads + 2 * s.kv_heads, s.head_dim);
  const std::uint64_t kv_row = matrix_elements(op, s.kv_heads, s.head_dim);
  const std::uint64_t n = matrix_elements(op, s.tokens, stride);
  const std::uint64_t kv_n = matrix_elements(op, position.max + s.tokens, kv_row);
  validate(stream, op,
           {{"qkv", qkv, n, DType::f32, true},
            {"k_cache", k_cache, kv_n, DType::f32, true},
            {"v_cache", v_cache, kv_n, DType::f32, true},
            {"position", position.at, 1}},
           InPlace::forbidden);
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  if (n > limits.max_elements(DType::f32) || kv_n > limits.max_elements(DType::f32)) {
    fail(Errc::unsupported, "{}: qkv or a KV cache exceeds one storage-buffer binding of {}", op,
         format_bytes(limits.max_bytes));
  }
  const Window wq = window(qkv, DType::f32, 0, n, limits);
  const Window wk = window(k_cache, DType::f32, 0, kv_n, limits);
  const Window wv = window(v_cache, DType::f32, 0, kv_n, limits);
  const Window wp = window(position.at, DType::f32, 0, 1, limits);
  const kernels::RopeKvPush push{to_u32(s.tokens),   to_u32(s.heads),    to_u32(s.kv_heads),
                                 to_u32(s.head_dim), wq.offset,          wk.offset,
                                 wv.offset,          wp.offset,          to_u32(position.max),
                                 s.freq_base,        static_cast<std::uint32_t>(s.mode)};
  const std::uint64_t pairs = s.tokens * (s.heads + s.kv_heads) * (s.head_dim / 2);
  return dispatch(stream, kernels::rope_kv_f32, {wq.range, wk.range, wv.range, wp.range}, push,
                  Groups{ceil_div(pairs, kernels::kRopeThreads), 1, 1});
}

std::uint64_t attention_at_scratch_bytes(const AttentionShape& shape, std::uint64_t max_pos) {
  const std::uint64_t rows = shape.tokens * shape.heads;
  if (rows == 0) return 0;
  const Split split = choose_split(rows, max_pos + shape.tokens);
  return split.splits == 1 ? 0 : rows * split.splits * (shape.head_dim + 2) * sizeof(float);
}

Event attention_at(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                   const AttentionShape& shape, float scale, const DevicePosition& position,
                   TensorRef scratch) {
  const char* op = "ops::attention_at";
  AttentionShape s = shape;
  s.start_pos = position.max;
  check_attention_shape(op, s, scale);
  if (s.start_pos > (std::uint64_t{1} << 32) - 1 - s.tokens) {
    fail(Errc::out_of_range, "{}: position {} + tokens {} exceeds 32 bits", op, s.start_pos, s.tokens);
  }
  const std::uint64_t row = matrix_elements(op, s.heads, s.head_dim);
  const std::uint64_t kv_row = matrix_elements(op, s.kv_heads, s.head_dim);
  const std::uint64_t n = matrix_elements(op, s.tokens, row);
  const std::uint64_t kv_n = matrix_elements(op, s.start_pos + s.tokens, kv_row);
  const std::uint64_t rows = s.tokens * s.heads;
  const Split split = choose_split(std::max<std::uint64_t>(rows, 1), s.start_pos + s.tokens);
  const std::uint64_t part_elements = split.splits == 1 ? 0 : rows * split.splits * (s.head_dim + 2);
  const std::initializer_list<Operand> common = {
      {"q", q, n}, {"k_cache", k_cache, kv_n}, {"v_cache", v_cache, kv_n},
      {"out", out, n, DType::f32, true}, {"position", position.at, 1}};
  if (part_elements == 0) {
    validate(stream, op, common, InPlace::forbidden);
  } else {
    validate(stream, op,
             {{"q", q, n}, {"k_cache", k_cache, kv_n}, {"v_cache", v_cache, kv_n},
              {"out", out, n, DType::f32, true}, {"position", position.at, 1},
              {"scratch", scratch, part_elements, DType::f32, true}},
             InPlace::forbidden);
  }
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  if (kv_n > limits.max_elements(DType::f32) || n > limits.max_elements(DType::f32) ||
      part_elements > limits.max_elements(DType::f32)) {
    fail(Errc::unsupported, "{}: the operands exceed one storage-buffer binding of {}", op,
         format_bytes(limits.max_bytes));
  }
  const Window wq = window(q, DType::f32, 0, n, limits);
  const Window wk = window(k_cache, DType::f32, 0, kv_n, limits);
  const Window wv = window(v_cache, DType::f32, 0, kv_n, limits);
  const Window wo = window(out, DType::f32, 0, n, limits);
  const Window wpos = window(position.at, DType::f32, 0, 1, limits);
  kernels::AttentionAtPush push{{to_u32(s.tokens), to_u32(s.heads), to_u32(s.kv_heads),
                                 to_u32(s.head_dim), to_u32(s.start_pos), to_u32(split.chunk),
                                 to_u32(split.splits), wq.offset, wk.offset, wv.offset, wo.offset,
                                 scale},
                                wpos.offset};
  const Groups groups{rows, static_cast<std::uint32_t>(split.splits), 1};
  if (split.splits == 1) {
    return dispatch(stream, kernels::attention_at_f32,
                    {wq.range, wk.range, wv.range, wo.range, wpos.range}, push, groups);
  }
  const Window wp = window(scratch, DType::f32, 0, part_elements, limits);
  push.base.out_offset = wp.offset;
  dispatch(stream, kernels::attention_at_f32, {wq.range, wk.range, wv.range, wp.range, wpos.range},
           push, groups);
  const kernels::AttentionCombinePush combine{to_u32(rows), to_u32(split.splits),
                                              to_u32(s.head_dim), wp.offset, wo.offset};
  return dispatch(stream, kernels::attention_combine_f32, {wp.range, wo.range}, combine,
                  Groups{rows, 1, 1});
}

}  // namespace crossgpu::ops
