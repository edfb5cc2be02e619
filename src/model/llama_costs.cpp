#include "model/llama_costs.hpp"

namespace crossgpu::model {

std::vector<sched::LayerCost> layer_costs(const LlamaConfig& config, const GgufFile& file) {
  std::vector<sched::LayerCost> costs(config.layers);
  for (std::uint32_t l = 0; l < config.layers; ++l) {
    sched::LayerCost& c = costs[l];
    for (const std::string& name : layer_tensors(config, l)) {
      const TensorInfo& t = file.tensor(name);
      c.weight_bytes += t.bytes;
      c.flops_per_token += 2.0 * static_cast<double>(t.elements);  // a multiply and an add each
    }
    c.kv_bytes_per_token = config.kv_bytes_per_token_per_layer();
    c.activation_bytes = std::uint64_t{config.embedding} * sizeof(float);
  }
  const TensorInfo& embd = file.tensor("token_embd.weight");
  costs.front().resident_bytes += embd.bytes;
  sched::LayerCost& last = costs.back();
  const TensorInfo& norm = file.tensor("output_norm.weight");
  const TensorInfo& head = config.tied_output ? embd : file.tensor("output.weight");
  last.weight_bytes += norm.bytes + head.bytes;
  last.flops_per_token += 2.0 * static_cast<double>(head.elements);
  last.activation_bytes = std::uint64_t{config.vocab} * sizeof(float);  // the logits come back
  return costs;
}

}  // namespace crossgpu::model
