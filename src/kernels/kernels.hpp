// The kernels behind the ops: each KernelSpec pairs a shader (SPIR-V embedded at build time from
// glsl/<name>.comp) with a CPU function of the same contract (same bindings, same push constants
// from push_constants.hpp, same coverage of the dispatched workgroups). Most callers want the ops
// (ops.hpp), which validate, split and dispatch these; a KernelSpec is for Stream::dispatch.
#pragma once

#include <span>

#include "device/kernel.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::kernels {

// Bindings in order, then the push-constant struct. Elementwise groups: ceil(n / 256).
extern const KernelSpec fill_f32;   // {out}                FillPush
extern const KernelSpec copy_f32;   // {x, y}               UnaryPush
extern const KernelSpec add_f32;    // {a, b, out}          BinaryPush
extern const KernelSpec mul_f32;    // {a, b, out}          BinaryPush
extern const KernelSpec scale_f32;  // {x, y}               UnaryPush
extern const KernelSpec axpy_f32;   // {x, y}               UnaryPush
extern const KernelSpec silu_f32;   // {x, y}               UnaryPush

// Groups: x = ceil(n / 64), y = ceil(m / 64).
extern const KernelSpec matmul_f32;  // {a, b, c}  MatmulPush
extern const KernelSpec matmul_f16;  // {a, b, c}  MatmulPush; a, b f16, c f32

// One workgroup per row: groups x = rows.
extern const KernelSpec matvec_f32;    // {a, x, y}     MatvecPush
extern const KernelSpec matvec_f16;    // {a, x, y}     MatvecPush; a f16, x and y f32
extern const KernelSpec softmax_f32;   // {x, y}        SoftmaxPush
extern const KernelSpec rms_norm_f32;  // {x, w, y}     RmsNormPush

// One level of a reduction: groups x = ceil(n / kReduceBlock), out gets one value per group.
extern const KernelSpec reduce_f32;  // {x, out}  ReducePush

// Transformer kernels (push structs in push_constants_attention.hpp).
// RoPE, in place: groups x = ceil(tokens * heads * head_dim / 2 / 256).
extern const KernelSpec rope_f32;  // {x}  RopePush
// Attention: groups x = tokens * heads, y = splits; with splits > 1 `out` receives partials that
// attention_combine_f32 (groups x = rows) folds into the output.
extern const KernelSpec attention_f32;          // {q, k, v, out}  AttentionPush
extern const KernelSpec attention_combine_f32;  // {part, out}     AttentionCombinePush
// The same with the position read on the device, for recorded decode steps.
extern const KernelSpec attention_at_f32;  // {q, k, v, out, position}  AttentionAtPush
extern const KernelSpec rope_kv_f32;       // {qkv, k_cache, v_cache, position}  RopeKvPush

// Weight kernels (push structs in push_constants_weights.hpp): W in a ggml format, bound as words.
extern const KernelSpec matvec_weights;    // {w, x, y}        WeightsMatvecPush; groups x = rows
// {w, x, y, g} FusedMatvecPush (groups: see there). Three mappings of the same contract: a
// subgroup per row (needs subgroup arithmetic; rows_per_group = local size / subgroup size),
// an invocation per row (two rows each: rows_per_group = 2 x local size, local size with
// SwiGLU), and the same with x shared by subgroup shuffles (needs subgroup arithmetic and
// shuffles, subgroups of at least 8 lanes; rows_per_group as the invocation per row).
extern const KernelSpec matvec_fused;
extern const KernelSpec matvec_fused_rows;
extern const KernelSpec matvec_fused_lanes;
enum class FusedKernel { subgroups, rows, lanes };
const KernelSpec& matvec_fused_kernel(FusedKernel kernel);  // the unspecialized one
// The same specialized (KernelSpec::constants) for one weight type of every segment and for the
// norm flag: named e.g. "matvec_fused_rows.q8_0.norm". The push constants must agree.
const KernelSpec& matvec_fused_variant(FusedKernel kernel, WeightType type, bool norm);
std::span<const KernelSpec> matvec_fused_variants();
extern const KernelSpec matmul_weights;    // {w, x, y}        WeightsMatmulPush
extern const KernelSpec matmul_weights_tiled;  // the same contract, 64 x 64 tiles, 256 invocations
extern const KernelSpec get_rows_weights;  // {table, ids, out}  WeightsGetRowsPush; x = count

}  // namespace crossgpu::kernels
