// The weight ops: validation of the weight operand (bytes, read as 32-bit words), then the work
// cut so that every binding fits the device: matvec by rows of W, matmul by rows of W and by
// tokens, get_rows by ids and by slices of the table.
#include "kernels/ops_weights.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants_weights.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;
using kernels::WeightType;

constexpr std::uint64_t kWord = 4;

std::uint64_t round_up_to_word(std::uint64_t bytes) { return ceil_div(bytes, kWord) * kWord; }

// Bytes of one row of W; Errc::invalid_argument for an unknown type or a partial block.
std::uint64_t checked_row_bytes(const char* op, WeightType type, std::uint64_t cols) {
  if (!kernels::weight_type_from(static_cast<std::uint32_t>(type))) {
    fail(Errc::invalid_argument, "{}: weight type {} is not one of {}", op, static_cast<std::uint32_t>(type),
         kernels::weight_type_names());
  }
  const std::uint64_t block = kernels::block_elements(type);
  if (cols % block != 0) {
    fail(Errc::invalid_argument,
         "{}: {} weights come in blocks of {} elements, so cols must be a multiple of {}, not {}",
         op, kernels::to_string(type), block, block, cols);
  }
  return kernels::row_bytes(type, cols);
}

// Offsets of operands that the shaders read as 32-bit words (W, ids).
void require_word_offset(Stream& stream, const char* op, const char* name, const TensorRef& ref,
                         const char* why) {
  const std::string what = fmt::format("{}: operand '{}'", op, name);
  stream.device().resolve(ref.buffer, 0, 0, what.c_str());  // device and liveness first
  if (ref.byte_offset % kWord != 0) {
    fail(Errc::misaligned, "{} starts at byte offset {}, not a multiple of 4: {}", what,
         ref.byte_offset, why);
  }
}

constexpr const char* kWordsWhy =
    "weights are read as 32-bit words (GGUF aligns tensor data to 32 bytes)";

// The operand W of `rows` rows as 32-bit words (what validate() checks it as): its bytes
// rounded up to whole words, which must lie inside its buffer.
Operand weight_operand(Stream& stream, const char* op, const char* name, const TensorRef& ref,
                       std::uint64_t rows, std::uint64_t row_bytes, WeightType type) {
  require_word_offset(stream, op, name, ref, kWordsWhy);
  const std::uint64_t bytes = round_up_to_word(matrix_elements(op, rows, row_bytes));
  const std::uint64_t size = ref.buffer.size;
  if (ref.byte_offset > size || bytes > size - ref.byte_offset) {
    fail(Errc::out_of_range,
         "{}: operand '{}' needs {} bytes ({} rows of {} {} bytes, rounded up to whole 32-bit "
         "words) from byte offset {}, but its buffer holds {} bytes",
         op, name, bytes, rows, row_bytes, kernels::to_string(type), ref.byte_offset, size);
  }
  return {name, ref, bytes / kWord, DType::f32};
}

// Bytes [first, first + bytes) of W as a binding of whole words starting on the alignment (at
// least a word), and the byte offset of `first` inside it.
Window weight_window(const TensorRef& ref, std::uint64_t first, std::uint64_t bytes,
                     const BindingLimits& limits) {
  const std::uint64_t alignment = std::max(limits.alignment, kWord);
  const std::uint64_t start = ref.byte_offset + first;
  const std::uint64_t base = start - start % alignment;
  const std::uint64_t size = round_up_to_word(start + bytes) - base;
  if (size > limits.max_bytes || size == 0) {
    fail(Errc::internal, "weight window of {} bytes does not fit a binding of at most {} bytes",
         size, limits.max_bytes);
  }
  return {BufferRange{ref.buffer, base, size}, to_u32(start - base)};
}

// How many rows of W one binding holds, wherever it starts; throws when not one.
std::uint64_t weight_rows_per_binding(const char* op, std::uint64_t row_bytes, WeightType type,
                                      const BindingLimits& limits) {
  const std::uint64_t slack = std::max(limits.alignment, kWord) - 1 + (kWord - 1);
  const std::uint64_t rows = (limits.max_bytes - slack) / std::max<std::uint64_t>(1, row_bytes);
  if (rows == 0) {
    fail(Errc::unsupported, "{}: one {} row of {} bytes exceeds the device's storage-buffer range "
         "of {}", op, kernels::to_string(type), row_bytes, format_bytes(limits.max_bytes));
  }
  return rows;
}

// How many f32 rows of `cols` elements one binding holds; throws when not one.
std::uint64_t f32_rows_per_binding(const char* op, const char* operand, std::uint64_t cols,
                                   const BindingLimits& limits) {
  const std::uint64_t rows = limits.max_elements(DType::f32) / std::max<std::uint64_t>(1, cols);
  if (rows == 0) {
    fail(Errc::unsupported, "{}: one row of '{}' ({} f32 elements) exceeds the device's "
         "storage-buffer range of {}", op, operand, cols, format_bytes(limits.max_bytes));
  }
  return rows;
}

std::uint32_t type_u32(WeightType type) { return static_cast<std::uint32_t>(type); }

}  // namespace

Event matvec_weights(Stream& stream, TensorRef w, TensorRef x, TensorRef y, std::uint64_t rows,
                     std::uint64_t cols, WeightType type) {
  const char* op = "ops::matvec_weights";
  const std::uint64_t row_bytes = checked_row_bytes(op, type, cols);
  validate(stream, op,
           {weight_operand(stream, op, "w", w, rows, row_bytes, type),
            {"x", x, cols},
            {"y", y, rows, DType::f32, true}},
           InPlace::forbidden);
  if (rows == 0) return {};
  if (cols == 0) return fill(stream, y, rows, 0.0f);  // empty sums
  const BindingLimits limits = binding_limits(stream.device());
  f32_rows_per_binding(op, "x", cols, limits);  // x is bound whole in every chunk
  const std::uint64_t step = std::min(weight_rows_per_binding(op, row_bytes, type, limits),
                                      limits.max_elements(DType::f32));
  const Window wx = window(x, DType::f32, 0, cols, limits);
  return for_each_chunk(rows, step, [&](std::uint64_t r0, std::uint64_t count) {
    const Window ww = weight_window(w, r0 * row_bytes, count * row_bytes, limits);
    const Window wy = window(y, DType::f32, r0, count, limits);
    const kernels::WeightsMatvecPush push{to_u32(count), to_u32(cols), type_u32(type),
                                          ww.offset,     wx.offset,    wy.offset};
    return dispatch(stream, kernels::matvec_weights, {ww.range, wx.range, wy.range}, push,
                    Groups{count, 1, 1});
  });
}

namespace {

// Bytes of the packed matrices, from the operand's offset to the end of the last segment.
std::uint64_t packed_extent(const char* op, const FusedMatvec& job) {
  if (job.segments.empty() || job.segments.size() > kernels::kFusedMatvecSegments) {
    fail(Errc::invalid_argument, "{}: 1 to {} weight segments, not {}", op,
         kernels::kFusedMatvecSegments, job.segments.size());
  }
  if (job.swiglu && (job.segments.size() != 2 || job.segments[0].rows != job.segments[1].rows)) {
    fail(Errc::invalid_argument, "{}: swiglu needs two segments of equal rows", op);
  }
  if (job.cols == 0) fail(Errc::invalid_argument, "{}: cols must be at least 1", op);
  std::uint64_t extent = 0;
  for (const WeightSegment& seg : job.segments) {
    const std::uint64_t row_bytes = checked_row_bytes(op, seg.type, job.cols);
    if (seg.byte_offset % kWord != 0) {
      fail(Errc::misaligned, "{}: a segment starts at byte {}, not a multiple of 4: {}", op,
           seg.byte_offset, kWordsWhy);
    }
    const std::uint64_t end = seg.byte_offset + matrix_elements(op, seg.rows, row_bytes);
    if (end < seg.byte_offset) fail(Errc::out_of_range, "{}: a segment's extent overflows", op);
    extent = std::max(extent, round_up_to_word(end));
  }
  return extent;
}

// The mapping of rows onto invocations, from what the device is: a subgroup per row where
// subgroups are real SIMD groups of a GPU (consecutive lanes read consecutive blocks); an
// invocation per row on CPU devices (lavapipe: lanes of one core, where every load whose address
// varies across lanes is a loop of scalar loads) and where subgroup arithmetic is missing, with
// x shared across lanes by shuffles where the subgroups allow it (8 lanes or more).
// Where every segment has one weight type, the variant compiled for it (and for the norm flag).
struct FusedMapping {
  const KernelSpec* kernel;
  std::uint64_t rows_per_group;
};
// The types the unspecialized matvec_fused kernel decodes (GENERIC_TYPES in
// matvec_fused_body.glsl; each more type there makes lavapipe's build of it much slower): Q4_K_M
// files put q4_k beside q6_k in one fused job. A mix with another type (Q5_K_M's q5_k beside
// q6_k, ...) runs segment by segment on the specialized variants.
constexpr WeightType kGenericFusedTypes[] = {WeightType::f32,  WeightType::f16,  WeightType::q4_0,
                                             WeightType::q8_0, WeightType::q4_k, WeightType::q6_k};

bool one_type(const FusedMatvec& job) {
  return std::all_of(job.segments.begin(), job.segments.end(),
                     [&](const WeightSegment& s) { return s.type == job.segments.front().type; });
}

bool generic_types(const FusedMatvec& job) {
  return std::all_of(job.segments.begin(), job.segments.end(), [](const WeightSegment& s) {
    return std::find(std::begin(kGenericFusedTypes), std::end(kGenericFusedTypes), s.type) !=
           std::end(kGenericFusedTypes);
  });
}

kernels::FusedKernel fused_kernel(const DeviceProperties& props, RowMapping mapping) {
  const std::uint32_t subgroup = props.limits.subgroup_size;
  const bool subgroups = props.caps.subgroup_arithmetic && subgroup > 0;
  // unit_x in matvec_fused_body.glsl shuffles eight quads from lanes 0-7.
  const bool shuffles = subgroups && props.caps.subgroup_shuffle && subgroup >= 8;
  switch (mapping) {
    case RowMapping::automatic:
      if (props.type != DeviceType::cpu && subgroups) return kernels::FusedKernel::subgroups;
      return shuffles ? kernels::FusedKernel::lanes : kernels::FusedKernel::rows;
    case RowMapping::subgroup_per_row:
      if (!subgroups) fail(Errc::unsupported, "ops::matvec_fused: device '{}' has no subgroup arithmetic", props.name);
      return kernels::FusedKernel::subgroups;
    case RowMapping::invocation_per_row:
      return kernels::FusedKernel::rows;
    case RowMapping::invocation_per_row_shuffled:
      if (!shuffles) {
        fail(Errc::unsupported, "ops::matvec_fused: device '{}' has no subgroup shuffles over 8 lanes or more",
             props.name);
      }
      return kernels::FusedKernel::lanes;
  }
  fail(Errc::invalid_argument, "ops::matvec_fused: unknown row mapping {}", static_cast<int>(mapping));
}

FusedMapping fused_mapping(const Device& device, const FusedMatvec& job) {
  const DeviceProperties& props = device.properties();
  const kernels::FusedKernel kernel = fused_kernel(props, job.mapping);
  // The invocation-per-row kernels take two rows per invocation, or one SwiGLU pair.
  const std::uint64_t per_row = job.swiglu ? kernels::kFusedMatvecThreads : 2 * kernels::kFusedMatvecThreads;
  const std::uint64_t rows_per_group =
      kernel == kernels::FusedKernel::subgroups
          ? std::max<std::uint32_t>(1, kernels::kFusedMatvecThreads / props.limits.subgroup_size)
          : per_row;
  if (!one_type(job)) return {&kernels::matvec_fused_kernel(kernel), rows_per_group};
  return {&kernels::matvec_fused_variant(kernel, job.segments.front().type, job.norm.has_value()), rows_per_group};
}

// A job of mixed types outside kGenericFusedTypes, one dispatch per segment (each the variant of
// its type; the norm is computed again by each). SwiGLU multiplies two segments in one
// invocation, so it cannot be cut: Errc::unsupported.
Event fused_by_segment(Stream& stream, const FusedMatvec& job) {
  if (job.swiglu) {
    fail(Errc::unsupported, "ops::matvec_fused: swiglu of a {} and a {} matrix (mixed types are fused only "
         "among f32, f16, q4_0, q8_0, q4_k and q6_k)", kernels::to_string(job.segments[0].type),
         kernels::to_string(job.segments[1].type));
  }
  Event last;
  std::uint64_t out_row = 0;
  for (const WeightSegment& seg : job.segments) {
    FusedMatvec one = job;
    one.segments = {seg};
    one.y = TensorRef(job.y.buffer, job.y.byte_offset + out_row * sizeof(float));
    last = matvec_fused(stream, one);
    out_row += seg.rows;
  }
  return last;
}

}  // namespace

Event matvec_fused(Stream& stream, const FusedMatvec& job) {
  const char* op = "ops::matvec_fused";
  Device& device = stream.device();
  const std::uint64_t extent = packed_extent(op, job);
  require_word_offset(stream, op, "w", job.w, kWordsWhy);
  std::uint64_t out_rows = 0;
  for (std::size_t s = 0; s < job.segments.size(); ++s) {
    if (!job.swiglu || s == 0) out_rows += job.segments[s].rows;
  }
  const Operand w_op{"w", job.w, extent / kWord, DType::f32};
  const Operand x_op{"x", job.x, job.cols};
  const Operand y_op{"y", job.y, out_rows, DType::f32, true};
  if (job.norm) {
    validate(stream, op, {w_op, x_op, y_op, {"norm", *job.norm, job.cols}}, InPlace::forbidden);
  } else {
    validate(stream, op, {w_op, x_op, y_op}, InPlace::forbidden);
  }
  if (out_rows == 0) return {};
  if (!one_type(job) && !generic_types(job)) return fused_by_segment(stream, job);
  const BindingLimits limits = binding_limits(device);
  // The window may start up to one alignment before the operand.
  if (extent + std::max(limits.alignment, kWord) > limits.max_bytes) {
    fail(Errc::unsupported, "{}: the packed weights ({}) exceed one binding of at most {}", op,
         format_bytes(extent), format_bytes(limits.max_bytes));
  }
  const Window ww = weight_window(job.w, 0, extent, limits);
  const Window wx = window(job.x, DType::f32, 0, job.cols, limits);
  const Window wy = window(job.y, DType::f32, 0, out_rows, limits);
  const Window wg = job.norm ? window(*job.norm, DType::f32, 0, job.cols, limits) : wx;

  const FusedMapping mapping = fused_mapping(device, job);
  const std::uint64_t rows_per_group = mapping.rows_per_group;
  kernels::FusedMatvecPush push{};
  push.cols = to_u32(job.cols);
  push.rows_per_group = to_u32(rows_per_group);
  push.flags = (job.norm ? kernels::kFusedNorm : 0) | (job.accumulate ? kernels::kFusedAccumulate : 0) |
               (job.swiglu ? kernels::kFusedSwiglu : 0);
  push.eps = job.eps;
  push.x_offset = wx.offset;
  push.y_offset = wy.offset;
  push.g_offset = wg.offset;
  push.segments = to_u32(job.segments.size());
  std::uint64_t groups = 0;
  for (std::size_t s = 0; s < job.segments.size(); ++s) {
    const WeightSegment& seg = job.segments[s];
    push.rows[s] = to_u32(seg.rows);
    push.type[s] = type_u32(seg.type);
    push.w_offset[s] = to_u32(ww.offset + seg.byte_offset);
    if (!job.swiglu || s == 0) groups += ceil_div(seg.rows, rows_per_group);
  }
  return dispatch(stream, *mapping.kernel, {ww.range, wx.range, wy.range, wg.range}, push,
                  Groups{groups, 1, 1});
}

namespace {

// The matmul kernel for a device, and the rows and tokens one of its workgroups covers.
struct MatmulKernel {
  const KernelSpec* kernel;
  std::uint64_t rows_per_group;
  std::uint64_t tokens_per_group;
};

MatmulKernel matmul_kernel(const Device& device, MatmulTiling tiling) {
  const DeviceProperties& props = device.properties();
  // Vulkan guarantees workgroups of 128 invocations; the tiled kernel has 256.
  const bool fits = props.limits.max_workgroup_invocations >= kernels::kWeightMatmulTiledThreads &&
                    props.limits.max_workgroup_size[0] >= kernels::kWeightMatmulTiledThreads;
  if (tiling == MatmulTiling::automatic) {
    tiling = fits ? MatmulTiling::tiled : MatmulTiling::token_per_invocation;
  }
  if (tiling == MatmulTiling::tiled) {
    if (!fits) {
      fail(Errc::unsupported, "ops::matmul_weights: device '{}' has no workgroups of {} invocations",
           props.name, kernels::kWeightMatmulTiledThreads);
    }
    return {&kernels::matmul_weights_tiled, kernels::kWeightMatmulTile, kernels::kWeightMatmulTile};
  }
  return {&kernels::matmul_weights, kernels::kWeightMatmulRows, kernels::kWeightMatmulThreads};
}

}  // namespace

Event matmul_weights(Stream& stream, TensorRef w, TensorRef x, TensorRef y, std::uint64_t rows,
                     std::uint64_t cols, std::uint64_t tokens, WeightType type, MatmulTiling tiling) {
  const char* op = "ops::matmul_weights";
  const std::uint64_t row_bytes = checked_row_bytes(op, type, cols);
  validate(stream, op,
           {weight_operand(stream, op, "w", w, rows, row_bytes, type),
            {"x", x, matrix_elements(op, tokens, cols)},
            {"y", y, matrix_elements(op, tokens, rows), DType::f32, true}},
           InPlace::forbidden);
  if (rows == 0 || tokens == 0) return {};
  if (cols == 0) return fill(stream, y, tokens * rows, 0.0f);  // empty sums
  const BindingLimits limits = binding_limits(stream.device());
  const MatmulKernel mk = matmul_kernel(stream.device(), tiling);
  const std::uint64_t rows_per_group = mk.rows_per_group;
  const std::uint64_t tokens_per_group = mk.tokens_per_group;
  std::uint64_t rows_step = weight_rows_per_binding(op, row_bytes, type, limits);
  if (rows_step >= rows_per_group) rows_step = rows_step / rows_per_group * rows_per_group;
  const std::uint64_t max_groups_y = stream.device().properties().limits.max_workgroup_count[1];
  const std::uint64_t tokens_step =
      std::min({f32_rows_per_binding(op, "x", cols, limits),
                f32_rows_per_binding(op, "y", rows, limits), max_groups_y * tokens_per_group});
  return for_each_chunk(tokens, tokens_step, [&](std::uint64_t t0, std::uint64_t t_count) {
    const Window wx = window(x, DType::f32, t0 * cols, t_count * cols, limits);
    return for_each_chunk(rows, rows_step, [&](std::uint64_t r0, std::uint64_t r_count) {
      const Window ww = weight_window(w, r0 * row_bytes, r_count * row_bytes, limits);
      const Window wy = rows_window(y, DType::f32, t0 * rows + r0, t_count, r_count, rows, limits);
      const kernels::WeightsMatmulPush push{to_u32(r_count), to_u32(cols), to_u32(t_count),
                                            type_u32(type),  ww.offset,    wx.offset,
                                            wy.offset,       to_u32(rows)};
      const Groups groups{ceil_div(r_count, rows_per_group),
                          to_u32(ceil_div(t_count, tokens_per_group)), 1};
      return dispatch(stream, *mk.kernel, {ww.range, wx.range, wy.range}, push,
                      groups);
    });
  });
}

Event get_rows(Stream& stream, TensorRef table, std::uint64_t table_rows, std::uint64_t cols,
               WeightType type, TensorRef ids, TensorRef out, std::uint64_t count) {
  const char* op = "ops::get_rows";
  const std::uint64_t row_bytes = checked_row_bytes(op, type, cols);
  require_word_offset(stream, op, "ids", ids, "ids are 32-bit integers");
  validate(stream, op,
           {weight_operand(stream, op, "table", table, table_rows, row_bytes, type),
            {"ids", ids, count},
            {"out", out, matrix_elements(op, count, cols), DType::f32, true}},
           InPlace::forbidden);
  if (table_rows > std::numeric_limits<std::uint32_t>::max()) {
    fail(Errc::out_of_range, "{}: a table of {} rows is longer than 32-bit ids can address", op,
         table_rows);
  }
  if (count == 0 || cols == 0) return {};
  if (table_rows == 0) {
    fail(Errc::invalid_argument, "{}: {} ids into an empty table (table_rows == 0)", op, count);
  }
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t ids_step = std::min(f32_rows_per_binding(op, "out", cols, limits),
                                          limits.max_elements(DType::f32));
  const std::uint64_t table_step = weight_rows_per_binding(op, row_bytes, type, limits);
  return for_each_chunk(count, ids_step, [&](std::uint64_t i0, std::uint64_t n) {
    const Window wi = window(ids, DType::f32, i0, n, limits);  // u32, the size of an f32
    const Window wo = window(out, DType::f32, i0 * cols, n * cols, limits);
    return for_each_chunk(table_rows, table_step, [&](std::uint64_t r0, std::uint64_t slice) {
      const Window wt = weight_window(table, r0 * row_bytes, slice * row_bytes, limits);
      const kernels::WeightsGetRowsPush push{to_u32(n),         to_u32(cols), type_u32(type),
                                             to_u32(table_rows), to_u32(r0),  to_u32(slice),
                                             wt.offset,          wi.offset,   wo.offset};
      return dispatch(stream, kernels::get_rows_weights, {wt.range, wi.range, wo.range}, push,
                      Groups{n, 1, 1});
    });
  });
}

}  // namespace crossgpu::ops
