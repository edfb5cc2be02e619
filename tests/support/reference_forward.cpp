#include "support/reference_forward.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::testing {
namespace {

using model::LlamaConfig;
using Vec = std::vector<double>;

// A matrix's rows [first, first + rows), dequantized.
struct Matrix {
  std::uint64_t rows = 0, cols = 0;
  std::vector<float> values;

  Vec times(const Vec& x) const {
    Vec y(rows, 0.0);
    for (std::uint64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (std::uint64_t c = 0; c < cols; ++c) sum += double{values[r * cols + c]} * x[c];
      y[r] = sum;
    }
    return y;
  }
};

Matrix read(const model::GgufFile& file, const std::string& name, std::uint64_t first = 0, std::uint64_t rows = 0) {
  const model::TensorInfo& info = file.tensor(name);
  const auto type = kernels::weight_type_from(info.type).value();
  Matrix m;
  m.cols = info.dims[0];
  const std::uint64_t all = info.dims.size() > 1 ? info.dims[1] : 1;
  m.rows = rows == 0 ? all : rows;
  const auto bytes = file.tensor_data(info);
  const std::uint64_t row_bytes = bytes.size() / all;
  m.values.resize(m.rows * m.cols);
  for (std::uint64_t r = 0; r < m.rows; ++r) {
    kernels::reference::dequantize_row(type, bytes.subspan((first + r) * row_bytes, row_bytes),
                                       std::span(m.values).subspan(r * m.cols, m.cols));
  }
  return m;
}

// RMSNorm of each `dim`-long piece of x by `w`.
Vec rms_norm(const Vec& x, const Matrix& w, double eps) {
  const std::uint64_t dim = w.cols;
  Vec y(x.size());
  for (std::uint64_t start = 0; start < x.size(); start += dim) {
    double sq = 0;
    for (std::uint64_t i = 0; i < dim; ++i) sq += x[start + i] * x[start + i];
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(dim) + eps);
    for (std::uint64_t i = 0; i < dim; ++i) y[start + i] = x[start + i] * inv * w.values[i];
  }
  return y;
}

void add(Vec& x, const Vec& y) {
  for (std::size_t i = 0; i < x.size(); ++i) x[i] += y[i];
}

struct Layer {
  Matrix attn_norm, wq, wk, wv, bq, bk, bv, q_norm, k_norm, wo, post_attn, ffn_norm, gate, up, down, post_ffn;
  std::vector<Vec> keys, values;  // per position
};

Layer read_layer(const model::GgufFile& f, const LlamaConfig& c, std::uint32_t l) {
  using model::layer_bias;
  using model::layer_tensor;
  const auto& a = c.arch;
  Layer L;
  L.attn_norm = read(f, layer_tensor(l, "attn_norm"));
  if (a.fused_qkv) {
    L.wq = read(f, layer_tensor(l, "attn_qkv"), 0, c.q_dim());
    L.wk = read(f, layer_tensor(l, "attn_qkv"), c.q_dim(), c.kv_dim());
    L.wv = read(f, layer_tensor(l, "attn_qkv"), c.q_dim() + c.kv_dim(), c.kv_dim());
  } else {
    L.wq = read(f, layer_tensor(l, "attn_q"));
    L.wk = read(f, layer_tensor(l, "attn_k"));
    L.wv = read(f, layer_tensor(l, "attn_v"));
  }
  if (a.qkv_bias) {
    L.bq = read(f, layer_bias(l, "attn_q"));
    L.bk = read(f, layer_bias(l, "attn_k"));
    L.bv = read(f, layer_bias(l, "attn_v"));
  }
  if (a.qk_norm) {
    L.q_norm = read(f, layer_tensor(l, "attn_q_norm"));
    L.k_norm = read(f, layer_tensor(l, "attn_k_norm"));
  }
  L.wo = read(f, layer_tensor(l, "attn_output"));
  L.ffn_norm = read(f, layer_tensor(l, "ffn_norm"));
  if (a.fused_gate_up) {
    L.gate = read(f, layer_tensor(l, "ffn_up"), 0, c.ffn);
    L.up = read(f, layer_tensor(l, "ffn_up"), c.ffn, c.ffn);
  } else {
    L.gate = read(f, layer_tensor(l, "ffn_gate"));
    L.up = read(f, layer_tensor(l, "ffn_up"));
  }
  L.down = read(f, layer_tensor(l, "ffn_down"));
  if (a.post_norms) {
    L.post_attn = read(f, layer_tensor(l, "post_attention_norm"));
    L.post_ffn = read(f, layer_tensor(l, "post_ffw_norm"));
  }
  return L;
}

// Each head of x rotated for `pos`: pairs (2i, 2i+1), or (i, i + d/2) for NeoX.
void rope(Vec& x, const LlamaConfig& c, std::uint32_t layer, std::uint64_t pos) {
  const std::uint64_t d = c.head_dim;
  const bool neox = c.arch.rope_mode == ops::RopeMode::neox;
  const double base = c.layer_rope_base(layer);
  for (std::uint64_t h = 0; h < x.size() / d; ++h) {
    for (std::uint64_t i = 0; i < d / 2; ++i) {
      double angle = static_cast<double>(pos) * c.rope_scale * std::pow(base, -2.0 * static_cast<double>(i) / d);
      if (!c.rope_factors.empty()) angle /= c.rope_factors[i];
      const std::uint64_t a = h * d + (neox ? i : 2 * i), b = a + (neox ? d / 2 : 1);
      const double xa = x[a], xb = x[b];
      x[a] = xa * std::cos(angle) - xb * std::sin(angle);
      x[b] = xa * std::sin(angle) + xb * std::cos(angle);
    }
  }
}

Vec attend(const Vec& q, const Layer& L, const LlamaConfig& c, std::uint32_t layer, std::uint64_t pos) {
  const std::uint64_t d = c.head_dim, group = c.heads / c.kv_heads;
  const std::uint64_t window = c.layer_slides(layer) ? c.arch.sliding_window : 0;
  const std::uint64_t begin = window != 0 && pos + 1 > window ? pos + 1 - window : 0;
  Vec out(c.q_dim(), 0.0);
  for (std::uint64_t h = 0; h < c.heads; ++h) {
    const std::uint64_t kv = (h / group) * d;
    Vec scores;
    for (std::uint64_t j = begin; j <= pos; ++j) {
      double s = 0;
      for (std::uint64_t i = 0; i < d; ++i) s += q[h * d + i] * L.keys[j][kv + i];
      s *= c.attention_scale;
      if (c.arch.attn_softcap > 0) s = c.arch.attn_softcap * std::tanh(s / c.arch.attn_softcap);
      scores.push_back(s);
    }
    const double top = *std::max_element(scores.begin(), scores.end());
    double sum = 0;
    for (double& s : scores) sum += (s = std::exp(s - top));
    for (std::uint64_t j = begin; j <= pos; ++j) {
      for (std::uint64_t i = 0; i < d; ++i) out[h * d + i] += scores[j - begin] / sum * L.values[j][kv + i];
    }
  }
  return out;
}

void layer_step(Vec& x, Layer& L, const LlamaConfig& c, std::uint32_t layer, std::uint64_t pos) {
  const Vec h = rms_norm(x, L.attn_norm, c.rms_eps);
  Vec q = L.wq.times(h), k = L.wk.times(h), v = L.wv.times(h);
  if (!L.bq.values.empty()) {
    for (std::size_t i = 0; i < q.size(); ++i) q[i] += L.bq.values[i];
    for (std::size_t i = 0; i < k.size(); ++i) k[i] += L.bk.values[i], v[i] += L.bv.values[i];
  }
  if (!L.q_norm.values.empty()) {
    q = rms_norm(q, L.q_norm, c.rms_eps);
    k = rms_norm(k, L.k_norm, c.rms_eps);
  }
  rope(q, c, layer, pos);
  rope(k, c, layer, pos);
  L.keys.push_back(k);
  L.values.push_back(v);
  Vec o = L.wo.times(attend(q, L, c, layer, pos));
  if (!L.post_attn.values.empty()) o = rms_norm(o, L.post_attn, c.rms_eps);
  add(x, o);
  const Vec n = rms_norm(x, L.ffn_norm, c.rms_eps);
  Vec g = L.gate.times(n);
  const Vec u = L.up.times(n);
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double a = g[i];
    g[i] = (c.arch.gelu ? 0.5 * a * (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * (a + 0.044715 * a * a * a)))
                        : a / (1 + std::exp(-a))) * u[i];
  }
  Vec dn = L.down.times(g);
  if (!L.post_ffn.values.empty()) dn = rms_norm(dn, L.post_ffn, c.rms_eps);
  add(x, dn);
}

}  // namespace

ReferenceRun reference_greedy(const model::GgufFile& file, const LlamaConfig& c, std::span<const std::uint32_t> prompt,
                              std::uint32_t new_tokens) {
  const Matrix embd = read(file, "token_embd.weight");
  const Matrix head = c.tied_output ? embd : read(file, "output.weight");
  const Matrix out_norm = read(file, "output_norm.weight");
  std::vector<Layer> layers;
  for (std::uint32_t l = 0; l < c.layers; ++l) layers.push_back(read_layer(file, c, l));

  ReferenceRun run;
  std::vector<std::uint32_t> sequence(prompt.begin(), prompt.end());
  for (std::uint64_t pos = 0; pos < sequence.size(); ++pos) {
    Vec x(c.embedding);
    for (std::uint64_t i = 0; i < c.embedding; ++i) x[i] = embd.values[sequence[pos] * embd.cols + i] * double{c.arch.embedding_scale};
    for (std::uint32_t l = 0; l < c.layers; ++l) layer_step(x, layers[l], c, l, pos);
    if (pos + 1 < sequence.size() || run.tokens.size() == new_tokens) continue;
    Vec logits = head.times(rms_norm(x, out_norm, c.rms_eps));
    if (c.arch.final_softcap > 0) {
      for (double& z : logits) z = c.arch.final_softcap * std::tanh(z / c.arch.final_softcap);
    }
    run.logits.emplace_back(logits.begin(), logits.end());
    const auto best = static_cast<std::uint32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    run.tokens.push_back(best);
    if (run.tokens.size() < new_tokens) sequence.push_back(best);
  }
  return run;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-6;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double{a[i]} - b[i]));
    scale = std::max(scale, std::fabs(double{b[i]}));
  }
  return diff / scale;
}

}  // namespace crossgpu::testing
