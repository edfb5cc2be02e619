// crossgpu-arch-models [--matrix] DIR: writes the random-weight model of every architecture case
// (support/arch_cases.hpp), or with --matrix of every architecture x weight type
// (support/arch_type_matrix.hpp), as DIR/<label>.gguf, and DIR/cases.json naming each file with the
// prompt ids and the number of greedy tokens, for the llama.cpp oracle
// (tests/arch_oracle/record_llama_cpp.mjs).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "model/demo_model.hpp"
#include "support/arch_cases.hpp"
#include "support/arch_type_matrix.hpp"

int main(int argc, char** argv) {
  const bool matrix = argc == 3 && std::string(argv[1]) == "--matrix";
  if (argc != 2 && !matrix) {
    std::fprintf(stderr, "usage: crossgpu-arch-models [--matrix] DIR\n");
    return 2;
  }
  namespace fs = std::filesystem;
  using namespace crossgpu;
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
