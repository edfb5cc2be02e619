#include "cluster/kernel_bounds_weights.hpp"

#include <cstring>

#include "core/error.hpp"
#include "kernels/push_constants_weights.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::cluster {
namespace {

using kernels::FusedMatvecPush;
using kernels::WeightsGetRowsPush;
using kernels::WeightsMatmulPush;
using kernels::WeightsMatvecPush;

struct Bindings {
  std::string_view kernel;
  std::span<const std::uint64_t> bytes;

  // Elements [offset, offset + count) of 4-byte elements of binding `index` must exist.
  void need_elements(std::size_t index, std::uint64_t offset, std::uint64_t count) const {
    if (count == 0) return;
    const std::uint64_t elements = bytes[index] / 4;
    if (offset > elements || count > elements - offset) {
      fail(Errc::out_of_range,
           "kernel '{}': its parameters reach element {} of binding {}, which holds {} "
           "elements of 4 bytes",
           kernel, offset + count - 1, index, elements);
    }
  }

  // `rows` rows of `row_bytes` bytes from byte `offset` of binding `index` must exist as whole
  // 32-bit words (what the shader reads): a partial last word of the binding does not count.
  // Divisions, not products: rows * row_bytes may exceed 64 bits for a hostile push block.
  void need_rows(std::size_t index, std::uint64_t offset, std::uint64_t rows,
                 std::uint64_t row_bytes) const {
    if (rows == 0 || row_bytes == 0) return;
    const std::uint64_t usable = bytes[index] / 4 * 4;
    if (offset > usable || rows > (usable - offset) / row_bytes) {
      fail(Errc::out_of_range,
           "kernel '{}': its parameters reach past byte {} of binding {} ({} rows of {} bytes "
           "from byte {}), which holds {} whole 32-bit words",
           kernel, usable, index, rows, row_bytes, offset, usable / 4);
    }
  }

  // Bytes of one row of `cols` elements of `type`.
  std::uint64_t row_bytes(std::uint32_t type, std::uint32_t cols) const {
    const auto weight = kernels::weight_type_from(type);
    if (!weight) fail(Errc::invalid_argument, "kernel '{}': unknown weight type {}", kernel, type);
    if (cols % kernels::block_elements(*weight) != 0) {
      fail(Errc::invalid_argument, "kernel '{}': {} columns are not whole {} blocks", kernel,
           cols, kernels::to_string(*weight));
    }
    return kernels::row_bytes(*weight, cols);
  }
};

template <typename Push>
Push read(const Bindings& b, std::span<const std::byte> push, std::size_t bindings = 3) {
  // check_kernel_bounds has checked both counts; a direct caller may not have.
  if (push.size() != sizeof(Push) || b.bytes.size() != bindings) {
    fail(Errc::invalid_argument, "kernel '{}': wrong parameter or binding count", b.kernel);
  }
  Push out;
  std::memcpy(&out, push.data(), sizeof(Push));
  return out;
}

void check_matvec(const Bindings& b, const WeightsMatvecPush& p) {
  const std::uint64_t row = b.row_bytes(p.type, p.cols);
  if (p.rows == 0) return;  // every workgroup returns at once
  b.need_rows(0, p.w_offset, p.rows, row);
  b.need_elements(1, p.x_offset, p.cols);
  b.need_elements(2, p.y_offset, p.rows);
}

void check_matmul(const Bindings& b, const WeightsMatmulPush& p) {
  const std::uint64_t row = b.row_bytes(p.type, p.cols);
  // The shader clamps rows and tokens to rows - 1 and tokens - 1: 0 would wrap to 2^32 - 1.
  if (p.rows == 0 || p.tokens == 0) {
    fail(Errc::invalid_argument, "kernel '{}': rows and tokens must be >= 1", b.kernel);
  }
  b.need_rows(0, p.w_offset, p.rows, row);
  b.need_elements(1, p.x_offset, std::uint64_t{p.tokens} * p.cols);
  b.need_elements(2, p.y_offset, (std::uint64_t{p.tokens} - 1) * p.ldy + p.rows);
}

void check_get_rows(const Bindings& b, const WeightsGetRowsPush& p) {
  const std::uint64_t row = b.row_bytes(p.type, p.cols);
  if (p.count == 0) return;
  // Only rows [row_first, row_first + row_count) of the table are read, from the binding's
  // w_offset on, whatever the ids hold (ids outside are clamped or skipped).
  b.need_rows(0, p.w_offset, p.row_count, row);
  b.need_elements(1, p.ids_offset, p.count);
  b.need_elements(2, p.out_offset, std::uint64_t{p.count} * p.cols);
}

void check_fused(const Bindings& b, const FusedMatvecPush& p) {
  const bool swiglu = (p.flags & kernels::kFusedSwiglu) != 0;
  // The shader walks segments by group counts: none, or a zero rows_per_group, has no meaning.
  if (p.segments == 0 || p.segments > kernels::kFusedMatvecSegments || p.rows_per_group == 0 ||
      (swiglu && (p.segments != 2 || p.rows[0] != p.rows[1]))) {
    fail(Errc::invalid_argument, "kernel '{}': {} segments, {} rows per group, flags {}",
         b.kernel, p.segments, p.rows_per_group, p.flags);
  }
  std::uint64_t out_rows = 0;
  for (std::uint32_t s = 0; s < p.segments; ++s) {
    b.need_rows(0, p.w_offset[s], p.rows[s], b.row_bytes(p.type[s], p.cols));
    if (!swiglu || s == 0) out_rows += p.rows[s];
  }
  if (out_rows == 0) return;
  b.need_elements(1, p.x_offset, p.cols);
  b.need_elements(2, p.y_offset, out_rows);
  if ((p.flags & kernels::kFusedNorm) != 0) b.need_elements(3, p.g_offset, p.cols);
}

}  // namespace

bool check_weight_kernel_bounds(std::string_view name, std::span<const std::byte> push,
                                std::span<const std::uint64_t> binding_bytes) {
  const Bindings b{name, binding_bytes};
  if (name == "matvec_weights") {
    check_matvec(b, read<WeightsMatvecPush>(b, push));
  } else if (name == "matvec_fused" || name.starts_with("matvec_fused.") ||
             name.starts_with("matvec_fused_rows") || name.starts_with("matvec_fused_lanes")) {
    // The specialized variants compute only what their constants fix; the extents are the same.
    check_fused(b, read<FusedMatvecPush>(b, push, 4));
  } else if (name == "matmul_weights" || name == "matmul_weights_tiled") {
    check_matmul(b, read<WeightsMatmulPush>(b, push));
  } else if (name == "matmul_weights_few" || name.starts_with("matmul_weights_few.")) {
    // The few-token variants share matmul_weights' contract and extents.
    check_matmul(b, read<WeightsMatmulPush>(b, push));
  } else if (name == "get_rows_weights") {
    check_get_rows(b, read<WeightsGetRowsPush>(b, push));
  } else {
    return false;
  }
  return true;
}

}  // namespace crossgpu::cluster
