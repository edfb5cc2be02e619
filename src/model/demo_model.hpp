// The embedded default model: a llama-architecture GGUF file with fixed-seed random weights and
// a small real SentencePiece-style vocabulary, written through the real GGUF writer. `make demo`,
// the tests and the benchmarks run it; its output is meaningless text, but every backend and
// every split of it must produce the same tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "kernels/weight_type.hpp"
#include "model/gguf.hpp"
#include "model/tokenizer.hpp"

namespace crossgpu::model {

struct DemoModelSpec {
  kernels::WeightType type = kernels::WeightType::q8_0;  // matrices; norms stay f32
  std::uint32_t layers = 4;
  std::uint32_t embedding = 256;
  std::uint32_t heads = 8;
  std::uint32_t kv_heads = 4;
  std::uint32_t ffn = 768;
  std::uint32_t context = 512;
  std::uint64_t seed = 1;
  bool tied_output = false;
  // The architecture's tensors and keys (llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3),
  // each with its distinguishing parts: qwen2's Q/K/V biases, qwen3's and gemma3's Q/K norms and a
  // head size of its own (attention.key_length), gemma's post-norms, GELU, soft-caps and
  // sliding-window layers (a small window, so that short tests cross it), phi3's fused tensors.
  std::string architecture = "llama";
  std::uint32_t head_dim = 0;     // attention.key_length; 0: embedding / heads, not written
  bool rope_freqs = false;        // llama: rope_freqs.weight with Llama 3.1's factors
  std::uint32_t sliding_window = 8;  // gemma2/gemma3
  std::uint32_t swa_pattern = 2;     // gemma2/gemma3: every second layer global
  // The tokenizer metadata and so the rows of token_embd / output; null: demo_spm_vocabulary().
  // A real vocabulary (128k-262k tokens, from the tests' converter of tokenizer packages) makes a
  // whole model whose prompts are real chat prompts.
  std::shared_ptr<const TokenizerSpec> vocabulary;
};

// Builds the whole file in memory. Matrix row lengths must be multiples of the type's block
// (256 for the K-quants): Errc::invalid_argument otherwise.
GgufWriter demo_model(const DemoModelSpec& spec);
void write_demo_model(const std::filesystem::path& path, const DemoModelSpec& spec);

}  // namespace crossgpu::model
