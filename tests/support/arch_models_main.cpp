// crossgpu-arch-models [--matrix] DIR: writes the random-weight model of every architecture case
// (support/arch_cases.hpp), or with --matrix of every architecture x weight type
// (support/arch_type_matrix.hpp), as DIR/<label>.gguf, and DIR/cases.json naming each file with the
// prompt ids and the number of greedy tokens, for the llama.cpp oracle
// (tests/arch_oracle/record_llama_cpp.mjs).
// crossgpu-arch-models --real-vocab NPM_TEST_DIR DIR: the models that carry a real vocabulary
// (support/real_vocab_models.hpp); each case in cases.json also has its own prompt ids and the
// rendered chat template they were tokenized from.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/demo_model.hpp"
#include "support/arch_cases.hpp"
#include "support/arch_type_matrix.hpp"
#include "support/real_vocab_models.hpp"

namespace {

namespace fs = std::filesystem;
using namespace crossgpu;

int write_real_vocab(const fs::path& npm_test_dir, const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::ordered_json cases = nlohmann::ordered_json::array();
  for (const testing::RealVocabCase& c : testing::kRealVocabCases) {
    const testing::RealVocabModel m = testing::make_real_vocab_model(c, npm_test_dir);
    const fs::path file = dir / (std::string(c.label) + ".gguf");
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(m.bytes.data()),
                                                 static_cast<std::streamsize>(m.bytes.size()));
    cases.push_back({{"label", c.label}, {"file", file.string()}, {"rendered", m.rendered}, {"prompt", m.prompt}});
  }
  std::ofstream json(dir / "cases.json");
  json << nlohmann::ordered_json{{"new_tokens", testing::kRealVocabNewTokens}, {"context", testing::kRealVocabContext},
                                 {"cases", cases}}.dump() << "\n";
  return json ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--real-vocab") return write_real_vocab(argv[2], argv[3]);
  const bool matrix = argc == 3 && std::string(argv[1]) == "--matrix";
  if (argc != 2 && !matrix) {
    std::fprintf(stderr, "usage: crossgpu-arch-models [--matrix] DIR | --real-vocab NPM_TEST_DIR DIR\n");
    return 2;
  }
  std::vector<std::pair<std::string, model::DemoModelSpec>> models;
  if (matrix) {
    for (const testing::MatrixCase& c : testing::matrix_cases()) models.emplace_back(c.label(), c.spec());
  } else {
    for (const testing::ArchCase& c : testing::kArchCases) models.emplace_back(c.label, testing::arch_spec(c));
  }
  const fs::path dir = argv[argc - 1];
  fs::create_directories(dir);
  std::ofstream json(dir / "cases.json");
  json << "{\"new_tokens\": " << testing::kArchNewTokens << ", \"prompt\": [";
  for (std::size_t i = 0; i < testing::kArchPrompt.size(); ++i) json << (i ? ", " : "") << testing::kArchPrompt[i];
  json << "], \"cases\": [";
  bool first = true;
  for (const auto& [label, spec] : models) {
    const fs::path file = dir / (label + ".gguf");
    model::write_demo_model(file, spec);
    json << (first ? "" : ", ") << "{\"label\": \"" << label << "\", \"file\": \"" << file.string() << "\"}";
    first = false;
  }
  json << "]}\n";
  return json ? 0 : 1;
}
