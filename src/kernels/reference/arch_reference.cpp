#include "kernels/reference/arch_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace crossgpu::reference {

void gelu_tanh(std::span<const float> x, std::span<float> y) {
  const double k = std::sqrt(2.0 / 3.14159265358979323846);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    y[i] = static_cast<float>(0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))));
  }
}

void softcap(std::span<const float> x, std::span<float> y, float cap) {
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(cap * std::tanh(double{x[i]} / cap));
}

void rope_freqs_head(std::span<float> head, std::uint64_t position, const RopeFreqs& rope,
                     std::uint64_t pairs) {
  const std::uint64_t head_dim = head.size();
  const std::uint64_t partner = rope.neox ? head_dim / 2 : 1;
  for (std::uint64_t i = 0; i < pairs; ++i) {
    const double exponent = -2.0 * static_cast<double>(i) / static_cast<double>(head_dim);
    const double angle = static_cast<double>(position) * rope.freq_scale *
                         std::pow(static_cast<double>(rope.freq_base), exponent) / rope.factors[i];
    const std::uint64_t first = rope.neox ? i : 2 * i;
    const double a = head[first];
    const double b = head[first + partner];
    head[first] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
    head[first + partner] = static_cast<float>(a * std::sin(angle) + b * std::cos(angle));
  }
}

void rope_freqs(std::span<float> x, std::uint64_t tokens, std::uint64_t heads, std::uint64_t head_dim,
                std::uint64_t start_pos, const RopeFreqs& rope) {
  for (std::uint64_t t = 0; t < tokens; ++t) {
    for (std::uint64_t h = 0; h < heads; ++h) {
      rope_freqs_head(x.subspan((t * heads + h) * head_dim, head_dim), start_pos + t, rope, head_dim / 2);
    }
  }
}

namespace {

// One query row over positions [begin, end) of one KV head's rows (stride kv_stride).
void attend_row(std::span<const float> q_row, const float* k, const float* v, std::uint64_t kv_stride,
                std::uint64_t begin, std::uint64_t end, double scale, double softcap, std::span<float> out) {
  const std::uint64_t dim = q_row.size();
  std::vector<double> scores;
  double top = -std::numeric_limits<double>::infinity();
  for (std::uint64_t j = begin; j < end; ++j) {
    double dot = 0.0;
    for (std::uint64_t d = 0; d < dim; ++d) dot += double{q_row[d]} * k[j * kv_stride + d];
    double s = scale * dot;
    if (softcap > 0) s = softcap * std::tanh(s / softcap);
    scores.push_back(s);
    top = std::max(top, s);
  }
  std::vector<double> acc(dim, 0.0);
  double sum = 0.0;
  for (std::uint64_t j = begin; j < end; ++j) {
    const double w = std::exp(scores[j - begin] - top);
    sum += w;
    for (std::uint64_t d = 0; d < dim; ++d) acc[d] += w * v[j * kv_stride + d];
  }
  for (std::uint64_t d = 0; d < dim; ++d) out[d] = static_cast<float>(acc[d] / sum);
}

}  // namespace

void attention_window(std::span<const float> q, std::span<const float> k, std::span<const float> v,
                      std::span<float> out, const AttentionDims& dims, float scale, std::uint64_t window,
                      float softcap) {
  const std::uint64_t dim = dims.head_dim, group = dims.heads / dims.kv_heads, kv_stride = dims.kv_heads * dim;
  for (std::uint64_t t = 0; t < dims.tokens; ++t) {
    const std::uint64_t end = dims.start_pos + t + 1;
    const std::uint64_t begin = window != 0 && end > window ? end - window : 0;
    for (std::uint64_t h = 0; h < dims.heads; ++h) {
      const std::uint64_t row = t * dims.heads + h, kv = (h / group) * dim;
      attend_row(q.subspan(row * dim, dim), k.data() + kv, v.data() + kv, kv_stride, begin, end, scale, softcap,
                 out.subspan(row * dim, dim));
    }
  }
}

}  // namespace crossgpu::reference
