// What placement needs to know of a llama-family model, per layer, from its GGUF file: the bytes
// of weights each layer reads per token, its KV cache per token, its FLOPs per token and the
// hidden state it hands to the next stage.
#pragma once

#include <vector>

#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "sched/placement.hpp"

namespace crossgpu::model {

// One entry per layer. The token embedding table is held by the first layer's stage but only one
// row of it is read per token (resident_bytes); the output norm and head are read in full for
// every token by the last layer's stage (weight_bytes and FLOPs). The f32 KV cache counts
// 2 * kv_heads * head_dim * 4 bytes per token per layer.
std::vector<sched::LayerCost> layer_costs(const LlamaConfig& config, const GgufFile& file);

}  // namespace crossgpu::model
