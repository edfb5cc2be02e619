// The hyperparameters of a transformer model of the llama family and its relatives (llama,
// mistral, qwen2, qwen3, gemma2, gemma3, phi3), read from a GGUF file's metadata with the
// architecture's key prefix as llama.cpp names them, and the names of its tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/ops_attention.hpp"
#include "model/gguf.hpp"

namespace crossgpu::model {

// What a layer does beyond llama's (RMSNorm, RoPE, GQA, SwiGLU), per architecture.
struct ArchFeatures {
  ops::RopeMode rope_mode = ops::RopeMode::normal;  // neox for qwen2/qwen3/gemma/phi3
  bool qkv_bias = false;        // blk.N.attn_{q,k,v}.bias (qwen2; optional for every arch)
  bool qk_norm = false;         // blk.N.attn_{q,k}_norm: per-head RMSNorm before RoPE (qwen3, gemma3)
  bool fused_qkv = false;       // blk.N.attn_qkv: Q|K|V rows in one tensor (phi3)
  bool fused_gate_up = false;   // blk.N.ffn_up holds gate|up rows, no ffn_gate (phi3)
  bool post_norms = false;      // blk.N.post_attention_norm, post_ffw_norm (gemma2/3)
  bool gelu = false;            // GELU-tanh gating instead of SiLU (gemma2/3)
  float embedding_scale = 1.0f; // the embeddings times this (gemma: sqrt(embedding))
  float attn_softcap = 0.0f;    // scores soft-capped (gemma2: attn_logit_softcapping)
  float final_softcap = 0.0f;   // logits soft-capped (gemma2: final_logit_softcapping)
  std::uint32_t sliding_window = 0;  // positions a sliding-window layer sees (0: none)
  std::uint32_t swa_pattern = 0;     // layer l slides when l % pattern < pattern - 1 (llama.cpp's rule)
  float rope_base_swa = 0.0f;        // RoPE base of sliding layers (gemma3: rope.freq_base_swa)
};

struct LlamaConfig {
  std::string architecture;  // general.architecture: "llama", "mistral", "qwen2", ...
  std::string name;          // general.name, or the architecture when absent
  std::uint32_t layers = 0;
  std::uint32_t embedding = 0;      // hidden size
  std::uint32_t heads = 0;          // query heads
  std::uint32_t kv_heads = 0;       // key/value heads (grouped-query attention when < heads)
  std::uint32_t head_dim = 0;       // attention.key_length, else embedding / heads
  std::uint32_t ffn = 0;            // feed-forward hidden size
  std::uint32_t vocab = 0;          // rows of token_embd
  std::uint32_t context = 0;        // the context length the model was trained for
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_scale = 1.0f;          // 1 / rope.scaling.factor (linear scaling)
  // Per-pair divisors of the RoPE frequencies (head_dim / 2): rope_freqs.weight (how llama.cpp's
  // converter stores Llama 3.1's scaling), or computed from rope.scaling.type = llama3 and its
  // factors. Empty: none.
  std::vector<float> rope_factors;
  float attention_scale = 0.0f;     // queries times this before softmax (1 / sqrt(head_dim) mostly)
  bool tied_output = false;         // no output.weight: the head reuses token_embd
  ArchFeatures arch;

  // Throws Errc::unsupported naming an architecture whose forward pass crossgpu does not have
  // (and the ones it does), and Errc::invalid_argument naming the key or tensor for missing or
  // inconsistent values (a head count that does not divide the embedding, a tensor whose shape
  // disagrees with the metadata, tensors for more or fewer layers than block_count).
  static LlamaConfig from_gguf(const GgufFile& file);

  // Bytes of K and V cache per token per layer (f32 cache).
  std::uint64_t kv_bytes_per_token_per_layer() const;
  std::uint64_t q_dim() const { return std::uint64_t{heads} * head_dim; }
  std::uint64_t kv_dim() const { return std::uint64_t{kv_heads} * head_dim; }
  bool layer_slides(std::uint32_t layer) const;   // a sliding-window layer
  float layer_rope_base(std::uint32_t layer) const;
};

// The architectures from_gguf reads, as general.architecture names them.
inline constexpr const char* kSupportedArchitectures[] = {"llama", "mistral", "qwen2", "qwen3",
                                                          "gemma2", "gemma3", "phi3"};

// Tensor names, as llama.cpp's converter writes them.
std::string layer_tensor(std::uint32_t layer, const char* what);  // "blk.3.attn_q.weight"
std::string layer_bias(std::uint32_t layer, const char* what);    // "blk.3.attn_q.bias"

// llama's layer tensors (the demo model's).
inline constexpr const char* kLayerTensors[] = {"attn_norm", "attn_q",   "attn_k",  "attn_v",
                                                "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                                                "ffn_down"};

// The weight tensors of one layer of this model, in the order a stage loads them.
std::vector<std::string> layer_tensors(const LlamaConfig& config, std::uint32_t layer);

}  // namespace crossgpu::model
