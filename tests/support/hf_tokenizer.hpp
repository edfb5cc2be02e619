// A converter of Hugging Face tokenizer files (tokenizer.json + tokenizer_config.json) to the
// GGUF tokenizer metadata, written the way llama.cpp's convert_hf_to_gguf.py writes
// `tokenizer.ggml.*`, so that test models carry the real vocabularies and chat templates of the
// popular families. A test tool (tests/support), not part of the runtime.
//
// - BPE with byte_fallback (Llama 2, Gemma): "llama" (SentencePiece). Scores: the SentencePiece
//   model's scores are not in tokenizer.json, but its merges are sorted by them: a token scores
//   minus the rank of the first merge that makes it (spm_scores in the .cpp).
//   The dummy prefix (add_space_prefix) is on when the normalizer prepends U+2581.
// - BPE without byte_fallback (Llama 3, Qwen, DeepSeek V3): "gpt2" with the merges; the
//   pre-tokenizer name (tokenizer.ggml.pre) is recognised from the Split regexes of
//   tokenizer.json (convert_hf_to_gguf hashes a tokenization instead; same names).
// - Added tokens: "special" ones, and those that look special as convert_hf_to_gguf judges
//   (<|...|>, <unused..>, <mask>), are control tokens, the others user-defined; holes in the id
//   range become "[PAD<id>]" unused tokens, as the converter pads a vocabulary.
// - BOS/EOS/PAD/UNK by name from tokenizer_config.json; add_bos/add_eos from add_bos_token /
//   add_eos_token, else from a TemplateProcessing post-processor; chat_template as given.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "model/tokenizer.hpp"

namespace crossgpu::testing {

// Throws Error{invalid_argument} naming the field for malformed input, Error{unsupported} for a
// model type other than BPE or a pre-tokenizer it does not recognise (unless `pre` names one).
model::TokenizerSpec tokenizer_spec_from_hf(const nlohmann::json& tokenizer, const nlohmann::json& config,
                                            const std::string& pre = "");

// Reads DIR/tokenizer.json and DIR/tokenizer_config.json (Errc::io / invalid_argument).
model::TokenizerSpec tokenizer_spec_from_hf_dir(const std::filesystem::path& dir, const std::string& pre = "");

// The pre-tokenizer name of a tokenizer.json's pre_tokenizer, or "" when it is not one crossgpu knows.
std::string detect_pretokenizer(const nlohmann::json& pre_tokenizer);

}  // namespace crossgpu::testing
