// The transformer kernels: RoPE (rope_f32) and causal grouped-query attention over a KV cache
// (attention_f32, and attention_combine_f32 for contexts split across workgroups). The CPU
// functions cover exactly the dispatched workgroups, like the other *_kernels.cpp: RoPE and the
// combine pass call the reference (kernels/reference/attention_reference.hpp) on slices of the
// bindings; attention runs in f32 with SIMD dot products and the shader's online softmax (the
// reference's double sums made it the CPU device's slowest op at long contexts).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/cpu_dot.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants_attention.hpp"
#include "kernels/reference/attention_reference.hpp"

namespace crossgpu::kernels {
namespace {

constexpr std::uint64_t kRopeNeox = 2;

// One invocation per pair, so a short dispatch can end inside a head: rotate whole heads, then
// the first pairs of the head the last group ends in.
void rope_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<RopePush>(args);
  const std::uint64_t half = p.head_dim / 2;
  const std::uint64_t heads = std::uint64_t{p.tokens} * p.heads;
  const std::uint64_t pairs = cpu::covered(heads * half, args.groups.x, kRopeThreads);
  if (pairs == 0) return;
  const auto x = cpu::slice<float>(args, 0, p.x_offset, heads * p.head_dim);
  const bool neox = p.mode == kRopeNeox;
  const std::uint64_t touched = (pairs + half - 1) / half;
  args.pool.parallel_for(touched, 64, [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t head = begin; head < end; ++head) {
      const std::uint64_t position = p.start_pos + head / p.heads;
      const std::uint64_t count = std::min(half, pairs - head * half);
      reference::rope_head(x.subspan(head * p.head_dim, p.head_dim), position, p.freq_base, neox,
                           count);
    }
  });
}

// Positions [begin, end) of `row`'s chunk `split`, as the shader computes them.
struct Range {
  std::uint64_t begin;
  std::uint64_t end;
};
Range chunk_range(const AttentionPush& p, std::uint64_t row, std::uint64_t split) {
  const std::uint64_t context = std::uint64_t{p.start_pos} + row / p.heads + 1;
  const std::uint64_t begin = std::min(split * p.chunk, context);
  if (p.chunk == 0) return {context, context};
  return {begin, std::min<std::uint64_t>(begin + p.chunk, context)};
}

// The queries rotated in place, the keys rotated into the cache, the values copied, at the
// position the device buffer names (clamped as the shader does).
void rope_kv_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<RopeKvPush>(args);
  const std::uint64_t dim = p.head_dim;
  const std::uint64_t covered = cpu::covered(std::uint64_t{p.tokens} * (p.heads + p.kv_heads) * (dim / 2),
                                             args.groups.x, kRopeThreads);
  if (p.tokens == 0 || dim == 0 || covered < std::uint64_t{p.tokens} * (p.heads + p.kv_heads) * (dim / 2)) {
    if (covered != 0) fail(Errc::internal, "rope_kv_f32: a partial dispatch is not supported on the CPU");
    return;
  }
  const std::uint64_t kv_row = std::uint64_t{p.kv_heads} * dim;
  const std::uint64_t stride = (std::uint64_t{p.heads} + 2 * p.kv_heads) * dim;
  const std::uint64_t position = std::min(cpu::slice<const std::uint32_t>(args, 3, p.position_offset, 1)[0], p.max_pos);
  const auto qkv = cpu::slice<float>(args, 0, p.qkv_offset, p.tokens * stride);
  const auto k = cpu::slice<float>(args, 1, p.k_offset, (position + p.tokens) * kv_row);
  const auto v = cpu::slice<float>(args, 2, p.v_offset, (position + p.tokens) * kv_row);
  const bool neox = p.mode == kRopeNeox;
  for (std::uint64_t t = 0; t < p.tokens; ++t) {
    const auto row = qkv.subspan(t * stride, stride);
    for (std::uint64_t h = 0; h < p.heads; ++h) {
      reference::rope_head(row.subspan(h * dim, dim), position + t, p.freq_base, neox, dim / 2);
    }
    const auto keys = k.subspan((position + t) * kv_row, kv_row);
    const auto values = v.subspan((position + t) * kv_row, kv_row);
    std::copy_n(row.begin() + static_cast<std::ptrdiff_t>(p.heads * dim), kv_row, keys.begin());
    std::copy_n(row.begin() + static_cast<std::ptrdiff_t>(p.heads * dim + kv_row), kv_row, values.begin());
    for (std::uint64_t h = 0; h < p.kv_heads; ++h) {
      reference::rope_head(keys.subspan(h * dim, dim), position + t, p.freq_base, neox, dim / 2);
    }
  }
}

// One query row over positions [range.begin, range.end) of its KV head in f32, with the online
// softmax the shader uses (the reference, in double, is what tests compare both with). Writes
// the normalized row (dim floats), or the partial (acc, max, sum) for the combine pass.
void attend_f32(const float* q, const float* k, const float* v, std::uint64_t kv_stride, std::uint64_t dim,
                Range range, float scale, bool normalize, float* dst) {
  thread_local std::vector<float> acc;
  acc.assign(dim, 0.0f);
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  for (std::uint64_t pos = range.begin; pos < range.end; ++pos) {
    const float score = scale * cpu::dot_f32(q, k + pos * kv_stride, dim);
    if (score > m) {
      const float rescale = std::isinf(m) ? 0.0f : std::exp(m - score);
      l *= rescale;
      for (float& a : acc) a *= rescale;
      m = score;
    }
    const float w = std::exp(score - m);
    l += w;
    const float* vp = v + pos * kv_stride;
    for (std::uint64_t d = 0; d < dim; ++d) acc[d] += w * vp[d];
  }
  if (normalize) {
    for (std::uint64_t d = 0; d < dim; ++d) dst[d] = acc[d] / l;
    return;
  }
  std::copy(acc.begin(), acc.end(), dst);
  dst[dim] = m;
  dst[dim + 1] = l;
}

void attention_run(const CpuKernelArgs& args, const AttentionPush& p) {
  if (p.kv_heads == 0 || p.heads % p.kv_heads != 0) {
    fail(Errc::internal, "attention_f32: {} query heads cannot share {} KV heads", p.heads,
         p.kv_heads);
  }
  const std::uint64_t dim = p.head_dim;
  const std::uint64_t rows_total = std::uint64_t{p.tokens} * p.heads;
  const std::uint64_t rows = cpu::covered(rows_total, args.groups.x, 1);
  const std::uint64_t splits = std::min<std::uint64_t>(p.splits, args.groups.y);
  if (rows == 0 || splits == 0) return;
  const std::uint64_t positions = std::uint64_t{p.start_pos} + p.tokens;
  const std::uint64_t kv_elements = positions * p.kv_heads * dim;
  const auto q = cpu::slice<const float>(args, 0, p.q_offset, rows_total * dim);
  const auto k = cpu::slice<const float>(args, 1, p.k_offset, kv_elements);
  const auto v = cpu::slice<const float>(args, 2, p.v_offset, kv_elements);
  const std::uint64_t out_row = p.splits == 1 ? dim : p.splits * (dim + 2);
  const auto out = cpu::slice<float>(args, 3, p.out_offset, rows_total * out_row);
  const std::uint64_t group = p.heads / p.kv_heads;
  args.pool.parallel_for(rows * splits, 1, [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t item = begin; item < end; ++item) {
      const std::uint64_t row = item / splits;
      const std::uint64_t split = item % splits;
      const std::uint64_t kv_head = row % p.heads / group;
      const Range range = chunk_range(p, row, split);
      const std::uint64_t kv_stride = std::uint64_t{p.kv_heads} * dim;
      const std::uint64_t head_at = kv_head * dim;
      float* dst = p.splits == 1 ? out.data() + row * dim : out.data() + (row * p.splits + split) * (dim + 2);
      attend_f32(q.data() + row * dim, k.data() + head_at, v.data() + head_at, kv_stride, dim, range, p.scale,
                 p.splits == 1, dst);
    }
  });
}

void attention_cpu(const CpuKernelArgs& args) { attention_run(args, cpu::read_push<AttentionPush>(args)); }

void attention_at_cpu(const CpuKernelArgs& args) {
  auto p = cpu::read_push<AttentionAtPush>(args);
  const std::uint32_t position = cpu::slice<const std::uint32_t>(args, 4, p.position_offset, 1)[0];
  p.base.start_pos = std::min(position, p.base.start_pos);
  attention_run(args, p.base);
}

void attention_combine_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<AttentionCombinePush>(args);
  const std::uint64_t dim = p.head_dim;
  const std::uint64_t stride = dim + 2;
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, 1);
  if (rows == 0) return;
  const auto part = cpu::slice<const float>(args, 0, p.part_offset, rows * p.splits * stride);
  const auto out = cpu::slice<float>(args, 1, p.out_offset, rows * dim);
  args.pool.parallel_for(rows, 16, [&](std::uint64_t begin, std::uint64_t end) {
    std::vector<reference::AttentionPartial> parts(p.splits);
    for (std::uint64_t row = begin; row < end; ++row) {
      for (std::uint64_t s = 0; s < p.splits; ++s) {
        const auto values = part.subspan((row * p.splits + s) * stride, stride);
        parts[s].acc.assign(values.begin(), values.begin() + dim);
        parts[s].max = values[dim];
        parts[s].sum = values[dim + 1];
      }
      reference::attention_combine(parts, out.subspan(row * dim, dim));
    }
  });
}

}  // namespace

const KernelSpec rope_f32{"rope_f32", {spirv::rope_f32, spirv::rope_f32_words}, 1,
                          sizeof(RopePush), kRopeThreads, rope_cpu};
const KernelSpec attention_f32{"attention_f32",
                               {spirv::attention_f32, spirv::attention_f32_words},
                               4,
                               sizeof(AttentionPush),
                               kAttentionThreads,
                               attention_cpu};
const KernelSpec rope_kv_f32{"rope_kv_f32", {spirv::rope_kv_f32, spirv::rope_kv_f32_words}, 4,
                             sizeof(RopeKvPush), kRopeThreads, rope_kv_cpu};
const KernelSpec attention_at_f32{"attention_at_f32",
                                  {spirv::attention_at_f32, spirv::attention_at_f32_words},
                                  5,
                                  sizeof(AttentionAtPush),
                                  kAttentionThreads,
                                  attention_at_cpu};
const KernelSpec attention_combine_f32{
    "attention_combine_f32",
    {spirv::attention_combine_f32, spirv::attention_combine_f32_words},
    2,
    sizeof(AttentionCombinePush),
    kAttentionThreads,
    attention_combine_cpu};

}  // namespace crossgpu::kernels
