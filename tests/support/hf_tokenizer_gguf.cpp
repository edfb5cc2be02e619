// crossgpu-hf-tokenizer-gguf DIR OUT.gguf [PRE]: writes the tokenizer of a Hugging Face tokenizer
// folder (tokenizer.json + tokenizer_config.json) as a vocabulary-only llama GGUF: the
// tokenizer.ggml.* metadata (support/hf_tokenizer.hpp) and the llama hyperparameters llama.cpp
// reads before it skips the tensors of a vocab_only load (node-llama-cpp's vocabOnly), so that
// llama.cpp can tokenize with the same vocabulary crossgpu reads. No tensors.
#include <cstdio>
#include <exception>

#include "core/error.hpp"
#include "model/gguf.hpp"
#include "support/hf_tokenizer.hpp"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR OUT.gguf [PRE]\n", argv[0]);
    return 2;
  }
  try {
    const auto spec = crossgpu::testing::tokenizer_spec_from_hf_dir(argv[1], argc == 4 ? argv[3] : "");
    crossgpu::model::GgufWriter writer;
    writer.add_string("general.architecture", "llama");
    writer.add_string("general.name", "tokenizer of " + std::string(argv[1]));
    writer.add_uint32("llama.context_length", 4096);
    writer.add_uint32("llama.embedding_length", 64);
    writer.add_uint32("llama.block_count", 1);
    writer.add_uint32("llama.feed_forward_length", 128);
    writer.add_uint32("llama.attention.head_count", 4);
    writer.add_uint32("llama.attention.head_count_kv", 4);
    writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    crossgpu::model::add_tokenizer_metadata(writer, spec);
    writer.write(argv[2]);
    std::printf("%s: %zu tokens, %s, pre \"%s\"\n", argv[2], spec.tokens.size(), spec.kind.c_str(), spec.pre.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crossgpu-hf-tokenizer-gguf: %s\n", e.what());
    return 1;
  }
}
