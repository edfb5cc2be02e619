// The CPU reference of the transformer ops: rotary position embedding (RoPE) and causal
// grouped-query attention over a KV cache. Like reference.hpp: plain loops that accumulate in
// double and round once, the ground truth that the shaders and the CPU backend are judged by.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/reference/reference.hpp"

namespace crossgpu::reference {

// x = [tokens][heads][head_dim], rotated in place: token t is at position start_pos + t, and
// pair i (elements (2i, 2i + 1), or (i, i + head_dim / 2) when `neox`) of every head turns by
// the angle position * freq_base^(-2i / head_dim). head_dim is even.
void rope(std::span<float> x, std::uint64_t tokens, std::uint64_t heads, std::uint64_t head_dim,
          std::uint64_t start_pos, float freq_base, bool neox);

// Pairs [0, pairs) of one head (head.size() == head_dim) at `position`: what rope does to each
// head, and what a partial dispatch of the kernel covers.
void rope_head(std::span<float> head, std::uint64_t position, float freq_base, bool neox,
               std::uint64_t pairs);

struct AttentionDims {
  std::uint64_t tokens = 0;
  std::uint64_t heads = 0;
  std::uint64_t kv_heads = 0;  // divides heads
  std::uint64_t head_dim = 0;
  std::uint64_t start_pos = 0;
};

// Causal attention: out[t][h] = softmax_j(scale * q[t][h] . k[j][g]) weighted sum of v[j][g] over
// positions j = 0 .. start_pos + t, where g = h / (heads / kv_heads). q and out are
// [tokens][heads][head_dim]; k and v are [positions][kv_heads][head_dim] with at least
// start_pos + tokens positions.
void attention(std::span<const float> q, std::span<const float> k, std::span<const float> v,
               std::span<float> out, const AttentionDims& dims, float scale);

// One query row's attention over a subrange of positions, before normalization:
// max = the largest score, sum = sum_j exp(score_j - max), acc = sum_j exp(score_j - max) v_j.
// An empty range has max = -inf, sum = 0, acc = 0. Partials of disjoint ranges combine exactly
// (attention_combine), which is how the kernels split long contexts.
struct AttentionPartial {
  double max = 0.0;
  double sum = 0.0;
  std::vector<double> acc;
};

// k and v: one KV head's rows (position p is row p, head_dim columns).
AttentionPartial attention_partial(std::span<const float> q_row, MatrixView<const float> k,
                                   MatrixView<const float> v, std::uint64_t begin,
                                   std::uint64_t end, float scale);

// The normalized output row of the partials of disjoint ranges that together cover the row's
// positions (at least one of them non-empty).
void attention_combine(std::span<const AttentionPartial> parts, std::span<float> out);

// Rows of one KV head inside a [positions][kv_heads][head_dim] cache.
MatrixView<const float> kv_head_rows(std::span<const float> cache, std::uint64_t positions,
                                     std::uint64_t kv_heads, std::uint64_t head_dim,
                                     std::uint64_t kv_head);

}  // namespace crossgpu::reference
