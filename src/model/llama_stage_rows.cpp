// The decode step of several sequences (continuous batching, one token each) as a recorded
// program, where the device runs the few-token weight matmul (ops_weights_few.hpp): GPUs.
//
// Op by op, such a step costs ~50 dispatches per layer for 8 sequences (each validated, bound
// and recorded on the host per step, 5 of them per sequence for its RoPE, cache writes and
// attention), which on a fast GPU cost more than the weights' reads. Here the step is recorded
// once per order of slots (the serve layer keeps the same sequences in the same order from step
// to step until one joins or leaves) and replayed: the projections read every weight once for all
// rows, Q, K and V land in one packed row per sequence (as the single-sequence program lays them
// out), and each sequence then runs the single-sequence program's RoPE-with-cache-write and
// attention at its own position, read from a device buffer written before each replay.
#include <algorithm>

#include "core/error.hpp"
#include "kernels/ops_arch.hpp"
#include "kernels/ops_attention.hpp"
#include "kernels/ops_weights.hpp"
#include "kernels/ops_weights_few.hpp"
#include "model/llama_stage.hpp"

namespace crossgpu::model {
namespace {

// Recorded programs kept per stage: every order of slots seen since the last clear. A server
// whose batches keep changing records again rather than holding programs without bound.
constexpr std::size_t kMaxRowsPrograms = 64;

}  // namespace

bool LlamaStage::rows_recordable(std::span<const SequenceRows> parts) const {
  if (!fused_ || parts.size() < 2 || parts.size() > ops::kMaxFewTokens) return false;
  if (!std::all_of(parts.begin(), parts.end(), [](const SequenceRows& p) { return p.tokens == 1; })) return false;
  const LlamaConfig& c = config_;
  if (c.embedding % 4 != 0 || c.ffn % 4 != 0 || c.q_dim() % 4 != 0) return false;
  const DeviceProperties& p = device_->properties();
  if (options_.recorded_rows_anywhere) {
    return p.backend == Backend::vulkan && p.caps.subgroup_arithmetic && p.limits.subgroup_size > 0;
  }
  return ops::matmul_weights_few_fits(*device_, parts.size(), c.embedding, x_);
}

// rows[t] = in[t] * W^T for the step's n rows, rows `ldy` floats apart in `out`.
void LlamaStage::record_rows_projection(const DeviceTensor& w, BufferRef in, ops::TensorRef out, std::uint32_t n,
                                        std::uint64_t ldy) {
  ops::matmul_weights_few(device_->stream(), w.ref(), in, out, w.rows, w.cols, n, w.type, ldy);
}

void LlamaStage::record_rows_layer(const Layer& layer, std::span<const SequenceRows> parts) {
  Stream& s = device_->stream();
  const LlamaConfig& c = config_;
  const auto n = static_cast<std::uint32_t>(parts.size());
  const std::uint64_t e = c.embedding, q = c.q_dim(), kv = c.kv_dim(), packed = q + 2 * kv;

  ops::rms_norm(s, x_, layer.attn_norm.ref(), xn_, n, e, c.rms_eps);
  record_rows_projection(layer.wq, xn_.ref(), qkv_rows_, n, packed);
  record_rows_projection(layer.wk, xn_.ref(), ops::TensorRef(qkv_rows_, q * sizeof(float)), n, packed);
  record_rows_projection(layer.wv, xn_.ref(), ops::TensorRef(qkv_rows_, (q + kv) * sizeof(float)), n, packed);
  const ops::RopeKvShape rope{.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim,
                              .freq_base = c.layer_rope_base(layer.index), .mode = c.arch.rope_mode};
  const ops::AttentionShape one{.tokens = 1, .heads = c.heads, .kv_heads = c.kv_heads, .head_dim = c.head_dim};
  const std::uint32_t window = c.layer_slides(layer.index) ? c.arch.sliding_window : 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const ops::TensorRef row(qkv_rows_, i * packed * sizeof(float));
    const ops::DevicePosition position{ops::TensorRef(positions_, i * sizeof(std::uint32_t)), options_.context - 1};
    const Buffer& k_cache = layer.k_cache[parts[i].slot];
    const Buffer& v_cache = layer.v_cache[parts[i].slot];
    if (layer.bq.bytes != 0) ops::add(s, row, layer.bq.ref(), row, packed);  // bq|bk|bv packed alike
    if (layer.q_norm.bytes != 0) {
      ops::rms_norm(s, row, layer.q_norm.ref(), row, c.heads, c.head_dim, c.rms_eps);
      const ops::TensorRef keys(qkv_rows_, (i * packed + q) * sizeof(float));
      ops::rms_norm(s, keys, layer.k_norm.ref(), keys, c.kv_heads, c.head_dim, c.rms_eps);
    }
    if (c.rope_factors.empty() && c.rope_scale == 1.0f) {
      ops::rope_kv(s, row, k_cache, v_cache, rope, position);
    } else {
      ops::rope_kv_freqs(s, row, k_cache, v_cache, rope_factors_, rope, c.rope_scale, position);
    }
    const ops::TensorRef out(attn_, i * q * sizeof(float));
    if (window != 0 || c.arch.attn_softcap > 0) {
      ops::attention_window_at(s, row, k_cache, v_cache, out, one, c.attention_scale,
                               {.window = window, .softcap = c.arch.attn_softcap}, position);
    } else {
      ops::attention_at(s, row, k_cache, v_cache, out, one, c.attention_scale, position, attention_scratch_);
    }
  }
  record_rows_projection(layer.wo, attn_.ref(), proj_, n, e);
  if (layer.post_attn_norm.bytes != 0) ops::rms_norm(s, proj_, layer.post_attn_norm.ref(), proj_, n, e, c.rms_eps);
  ops::add(s, x_, proj_, x_, n * e);

  ops::rms_norm(s, x_, layer.ffn_norm.ref(), xn_, n, e, c.rms_eps);
  record_rows_projection(layer.w_gate, xn_.ref(), gate_, n, c.ffn);
  record_rows_projection(layer.w_up, xn_.ref(), up_, n, c.ffn);
  const std::uint64_t f = std::uint64_t{n} * c.ffn;
  if (c.arch.gelu) ops::gelu_tanh(s, gate_, gate_, f);
  else ops::silu(s, gate_, gate_, f);
  ops::mul(s, gate_, up_, gate_, f);
  record_rows_projection(layer.w_down, gate_.ref(), proj_, n, e);
  if (layer.post_ffn_norm.bytes != 0) ops::rms_norm(s, proj_, layer.post_ffn_norm.ref(), proj_, n, e, c.rms_eps);
  ops::add(s, x_, proj_, x_, n * e);
}

void LlamaStage::record_rows(std::span<const SequenceRows> parts, Recording& program) {
  const LlamaConfig& c = config_;
  const auto n = static_cast<std::uint32_t>(parts.size());
  if (!qkv_rows_.valid()) {  // first use: what every order of slots shares
    positions_ = device_->allocate(std::uint64_t{ops::kMaxFewTokens} * sizeof(std::uint32_t));
    qkv_rows_ = scratch(ops::kMaxFewTokens * (c.q_dim() + 2 * std::uint64_t{c.kv_dim()}));
  }
  Stream& s = device_->stream();
  s.begin_recording();
  try {
    if (range_.embeds) {
      ops::get_rows(s, token_embd_.ref(), token_embd_.rows, token_embd_.cols, token_embd_.type, ids_, x_, n);
      if (c.arch.embedding_scale != 1.0f) ops::scale(s, x_, x_, std::uint64_t{n} * c.embedding, c.arch.embedding_scale);
    }
    for (const Layer& layer : layers_) record_rows_layer(layer, parts);
    if (range_.outputs) {  // one token per part: every row is a part's last
      ops::rms_norm(s, x_, output_norm_.ref(), xn_, n, c.embedding, c.rms_eps);
      record_rows_projection(output_.bytes != 0 ? output_ : token_embd_, xn_.ref(), logits_, n, c.vocab);
      if (c.arch.final_softcap > 0) {
        ops::softcap(s, logits_, logits_, std::uint64_t{n} * c.vocab, c.arch.final_softcap);
      }
    }
  } catch (...) {
    s.end_recording();
    throw;
  }
  program = s.end_recording();
}

Event LlamaStage::decode_rows(std::span<const SequenceRows> parts) {
  std::vector<std::uint32_t> slots;
  positions_value_.clear();
  positions_value_.reserve(ops::kMaxFewTokens);  // the upload reads it until the step runs
  for (const SequenceRows& p : parts) {
    slots.push_back(p.slot);
    positions_value_.push_back(p.pos);
  }
  auto found = rows_programs_.find(slots);
  if (found == rows_programs_.end()) {
    if (rows_programs_.size() >= kMaxRowsPrograms) rows_programs_.clear();
    Recording program;
    record_rows(parts, program);
    found = rows_programs_.emplace(std::move(slots), std::move(program)).first;
  }
  Stream& s = device_->stream();
  s.upload(positions_, 0, std::as_bytes(std::span(positions_value_)));
  return s.replay(found->second);
}

}  // namespace crossgpu::model
