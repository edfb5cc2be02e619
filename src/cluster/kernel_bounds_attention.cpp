#include "cluster/kernel_bounds_attention.hpp"

#include <cstring>

#include "core/error.hpp"
#include "kernels/push_constants_arch.hpp"
#include "kernels/push_constants_attention.hpp"

namespace crossgpu::cluster {
namespace {

using kernels::AttentionAtPush;
using kernels::AttentionCombinePush;
using kernels::RopeKvPush;
using kernels::AttentionPush;
using kernels::RopePush;
using kernels::AttentionWindowAtPush;
using kernels::AttentionWindowPush;
using kernels::RopeFreqsPush;
using kernels::RopeKvFreqsPush;

template <typename Push>
Push read(std::span<const std::byte> push) {
  if (push.size() != sizeof(Push)) {
    fail(Errc::invalid_argument, "push constants of {} bytes, expected {}", push.size(),
         sizeof(Push));
  }
  Push out;
  std::memcpy(&out, push.data(), sizeof(Push));
  return out;
}

// Elements [offset, offset + count) of f32 binding `index` must exist (64-bit arithmetic).
void need(std::string_view kernel, std::span<const std::uint64_t> bytes, std::size_t index,
          std::uint64_t offset, std::uint64_t count) {
  if (count == 0) return;
  const std::uint64_t elements = bytes[index] / sizeof(float);
  if (offset > elements || count > elements - offset) {
    fail(Errc::out_of_range,
         "kernel '{}': its parameters reach element {} of binding {}, which holds {} "
         "elements of 4 bytes",
         kernel, offset + count - 1, index, elements);
  }
}

void check_rope(std::string_view name, const RopePush& p, std::span<const std::uint64_t> bytes) {
  // Pairs stay inside their head for any head_dim (the shader pairs i < head_dim / 2 with
  // 2i + 1 or i + head_dim / 2), so the extent is the whole tensor.
  need(name, bytes, 0, p.x_offset, std::uint64_t{p.tokens} * p.heads * p.head_dim);
}

void check_attention(std::string_view name, const AttentionPush& p,
                     std::span<const std::uint64_t> bytes) {
  if (p.kv_heads == 0 || p.heads % p.kv_heads != 0) {
    fail(Errc::invalid_argument, "kernel '{}': heads must be a multiple of kv_heads >= 1", name);
  }
  // The query row lives in a shared array of kMaxHeadDim floats.
  if (p.head_dim > kernels::kMaxHeadDim) {
    fail(Errc::invalid_argument, "kernel '{}': head_dim {} exceeds {}", name, p.head_dim,
         kernels::kMaxHeadDim);
  }
  const std::uint64_t rows = std::uint64_t{p.tokens} * p.heads;
  const std::uint64_t dim = p.head_dim;
  // Query token t reads positions up to start_pos + t.
  const std::uint64_t kv = (std::uint64_t{p.start_pos} + p.tokens) * p.kv_heads * dim;
  need(name, bytes, 0, p.q_offset, rows * dim);
  need(name, bytes, 1, p.k_offset, kv);
  need(name, bytes, 2, p.v_offset, kv);
  // Written only by workgroups with split < splits (the shader returns for the others).
  const std::uint64_t out = p.splits == 1 ? rows * dim : rows * p.splits * (dim + 2);
  need(name, bytes, 3, p.out_offset, out);
}

// The position read on the device is clamped to max_pos, so the caches are written up to
// position max_pos + tokens - 1 whatever the buffer holds.
void check_rope_kv(std::string_view name, const RopeKvPush& p, std::span<const std::uint64_t> bytes) {
  const std::uint64_t dim = p.head_dim;
  const std::uint64_t kv = (std::uint64_t{p.max_pos} + p.tokens) * p.kv_heads * dim;
  if (p.tokens == 0) return;
  need(name, bytes, 0, p.qkv_offset, std::uint64_t{p.tokens} * (std::uint64_t{p.heads} + 2ull * p.kv_heads) * dim);
  need(name, bytes, 1, p.k_offset, kv);
  need(name, bytes, 2, p.v_offset, kv);
  need(name, bytes, 3, p.position_offset, 1);
}

void check_combine(std::string_view name, const AttentionCombinePush& p,
                   std::span<const std::uint64_t> bytes) {
  const std::uint64_t dim = p.head_dim;
  need(name, bytes, 0, p.part_offset, std::uint64_t{p.rows} * p.splits * (dim + 2));
  need(name, bytes, 1, p.out_offset, std::uint64_t{p.rows} * dim);
}

// The kernels of the architectures beyond llama (kernels/arch_kernels.hpp). Their factors are
// read for pairs i < head_dim / 2.
void check_rope_freqs(std::string_view name, const RopeFreqsPush& p,
                      std::span<const std::uint64_t> bytes) {
  need(name, bytes, 0, p.x_offset, std::uint64_t{p.tokens} * p.heads * p.head_dim);
  if (p.tokens != 0 && p.heads != 0) need(name, bytes, 1, p.factors_offset, p.head_dim / 2);
}

// Query token t sees positions [start_pos + t + 1 - window, start_pos + t]: never past what
// attention_f32 reads, so the same extents with one split.
void check_attention_window(std::string_view name, const AttentionWindowPush& p,
                            std::span<const std::uint64_t> bytes) {
  AttentionPush as_full{};
  as_full.tokens = p.tokens;
  as_full.heads = p.heads;
  as_full.kv_heads = p.kv_heads;
  as_full.head_dim = p.head_dim;
  as_full.start_pos = p.start_pos;
  as_full.splits = 1;
  as_full.q_offset = p.q_offset;
  as_full.k_offset = p.k_offset;
  as_full.v_offset = p.v_offset;
  as_full.out_offset = p.out_offset;
  check_attention(name, as_full, bytes);
}

}  // namespace

bool check_attention_kernel_bounds(std::string_view name, std::span<const std::byte> push,
                                   std::span<const std::uint64_t> binding_bytes) {
  if (name == "rope_f32") {
    check_rope(name, read<RopePush>(push), binding_bytes);
  } else if (name == "attention_f32") {
    check_attention(name, read<AttentionPush>(push), binding_bytes);
  } else if (name == "attention_at_f32") {
    // base.start_pos bounds the position the device reads: the same extents as attention_f32.
    const auto p = read<AttentionAtPush>(push);
    check_attention(name, p.base, binding_bytes);
    need(name, binding_bytes, 4, p.position_offset, 1);
  } else if (name == "rope_kv_f32") {
    check_rope_kv(name, read<RopeKvPush>(push), binding_bytes);
  } else if (name == "attention_combine_f32") {
    check_combine(name, read<AttentionCombinePush>(push), binding_bytes);
  } else if (name == "rope_freqs_f32") {
    check_rope_freqs(name, read<RopeFreqsPush>(push), binding_bytes);
  } else if (name == "rope_kv_freqs_f32") {
    const auto p = read<RopeKvFreqsPush>(push);
    check_rope_kv(name, p.base, binding_bytes);
    if (p.base.tokens != 0) need(name, binding_bytes, 4, p.factors_offset, p.base.head_dim / 2);
  } else if (name == "attention_window_f32") {
    check_attention_window(name, read<AttentionWindowPush>(push), binding_bytes);
  } else if (name == "attention_window_at_f32") {
    // base.start_pos bounds the position the device reads, as for attention_at_f32.
    const auto p = read<AttentionWindowAtPush>(push);
    check_attention_window(name, p.base, binding_bytes);
    need(name, binding_bytes, 4, p.position_offset, 1);
  } else {
    return false;
  }
  return true;
}

}  // namespace crossgpu::cluster
