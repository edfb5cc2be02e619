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

  void norm(const std::string& name, std::uint64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = 1.0f + 0.1f * noise_.next();
    writer_.add_tensor(name, {n}, TensorType::f32, encode(WeightType::f32, 1, n, v));
  }

 private:
  const DemoModelSpec& spec_;
  GgufWriter& writer_;
  Noise noise_;
};

void add_hyperparameters(GgufWriter& w, const DemoModelSpec& s) {
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", "crossgpu-demo");
  w.add_uint32("general.file_type", static_cast<std::uint32_t>(s.type));
  w.add_uint32("llama.block_count", s.layers);
  w.add_uint32("llama.embedding_length", s.embedding);
  w.add_uint32("llama.attention.head_count", s.heads);
  w.add_uint32("llama.attention.head_count_kv", s.kv_heads);
  w.add_uint32("llama.feed_forward_length", s.ffn);
  w.add_uint32("llama.context_length", s.context);
  w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.add_float32("llama.rope.freq_base", 10000.0f);
}

}  // namespace

GgufWriter demo_model(const DemoModelSpec& spec) {
  if (spec.layers == 0 || spec.heads == 0 || spec.kv_heads == 0 || spec.embedding % spec.heads != 0 ||
      spec.heads % spec.kv_heads != 0) {
    fail(Errc::invalid_argument, "demo model: inconsistent shape ({} layers, {} embedding, {} heads, {} KV heads)",
         spec.layers, spec.embedding, spec.heads, spec.kv_heads);
  }
  GgufWriter w;
  add_hyperparameters(w, spec);
  const TokenizerSpec vocabulary = demo_spm_vocabulary();
  add_tokenizer_metadata(w, vocabulary);
  const std::uint64_t vocab = vocabulary.tokens.size(), e = spec.embedding, f = spec.ffn;
  const std::uint64_t q = e, kv = std::uint64_t{spec.kv_heads} * (e / spec.heads);

  Builder b(spec, w);
  // The embedding has unit-variance rows (RMSNorm follows); the head is sharpened (gain 4) so
  // that the logits of a random model are not near-ties, and greedy decoding is well defined.
  b.matrix("token_embd.weight", vocab, e, std::sqrt(static_cast<float>(e)), spec.type);
  for (std::uint32_t l = 0; l < spec.layers; ++l) {
    b.norm(layer_tensor(l, "attn_norm"), e);
    b.matrix(layer_tensor(l, "attn_q"), q, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "attn_k"), kv, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "attn_v"), kv, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "attn_output"), e, q, 0.5f, spec.type);
    b.norm(layer_tensor(l, "ffn_norm"), e);
    b.matrix(layer_tensor(l, "ffn_gate"), f, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "ffn_up"), f, e, 1.0f, spec.type);
    b.matrix(layer_tensor(l, "ffn_down"), e, f, 0.5f, spec.type);
  }
  b.norm("output_norm.weight", e);
  if (!spec.tied_output) b.matrix("output.weight", vocab, e, 4.0f, spec.type);
  return w;
}

void write_demo_model(const std::filesystem::path& path, const DemoModelSpec& spec) { demo_model(spec).write(path); }

}  // namespace crossgpu::model
