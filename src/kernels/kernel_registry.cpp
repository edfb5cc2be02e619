#include "kernels/kernel_registry.hpp"

#include <array>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "kernels/arch_kernels.hpp"
#include "kernels/kernels.hpp"
#include "kernels/weight_few_kernels.hpp"

namespace crossgpu::kernels {
namespace {

// The size is deduced so that a family of kernels is added by listing it, nothing else.
const auto kFixed = std::to_array<const KernelSpec*>({
    &fill_f32,   &copy_f32,   &add_f32,    &mul_f32,    &scale_f32,   &axpy_f32,     &silu_f32,
    &matmul_f32, &matmul_f16, &matvec_f32, &matvec_f16, &softmax_f32, &rms_norm_f32, &reduce_f32,
    &rope_f32,   &attention_f32, &attention_combine_f32, &attention_at_f32, &rope_kv_f32,
    &matvec_weights, &matvec_fused, &matvec_fused_rows, &matvec_fused_lanes, &matmul_weights, &matmul_weights_tiled,
    &get_rows_weights,
    // The architectures beyond llama (arch_kernels.hpp).
    &gelu_tanh_f32, &softcap_f32, &rope_freqs_f32, &rope_kv_freqs_f32, &attention_window_f32,
    &attention_window_at_f32});

// The fixed list, then the specialized variants.
const std::vector<const KernelSpec*>& all_kernels() {
  static const std::vector<const KernelSpec*> all = [] {
    std::vector<const KernelSpec*> list(kFixed.begin(), kFixed.end());
    for (const KernelSpec& spec : matvec_fused_variants()) list.push_back(&spec);
    list.push_back(&matmul_weights_few);
    for (const KernelSpec& spec : matmul_weights_few_variants()) list.push_back(&spec);
    return list;
  }();
  return all;
}

}  // namespace

std::span<const KernelSpec* const> builtin_kernels() noexcept { return all_kernels(); }

const KernelSpec* find_kernel(std::string_view name) noexcept {
  for (const KernelSpec* spec : all_kernels()) {
    if (spec->name == name) return spec;
  }
  return nullptr;
}

const KernelSpec& kernel_by_name(std::string_view name) {
  if (const KernelSpec* spec = find_kernel(name)) return *spec;
  std::string known;
  for (const KernelSpec* spec : all_kernels()) {
    if (!known.empty()) known += ", ";
    known += spec->name;
  }
  // The name came from outside: bound what is echoed back.
  fail(Errc::not_found, "no built-in kernel named '{}'; this node has: {}",
       name.substr(0, 64), known);
}

}  // namespace crossgpu::kernels
