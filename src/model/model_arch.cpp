#include "model/model_arch.hpp"

#include <cmath>
#include <cstring>
#include <numbers>
#include <string_view>

#include "core/error.hpp"

namespace crossgpu::model {
namespace {

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

bool is_one_of(std::string_view arch, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (n == arch) return true;
  }
  return false;
}

void check_supported(const std::string& arch) {
  for (const char* a : kSupportedArchitectures) {
    if (arch == a) return;
  }
  std::string list;
  for (const char* a : kSupportedArchitectures) list += (list.empty() ? "" : ", ") + std::string(a);
  fail(Errc::unsupported, "model architecture '{}' (general.architecture) is not supported; crossgpu runs: {}",
       arch.substr(0, 64), list);
}

// rope.scaling.type: none and linear scale positions (rope_scale); llama3 is read as factors.
void read_rope_scaling(const GgufFile& file, LlamaConfig& c, const std::string& a) {
  const std::string type = file.find(a + "rope.scaling.type") ? file.get_string(a + "rope.scaling.type") : "linear";
  if (type == "llama3") return;
  if (type != "none" && type != "linear") {
    fail(Errc::unsupported, "GGUF key '{}rope.scaling.type' is '{}': crossgpu computes none, linear and llama3",
         a, type.substr(0, 32));
  }
  float factor = 0.0f;
  if (file.find(a + "rope.scaling.factor")) factor = get_f32_or(file, a + "rope.scaling.factor", 1.0f);
  else if (file.find(a + "rope.scale_linear")) factor = get_f32_or(file, a + "rope.scale_linear", 1.0f);
  c.rope_scale = type == "none" || factor == 0.0f ? 1.0f : 1.0f / factor;
}

}  // namespace

void read_common_hyperparameters(const GgufFile& file, LlamaConfig& c) {
  check_supported(c.architecture);
  const std::string a = c.architecture + ".";
  c.layers = get_u32(file, a + "block_count");
  c.embedding = get_u32(file, a + "embedding_length");
  c.heads = get_u32(file, a + "attention.head_count");
  c.kv_heads = get_u32_or(file, a + "attention.head_count_kv", c.heads);
  c.ffn = get_u32(file, a + "feed_forward_length");
  c.context = get_u32_or(file, a + "context_length", 2048);
  c.rms_eps = get_f32_or(file, a + "attention.layer_norm_rms_epsilon", 1e-5f);
  c.rope_base = get_f32_or(file, a + "rope.freq_base", 10000.0f);
  read_rope_scaling(file, c, a);
  if (!file.find(a + "attention.key_length") && c.embedding % c.heads != 0) {
    fail(Errc::invalid_argument, "embedding {} is not a multiple of the head count {}", c.embedding, c.heads);
  }
  c.head_dim = get_u32_or(file, a + "attention.key_length", c.embedding / c.heads);
  const std::uint32_t value_dim = get_u32_or(file, a + "attention.value_length", c.head_dim);
  if (value_dim != c.head_dim) {
    fail(Errc::unsupported, "GGUF keys '{0}attention.key_length' ({1}) and '{0}attention.value_length' ({2}) "
         "differ: crossgpu's attention needs keys and values of one size", a, c.head_dim, value_dim);
  }
  const std::uint32_t rotated = get_u32_or(file, a + "rope.dimension_count", c.head_dim);
  if (rotated != c.head_dim) {
    fail(Errc::unsupported, "GGUF key '{}rope.dimension_count' is {}, the head is {}: partial rotary embeddings "
         "are not supported", a, rotated, c.head_dim);
  }
  // Gemma's 27B models scale queries by the embedding per head, not the head size (llama.cpp
  // tells them by their layer count).
  const bool gemma_27b = (c.architecture == "gemma2" && c.layers == 46) || (c.architecture == "gemma3" && c.layers == 62);
  const float scaled_dim = gemma_27b ? static_cast<float>(c.embedding / c.heads) : static_cast<float>(c.head_dim);
  c.attention_scale = 1.0f / std::sqrt(scaled_dim);
}

void read_arch_features(const GgufFile& file, LlamaConfig& c) {
  ArchFeatures& f = c.arch;
  const std::string& arch = c.architecture;
  const std::string a = arch + ".";
  if (is_one_of(arch, {"qwen2", "qwen3", "gemma2", "gemma3", "phi3"})) f.rope_mode = ops::RopeMode::neox;
  f.qkv_bias = file.find_tensor(layer_bias(0, "attn_q")) != nullptr;
  f.fused_qkv = file.find_tensor(layer_tensor(0, "attn_qkv")) != nullptr;
  f.qk_norm = is_one_of(arch, {"qwen3", "gemma3"});
  f.fused_gate_up = arch == "phi3";
  if (arch == "gemma2" || arch == "gemma3") {
    f.post_norms = true;
    f.gelu = true;
    f.embedding_scale = std::sqrt(static_cast<float>(c.embedding));
  }
  if (arch == "gemma2" && !c.tied_output) {
    fail(Errc::unsupported, "tensor 'output.weight': a gemma2 model's head is token_embd (llama.cpp does not "
         "load output.weight for gemma2 either)");
  }
  if (arch == "gemma2") {
    f.attn_softcap = get_f32_or(file, a + "attn_logit_softcapping", 50.0f);
    f.final_softcap = get_f32_or(file, a + "final_logit_softcapping", 30.0f);
    f.sliding_window = get_u32_or(file, a + "attention.sliding_window", 4096);
    f.swa_pattern = file.find(a + "attention.sliding_window_pattern") ? get_u32(file, a + "attention.sliding_window_pattern") : 2;
    f.rope_base_swa = get_f32_or(file, a + "rope.freq_base_swa", c.rope_base);
  }
  if (arch == "gemma3") {
    f.final_softcap = get_f32_or(file, a + "final_logit_softcapping", 0.0f);
    // 0 (or no key) means no sliding layers, as llama.cpp reads it.
    const std::string key = a + "attention.sliding_window";
    const std::uint64_t window = file.find(key) ? file.get_uint(key) : 0;
    if (window > 0xFFFFFFFFull) fail(Errc::invalid_argument, "GGUF key '{}': value {} is out of range", key, window);
    f.sliding_window = static_cast<std::uint32_t>(window);
    if (f.sliding_window != 0) {
      f.swa_pattern = file.find(a + "attention.sliding_window_pattern") ? get_u32(file, a + "attention.sliding_window_pattern") : 6;
      f.rope_base_swa = get_f32_or(file, a + "rope.freq_base_swa", 10000.0f);
    }
  }
}

void read_rope_factors(const GgufFile& file, LlamaConfig& c) {
  const std::uint32_t pairs = c.head_dim / 2;
  if (const TensorInfo* t = file.find_tensor("rope_freqs.weight")) {
    if (t->type != static_cast<std::uint32_t>(TensorType::f32)) {
      fail(Errc::unsupported, "tensor 'rope_freqs.weight' has type {}; crossgpu reads it as f32 only", t->type);
    }
    const auto bytes = file.tensor_data(*t);
    c.rope_factors.resize(pairs);
    std::memcpy(c.rope_factors.data(), bytes.data(), pairs * sizeof(float));
    for (float v : c.rope_factors) {
      if (!(v > 0) || !std::isfinite(v)) fail(Errc::invalid_argument, "tensor 'rope_freqs.weight' holds {}: factors must be finite and > 0", v);
    }
    return;
  }
  const std::string a = c.architecture + ".";
  if (!file.find(a + "rope.scaling.type") || file.get_string(a + "rope.scaling.type") != "llama3") return;
  // Llama 3.1's scaling (its configuration's rope_scaling): long wavelengths slowed by `factor`,
  // short ones kept, a smooth blend between.
  const double factor = get_f32_or(file, a + "rope.scaling.factor", 8.0f);
  const double low = get_f32_or(file, a + "rope.scaling.low_freq_factor", 1.0f);
  const double high = get_f32_or(file, a + "rope.scaling.high_freq_factor", 4.0f);
  const double original = get_u32_or(file, a + "rope.scaling.original_context_length", 8192);
  if (!(high > low)) fail(Errc::invalid_argument, "GGUF keys '{0}rope.scaling.high_freq_factor' ({1}) must exceed '{0}rope.scaling.low_freq_factor' ({2})", a, high, low);
  for (std::uint32_t i = 0; i < pairs; ++i) {
    const double freq = std::pow(static_cast<double>(c.rope_base), -2.0 * i / c.head_dim);
    const double wavelength = 2 * std::numbers::pi / freq;
    double f = 1.0;
    if (wavelength > original / low) {
      f = factor;
    } else if (wavelength >= original / high) {
      const double smooth = (original / wavelength - low) / (high - low);
      f = 1.0 / ((1 - smooth) / factor + smooth);
    }
    c.rope_factors.push_back(static_cast<float>(f));
  }
}

}  // namespace crossgpu::model
