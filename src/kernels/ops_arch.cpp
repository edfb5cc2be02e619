// The architecture ops (ops_arch.hpp): validation and the cut into dispatches that fit the
// device's binding range.
#include "kernels/ops_arch.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "kernels/arch_kernels.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants.hpp"
#include "kernels/push_constants_arch.hpp"
#include "kernels/push_constants_attention.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;

constexpr std::uint64_t kMaxRopePositions = std::uint64_t{1} << 24;

Event unary(Stream& stream, const KernelSpec& kernel, const char* op, TensorRef x, TensorRef out, std::uint64_t n,
            float alpha) {
  validate(stream, op, {{"x", x, n}, {"out", out, n, DType::f32, true}}, InPlace::allowed);
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t most = limits.max_elements(DType::f32) / kernels::kElementwiseThreads * kernels::kElementwiseThreads;
  return for_each_chunk(n, most, [&](std::uint64_t first, std::uint64_t count) {
    const Window wx = window(x, DType::f32, first, count, limits);
    const Window wo = window(out, DType::f32, first, count, limits);
    const kernels::UnaryPush push{to_u32(count), wx.offset, wo.offset, alpha};
    return dispatch(stream, kernel, {wx.range, wo.range}, push,
                    Groups{ceil_div(count, kernels::kElementwiseThreads), 1, 1});
  });
}

// Tokens per dispatch such that a [tokens][row] operand fits one binding.
std::uint64_t tokens_per_binding(const char* op, std::uint64_t row, const BindingLimits& limits) {
  const std::uint64_t tokens = limits.max_elements(DType::f32) / row;
  if (tokens == 0) {
    fail(Errc::unsupported, "{}: one token of {} f32 elements exceeds the device's storage-buffer range of {}", op,
         row, format_bytes(limits.max_bytes));
  }
  return tokens;
}

void check_rope(const char* op, std::uint64_t tokens, std::uint64_t head_dim, std::uint64_t start_pos,
                const RopeFreqsParams& p) {
  if (head_dim % 2 != 0) fail(Errc::invalid_argument, "{}: head_dim {} is odd; RoPE rotates pairs", op, head_dim);
  if (!(p.freq_base > 0.0f) || std::isinf(p.freq_base) || !(p.freq_scale > 0.0f) || std::isinf(p.freq_scale)) {
    fail(Errc::invalid_argument, "{}: freq_base {} and freq_scale {} must be finite and > 0", op, p.freq_base,
         p.freq_scale);
  }
  if (p.mode != RopeMode::normal && p.mode != RopeMode::neox) {
    fail(Errc::invalid_argument, "{}: unknown RopeMode {}", op, static_cast<std::uint32_t>(p.mode));
  }
  if (start_pos > kMaxRopePositions || tokens > kMaxRopePositions - start_pos) {
    fail(Errc::out_of_range, "{}: positions {} + {} reach beyond 2^24, where f32 positions are no longer exact", op,
         start_pos, tokens);
  }
}

}  // namespace

Event gelu_tanh(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n) {
  return unary(stream, kernels::gelu_tanh_f32, "ops::gelu_tanh", x, out, n, 0.0f);
}

Event softcap(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n, float cap) {
  if (!(cap > 0.0f) || std::isinf(cap)) fail(Errc::invalid_argument, "ops::softcap: cap must be finite and > 0, got {}", cap);
  return unary(stream, kernels::softcap_f32, "ops::softcap", x, out, n, cap);
}

Event rope_freqs(Stream& stream, TensorRef x, TensorRef factors, std::uint64_t tokens, std::uint64_t heads,
                 std::uint64_t head_dim, std::uint64_t start_pos, const RopeFreqsParams& params) {
  const char* op = "ops::rope_freqs";
  check_rope(op, tokens, head_dim, start_pos, params);
  const std::uint64_t row = matrix_elements(op, heads, head_dim);
  const std::uint64_t n = matrix_elements(op, tokens, row);
  validate(stream, op, {{"factors", factors, head_dim / 2}, {"x", x, n, DType::f32, true}}, InPlace::forbidden);
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  const Window wf = window(factors, DType::f32, 0, head_dim / 2, limits);
  return for_each_chunk(tokens, tokens_per_binding(op, row, limits), [&](std::uint64_t t0, std::uint64_t count) {
    const Window wx = window(x, DType::f32, t0 * row, count * row, limits);
    const kernels::RopeFreqsPush push{to_u32(count),          to_u32(heads),     to_u32(head_dim),
                                      wx.offset,              to_u32(start_pos + t0), params.freq_base,
                                      static_cast<std::uint32_t>(params.mode), params.freq_scale, wf.offset};
    return dispatch(stream, kernels::rope_freqs_f32, {wx.range, wf.range}, push,
                    Groups{ceil_div(count * row / 2, kernels::kRopeThreads), 1, 1});
  });
}

namespace {

struct WindowPlan {
  std::uint64_t row = 0, kv_row = 0, n = 0;
};

// attention_window's checks; `s.start_pos` is the largest position (attention_window_at's max).
WindowPlan check_window(Stream& stream, const char* op, TensorRef q, TensorRef k_cache, TensorRef v_cache,
                        TensorRef out, const AttentionShape& s, float scale, const AttentionWindow& w,
                        const TensorRef* position) {
  if (s.kv_heads == 0 || s.heads % s.kv_heads != 0) {
    fail(Errc::invalid_argument, "{}: {} query heads cannot be shared by {} KV heads", op, s.heads, s.kv_heads);
  }
  if (s.head_dim > kernels::kMaxHeadDim) {
    fail(Errc::unsupported, "{}: head_dim {} exceeds the kernel's maximum of {}", op, s.head_dim, kernels::kMaxHeadDim);
  }
  if (!std::isfinite(scale) || !(w.softcap >= 0.0f) || std::isinf(w.softcap)) {
    fail(Errc::invalid_argument, "{}: scale {} and softcap {} must be finite (softcap >= 0)", op, scale, w.softcap);
  }
  if (s.start_pos > 0xFFFFFFFFull - s.tokens || w.window > 0xFFFFFFFFull) {
    fail(Errc::out_of_range, "{}: positions {} + {} or window {} exceed 32 bits", op, s.start_pos, s.tokens, w.window);
  }
  WindowPlan plan;
  plan.row = matrix_elements(op, s.heads, s.head_dim);
  plan.kv_row = matrix_elements(op, s.kv_heads, s.head_dim);
  plan.n = matrix_elements(op, s.tokens, plan.row);
  const std::uint64_t kv_n = matrix_elements(op, s.start_pos + s.tokens, plan.kv_row);
  if (position == nullptr) {
    validate(stream, op,
             {{"q", q, plan.n}, {"k_cache", k_cache, kv_n}, {"v_cache", v_cache, kv_n},
              {"out", out, plan.n, DType::f32, true}},
             InPlace::forbidden);
  } else {
    validate(stream, op,
             {{"q", q, plan.n}, {"k_cache", k_cache, kv_n}, {"v_cache", v_cache, kv_n}, {"position", *position, 1},
              {"out", out, plan.n, DType::f32, true}},
             InPlace::forbidden);
  }
  const BindingLimits limits = binding_limits(stream.device());
  if (kv_n > limits.max_elements(DType::f32)) {
    fail(Errc::unsupported, "{}: the KV cache's {} positions exceed the device's storage-buffer range of {}", op,
         s.start_pos + s.tokens, format_bytes(limits.max_bytes));
  }
  return plan;
}

kernels::AttentionWindowPush window_push(const AttentionShape& s, std::uint64_t start, std::uint64_t count,
                                         const AttentionWindow& w, float scale, const Window& wq, const Window& wk,
                                         const Window& wv, const Window& wo) {
  return {to_u32(count),     to_u32(s.heads), to_u32(s.kv_heads), to_u32(s.head_dim),
          to_u32(start),     to_u32(w.window), wq.offset,         wk.offset,
          wv.offset,         wo.offset,        scale,             w.softcap};
}

}  // namespace

Event attention_window(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                       const AttentionShape& s, float scale, const AttentionWindow& w) {
  const char* op = "ops::attention_window";
  const WindowPlan plan = check_window(stream, op, q, k_cache, v_cache, out, s, scale, w, nullptr);
  if (plan.n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t row = plan.row;
  return for_each_chunk(s.tokens, tokens_per_binding(op, row, limits), [&](std::uint64_t t0, std::uint64_t count) {
    const std::uint64_t context = s.start_pos + t0 + count;
    const Window wq = window(q, DType::f32, t0 * row, count * row, limits);
    const Window wk = window(k_cache, DType::f32, 0, context * plan.kv_row, limits);
    const Window wv = window(v_cache, DType::f32, 0, context * plan.kv_row, limits);
    const Window wo = window(out, DType::f32, t0 * row, count * row, limits);
    return dispatch(stream, kernels::attention_window_f32, {wq.range, wk.range, wv.range, wo.range},
                    window_push(s, s.start_pos + t0, count, w, scale, wq, wk, wv, wo), Groups{count * s.heads, 1, 1});
  });
}

Event attention_window_at(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                          const AttentionShape& shape, float scale, const AttentionWindow& w,
                          const DevicePosition& position) {
  const char* op = "ops::attention_window_at";
  AttentionShape s = shape;
  s.start_pos = position.max;
  const WindowPlan plan = check_window(stream, op, q, k_cache, v_cache, out, s, scale, w, &position.at);
  if (plan.n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  if (plan.n > limits.max_elements(DType::f32)) {
    fail(Errc::unsupported, "{}: q of {} tokens exceeds one storage-buffer binding of {}", op, s.tokens,
         format_bytes(limits.max_bytes));
  }
  const std::uint64_t kv_n = (s.start_pos + s.tokens) * plan.kv_row;
  const Window wq = window(q, DType::f32, 0, plan.n, limits);
  const Window wk = window(k_cache, DType::f32, 0, kv_n, limits);
  const Window wv = window(v_cache, DType::f32, 0, kv_n, limits);
  const Window wo = window(out, DType::f32, 0, plan.n, limits);
  const Window wp = window(position.at, DType::f32, 0, 1, limits);
  const kernels::AttentionWindowAtPush push{window_push(s, s.start_pos, s.tokens, w, scale, wq, wk, wv, wo), wp.offset};
  return dispatch(stream, kernels::attention_window_at_f32, {wq.range, wk.range, wv.range, wo.range, wp.range}, push,
                  Groups{s.tokens * s.heads, 1, 1});
}

Event rope_kv_freqs(Stream& stream, TensorRef qkv, TensorRef k_cache, TensorRef v_cache, TensorRef factors,
                    const RopeKvShape& s, float freq_scale, const DevicePosition& position) {
  const char* op = "ops::rope_kv_freqs";
  check_rope(op, s.tokens, s.head_dim, position.max, {s.freq_base, freq_scale, s.mode});
  const std::uint64_t stride = matrix_elements(op, s.heads + 2 * s.kv_heads, s.head_dim);
  const std::uint64_t kv_row = matrix_elements(op, s.kv_heads, s.head_dim);
  const std::uint64_t n = matrix_elements(op, s.tokens, stride);
  const std::uint64_t kv_n = matrix_elements(op, position.max + s.tokens, kv_row);
  validate(stream, op,
           {{"factors", factors, s.head_dim / 2},
            {"position", position.at, 1},
            {"qkv", qkv, n, DType::f32, true},
            {"k_cache", k_cache, kv_n, DType::f32, true},
            {"v_cache", v_cache, kv_n, DType::f32, true}},
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
  const Window wf = window(factors, DType::f32, 0, s.head_dim / 2, limits);
  const kernels::RopeKvPush base{to_u32(s.tokens), to_u32(s.heads),  to_u32(s.kv_heads),   to_u32(s.head_dim),
                                 wq.offset,        wk.offset,        wv.offset,            wp.offset,
                                 to_u32(position.max), s.freq_base,  static_cast<std::uint32_t>(s.mode)};
  const kernels::RopeKvFreqsPush push{base, freq_scale, wf.offset};
  const std::uint64_t pairs = s.tokens * (s.heads + s.kv_heads) * (s.head_dim / 2);
  return dispatch(stream, kernels::rope_kv_freqs_f32, {wq.range, wk.range, wv.range, wp.range, wf.range}, push,
                  Groups{ceil_div(pairs, kernels::kRopeThreads), 1, 1});
}

}  // namespace crossgpu::ops
