// What distinguishes the supported architectures: their hyperparameters read from the GGUF with
// the architecture's prefix (as llama.cpp's loader names and defaults them) and the features of
// their layers. Parts of LlamaConfig::from_gguf.
#pragma once

#include "model/gguf.hpp"
#include "model/llama_config.hpp"

namespace crossgpu::model {

// Sizes, norm epsilon, RoPE base and scaling, head size (attention.key_length) and the
// attention scale. Errc::unsupported for an architecture not in kSupportedArchitectures, a RoPE
// scaling type or a partial rotary dimension that crossgpu does not compute, naming the key.
void read_common_hyperparameters(const GgufFile& file, LlamaConfig& config);

// config.arch from the architecture and which optional tensors the file has.
void read_arch_features(const GgufFile& file, LlamaConfig& config);

// config.rope_factors from rope_freqs.weight (f32, head_dim / 2) or from rope.scaling.type =
// llama3 and its factors (Llama 3.1's formula).
void read_rope_factors(const GgufFile& file, LlamaConfig& config);

}  // namespace crossgpu::model
