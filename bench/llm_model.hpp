// The model crossgpu-llm-bench runs: a generated demo model (write_parallel_demo_model: demo-model
// layers generated on every core) written to a temporary folder and opened as a real file (mapped, as `crossgpu run` opens one), with what the
// limits need to know of it: the bytes a decoded token reads and the FLOPs a token costs.
#pragma once

#include <cstdint>
#include <filesystem>

#include "model/demo_model.hpp"
#include "model/gguf.hpp"
#include "model/llama_config.hpp"

namespace crossgpu::bench {

class BenchModel {
 public:
  // Generates the model of `spec` into `folder` (created if needed) and opens it. The file is
  // removed with the object unless `keep` (for a peer that runs the same file afterwards).
  BenchModel(const std::filesystem::path& folder, const model::DemoModelSpec& spec, bool keep = false);
  ~BenchModel();
  BenchModel(const BenchModel&) = delete;
  BenchModel& operator=(const BenchModel&) = delete;

  const model::GgufFile& file() const noexcept { return file_; }
  const model::LlamaConfig& config() const noexcept { return config_; }
  const model::DemoModelSpec& spec() const noexcept { return spec_; }
  double generate_seconds() const noexcept { return generate_seconds_; }
  std::uint64_t file_bytes() const noexcept { return file_bytes_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Weights every decoded token reads in full (every layer's matrices and norms, the output
  // norm and head, per model::layer_costs) plus the one row of the embedding table it looks up.
  std::uint64_t weight_bytes_per_token() const noexcept { return weight_bytes_per_token_; }
  // K and V cache a token at position `pos` reads in attention, over all layers (f32 cache).
  std::uint64_t kv_bytes_read(std::uint32_t pos) const;
  // Multiply-adds of the matrices (2 FLOPs each) per token, head included; attention left out.
  double flops_per_token() const noexcept { return flops_per_token_; }
  // The head's part of that: prefill projects only the last token of each batch through it.
  double head_flops() const noexcept { return head_flops_; }

 private:
  model::DemoModelSpec spec_;
  double generate_seconds_ = 0;  // set while path_ is initialized, so declared before it
  std::filesystem::path path_;
  bool keep_ = false;
  std::uint64_t file_bytes_ = 0;
  model::GgufFile file_;
  model::LlamaConfig config_;
  std::uint64_t weight_bytes_per_token_ = 0;
  double flops_per_token_ = 0;
  double head_flops_ = 0;
};

}  // namespace crossgpu::bench
