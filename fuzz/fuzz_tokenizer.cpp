// libFuzzer target for the tokenizer. The first byte picks what the rest is:
//   0: a GGUF file, read as tokenizer metadata: a Tokenizer or crossgpu::Error, never a crash;
//      a tokenizer that loads must then encode, decode and print every token without failing.
//   1, 2: text for a fixed SentencePiece (the demo vocabulary) or byte-level BPE vocabulary:
//      decode(encode(text)) must give the text back exactly, whatever its bytes (except that
//      SentencePiece reads a U+2581 in the text as a space, as SentencePiece itself does).
//   3: text as a chat template and as message content.
// Seeds: fuzz/corpus/tokenizer (one GGUF seed of each vocabulary kind).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/error.hpp"
#include "model/tokenizer.hpp"
#include "model/unicode.hpp"

namespace {

using crossgpu::model::GgufFile;
using crossgpu::model::GgufWriter;
using crossgpu::model::Tokenizer;
using crossgpu::model::TokenizerSpec;

Tokenizer load(const TokenizerSpec& spec) {
  GgufWriter w;
  crossgpu::model::add_tokenizer_metadata(w, spec);
  const std::vector<std::byte> bytes = w.bytes();
  return Tokenizer::from_gguf(GgufFile::parse(bytes));
}

const Tokenizer& spm() {
  static const Tokenizer t = load(crossgpu::model::demo_spm_vocabulary());
  return t;
}

const Tokenizer& bpe() {
  static const Tokenizer t = [] {
    TokenizerSpec s;
    s.kind = "gpt2";
    s.pre = "llama-bpe";
    for (unsigned b = 0; b < 256; ++b) s.tokens.push_back(crossgpu::model::unicode::to_byte_level(std::string(1, char(b))));
    const std::string G = "\xC4\xA0";
    s.tokens.insert(s.tokens.end(), {G + "t", "he", G + "the", "in", "<|eot_id|>"});
    s.token_types.assign(s.tokens.size(), crossgpu::model::TokenType::normal);
    s.token_types.back() = crossgpu::model::TokenType::control;
    s.merges = {G + " t", "h e", G + "t he", "i n"};
    return load(s);
  }();
  return t;
}

void exercise(const Tokenizer& t, std::string_view text) {
  const auto ids = t.encode(text, true, true);
  (void)t.decode(ids);
  const auto plain = t.encode(text, true, false);
  const bool spm_space_mark = t.model_kind() == "llama" && text.find("\xE2\x96\x81") != text.npos;
  if (!spm_space_mark && t.decode(plain) != text) __builtin_trap();
}

void load_and_use(std::span<const std::byte> bytes) {
  try {
    const Tokenizer t = Tokenizer::from_gguf(GgufFile::parse(bytes));
    for (std::uint32_t id = 0; id < t.vocab_size(); ++id) (void)t.token_to_piece(id);
    const auto ids = t.encode("Hello world! <s> <|im_start|>user\n\xC3\xA9\xFF 12345", true, true);
    (void)t.decode(ids);
    (void)t.apply_chat_template({{"user", "hi"}}, true);
  } catch (const crossgpu::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: load_and_use({reinterpret_cast<const std::byte*>(data) + 1, size - 1}); break;
    case 1: exercise(spm(), text); break;
    case 2: exercise(bpe(), text); break;
    default: {
      const auto format = crossgpu::model::detect_chat_format(text);
      (void)crossgpu::model::format_chat(format, {{"system", std::string(text)}, {"user", std::string(text)}}, true);
    }
  }
  return 0;
}
