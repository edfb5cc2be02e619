#include "model/llama_config.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

#include "core/error.hpp"

namespace crossgpu::model {
namespace {

// Architectures whose tensors and forward pass are llama's (RMSNorm, RoPE on adjacent pairs,
// GQA, SwiGLU). Others (qwen2 with biases, phi3 with fused qkv, gemma's scaled embeddings) differ.
constexpr std::array<std::string_view, 2> kLlamaLike = {"llama", "mistral"};

std::uint32_t get_u32(const GgufFile& file, const std::string& key) {
  const std::uint64_t v = file.get_uint(key);
  if (v == 0 || v > 0xFFFFFFFFull) fail(Errc::invalid_argument, "GGUF key '{}': value {} is out of range", key, v);
  return static_cast<std::uint32_t>(v);
}

std::uint32_t get_u32_or(const GgufFile& file, const std::string& key, std::uint32_t fallback) {
  return file.find(key) ? get_u32(file, key) : fallback;
}

float get_f32_or(const GgufFile& file, const std::string& key, float fallback) {
  if (!file.find(key)) return fallback;
  const double v = file.get_float(key);
  if (!(v > 0) || v > 1e12) fail(Errc::invalid_argument, "GGUF key '{}': value {} is out of range", key, v);
  return static_cast<float>(v);
}

// The tensor's dims must be exactly `expected` (ggml order: the row length first).
void expect_shape(const GgufFile& file, const std::string& name,
                  std::initializer_list<std::uint64_t> expected) {
  const TensorInfo& info = file.tensor(name);
  const std::vector<std::uint64_t> want(expected);
  if (info.dims != want) {
    fail(Errc::invalid_argument, "tensor '{}' has shape [{}], the metadata implies [{}]", name,
         fmt::join(info.dims, ", "), fmt::join(want, ", "));
  }
}

void check_tensors(const GgufFile& file, const LlamaConfig& c) {
  const std::uint64_t e = c.embedding, q = std::uint64_t{c.heads} * c.head_dim;
  const std::uint64_t kv = std::uint64_t{c.kv_heads} * c.head_dim;
  expect_shape(file, "token_embd.weight", {e, c.vocab});
  expect_shape(file, "output_norm.weight", {e});
  if (!c.tied_output) expect_shape(file, "output.weight", {e, c.vocab});
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    expect_shape(file, layer_tensor(l, "attn_norm"), {e});
    expect_shape(file, layer_tensor(l, "attn_q"), {e, q});
    expect_shape(file, layer_tensor(l, "attn_k"), {e, kv});
    expect_shape(file, layer_tensor(l, "attn_v"), {e, kv});
    expect_shape(file, layer_tensor(l, "attn_output"), {q, e});
    expect_shape(file, layer_tensor(l, "ffn_norm"), {e});
    expect_shape(file, layer_tensor(l, "ffn_gate"), {e, c.ffn});
    expect_shape(file, layer_tensor(l, "ffn_up"), {e, c.ffn});
    expect_shape(file, layer_tensor(l, "ffn_down"), {c.ffn, e});
  }
}

}  // namespace

std::string layer_tensor(std::uint32_t layer, const char* what) {
  return fmt::format("blk.{}.{}.weight", layer, what);
}

LlamaConfig LlamaConfig::from_gguf(const GgufFile& file) {
  LlamaConfig c;
  c.architecture = file.get_string("general.architecture");
  bool known = false;
  for (std::string_view a : kLlamaLike) known = known || a == c.architecture;
  if (!known) {
    fail(Errc::unsupported, "model architecture '{}' is not supported (llama-family only: llama, mistral)",
         c.architecture);
  }
  c.name = file.find("general.name") ? file.get_string("general.name") : c.architecture;
  const std::string a = c.architecture + ".";
  c.layers = get_u32(file, a + "block_count");
  c.embedding = get_u32(file, a + "embedding_length");
  c.heads = get_u32(file, a + "attention.head_count");
  c.kv_heads = get_u32_or(file, a + "attention.head_count_kv", c.heads);
  c.ffn = get_u32(file, a + "feed_forward_length");
  c.context = get_u32_or(file, a + "context_length", 2048);
  c.rms_eps = get_f32_or(file, a + "attention.layer_norm_rms_epsilon", 1e-5f);
  c.rope_base = get_f32_or(file, a + "rope.freq_base", 10000.0f);
  if (c.embedding % c.heads != 0) {
    fail(Errc::invalid_argument, "embedding {} is not a multiple of the head count {}", c.embedding, c.heads);
  }
  if (c.heads % c.kv_heads != 0) {
    fail(Errc::invalid_argument, "head count {} is not a multiple of the KV head count {}", c.heads, c.kv_heads);
  }
  c.head_dim = c.embedding / c.heads;
  if (c.head_dim % 2 != 0) fail(Errc::invalid_argument, "head dimension {} is odd: RoPE needs pairs", c.head_dim);
  const TensorInfo& embd = file.tensor("token_embd.weight");
  if (embd.dims.size() != 2 || embd.dims[1] == 0 || embd.dims[1] > 0xFFFFFFFFull) {
    fail(Errc::invalid_argument, "tensor 'token_embd.weight' must be a 2-D [embedding, vocab] matrix");
  }
  c.vocab = static_cast<std::uint32_t>(embd.dims[1]);
  c.tied_output = file.find_tensor("output.weight") == nullptr;
  check_tensors(file, c);
  return c;
}

std::uint64_t LlamaConfig::kv_bytes_per_token_per_layer() const {
  return 2ull * kv_heads * head_dim * sizeof(float);
}

}  // namespace crossgpu::model
