// crossgpu-arch-models DIR: writes the random-weight model of every architecture case
// (support/arch_cases.hpp) as DIR/<label>.gguf, and DIR/cases.json naming each file with the
// prompt ids and the number of greedy tokens, for the llama.cpp oracle
// (tests/arch_oracle/record_llama_cpp.mjs).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/demo_model.hpp"
#include "support/arch_cases.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: crossgpu-arch-models DIR\n");
    return 2;
  }
  namespace fs = std::filesystem;
  using namespace crossgpu;
  const fs::path dir = argv[1];
  fs::create_directories(dir);
  std::ofstream json(dir / "cases.json");
  json << "{\"new_tokens\": " << testing::kArchNewTokens << ", \"prompt\": [";
  for (std::size_t i = 0; i < testing::kArchPrompt.size(); ++i) json << (i ? ", " : "") << testing::kArchPrompt[i];
  json << "], \"cases\": [";
  bool first = true;
  for (const testing::ArchCase& c : testing::kArchCases) {
    const fs::path file = dir / (std::string(c.label) + ".gguf");
    model::write_demo_model(file, testing::arch_spec(c));
    json << (first ? "" : ", ") << "{\"label\": \"" << c.label << "\", \"file\": \"" << file.string() << "\"}";
    first = false;
  }
  json << "]}\n";
  return json ? 0 : 1;
}
