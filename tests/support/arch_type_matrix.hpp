// Every architecture crossed with every weight type (issue 18): the small random-weight models
// test_llm_arch_types runs and that the llama.cpp oracle (make check-llama-cpp-arch) records
// greedy tokens and log-probabilities for. Each architecture keeps the distinguishing shape of its
// case in arch_cases.hpp (qwen3/gemma heads of 128, tied embeddings, Llama 3.1 rope_freqs, gemma
// sliding windows); only the weight type of its matrices changes.
#pragma once

#include <string>
#include <vector>

#include "kernels/weight_type.hpp"
#include "support/arch_cases.hpp"

namespace crossgpu::testing {

struct MatrixCase {
  ArchCase base;  // label is the architecture's
  kernels::WeightType type;
  std::string label() const { return std::string(base.arch) + "_" + kernels::to_string(type); }
  model::DemoModelSpec spec() const {
    ArchCase c = base;
    c.type = type;
    model::DemoModelSpec s = arch_spec(c);
    s.seed = 23;  // other weights than the arch cases'
    return s;
  }
};

// One shape per architecture. mistral is llama's graph under its own name (llama.cpp v0.4.0 has
// no 'mistral' architecture and refuses the file, so only the reference checks it).
inline constexpr ArchCase kMatrixArchs[] = {
    {"llama", kernels::WeightType::f32, 0, true, true, "llama"},
    {"mistral", kernels::WeightType::f32, 0, false, false, "mistral"},
    {"qwen2", kernels::WeightType::f32, 0, true, false, "qwen2"},
    {"qwen3", kernels::WeightType::f32, 128, false, false, "qwen3"},
    {"gemma2", kernels::WeightType::f32, 128, true, false, "gemma2"},
    {"gemma3", kernels::WeightType::f32, 128, true, false, "gemma3"},
    {"phi3", kernels::WeightType::f32, 0, false, false, "phi3"},
};

inline std::vector<MatrixCase> matrix_cases() {
  std::vector<MatrixCase> cases;
  for (const ArchCase& a : kMatrixArchs) {
    for (const kernels::WeightType t : kernels::kWeightTypes) cases.push_back({a, t});
  }
  return cases;
}

// Architectures llama.cpp itself cannot load (the oracle records its refusal).
inline bool llama_cpp_lacks(const ArchCase& a) { return std::string(a.arch) == "mistral"; }

}  // namespace crossgpu::testing
