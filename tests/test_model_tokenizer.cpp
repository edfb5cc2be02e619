// The tokenizer against hand-built vocabularies written as GGUF bytes: SentencePiece merges by
// score, byte fallback, unknown tokens, the dummy prefix, special tokens, GPT-2 BPE merges by rank,
// the pre-tokenizer's splits, round trips of random text, and malformed metadata.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "core/error.hpp"
#include "model/pretokenizer.hpp"
#include "model/tokenizer.hpp"
#include "model/unicode.hpp"
#include "model/unicode_regex.hpp"
#include "support/test_support.hpp"

namespace crossgpu::model {
namespace {

using testing::throws_errc;
using Ids = std::vector<std::uint32_t>;

const std::string sp = "\xE2\x96\x81";  // U+2581
constexpr std::uint32_t unk = 0, bos = 1, eos = 2;
constexpr std::uint32_t byte_id(unsigned b) { return 3 + b; }  // <0x00> is token 3

Tokenizer load(const GgufWriter& writer) {
  const std::vector<std::byte> bytes = writer.bytes();
  return Tokenizer::from_gguf(GgufFile::parse(bytes));
}

Tokenizer load(const TokenizerSpec& spec) {
  GgufWriter w;
  add_tokenizer_metadata(w, spec);
  return load(w);
}

// <unk> <s> </s> <0x00>..<0xFF>, then `pieces` with their scores: ids 259 onwards.
TokenizerSpec spm_spec(const std::vector<std::pair<std::string, float>>& pieces, bool bytes = true) {
  TokenizerSpec s;
  s.kind = "llama";
  s.tokens = {"<unk>", "<s>", "</s>"};
  s.token_types = {TokenType::unknown, TokenType::control, TokenType::control};
  for (unsigned b = 0; b < 256 && bytes; ++b) {
    s.tokens.push_back(fmt::format("<0x{:02X}>", b));
    s.token_types.push_back(TokenType::byte);
  }
  s.scores.assign(s.tokens.size(), 0.0f);
  for (const auto& [text, score] : pieces) {
    s.tokens.push_back(text);
    s.scores.push_back(score);
    s.token_types.push_back(TokenType::normal);
  }
  s.bos = bos;
  s.eos = eos;
  s.unk = unk;
  return s;
}

std::uint32_t id_of(const Tokenizer& t, std::string_view text) {
  for (std::uint32_t i = 0; i < t.vocab_size(); ++i) {
    if (t.token_text(i) == text) return i;
  }
  ADD_FAILURE() << "no token " << text;
  return 0;
}

TEST(SpmTokenizer, MergesTheBestScoredPairFirst) {
  // "abc": both "ab" and "bc" are tokens; the higher score decides which merges.
  const Tokenizer bc_wins = load(spm_spec({{sp, -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -3}, {"bc", -2}}));
  EXPECT_EQ(bc_wins.encode("abc", false), (Ids{259, 260, 264}));  // ▁ a bc
  const Tokenizer ab_wins = load(spm_spec({{sp, -1}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", -2}, {"bc", -3}}));
  EXPECT_EQ(ab_wins.encode("abc", false), (Ids{259, 263, 262}));  // ▁ ab c
  EXPECT_EQ(bc_wins.model_kind(), "llama");
  EXPECT_EQ(bc_wins.vocab_size(), 265u);
}

TEST(SpmTokenizer, MergesChainIntoWholeWordsAndSpacesBecomeU2581) {
  const Tokenizer t = load(spm_spec({{sp, -1}, {"h", -1}, {"i", -1}, {sp + "h", -2}, {sp + "hi", -3}}));
  EXPECT_EQ(t.encode("hi hi", false), (Ids{263, 263}));
  EXPECT_EQ(t.encode("hi", true), (Ids{bos, 263}));
  EXPECT_EQ(t.decode(t.encode("hi hi")), "hi hi");
  EXPECT_EQ(t.token_to_piece(263), " hi");
}

TEST(SpmTokenizer, LeadingSpaceFollowsAddSpacePrefix) {
  auto spec = spm_spec({{sp, -1}, {"a", -1}, {"b", -1}, {"ab", -2}, {sp + "ab", -3}});
  EXPECT_EQ(load(spec).encode("ab", false), (Ids{263}));  // ▁ab
  EXPECT_EQ(load(spec).encode(" ab", false), (Ids{259, 263}));
  spec.add_space_prefix = false;
  EXPECT_EQ(load(spec).encode("ab", false), (Ids{262}));  // ab
  EXPECT_EQ(load(spec).decode(Ids{263}), " ab");
}

TEST(SpmTokenizer, CharactersOutsideTheVocabularyFallBackToBytes) {
  const Tokenizer t = load(spm_spec({{sp, -1}, {"a", -1}}));
  // é is C3 A9, 😀 is F0 9F 98 80; \n has no piece either.
  EXPECT_EQ(t.encode("aé\n", false), (Ids{259, 260, byte_id(0xC3), byte_id(0xA9), byte_id(0x0A)}));
  EXPECT_EQ(t.encode("😀", false), (Ids{259, byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)}));
  EXPECT_EQ(t.token_to_piece(byte_id(0x0A)), "\n");
  EXPECT_EQ(t.decode(t.encode("aé\n😀")), "aé\n😀");
  // Invalid UTF-8 goes byte by byte.
  EXPECT_EQ(t.encode("\xFF\xC3", false), (Ids{259, byte_id(0xFF), byte_id(0xC3)}));
}

TEST(SpmTokenizer, AU2581InTheTextIsASpace) {
  // SentencePiece cannot tell its space mark from a written one (nor can llama.cpp): the one
  // input that does not round-trip.
  const Tokenizer t = load(spm_spec({{sp, -1}, {"a", -1}}));
  EXPECT_EQ(t.encode("a" + sp + "a"), t.encode("a a"));
}

TEST(SpmTokenizer, WithoutByteTokensUnknownCharactersBecomeUnknown) {
  const Tokenizer t = load(spm_spec({{sp, -1}, {"a", -1}}, /*bytes=*/false));
  EXPECT_EQ(t.encode("aéa", false), (Ids{3, 4, unk, 4}));  // ▁ a <unk> a
  EXPECT_EQ(t.decode(Ids{3, 4, unk}), "a<unk>");
}

TEST(SpmTokenizer, TextSpellingAByteOrControlTokenStaysText) {
  // "<0x41>" and "<s>" written in text must not become those tokens through merges.
  auto spec = spm_spec({{sp, -1}, {"<", -1}, {"s", -1}, {">", -1}, {"<s", -2}});
  const Tokenizer t = load(spec);
  const Ids ids = t.encode("<s>", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), bos), 0);
  EXPECT_EQ(t.decode(ids), "<s>");
}

TEST(SpmTokenizer, SpecialTokensAreParsedOnlyWhenAsked) {
  auto spec = spm_spec({{sp, -1}, {"a", -1}, {"<|im_start|>", 0}, {"<tool_call>", 0}});
  spec.token_types[261] = TokenType::control;
  spec.token_types[262] = TokenType::user_defined;
  const Tokenizer t = load(spec);
  // After a special token SentencePiece adds the dummy prefix again, as llama.cpp does.
  EXPECT_EQ(t.encode("<|im_start|>a<tool_call>", true, true), (Ids{bos, 261, 259, 260, 262}));
  EXPECT_EQ(t.encode("<s>a</s>", false, true), (Ids{bos, 259, 260, eos}));
  const Ids literal = t.encode("<|im_start|>a", false, false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 261u), 0);
  EXPECT_EQ(t.decode(literal), "<|im_start|>a");
  // User-defined tokens are split out even without parse_special (llama.cpp, Hugging Face).
  EXPECT_EQ(t.encode("a<tool_call>", false, false), (Ids{259, 260, 262}));
  EXPECT_EQ(t.token_to_piece(261), "");            // control: not printed
  EXPECT_EQ(t.token_to_piece(262), "<tool_call>");  // user-defined: printed
}

TEST(SpmTokenizer, AddsBosAndEosAsTheMetadataSays) {
  auto spec = spm_spec({{sp, -1}, {"a", -1}});
  spec.add_eos = true;
  const Tokenizer t = load(spec);
  EXPECT_EQ(t.encode("a"), (Ids{bos, 259, 260, eos}));
  EXPECT_EQ(t.encode(""), (Ids{bos, eos}));
  EXPECT_EQ(t.encode("", false), Ids{});
  spec.add_bos = false;
  EXPECT_EQ(load(spec).encode("a"), (Ids{259, 260, eos}));
  EXPECT_EQ(t.bos(), bos);
  EXPECT_EQ(t.eos(), eos);
}

std::string random_ascii(std::mt19937& rng, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>(0x20 + rng() % 95 - (rng() % 16 == 0 ? 22 : 0));
  return s;
}

std::string random_utf8(std::mt19937& rng, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    char32_t cp = 0;
    switch (rng() % 4) {
      case 0: cp = 0x20 + rng() % 95; break;
      case 1: cp = 0x80 + rng() % 0x780; break;
      case 2: cp = 0x800 + rng() % 0xD000; break;   // stays below the surrogates
      default: cp = 0x10000 + rng() % 0x100000; break;
    }
    unicode::append_utf8(s, cp);
  }
  return s;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>(rng());
  return s;
}

// SentencePiece vocabularies spell a space as U+2581, so that character in the input text comes
// back as a space (as in SentencePiece and llama.cpp; SpaceMarkInTextDecodesAsASpace): round trips
// of such a vocabulary leave it out of the text.
void erase_space_mark(std::string& text) {
  for (std::size_t at; (at = text.find(sp)) != std::string::npos;) text.erase(at, sp.size());
}

enum class Style { spm, bpe };

void expect_round_trips(const Tokenizer& t, std::mt19937& rng, Style style) {
  for (int i = 0; i < 300; ++i) {
    const std::size_t n = rng() % 64;
    for (std::string text : {random_ascii(rng, n), random_utf8(rng, n), random_bytes(rng, n)}) {
      if (style == Style::spm) erase_space_mark(text);
      EXPECT_EQ(t.decode(t.encode(text, true, false)), text);
      // Without '<' the text cannot spell a special token, so parsing them changes nothing.
      std::erase(text, '<');
      EXPECT_EQ(t.decode(t.encode(text, false, true)), text);
    }
  }
}

TEST(SpmTokenizer, RandomTextRoundTrips) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  expect_round_trips(load(demo_spm_vocabulary()), rng, Style::spm);
  expect_round_trips(load(spm_spec({{sp, -1}, {"a", -1}, {"b", -1}, {sp + "a", -2}, {"ab", -2}})), rng,
                     Style::spm);
}

TEST(SpmTokenizer, SpaceMarkInTextDecodesAsASpace) {
  const Tokenizer t = load(demo_spm_vocabulary());
  EXPECT_EQ(t.decode(t.encode("a\xE2\x96\x81" "b", false, false)), "a b");
  EXPECT_EQ(t.decode(t.encode("a b", false, false)), "a b");
}

TEST(DemoVocabulary, TokenizesEnglishIntoWordPieces) {
  const TokenizerSpec spec = demo_spm_vocabulary();
  EXPECT_EQ(spec.tokens.size(), spec.scores.size());
  EXPECT_EQ(spec.tokens.size(), spec.token_types.size());
  const Tokenizer t = load(spec);
  EXPECT_EQ(t.bos(), bos);
  EXPECT_EQ(t.eos(), eos);
  EXPECT_EQ(t.token_text(byte_id(0x41)), "<0x41>");
  const std::string text = "The quick brown fox";
  const Ids ids = t.encode(text, false);
  std::vector<std::string> pieces;
  for (auto id : ids) pieces.push_back(t.token_text(id));
  EXPECT_EQ(pieces, (std::vector<std::string>{sp + "The", sp + "quick", sp + "brown", sp + "fox"}));
  EXPECT_LT(ids.size(), text.size());
  const std::string sentence = "Hello world, the lazy dog jumps over the little cat.";
  EXPECT_LT(t.encode(sentence).size(), sentence.size() / 2);
  EXPECT_EQ(t.decode(t.encode(sentence)), sentence);
  EXPECT_EQ(demo_spm_vocabulary().tokens, spec.tokens);  // deterministic
  EXPECT_TRUE(t.is_end_of_generation(id_of(t, "<|im_end|>")));
}

// GPT-2 style: the 256 byte-level characters in byte order (ids 0..255), then `extra`.
TokenizerSpec bpe_spec(const std::vector<std::string>& extra, const std::vector<std::string>& merges) {
  TokenizerSpec s;
  s.kind = "gpt2";
  for (unsigned b = 0; b < 256; ++b) s.tokens.push_back(unicode::to_byte_level(std::string(1, static_cast<char>(b))));
  s.tokens.insert(s.tokens.end(), extra.begin(), extra.end());
  s.merges = merges;
  return s;
}

TEST(BpeTokenizer, MergesByRank) {
  const Tokenizer bc_first = load(bpe_spec({"ab", "bc"}, {"b c", "a b"}));
  EXPECT_EQ(bc_first.encode("abc"), (Ids{'a', 257}));
  const Tokenizer ab_first = load(bpe_spec({"ab", "bc"}, {"a b", "b c"}));
  EXPECT_EQ(ab_first.encode("abc"), (Ids{256, 'c'}));
  EXPECT_EQ(ab_first.model_kind(), "gpt2");
}

TEST(BpeTokenizer, SpacesAreByteLevelCharactersAndWordsMergeSeparately) {
  const std::string G = "\xC4\xA0";  // Ġ, the byte-level space
  const Tokenizer t = load(bpe_spec({G + "t", "he", G + "the", "in"}, {G + " t", "h e", G + "t he", "i n"}));
  // "the the": the first word has no space, so only "he" merges; the second becomes "Ġthe".
  EXPECT_EQ(t.encode("the the"), (Ids{'t', 257, 258}));
  EXPECT_EQ(t.token_to_piece(258), " the");
  EXPECT_EQ(t.decode(t.encode("in the thin")), "in the thin");
  // Merges never cross pre-tokenizer words: "e" and " i" stay apart.
  EXPECT_EQ(t.encode("he in"), (Ids{257, ' ', 259}));
}

TEST(BpeTokenizer, RandomBytesRoundTrip) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  const std::string G = "\xC4\xA0";
  expect_round_trips(load(bpe_spec({G + "t", "he", G + "the"}, {G + " t", "h e", G + "t he"})), rng,
                     Style::bpe);
  auto llama3 = bpe_spec({G + "t", "he", G + "the"}, {G + " t", "h e", G + "t he"});
  llama3.pre = "llama-bpe";
  expect_round_trips(load(llama3), rng, Style::bpe);
}

TEST(BpeTokenizer, SpecialTokensAndEndOfGeneration) {
  auto spec = bpe_spec({"<|im_start|>", "<|im_end|>", "<|endoftext|>", "hi"}, {"h i"});
  spec.token_types.assign(spec.tokens.size(), TokenType::normal);
  spec.token_types[256] = spec.token_types[257] = spec.token_types[258] = TokenType::control;
  spec.eos = 258;
  const Tokenizer t = load(spec);
  EXPECT_EQ(t.encode("<|im_start|>hi<|im_end|>"), (Ids{256, 259, 257}));
  EXPECT_EQ(t.decode(Ids{256, 259, 257}), "hi");
  EXPECT_TRUE(t.is_end_of_generation(257));
  EXPECT_TRUE(t.is_end_of_generation(258));
  EXPECT_FALSE(t.is_end_of_generation(259));
  EXPECT_EQ(t.eos(), 258u);
  EXPECT_EQ(t.bos(), 258u);  // gpt2 vocabularies default BOS to <|endoftext|>
  // Without tokenizer.ggml.add_bos_token, llama.cpp adds BOS for Llama 3's pre-tokenizer only.
  EXPECT_EQ(t.encode("hi").front(), 259u);
  spec.pre = "llama-bpe";
  EXPECT_EQ(load(spec).encode("hi"), (Ids{258, 259}));
  spec.add_bos = false;
  EXPECT_EQ(load(spec).encode("hi"), (Ids{259}));
}

std::vector<std::string> words(std::string_view text, std::string_view pre) {
  std::vector<std::string> out;
  for (auto w : PreTokenizer::named(pre).split(text)) out.emplace_back(w);
  return out;
}

using Words = std::vector<std::string>;

TEST(PreTokenizer, Gpt2Splits) {
  EXPECT_EQ(words("Hello world's 123 abc!!  \n\nx", "gpt2"),
            (Words{"Hello", " world", "'s", " 123", " abc", "!!", "  \n", "\n", "x"}));
  EXPECT_EQ(words("I'M don't we've", "gpt2"),
            (Words{"I", "'", "M", " don", "'t", " we", "'ve"}));
  EXPECT_EQ(words("héllo wörld 你好", "gpt2"), (Words{"héllo", " wörld", " 你好"}));
  EXPECT_EQ(words("a  b ", "gpt2"), (Words{"a", " ", " b", " "}));
}

TEST(PreTokenizer, Llama3Splits) {
  EXPECT_EQ(words("12345 x", "llama3"), (Words{"123", "45", " x"}));
  EXPECT_EQ(words("I'M", "llama3"), (Words{"I", "'M"}));
  EXPECT_EQ(words("a\n\nb", "llama3"), (Words{"a", "\n\n", "b"}));
  EXPECT_EQ(words("hello  world", "llama3"), (Words{"hello", " ", " world"}));
  EXPECT_EQ(words("x!\n  (y)", "llama3"), (Words{"x", "!\n", " ", " (", "y", ")"}));
  EXPECT_EQ(words("$hello", "llama3"), (Words{"$hello"}));
  EXPECT_EQ(words("12345", "qwen2"), (Words{"1", "2", "3", "4", "5"}));
  EXPECT_TRUE(PreTokenizer::named("llama-bpe").ignore_merges());
  EXPECT_FALSE(PreTokenizer::named("qwen2").ignore_merges());
  EXPECT_TRUE(throws_errc([] { PreTokenizer::named("no-such-pre"); }, Errc::unsupported, "no-such-pre"));
}

TEST(PreTokenizer, RealUnicodeClasses) {
  // Letters beyond the main scripts, marks and digits of other scripts are classed by PCRE2's
  // Unicode tables: a Tifinagh word stays one word, Devanagari digits split in threes.
  EXPECT_EQ(words("ⵜⴰⵎⴰⵣⵉⵖⵜ x", "llama3"), (Words{"ⵜⴰⵎⴰⵣⵉⵖⵜ", " x"}));
  EXPECT_EQ(words("१२३४५", "llama3"), (Words{"१२३", "४५"}));
  // NBSP is \s (a whitespace run, not punctuation), but only ' ' prefixes a word.
  EXPECT_EQ(words("a\u00a0\u00a0b", "gpt2"), (Words{"a", "\u00a0", "\u00a0", "b"}));
  // deepseek-v3: numbers, then CJK/kana runs, then the word regex.
  EXPECT_EQ(words("abc12345你好x", "deepseek-v3"), (Words{"abc", "123", "45", "你好", "x"}));
  EXPECT_EQ(words("x.Foo", "deepseek-v3"), (Words{"x", ".Foo"}));
}

TEST(UnicodeRegex, SplitsKeepEveryByte) {
  const UnicodeRegex digits("\\p{N}+");
  std::vector<std::string_view> out;
  digits.split_isolated("ab12\xff\xfe" "34", out);  // invalid UTF-8 never matches and is kept
  EXPECT_EQ(std::vector<std::string>(out.begin(), out.end()), (Words{"ab", "12", "\xff\xfe", "34"}));
  out.clear();
  const UnicodeRegex maybe_empty("x*");  // empty matches split nothing
  maybe_empty.split_isolated("axxbé", out);
  EXPECT_EQ(std::vector<std::string>(out.begin(), out.end()), (Words{"a", "xx", "bé"}));
  out.clear();
  digits.split_isolated("", out);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(throws_errc([] { UnicodeRegex("[a-"); }, Errc::invalid_argument, "[a-"));
  EXPECT_TRUE(throws_errc([] { UnicodeRegex("\\p{Nope}"); }, Errc::invalid_argument, "Nope"));
}

TEST(PreTokenizer, WordsConcatenateToTheInput) {
  const std::uint32_t seed = testing::test_seed();
  SCOPED_TRACE(testing::seed_trace(seed));
  std::mt19937 rng(seed);
  for (int i = 0; i < 500; ++i) {
    const std::string text = i % 2 ? random_utf8(rng, rng() % 40) : random_bytes(rng, rng() % 40);
    for (const auto& name : pretokenizer_names()) {
      std::string joined;
      for (auto w : PreTokenizer::named(name).split(text)) {
        EXPECT_FALSE(w.empty());
        joined += w;
      }
      EXPECT_EQ(joined, text);
    }
  }
}

TEST(Tokenizer, BadIdsAreOutOfRange) {
  const Tokenizer t = load(spm_spec({{sp, -1}}));
  EXPECT_TRUE(throws_errc([&] { t.token_to_piece(260); }, Errc::out_of_range, "260"));
  EXPECT_TRUE(throws_errc([&] { t.decode(Ids{1, 999}); }, Errc::out_of_range, "999"));
}

// --- malformed metadata --------------------------------------------------------------------

::testing::AssertionResult refused(const TokenizerSpec& spec, Errc code, std::string_view needle) {
  return throws_errc([&] { load(spec); }, code, needle);
}

TEST(TokenizerMetadata, MissingOrUnsupportedData) {
  TokenizerSpec no_tokens = spm_spec({});
  no_tokens.tokens.clear();
  no_tokens.scores.clear();
  no_tokens.token_types.clear();
  EXPECT_TRUE(refused(no_tokens, Errc::invalid_argument, "tokenizer.ggml.tokens"));
  EXPECT_TRUE(throws_errc([] { load(GgufWriter{}); }, Errc::invalid_argument, "tokenizer.ggml.model"));
  TokenizerSpec bert = spm_spec({});
  bert.kind = "bert";
  EXPECT_TRUE(refused(bert, Errc::unsupported, "tokenizer.ggml.model"));
  EXPECT_TRUE(refused(bpe_spec({}, {}), Errc::invalid_argument, "tokenizer.ggml.merges"));
}

TEST(TokenizerMetadata, LengthsAndIdsAreChecked) {
  auto spec = spm_spec({{sp, -1}});
  spec.scores.pop_back();
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "tokenizer.ggml.scores"));
  spec = spm_spec({{sp, -1}});
  spec.token_types.push_back(TokenType::normal);
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "tokenizer.ggml.token_type"));
  spec = spm_spec({{sp, -1}});
  spec.bos = 260;
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "tokenizer.ggml.bos_token_id"));
  spec = spm_spec({{sp, -1}});
  spec.eot = 1000;
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "tokenizer.ggml.eot_token_id"));
  spec = spm_spec({{sp, -1}}, false);
  spec.unk = std::nullopt;
  spec.tokens[0] = "<unknown>";
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "bytes"));
  spec = spm_spec({{sp, -1}});
  spec.token_types[259] = TokenType::byte;
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "<0xXX>"));
  spec = spm_spec({{sp, -1}});
  spec.bos = std::nullopt;
  spec.tokens[1] = "<bos>";
  EXPECT_TRUE(refused(spec, Errc::invalid_argument, "tokenizer.ggml.add_bos_token"));
}

TEST(TokenizerMetadata, MergesMustNameTokens) {
  EXPECT_TRUE(refused(bpe_spec({"ab"}, {"a b", "a zz"}), Errc::invalid_argument, "\"zz\""));
  EXPECT_TRUE(refused(bpe_spec({"ab"}, {"ab"}), Errc::invalid_argument, "'tokenizer.ggml.merges'[0]"));
  // A merge whose result is not a token cannot apply; it is ignored, not refused.
  EXPECT_EQ(load(bpe_spec({}, {"a b"})).encode("ab"), (Ids{'a', 'b'}));
}

TEST(TokenizerMetadata, WrongValueTypesNameTheKey) {
  auto with = [](const std::string& key, GgufValue value) {
    auto spec = spm_spec({{sp, -1}});
    GgufWriter w;
    if (key == "tokenizer.ggml.tokens") spec.tokens.clear();
    if (key == "tokenizer.ggml.bos_token_id") spec.bos = std::nullopt;
    if (key == "tokenizer.ggml.add_bos_token") spec.add_bos = std::nullopt;
    if (key == "tokenizer.ggml.scores") spec.scores.clear();
    if (key == "tokenizer.ggml.token_type") spec.token_types.clear();
    add_tokenizer_metadata(w, spec);
    w.add(key, std::move(value));
    return w;
  };
  const GgufValue text{std::string("x"), gguf_type::string};
  const GgufValue number{std::uint64_t{1}, gguf_type::uint32};
  const GgufValue numbers{GgufArray(260, number), gguf_type::array};
  const GgufValue texts{GgufArray(260, text), gguf_type::array};
  for (const auto& [key, value] : std::vector<std::pair<std::string, GgufValue>>{
           {"tokenizer.ggml.tokens", text}, {"tokenizer.ggml.tokens", numbers},
           {"tokenizer.ggml.bos_token_id", text}, {"tokenizer.ggml.add_bos_token", number},
           {"tokenizer.ggml.scores", texts}, {"tokenizer.ggml.token_type", texts},
           {"tokenizer.chat_template", number}}) {
    // Init-captures: clang before 16 cannot capture structured bindings (the sanitizer build).
    EXPECT_TRUE(throws_errc([&, &key = key, &value = value] { load(with(key, value)); }, Errc::invalid_argument, key))
        << key;
  }
  GgufValue bad_type = numbers;
  std::get<GgufArray>(bad_type.value)[5] = {std::uint64_t{9}, gguf_type::uint32};
  EXPECT_TRUE(throws_errc([&] { load(with("tokenizer.ggml.token_type", bad_type)); }, Errc::invalid_argument,
                          "tokenizer.ggml.token_type'[5]"));
}

TEST(TokenizerMetadata, MissingTypesAreDerived) {
  auto spec = spm_spec({{sp, -1}, {"a", -1}});
  spec.token_types.clear();
  const Tokenizer t = load(spec);
  EXPECT_EQ(t.token_type(bos), TokenType::control);
  EXPECT_EQ(t.token_type(byte_id(7)), TokenType::byte);
  EXPECT_EQ(t.encode("a\n"), (Ids{bos, 259, 260, byte_id(0x0A)}));
}

TEST(Tokenizer, EncodesAMegabyteQuickly) {
  const Tokenizer spm = load(demo_spm_vocabulary());
  std::string text;
  while (text.size() < (1u << 20)) text += "The quick brown fox jumps over the lazy dog. Hello world! ";
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = spm.encode(text);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("demo SPM: %zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n", text.size(), ids.size(), seconds,
              text.size() / seconds / 1e6);
  EXPECT_EQ(spm.decode(ids), text);

  // Long runs of one class stay linear (a million digits in groups of three, spaces, letters).
  auto llama3 = bpe_spec({}, {"1 2"});
  llama3.pre = "llama3";
  const Tokenizer bpe = load(llama3);
  for (char c : {'7', ' ', 'x', '\n'}) {
    const std::string run(1u << 20, c);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(bpe.decode(bpe.encode(run)), run);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 10.0) << int(c);
    std::printf("llama3 BPE: 1 MiB of '%s' in %.3f s\n", c == '\n' ? "\\n" : std::string(1, c).c_str(), s);
  }
}

}  // namespace
}  // namespace crossgpu::model
