#include "kernels/reference/attention_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace crossgpu::reference {

void rope_head(std::span<float> head, std::uint64_t position, float freq_base, bool neox,
               std::uint64_t pairs) {
  const std::uint64_t head_dim = head.size();
  // Pair i's partner: the next element, or the one half a head further (GPT-NeoX layout).
  const std::uint64_t partner = neox ? head_dim / 2 : 1;
  for (std::uint64_t i = 0; i < pairs; ++i) {
    const double exponent = -2.0 * static_cast<double>(i) / static_cast<double>(head_dim);
    const double angle =
        static_cast<double>(position) * std::pow(static_cast<double>(freq_base), exponent);
    const std::uint64_t first = neox ? i : 2 * i;
    const double a = head[first];
    const double b = head[first + partner];
    head[first] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
    head[first + partner] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
  }
}

void rope(std::span<float> x, std::uint64_t tokens, std::uint64_t heads, std::uint64_t head_dim,
          std::uint64_t start_pos, float freq_base, bool neox) {
  for (std::uint64_t t = 0; t < tokens; ++t) {
    for (std::uint64_t h = 0; h < heads; ++h) {
      rope_head(x.subspan((t * heads + h) * head_dim, head_dim), start_pos + t, freq_base, neox,
                head_dim / 2);
    }
  }
}

MatrixView<const float> kv_head_rows(std::span<const float> cache, std::uint64_t positions,
                                     std::uint64_t kv_heads, std::uint64_t head_dim,
                                     std::uint64_t kv_head) {
  const std::uint64_t stride = kv_heads * head_dim;
  const std::uint64_t extent = positions == 0 ? 0 : (positions - 1) * stride + head_dim;
  return {cache.subspan(kv_head * head_dim, extent), positions, head_dim, stride};
}

AttentionPartial attention_partial(std::span<const float> q_row, MatrixView<const float> k,
                                   MatrixView<const float> v, std::uint64_t begin,
                                   std::uint64_t end, float scale) {
  AttentionPartial part{-std::numeric_limits<double>::infinity(), 0.0,
                        std::vector<double>(q_row.size(), 0.0)};
  std::vector<double> scores;
  scores.reserve(end - begin);
  for (std::uint64_t j = begin; j < end; ++j) {
    double dot = 0.0;
    for (std::uint64_t d = 0; d < q_row.size(); ++d) dot += double{q_row[d]} * k(j, d);
    scores.push_back(dot * scale);
    part.max = std::max(part.max, scores.back());
  }
  for (std::uint64_t j = begin; j < end; ++j) {
    const double weight = std::exp(scores[j - begin] - part.max);
    part.sum += weight;
    for (std::uint64_t d = 0; d < q_row.size(); ++d) part.acc[d] += weight * v(j, d);
  }
  return part;
}

void attention_combine(std::span<const AttentionPartial> parts, std::span<float> out) {
  double top = -std::numeric_limits<double>::infinity();
  for (const AttentionPartial& part : parts) top = std::max(top, part.max);
  std::vector<double> acc(out.size(), 0.0);
  double total = 0.0;
  for (const AttentionPartial& part : parts) {
    if (part.sum == 0.0) continue;  // an empty range (its max is -inf)
    const double rescale = std::exp(part.max - top);
    total += rescale * part.sum;
    for (std::size_t d = 0; d < out.size(); ++d) acc[d] += rescale * part.acc[d];
  }
  for (std::size_t d = 0; d < out.size(); ++d) out[d] = static_cast<float>(acc[d] / total);
}

void attention(std::span<const float> q, std::span<const float> k, std::span<const float> v,
               std::span<float> out, const AttentionDims& dims, float scale) {
  const std::uint64_t positions = dims.start_pos + dims.tokens;
  const std::uint64_t group = dims.heads / dims.kv_heads;
  const std::uint64_t dim = dims.head_dim;
  for (std::uint64_t t = 0; t < dims.tokens; ++t) {
    for (std::uint64_t h = 0; h < dims.heads; ++h) {
      const std::uint64_t row = t * dims.heads + h;
      const std::uint64_t g = h / group;
      const AttentionPartial part = attention_partial(
          q.subspan(row * dim, dim), kv_head_rows(k, positions, dims.kv_heads, dim, g),
          kv_head_rows(v, positions, dims.kv_heads, dim, g), 0, dims.start_pos + t + 1, scale);
      attention_combine(std::span(&part, 1), out.subspan(row * dim, dim));
    }
  }
}

}  // namespace crossgpu::reference
