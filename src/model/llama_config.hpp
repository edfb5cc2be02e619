// The hyperparameters of a llama-family model (llama, mistral, and the architectures that share
// its tensor layout), read from a GGUF file's metadata, and the names of its tensors.
#pragma once

#include <cstdint>
#include <string>

#include "model/gguf.hpp"

namespace crossgpu::model {

struct LlamaConfig {
  std::string architecture;  // general.architecture: "llama", "mistral", ...
  std::string name;          // general.name, or the architecture when absent
  std::uint32_t layers = 0;
  std::uint32_t embedding = 0;      // hidden size
  std::uint32_t heads = 0;          // query heads
  std::uint32_t kv_heads = 0;       // key/value heads (grouped-query attention when < heads)
  std::uint32_t head_dim = 0;       // embedding / heads
  std::uint32_t ffn = 0;            // feed-forward hidden size
  std::uint32_t vocab = 0;          // rows of token_embd
  std::uint32_t context = 0;        // the context length the model was trained for
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  bool tied_output = false;         // no output.weight: the head reuses token_embd

  // Throws Errc::unsupported for an architecture whose tensors are not llama's, and
  // Errc::invalid_argument naming the key or tensor for missing or inconsistent values (a head
  // count that does not divide the embedding, a tensor whose shape disagrees with the metadata).
  static LlamaConfig from_gguf(const GgufFile& file);

  // Bytes of K and V cache per token per layer (f32 cache).
  std::uint64_t kv_bytes_per_token_per_layer() const;
};

// Tensor names, as llama.cpp's converter writes them.
std::string layer_tensor(std::uint32_t layer, const char* what);  // "blk.3.attn_q.weight"
inline constexpr const char* kLayerTensors[] = {"attn_norm", "attn_q",   "attn_k",  "attn_v",
                                                "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                                                "ffn_down"};

}  // namespace crossgpu::model
