#include "cluster/kernel_bounds.hpp"

#include <cstring>
#include <string_view>

#include "cluster/kernel_bounds_attention.hpp"
#include "cluster/kernel_bounds_weights.hpp"
#include "core/error.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::cluster {
namespace {

using kernels::BinaryPush;
using kernels::FillPush;
using kernels::MatmulPush;
using kernels::MatvecPush;
using kernels::ReducePush;
using kernels::RmsNormPush;
using kernels::SoftmaxPush;
using kernels::UnaryPush;

// The facts of one dispatch that the rules below check against.
struct Extents {
  std::string_view kernel;
  std::span<const std::uint64_t> bytes;

  // Elements [offset, offset + count) of binding `index`, `element` bytes each, must exist.
  // 64-bit arithmetic: no wrap-around (and no 32-bit wrap in the shader when this passes,
  // since every index it computes is at most offset + count - 1).
  void need(std::size_t index, std::uint64_t offset, std::uint64_t count,
            std::uint64_t element = 4) const {
    if (count == 0) return;
    const std::uint64_t elements = bytes[index] / element;
    if (offset > elements || count > elements - offset) {
      fail(Errc::out_of_range,
           "kernel '{}': its parameters reach element {} of binding {}, which holds {} "
           "elements of {} bytes",
           kernel, offset + count - 1, index, elements, element);
    }
  }
};

template <typename Push>
Push read(std::span<const std::byte> push) {
  Push out;
  std::memcpy(&out, push.data(), sizeof(Push));
  return out;
}

void check_matmul(const Extents& e, const MatmulPush& p, std::uint64_t in_element) {
  // The shader clamps rows and columns to m - 1 and n - 1: 0 would wrap to 2^32 - 1.
  if (p.m == 0 || p.n == 0 || p.k == 0) {
    fail(Errc::invalid_argument, "kernel '{}': m, n and k must be >= 1", e.kernel);
  }
  const std::uint64_t m = p.m, n = p.n, k = p.k;
  e.need(0, p.a_offset, (m - 1) * p.lda + k, in_element);
  e.need(1, p.b_offset, (k - 1) * p.ldb + n, in_element);
  e.need(2, p.c_offset, (m - 1) * p.ldc + n);
}

void check_matvec(const Extents& e, const MatvecPush& p, std::uint64_t a_element) {
  if (p.rows == 0 || p.cols == 0) return;  // nothing is touched
  e.need(0, p.a_offset, (std::uint64_t{p.rows} - 1) * p.lda + p.cols, a_element);
  e.need(1, p.x_offset, p.cols);
  e.need(2, p.y_offset, p.rows);
}

}  // namespace

void check_kernel_bounds(const KernelSpec& kernel, std::span<const std::byte> push,
                         std::span<const std::uint64_t> binding_bytes, Groups groups) {
  if (push.size() != kernel.push_constant_bytes || binding_bytes.size() != kernel.binding_count) {
    fail(Errc::invalid_argument, "kernel '{}': wrong parameter or binding count", kernel.name);
  }
  const Extents e{kernel.name, binding_bytes};
  const std::string_view name = kernel.name;
  if (name == "fill_f32") {
    const auto p = read<FillPush>(push);
    e.need(0, p.out_offset, p.n);
  } else if (name == "copy_f32" || name == "scale_f32" || name == "axpy_f32" ||
             name == "silu_f32" || name == "gelu_tanh_f32" || name == "softcap_f32") {
    const auto p = read<UnaryPush>(push);
    e.need(0, p.x_offset, p.n);
    e.need(1, p.y_offset, p.n);
  } else if (name == "add_f32" || name == "mul_f32") {
    const auto p = read<BinaryPush>(push);
    e.need(0, p.a_offset, p.n);
    e.need(1, p.b_offset, p.n);
    e.need(2, p.out_offset, p.n);
  } else if (name == "matmul_f32" || name == "matmul_f16") {
    check_matmul(e, read<MatmulPush>(push), name == "matmul_f16" ? 2 : 4);
  } else if (name == "matvec_f32" || name == "matvec_f16") {
    check_matvec(e, read<MatvecPush>(push), name == "matvec_f16" ? 2 : 4);
  } else if (name == "softmax_f32") {
    const auto p = read<SoftmaxPush>(push);
    const std::uint64_t count = std::uint64_t{p.rows} * p.cols;
    e.need(0, p.x_offset, count);
    e.need(1, p.y_offset, count);
  } else if (name == "rms_norm_f32") {
    const auto p = read<RmsNormPush>(push);
    const std::uint64_t count = std::uint64_t{p.rows} * p.cols;
    e.need(0, p.x_offset, count);
    if (p.rows != 0) e.need(1, p.w_offset, p.cols);
    e.need(2, p.y_offset, count);
  } else if (name == "reduce_f32") {
    const auto p = read<ReducePush>(push);
    e.need(0, p.x_offset, p.n);
    e.need(1, p.out_offset, groups.x);  // one value per workgroup, unguarded in the shader
  } else if (check_weight_kernel_bounds(name, push, binding_bytes)) {  // checked, or thrown
  } else if (check_attention_kernel_bounds(name, push, binding_bytes)) {  // checked, or thrown
  } else {
    fail(Errc::unsupported, "kernel '{}' has no bounds rule on this node, so it cannot be "
                            "dispatched remotely", kernel.name);
  }
}

}  // namespace crossgpu::cluster
