#include "model/demo_model.hpp"

#include <cmath>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "kernels/reference/quant.hpp"
#include "model/llama_config.hpp"
#include "model/tokenizer.hpp"

namespace crossgpu::model {
namespace {

using kernels::WeightType;

// Deterministic pseudo-normal values (sum of uniforms from mt19937_64, whose output the standard
// fixes), so a seed gives the same file everywhere.
class Noise {
 public:
  explicit Noise(std::uint64_t seed) : rng_(seed) {}
  float next() {
    double sum = 0;
    for (int i = 0; i < 4; ++i) sum += static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    return static_cast<float>((sum - 2.0) * std::sqrt(3.0));  // mean 0, variance 1
  }

 private:
  std::mt19937_64 rng_;
};

std::vector<std::byte> encode(WeightType type, std::uint64_t rows, std::uint64_t cols, const std::vector<float>& values) {
  const std::uint64_t row_bytes = kernels::row_bytes(type, cols);
  std::vector<std::byte> out(rows * row_bytes);
  for (std::uint64_t r = 0; r < rows; ++r) {
    kernels::reference::quantize_row(type, std::span(values).subspan(r * cols, cols),
                                     std::span(out).subspan(r * row_bytes, row_bytes));
  }
  return out;
}

model::TensorType tensor_type(WeightType type) { return static_cast<model::TensorType>(static_cast<std::uint32_t>(type)); }

class Builder {
 public:
  Builder(const DemoModelSpec& spec, GgufWriter& writer) : spec_(spec), writer_(writer), noise_(spec.seed) {}

  // rows x cols, ggml dims {cols, rows}; values ~ N(0, gain^2 / cols) keep activations O(1).
  void matrix(const std::string& name, std::uint64_t rows, std::uint64_t cols, float gain, WeightType type) {
    std::vector<float> v(rows * cols);
    const float scale = gain / std::sqrt(static_cast<float>(cols));
    for (float& x : v) x = noise_.next() * scale;
    writer_.add_tensor(name, {cols, rows}, tensor_type(type), encode(type, rows, cols, v));
  }

  void bias(const std::string& name, std::uint64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = 0.5f * noise_.next();
    writer_.add_tensor(name, {n}, TensorType::f32, encode(WeightType::f32, 1, n, v));
  }

  void norm(const std::string& name, std::uint64_t n, float gain = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = gain * (1.0f + 0.1f * noise_.next());
    writer_.add_tensor(name, {n}, TensorType::f32, encode(WeightType::f32, 1, n, v));
  }

 private:
  const DemoModelSpec& spec_;
  GgufWriter& writer_;
  Noise noise_;
};

void add_hyperparameters(GgufWriter& w, const DemoModelSpec& s) {
  const std::string a = s.architecture + ".";
  w.add_string("general.architecture", s.architecture);
  w.add_string("general.name", "crossgpu-demo");
  w.add_uint32("general.file_type", static_cast<std::uint32_t>(s.type));
  w.add_uint32(a + "block_count", s.layers);
  w.add_uint32(a + "embedding_length", s.embedding);
  w.add_uint32(a + "attention.head_count", s.heads);
  w.add_uint32(a + "attention.head_count_kv", s.kv_heads);
  w.add_uint32(a + "feed_forward_length", s.ffn);
  w.add_uint32(a + "context_length", s.context);
  w.add_float32(a + "attention.layer_norm_rms_epsilon", s.architecture.starts_with("gemma") ? 1e-6f : 1e-5f);
  w.add_float32(a + "rope.freq_base", s.architecture == "gemma3" ? 1000000.0f : 10000.0f);
  if (s.head_dim != 0) {
    w.add_uint32(a + "attention.key_length", s.head_dim);
    w.add_uint32(a + "attention.value_length", s.head_dim);
  }
  if (s.architecture == "gemma2" || s.architecture == "gemma3") {
    w.add_uint32(a + "attention.sliding_window", s.sliding_window);
    w.add_uint32(a + "attention.sliding_window_pattern", s.swa_pattern);
  }
  if (s.architecture == "gemma2") {
    // Caps low enough that a random model's scores and logits reach them.
    w.add_float32(a + "attn_logit_softcapping", 4.0f);
    w.add_float32(a + "final_logit_softcapping", 30.0f);
  }
  if (s.architecture == "gemma3") w.add_float32(a + "rope.freq_base_swa", 10000.0f);
}

// Llama 3.1's per-pair RoPE divisors (factor 8, low 1, high 4) for an original context of 16, so
// that a short test sees all three regimes.
std::vector<float> llama3_rope_factors(std::uint32_t head_dim) {
  std::vector<float> f;
  for (std::uint32_t i = 0; i < head_dim / 2; ++i) {
    const double wavelength = 2 * 3.14159265358979323846 / std::pow(10000.0, -2.0 * i / head_dim);
    const double smooth = (16.0 / wavelength - 1.0) / 3.0;
    f.push_back(wavelength < 4.0 ? 1.0f : wavelength > 16.0 ? 8.0f : static_cast<float>(1.0 / ((1 - smooth) / 8 + smooth)));
  }
  return f;
}

void check_spec(const DemoModelSpec& spec) {
  if (spec.layers == 0 || spec.heads == 0 || spec.kv_heads == 0 ||
      (spec.head_dim == 0 && spec.embedding % spec.heads != 0) || spec.heads % spec.kv_heads != 0) {
    fail(Errc::invalid_argument, "demo model: inconsistent shape ({} layers, {} embedding, {} heads, {} KV heads)",
         spec.layers, spec.embedding, spec.heads, spec.kv_heads);
  }
  bool known = false;
  for (const char* a : kSupportedArchitectures) known = known || spec.architecture == a;
  if (!known) fail(Errc::invalid_argument, "demo model: unknown architecture '{}'", spec.architecture);
}

void add_layer(Builder& b, const DemoModelSpec& spec, std::uint32_t l, std::uint64_t q, std::uint64_t kv) {
  const std::string& arch = spec.architecture;
  const std::uint64_t e = spec.embedding, f = spec.ffn, d = q / spec.heads;
  const bool gemma = arch == "gemma2" || arch == "gemma3";
  b.norm(layer_tensor(l, "attn_norm"), e);
  if (arch == "phi3") {
    b.matrix(layer_tensor(l, "attn_qkv"), q + 2 * kv, e, 1.0f, spec.type);
  } else {
    b.matrix(layer_tensor(l, "attn_q"), q, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "attn_k"), kv, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "attn_v"), kv, e, 1.0f, spec.type);
  }
  if (arch == "qwen2") {
    b.bias(layer_bias(l, "attn_q"), q);
    b.bias(layer_bias(l, "attn_k"), kv);
    b.bias(layer_bias(l, "attn_v"), kv);
  }
  if (arch == "qwen3" || arch == "gemma3") {
    b.norm(layer_tensor(l, "attn_q_norm"), d);
    b.norm(layer_tensor(l, "attn_k_norm"), d);
  }
  b.matrix(layer_tensor(l, "attn_output"), e, q, 0.5f, spec.type);
  // Gemma's post-norms set each block's share of the residual: large enough that the layers,
  // not the (scaled) input embedding, decide a tied head's logits.
  if (gemma) b.norm(layer_tensor(l, "post_attention_norm"), e, 4.0f);
  b.norm(layer_tensor(l, "ffn_norm"), e);
  if (arch == "phi3") {
    b.matrix(layer_tensor(l, "ffn_up"), 2 * f, e, 1.0f, spec.type);
  } else {
    b.matrix(layer_tensor(l, "ffn_gate"), f, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "ffn_up"), f, e, 1.0f, spec.type);
  }
  b.matrix(layer_tensor(l, "ffn_down"), e, f, 0.5f, spec.type);
  if (gemma) b.norm(layer_tensor(l, "post_ffw_norm"), e, 4.0f);
}

}  // namespace

GgufWriter demo_model(const DemoModelSpec& spec) {
  check_spec(spec);
  GgufWriter w;
  add_hyperparameters(w, spec);
  const TokenizerSpec demo = spec.vocabulary ? TokenizerSpec{} : demo_spm_vocabulary();
  const TokenizerSpec& vocabulary = spec.vocabulary ? *spec.vocabulary : demo;
  add_tokenizer_metadata(w, vocabulary);
  const std::uint64_t vocab = vocabulary.tokens.size(), e = spec.embedding;
  const std::uint64_t d = spec.head_dim != 0 ? spec.head_dim : e / spec.heads;
  const std::uint64_t q = std::uint64_t{spec.heads} * d, kv = std::uint64_t{spec.kv_heads} * d;

  Builder b(spec, w);
  // The embedding has unit-variance rows (RMSNorm follows); the head is sharpened (gain 4) so
  // that the logits of a random model are not near-ties, and greedy decoding is well defined.
  // A tied head reads the embedding: its rows get norm 1, so that the input token's own row does
  // not dominate the residual and every logit (greedy would repeat the last token).
  const float embd_gain = spec.tied_output ? 1.0f : std::sqrt(static_cast<float>(e));
  b.matrix("token_embd.weight", vocab, e, embd_gain, spec.type);
  if (spec.rope_freqs) w.add_tensor("rope_freqs.weight", {d / 2}, TensorType::f32, encode(WeightType::f32, 1, d / 2, llama3_rope_factors(static_cast<std::uint32_t>(d))));
  for (std::uint32_t l = 0; l < spec.layers; ++l) add_layer(b, spec, l, q, kv);
  b.norm("output_norm.weight", e);
  if (!spec.tied_output) b.matrix("output.weight", vocab, e, 4.0f, spec.type);
  return w;
}

void write_demo_model(const std::filesystem::path& path, const DemoModelSpec& spec) { demo_model(spec).write(path); }

}  // namespace crossgpu::model
