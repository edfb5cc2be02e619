#include "model/llama_config.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <string_view>

#include "core/error.hpp"
#include "model/model_arch.hpp"

namespace crossgpu::model {
namespace {

// The tensor's dims must be exactly `expected` (ggml order: the row length first).
void expect_shape(const GgufFile& file, const std::string& name, std::initializer_list<std::uint64_t> expected) {
  const TensorInfo& info = file.tensor(name);
  const std::vector<std::uint64_t> want(expected);
  if (info.dims != want) {
    fail(Errc::invalid_argument, "tensor '{}' has shape [{}], the metadata implies [{}]", name,
         fmt::join(info.dims, ", "), fmt::join(want, ", "));
  }
}

// The shape llama.cpp's loader requires of each layer tensor, by its short name.
std::vector<std::uint64_t> layer_shape(const LlamaConfig& c, std::string_view what) {
  const std::uint64_t e = c.embedding, q = c.q_dim(), kv = c.kv_dim(), f = c.ffn, d = c.head_dim;
  if (what == "attn_q.weight") return {e, q};
  if (what == "attn_k.weight" || what == "attn_v.weight") return {e, kv};
  if (what == "attn_qkv.weight") return {e, q + 2 * kv};
  if (what == "attn_q.bias") return {q};
  if (what == "attn_k.bias" || what == "attn_v.bias") return {kv};
  if (what == "attn_q_norm.weight" || what == "attn_k_norm.weight") return {d};
  if (what == "attn_output.weight") return {q, e};
  if (what == "ffn_gate.weight") return {e, f};
  if (what == "ffn_up.weight") return {e, c.arch.fused_gate_up ? 2 * f : f};
  if (what == "ffn_down.weight") return {f, e};
  return {e};  // the norms
}

// A layer the file has tensors for beyond block_count, or one it lacks: said as such, rather than
// as the first missing tensor.
void check_layer_count(const GgufFile& file, const LlamaConfig& c) {
  std::uint32_t highest = 0;
  bool any = false;
  for (const TensorInfo& t : file.tensors()) {
    unsigned layer = 0;
    if (std::sscanf(t.name.c_str(), "blk.%u.", &layer) == 1) {
      highest = std::max<std::uint32_t>(highest, layer);
      any = true;
    }
  }
  if (!any || highest + 1 != c.layers) {
    fail(Errc::invalid_argument, "{}.block_count says {} layers, but the file has tensors for {} (blk.0 .. blk.{})",
         c.architecture, c.layers, any ? highest + 1 : 0, any ? highest : 0);
  }
}

void check_tensors(const GgufFile& file, const LlamaConfig& c) {
  check_layer_count(file, c);
  const std::uint64_t e = c.embedding;
  std::set<std::string> used = {"token_embd.weight", "output_norm.weight"};
  expect_shape(file, "token_embd.weight", {e, c.vocab});
  expect_shape(file, "output_norm.weight", {e});
  if (!c.tied_output) {
    expect_shape(file, "output.weight", {e, c.vocab});
    used.insert("output.weight");
  }
  if (file.find_tensor("rope_freqs.weight")) {
    expect_shape(file, "rope_freqs.weight", {c.head_dim / 2});
    used.insert("rope_freqs.weight");
  }
  for (std::uint32_t l = 0; l < c.layers; ++l) {
    for (const std::string& name : layer_tensors(c, l)) {
      const std::string what = name.substr(name.find('.', 4) + 1);
      const std::vector<std::uint64_t> want = layer_shape(c, what);
      const TensorInfo& info = file.tensor(name);
      if (info.dims != want) {
        fail(Errc::invalid_argument, "tensor '{}' has shape [{}], the metadata implies [{}]", name,
             fmt::join(info.dims, ", "), fmt::join(want, ", "));
      }
      used.insert(name);
    }
  }
  // A tensor this forward pass would not read (a bias, the long-context rope factors of phi3,
  // experts) means the file wants a computation crossgpu does not do: refused, not ignored.
  for (const TensorInfo& t : file.tensors()) {
    if (!used.contains(t.name)) {
      fail(Errc::unsupported, "tensor '{}' is not part of crossgpu's {} forward pass; a model that needs it "
           "cannot run here", t.name, c.architecture);
    }
  }
}

void check_heads(const LlamaConfig& c) {
  if (c.heads % c.kv_heads != 0) {
    fail(Errc::invalid_argument, "head count {} is not a multiple of the KV head count {}", c.heads, c.kv_heads);
  }
}

}  // namespace

std::string layer_tensor(std::uint32_t layer, const char* what) {
  return fmt::format("blk.{}.{}.weight", layer, what);
}

std::string layer_bias(std::uint32_t layer, const char* what) { return fmt::format("blk.{}.{}.bias", layer, what); }

std::vector<std::string> layer_tensors(const LlamaConfig& c, std::uint32_t l) {
  const ArchFeatures& a = c.arch;
  std::vector<std::string> names = {layer_tensor(l, "attn_norm")};
  if (a.fused_qkv) {
    names.push_back(layer_tensor(l, "attn_qkv"));
  } else {
    for (const char* w : {"attn_q", "attn_k", "attn_v"}) names.push_back(layer_tensor(l, w));
  }
  if (a.qkv_bias) {
    for (const char* w : {"attn_q", "attn_k", "attn_v"}) names.push_back(layer_bias(l, w));
  }
  if (a.qk_norm) {
    names.push_back(layer_tensor(l, "attn_q_norm"));
    names.push_back(layer_tensor(l, "attn_k_norm"));
  }
  names.push_back(layer_tensor(l, "attn_output"));
  if (a.post_norms) names.push_back(layer_tensor(l, "post_attention_norm"));
  names.push_back(layer_tensor(l, "ffn_norm"));
  if (!a.fused_gate_up) names.push_back(layer_tensor(l, "ffn_gate"));
  names.push_back(layer_tensor(l, "ffn_up"));
  names.push_back(layer_tensor(l, "ffn_down"));
  if (a.post_norms) names.push_back(layer_tensor(l, "post_ffw_norm"));
  return names;
}

LlamaConfig LlamaConfig::from_gguf(const GgufFile& file) {
  LlamaConfig c;
  c.architecture = file.get_string("general.architecture");
  c.name = file.find("general.name") ? file.get_string("general.name") : c.architecture;
  read_common_hyperparameters(file, c);  // model_arch.cpp; refuses unknown architectures
  check_heads(c);
  if (c.head_dim % 2 != 0) fail(Errc::invalid_argument, "head dimension {} is odd: RoPE needs pairs", c.head_dim);
  const TensorInfo& embd = file.tensor("token_embd.weight");
  if (embd.dims.size() != 2 || embd.dims[1] == 0 || embd.dims[1] > 0xFFFFFFFFull) {
    fail(Errc::invalid_argument, "tensor 'token_embd.weight' must be a 2-D [embedding, vocab] matrix");
  }
  c.vocab = static_cast<std::uint32_t>(embd.dims[1]);
  c.tied_output = file.find_tensor("output.weight") == nullptr;
  read_arch_features(file, c);
  check_tensors(file, c);
  read_rope_factors(file, c);
  return c;
}

std::uint64_t LlamaConfig::kv_bytes_per_token_per_layer() const {
  return 2ull * kv_heads * head_dim * sizeof(float);
}

bool LlamaConfig::layer_slides(std::uint32_t layer) const {
  const std::uint32_t n = arch.swa_pattern;
  return arch.sliding_window != 0 && (n == 0 || layer % n < n - 1);
}

float LlamaConfig::layer_rope_base(std::uint32_t layer) const {
  return layer_slides(layer) && arch.rope_base_swa > 0 ? arch.rope_base_swa : rope_base;
}

}  // namespace crossgpu::model
