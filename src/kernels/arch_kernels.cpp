// The CPU side of the architecture kernels (arch_kernels.hpp): each calls the reference
// (reference/arch_reference.hpp) on the part of the bindings the dispatched workgroups cover.
#include "kernels/arch_kernels.hpp"

#include <algorithm>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/push_constants.hpp"
#include "kernels/push_constants_arch.hpp"
#include "kernels/push_constants_attention.hpp"
#include "kernels/reference/arch_reference.hpp"

namespace crossgpu::kernels {
namespace {

constexpr std::uint64_t kGrain = 1 << 14;

template <typename Op>
void unary_cpu(const CpuKernelArgs& args, Op op) {
  const auto p = cpu::read_push<UnaryPush>(args);
  const std::uint64_t n = cpu::covered(p.n, args.groups.x, kElementwiseThreads);
  const auto x = cpu::slice<const float>(args, 0, p.x_offset, n);
  const auto y = cpu::slice<float>(args, 1, p.y_offset, n);
  args.pool.parallel_for(n, kGrain, [&](std::uint64_t begin, std::uint64_t end) {
    op(x.subspan(begin, end - begin), y.subspan(begin, end - begin), p.alpha);
  });
}

void gelu_tanh_cpu(const CpuKernelArgs& args) {
  unary_cpu(args, [](auto x, auto y, float) { reference::gelu_tanh(x, y); });
}

void softcap_cpu(const CpuKernelArgs& args) {
  unary_cpu(args, [](auto x, auto y, float cap) { reference::softcap(x, y, cap); });
}

// One invocation per pair, as rope_cpu: whole heads, then the first pairs of the last one.
void rope_freqs_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<RopeFreqsPush>(args);
  const std::uint64_t half = p.head_dim / 2;
  const std::uint64_t heads = std::uint64_t{p.tokens} * p.heads;
  const std::uint64_t pairs = cpu::covered(heads * half, args.groups.x, kRopeThreads);
  if (pairs == 0) return;
  const auto x = cpu::slice<float>(args, 0, p.x_offset, heads * p.head_dim);
  const reference::RopeFreqs rope{p.freq_base, p.freq_scale, p.mode == 2,
                                  cpu::slice<const float>(args, 1, p.factors_offset, half)};
  const std::uint64_t touched = (pairs + half - 1) / half;
  args.pool.parallel_for(touched, 64, [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t head = begin; head < end; ++head) {
      reference::rope_freqs_head(x.subspan(head * p.head_dim, p.head_dim), p.start_pos + head / p.heads, rope,
                                 std::min(half, pairs - head * half));
    }
  });
}

// Whole tokens only: the op dispatches tokens * heads groups, never a part of a token.
void attention_window_run(const CpuKernelArgs& args, const AttentionWindowPush& p) {
  if (p.kv_heads == 0 || p.heads == 0 || p.heads % p.kv_heads != 0) {
    fail(Errc::internal, "attention_window_f32: {} query heads cannot share {} KV heads", p.heads, p.kv_heads);
  }
  const std::uint64_t tokens = cpu::covered(std::uint64_t{p.tokens} * p.heads, args.groups.x, 1) / p.heads;
  if (tokens == 0) return;
  const std::uint64_t dim = p.head_dim, row = std::uint64_t{p.heads} * dim;
  const std::uint64_t kv_elements = (std::uint64_t{p.start_pos} + tokens) * p.kv_heads * dim;
  const auto q = cpu::slice<const float>(args, 0, p.q_offset, tokens * row);
  const auto k = cpu::slice<const float>(args, 1, p.k_offset, kv_elements);
  const auto v = cpu::slice<const float>(args, 2, p.v_offset, kv_elements);
  const auto out = cpu::slice<float>(args, 3, p.out_offset, tokens * row);
  args.pool.parallel_for(tokens, 1, [&](std::uint64_t begin, std::uint64_t end) {
    // Token t alone, as if it were the first of a call at start_pos + t.
    for (std::uint64_t t = begin; t < end; ++t) {
      const reference::AttentionDims dims{1, p.heads, p.kv_heads, dim, p.start_pos + t};
      reference::attention_window(q.subspan(t * row, row), k.first((p.start_pos + t + 1) * p.kv_heads * dim),
                                  v.first((p.start_pos + t + 1) * p.kv_heads * dim), out.subspan(t * row, row),
                                  dims, p.scale, p.window, p.softcap);
    }
  });
}

void attention_window_cpu(const CpuKernelArgs& args) {
  attention_window_run(args, cpu::read_push<AttentionWindowPush>(args));
}

void attention_window_at_cpu(const CpuKernelArgs& args) {
  const auto at = cpu::read_push<AttentionWindowAtPush>(args);
  AttentionWindowPush p = at.base;
  p.start_pos = std::min(cpu::slice<const std::uint32_t>(args, 4, at.position_offset, 1)[0], p.start_pos);
  attention_window_run(args, p);
}

// rope_kv_cpu (attention_kernels.cpp) with the frequency factors: whole dispatches only.
void rope_kv_freqs_cpu(const CpuKernelArgs& args) {
  const auto push = cpu::read_push<RopeKvFreqsPush>(args);
  const RopeKvPush& p = push.base;
  const std::uint64_t dim = p.head_dim, half = dim / 2;
  const std::uint64_t pairs = std::uint64_t{p.tokens} * (p.heads + p.kv_heads) * half;
  const std::uint64_t covered = cpu::covered(pairs, args.groups.x, kRopeThreads);
  if (pairs == 0 || covered < pairs) {
    if (covered != 0) fail(Errc::internal, "rope_kv_freqs_f32: a partial dispatch is not supported on the CPU");
    return;
  }
  const std::uint64_t kv_row = std::uint64_t{p.kv_heads} * dim;
  const std::uint64_t stride = (std::uint64_t{p.heads} + 2 * p.kv_heads) * dim;
  const std::uint64_t position = std::min(cpu::slice<const std::uint32_t>(args, 3, p.position_offset, 1)[0], p.max_pos);
  const auto qkv = cpu::slice<float>(args, 0, p.qkv_offset, p.tokens * stride);
  const auto k = cpu::slice<float>(args, 1, p.k_offset, (position + p.tokens) * kv_row);
  const auto v = cpu::slice<float>(args, 2, p.v_offset, (position + p.tokens) * kv_row);
  const reference::RopeFreqs rope{p.freq_base, push.freq_scale, p.mode == 2,
                                  cpu::slice<const float>(args, 4, push.factors_offset, half)};
  for (std::uint64_t t = 0; t < p.tokens; ++t) {
    const auto row = qkv.subspan(t * stride, stride);
    for (std::uint64_t h = 0; h < p.heads; ++h) reference::rope_freqs_head(row.subspan(h * dim, dim), position + t, rope, half);
    const auto keys = k.subspan((position + t) * kv_row, kv_row);
    const auto values = v.subspan((position + t) * kv_row, kv_row);
    std::copy_n(row.begin() + static_cast<std::ptrdiff_t>(p.heads * dim), kv_row, keys.begin());
    std::copy_n(row.begin() + static_cast<std::ptrdiff_t>(p.heads * dim + kv_row), kv_row, values.begin());
    for (std::uint64_t h = 0; h < p.kv_heads; ++h) reference::rope_freqs_head(keys.subspan(h * dim, dim), position + t, rope, half);
  }
}

}  // namespace

const KernelSpec gelu_tanh_f32{"gelu_tanh_f32", {spirv::gelu_tanh_f32, spirv::gelu_tanh_f32_words}, 2,
                               sizeof(UnaryPush), kElementwiseThreads, gelu_tanh_cpu};
const KernelSpec softcap_f32{"softcap_f32", {spirv::softcap_f32, spirv::softcap_f32_words}, 2,
                             sizeof(UnaryPush), kElementwiseThreads, softcap_cpu};
const KernelSpec rope_freqs_f32{"rope_freqs_f32", {spirv::rope_freqs_f32, spirv::rope_freqs_f32_words}, 2,
                                sizeof(RopeFreqsPush), kRopeThreads, rope_freqs_cpu};
const KernelSpec attention_window_f32{"attention_window_f32",
                                      {spirv::attention_window_f32, spirv::attention_window_f32_words}, 4,
                                      sizeof(AttentionWindowPush), kAttentionThreads, attention_window_cpu};
const KernelSpec attention_window_at_f32{"attention_window_at_f32",
                                         {spirv::attention_window_at_f32, spirv::attention_window_at_f32_words}, 5,
                                         sizeof(AttentionWindowAtPush), kAttentionThreads, attention_window_at_cpu};
const KernelSpec rope_kv_freqs_f32{"rope_kv_freqs_f32", {spirv::rope_kv_freqs_f32, spirv::rope_kv_freqs_f32_words}, 5,
                                   sizeof(RopeKvFreqsPush), kRopeThreads, rope_kv_freqs_cpu};

}  // namespace crossgpu::kernels
