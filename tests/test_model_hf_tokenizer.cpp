// The converter of Hugging Face tokenizer files to GGUF tokenizer metadata (support/hf_tokenizer):
// what it writes for small hand-made tokenizer.json files, and the errors for malformed,
// truncated, oversized and hostile ones.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "model/gguf.hpp"
#include "support/hf_tokenizer.hpp"
#include "support/test_support.hpp"

namespace {

using crossgpu::Errc;
using crossgpu::model::TokenType;
using crossgpu::testing::throws_errc;
using crossgpu::testing::tokenizer_spec_from_hf;
using nlohmann::json;

const char* llama3_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

json bpe_json() {
  return {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers", {{{"type", "Split"}, {"pattern", {{"Regex", llama3_regex}}}, {"behavior", "Isolated"}},
                               {{"type", "ByteLevel"}, {"use_regex", false}}}}}},
          {"added_tokens",
           {{{"id", 4}, {"content", "<|eot|>"}, {"special", true}},
            {{"id", 5}, {"content", "<tool>"}, {"special", false}},
            {{"id", 6}, {"content", "<|fim|>"}, {"special", false}}}}};
}

TEST(HfTokenizer, ByteLevelBpe) {
  const json config = {{"bos_token", "<|eot|>"}, {"eos_token", {{"content", "<|eot|>"}}}, {"chat_template", "{{x}}"}};
  const auto spec = tokenizer_spec_from_hf(bpe_json(), config);
  EXPECT_EQ(spec.kind, "gpt2");
  EXPECT_EQ(spec.pre, "llama-bpe");
  EXPECT_EQ(spec.tokens, (std::vector<std::string>{"a", "b", "ab", "[PAD3]", "<|eot|>", "<tool>", "<|fim|>"}));
  EXPECT_EQ(spec.token_types, (std::vector<TokenType>{TokenType::normal, TokenType::normal, TokenType::normal,
                                                      TokenType::unused, TokenType::control, TokenType::user_defined,
                                                      TokenType::control}));  // <|..|> looks special
  EXPECT_EQ(spec.merges, (std::vector<std::string>{"a b"}));
  EXPECT_EQ(spec.bos, 4u);
  EXPECT_EQ(spec.eos, 4u);
  EXPECT_EQ(spec.add_bos, false);
  EXPECT_EQ(spec.chat_template, "{{x}}");
  EXPECT_TRUE(spec.scores.empty());
  // Merges may also come as pairs (newer tokenizer.json files); a named pre wins over detection.
  json pairs = bpe_json();
  pairs["model"]["merges"] = json::array({json::array({"a", "b"})});
  EXPECT_EQ(tokenizer_spec_from_hf(pairs, json::object(), "qwen2").merges, (std::vector<std::string>{"a b"}));
  EXPECT_EQ(tokenizer_spec_from_hf(pairs, json::object(), "qwen2").pre, "qwen2");
}

TEST(HfTokenizer, SentencePieceWithByteFallback) {
  json t = {{"model",
             {{"type", "BPE"},
              {"byte_fallback", true},
              {"unk_token", "<unk>"},
              {"vocab", {{"<unk>", 0}, {"<s>", 1}, {"<0x41>", 2}, {"\xE2\x96\x81", 3}, {"x", 4}, {"\xE2\x96\x81x", 5}, {"xx", 6}}},
              {"merges", {"x x", "\xE2\x96\x81 x"}}}},
            {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}}}}},
            {"post_processor", {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}}}}},
            {"added_tokens", {{{"id", 1}, {"content", "<s>"}, {"special", true}}}}};
  const auto spec = tokenizer_spec_from_hf(t, {{"bos_token", "<s>"}, {"unk_token", "<unk>"}});
  EXPECT_EQ(spec.kind, "llama");
  EXPECT_EQ(spec.add_space_prefix, true);
  EXPECT_EQ(spec.add_bos, true);  // from the post-processor
  EXPECT_EQ(spec.token_types[0], TokenType::unknown);
  EXPECT_EQ(spec.token_types[1], TokenType::control);
  EXPECT_EQ(spec.token_types[2], TokenType::byte);
  // Scores follow the merge ranks: "xx" (rank 0) before "▁x" (rank 1), whatever their ids; pieces
  // no merge makes score below every merge.
  EXPECT_GT(spec.scores[6], spec.scores[5]);
  EXPECT_GT(spec.scores[5], spec.scores[4]);
  EXPECT_EQ(spec.scores[0], 0.0f);
  t["normalizer"] = nullptr;
  EXPECT_EQ(tokenizer_spec_from_hf(t, json::object()).add_space_prefix, false);
}

TEST(HfTokenizer, MalformedFilesNameTheField) {
  auto refused = [](json t, json config, Errc code, const char* what) {
    return throws_errc([&] { tokenizer_spec_from_hf(t, config); }, code, what);
  };
  EXPECT_TRUE(refused(json::object(), json::object(), Errc::invalid_argument, "\"model\""));
  EXPECT_TRUE(refused(json::array(), json::object(), Errc::invalid_argument, "\"model\""));
  json t = bpe_json();
  t["model"]["type"] = "Unigram";
  EXPECT_TRUE(refused(t, json::object(), Errc::unsupported, "Unigram"));
  t = bpe_json();
  t["model"]["vocab"] = json::array();
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "vocab"));
  t = bpe_json();
  t["model"]["vocab"]["c"] = -1;
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "\"c\""));
  t = bpe_json();
  t["model"]["vocab"]["c"] = "3";
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "\"c\""));
  t = bpe_json();
  t["model"]["vocab"]["huge"] = std::uint64_t{1} << 40;  // oversized: would allocate 2^40 tokens
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "too large"));
  t = bpe_json();
  t["added_tokens"].push_back({{"id", 9}});
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "added token"));
  t = bpe_json();
  t["added_tokens"] = {{"content", "x"}};  // an object, not a list
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "added_tokens"));
  t = bpe_json();
  t["added_tokens"].push_back({{"content", "x"}});
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "\"id\""));
  t = bpe_json();
  t["model"]["merges"] = {42};
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "merge"));
  t["model"]["merges"] = json::array({json::array({"a", "b", "c"})});
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "merge"));
  t["model"]["merges"] = {{"a", "b"}};  // an object, not a list
  EXPECT_TRUE(refused(t, json::object(), Errc::invalid_argument, "merges"));
  t = bpe_json();
  t["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}};
  EXPECT_TRUE(refused(t, json::object(), Errc::unsupported, "pre_tokenizer"));
  EXPECT_TRUE(refused(bpe_json(), {{"bos_token", "<nope>"}}, Errc::invalid_argument, "<nope>"));
  json spm = {{"model", {{"type", "BPE"}, {"byte_fallback", true}, {"vocab", {{"a", 0}}}, {"merges", {"ab"}}}}};
  EXPECT_TRUE(refused(spm, json::object(), Errc::invalid_argument, "\"ab\""));
}

TEST(HfTokenizer, FilesThatAreNotThere) {
  const auto dir = std::filesystem::temp_directory_path() / ("crossgpu-hf-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_TRUE(throws_errc([&] { crossgpu::testing::tokenizer_spec_from_hf_dir(dir); }, Errc::io, "tokenizer.json"));
  const std::string text = bpe_json().dump();
  std::ofstream(dir / "tokenizer.json") << text.substr(0, text.size() / 2);  // truncated
  std::ofstream(dir / "tokenizer_config.json") << "{}";
  EXPECT_TRUE(throws_errc([&] { crossgpu::testing::tokenizer_spec_from_hf_dir(dir); }, Errc::invalid_argument,
                          "not JSON"));
  std::ofstream(dir / "tokenizer.json") << text;
  EXPECT_EQ(crossgpu::testing::tokenizer_spec_from_hf_dir(dir).tokens.size(), 7u);
  std::filesystem::remove_all(dir);
}

}  // namespace
