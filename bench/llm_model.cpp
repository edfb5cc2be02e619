#include "llm_model.hpp"

#include <unistd.h>

#include <chrono>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "llm_demo_file.hpp"
#include "model/llama_costs.hpp"

namespace crossgpu::bench {
namespace {

std::filesystem::path write_model(const std::filesystem::path& folder, const model::DemoModelSpec& spec,
                                  double& seconds) {
  std::filesystem::create_directories(folder);
  const auto path = folder / fmt::format("demo-{}-{}.gguf", kernels::to_string(spec.type), ::getpid());
  const auto start = std::chrono::steady_clock::now();
  write_parallel_demo_model(path, spec);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return path;
}

}  // namespace

BenchModel::BenchModel(const std::filesystem::path& folder, const model::DemoModelSpec& spec, bool keep)
    : spec_(spec),
      path_(write_model(folder, spec, generate_seconds_)),
      keep_(keep),
      file_bytes_(std::filesystem::file_size(path_)),
      file_(model::GgufFile::open(path_)),
      config_(model::LlamaConfig::from_gguf(file_)) {
  for (const sched::LayerCost& cost : model::layer_costs(config_, file_)) {
    weight_bytes_per_token_ += cost.weight_bytes;
    flops_per_token_ += cost.flops_per_token;
  }
  const model::TensorInfo& embd = file_.tensor("token_embd.weight");
  weight_bytes_per_token_ += embd.bytes / config_.vocab;
  const model::TensorInfo& head = config_.tied_output ? embd : file_.tensor("output.weight");
  head_flops_ = 2.0 * static_cast<double>(head.elements);
}

BenchModel::~BenchModel() {
  if (keep_) return;
  std::error_code ignored;  // a file already gone is no reason to fail the run
  std::filesystem::remove(path_, ignored);
}

std::uint64_t BenchModel::kv_bytes_read(std::uint32_t pos) const {
  return std::uint64_t{pos + 1} * config_.layers * config_.kv_bytes_per_token_per_layer();
}

}  // namespace crossgpu::bench
